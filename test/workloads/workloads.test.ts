/**
 * Workloads end to end (`workloads:`): each kind runs on tzc400-board under upstream and under safe and
 * reports its metrics; a session's first frame pays the chunk's CMA allocation and lend; background
 * pins inside CMA make cma_alloc() retry, then fail; a movable working set in CMA is migrated; bad
 * input is a positioned error; the same scenario and seed give byte-identical results.
 */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import type { WorkloadReport } from "../../src/user/workloads/index.ts";
import { frameBytes } from "../../src/user/workloads/index.ts";

function run(text: string, trace?: (name: string) => void): RunResult {
  return runScenario(loadScenarioText(text, "w.yaml"), trace ? { trace: (e) => trace(e.name) } : {});
}

function wl(r: RunResult, kind: string): WorkloadReport {
  const w = r.workloads?.find((x) => x.kind === kind);
  expect(w, `no ${kind} workload in the result`).toBeDefined();
  return w!;
}

const ALL = (policy: string) => `
platform: tzc400-board
policy: ${policy}
workloads:
  - secure-video: { sessions: 2, length: 1s, gap: 200ms, seeks: 1 }
  - trusted-ui: { length: 500ms }
  - secure-video-record: { length: 500ms }
  - background: { movable: { rate: 32MiB, working_set: 64MiB }, unmovable: 16MiB, pins: { count: 2, in_cma: false } }
`;

describe("frame sizes", () => {
  it("4K NV12 is 12,441,600 bytes and 4K P010 24,883,200", () => {
    expect(frameBytes(3840, 2160, "NV12")).toBe(12_441_600);
    expect(frameBytes(3840, 2160, "P010")).toBe(24_883_200);
  });
});

describe.each(["upstream", "safe"])("every workload on tzc400-board under %s", (policy) => {
  const r = run(ALL(policy));

  it("runs to the end and leaves every page where it was at boot", () => {
    expect(r.failure).toBeNull();
    expect(r.end).toBe("done");
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings["kernel-warn"]).toBe(0);
    expect(r.findings["ns-no-access"]).toBe(0);
    expect(r.workloads!.map((w) => w.name)).toEqual([
      "secure-video#0",
      "trusted-ui#1",
      "secure-video-record#2",
      "background#3",
    ]);
  });

  it("secure-video: every frame decoded and shown, every buffer allocated (frames, bitstream, the seek's reallocation)", () => {
    const v = wl(r, "secure-video");
    expect(v.sessions).toBe(2);
    expect(v.framesShown).toBe(2 * 30);
    expect(v.deviceFaults).toBe(0);
    expect(v.allocFailures).toEqual({});
    expect(v.firstFrameAllocNs.count).toBe(2);
    expect(v.allocNs.count).toBe(2 * (20 + 4 + 20));
    expect(v.allocNs.max).toBeGreaterThanOrEqual(v.allocNs.p99);
    expect(v.allocNs.p99).toBeGreaterThanOrEqual(v.allocNs.p50);
  });

  // Upstream registers the secure-video heap only; safe's pool serves every use case OP-TEE configures
  // (trusted UI on this board), and OP-TEE has no secure-video-record use case.
  const missing = policy === "upstream" ? ["trusted-ui", "secure-video-record"] : ["secure-video-record"];
  it(`${missing.join(" and ")}: no such heap is registered, so the open fails with ENOENT (counted, not a crash)`, () => {
    for (const kind of missing) {
      const w = wl(r, kind);
      expect(w.allocFailures).toEqual({ ENOENT: 1 });
      expect(w.firstFailure).toContain(`/dev/dma_heap/protected,${kind}`);
      expect(w.framesShown).toBe(0);
    }
    if (policy === "safe") {
      const ui = wl(r, "trusted-ui");
      expect(ui.allocFailures).toEqual({});
      expect(ui.framesShown).toBeGreaterThan(0);
      expect(ui.deviceFaults).toBe(0);
    }
  });

  it("background: the unmovable allocation, the pins and the movable churn happen", () => {
    const b = wl(r, "background");
    expect(b.allocFailures).toEqual({});
    expect(b.extra.unmovablePages).toBe(4096);
    expect(b.extra.pins).toBe(2);
    expect(b.extra.pinsInCma ?? 0).toBe(0);
    expect(b.extra.movablePagesAllocated).toBeGreaterThan(16384);
  });
});

describe("first-frame latency", () => {
  it("under upstream a 4K session's first frame pays the chunk's CMA allocation and lend; later frames are sub-allocations", () => {
    const r = run(`
platform: tzc400-board
workloads:
  - secure-video: { sessions: 3, length: 500ms, gap: 100ms }
`);
    const v = wl(r, "secure-video");
    expect(r.protmem!.lends).toBe(3);
    // Every session lends the chunk again (upstream reclaims it when the last buffer goes).
    expect(v.firstFrameAllocNs.count).toBe(3);
    expect(v.firstFrameAllocNs.p50).toBeGreaterThan(1000 * v.allocNs.p50);
    expect(v.firstFrameAllocNs.p50).toBeGreaterThan(r.protmem!.lendNsMax);
    expect(v.firstFrameAllocNs.p50).toBeGreaterThan(10_000_000);
  });

  it("under safe the growable pool keeps the chunk across a short gap: only the first session pays", () => {
    const r = run(`
platform: tzc400-board
policy: safe
workloads:
  - secure-video: { sessions: 3, length: 500ms, gap: 100ms }
`);
    const v = wl(r, "secure-video");
    expect(r.protmem!.lends).toBe(1);
    expect(v.firstFrameAllocNs.max).toBeGreaterThan(10_000_000);
    expect(v.firstFrameAllocNs.p50).toBeLessThan(1_000_000);
  });
});

describe("background pins inside CMA", () => {
  const scenario = (count: number, inCma = true) => `
platform: tzc400-board
workloads:
  - secure-video: { length: 200ms }
  - background: { movable: { working_set: 0 }, pins: { count: ${count}, in_cma: ${inCma} } }
`;
  const traced = (count: number, inCma = true) => {
    const ev: Record<string, number> = {};
    const r = run(scenario(count, inCma), (n) => {
      if (n.startsWith("cma_")) ev[n] = (ev[n] ?? 0) + 1;
    });
    return { r, ev };
  };

  it("two pins leave a 512 MiB gap: cma_alloc() retries past the busy windows and the 320 MiB chunk fits, later", () => {
    const free = traced(0);
    const { r, ev } = traced(2);
    expect(free.ev.cma_alloc_busy_retry ?? 0).toBe(0);
    expect(ev.cma_alloc_busy_retry).toBeGreaterThan(100);
    const v = wl(r, "secure-video");
    expect(v.allocFailures).toEqual({});
    expect(v.firstFrameAllocNs.p50).toBeGreaterThan(wl(free.r, "secure-video").firstFrameAllocNs.p50);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("four pins leave no 320 MiB window: every window is EBUSY, cma_alloc() fails and the allocation is ENOMEM with the reason", () => {
    const { r, ev } = traced(4);
    expect(ev.cma_alloc_busy_retry).toBeGreaterThan(700);
    const v = wl(r, "secure-video");
    expect(v.allocFailures).toEqual({ ENOMEM: 1 });
    expect(v.firstFailure).toMatch(/^ENOMEM: .*protected,secure-video/);
    expect(v.framesShown).toBe(0);
    // dma_alloc_pages() then falls back to the buddy with order 17: the kernel's WARN_ON_ONCE_GFP.
    expect(r.findings["kernel-warn"]).toBe(1);
    expect(r.findingDetails.find((f) => f.id === "kernel-warn")!.message).toContain("order > MAX_PAGE_ORDER");
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("long-term pins (in_cma: false) migrate out of CMA first: no retry, the chunk is allocated", () => {
    const { r, ev } = traced(4, false);
    expect(ev.cma_alloc_busy_retry ?? 0).toBe(0);
    expect(wl(r, "secure-video").allocFailures).toEqual({});
  });
});

describe("background movable load", () => {
  it("a working set that spills into CMA is migrated out by the next session's chunk allocation, which takes longer", () => {
    const sv = "  - secure-video: { start: 500ms, length: 200ms }\n";
    const base = run(`platform: tzc400-board\nworkloads:\n${sv}`);
    const r = run(`platform: tzc400-board
workloads:
${sv}  - background: { movable: { rate: 64MiB, working_set: 3584MiB } }
`);
    const b = wl(r, "background");
    expect(b.extra.movablePagesInCma).toBeGreaterThan(0);
    expect(r.machine.cmaMigrations).toBeGreaterThan(0);
    expect(wl(r, "secure-video").firstFrameAllocNs.p50).toBeGreaterThan(
      wl(base, "secure-video").firstFrameAllocNs.p50,
    );
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings.conservation).toBe(0);
  });
});

describe("until", () => {
  it("stops a long session at `until`: the frame in flight completes, then everything is freed", () => {
    const r = run(`
platform: tzc400-board
until: 500ms
workloads:
  - secure-video: { length: 10s }
  - background: { movable: { working_set: 16MiB } }
`);
    const v = wl(r, "secure-video");
    expect(v.framesShown).toBeGreaterThan(10);
    expect(v.framesShown).toBeLessThan(20);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("a gap or a start past `until` is not slept out: the run ends at `until`", () => {
    const r = run(`
platform: tzc400-board
until: 2s
workloads:
  - secure-video: { start: 100ms, sessions: 3, length: 500ms, gap: 30s, resolution: 1920x1080, frames: 4 }
  - trusted-ui: { start: 1min, length: 1s }
`);
    expect(wl(r, "secure-video").sessions).toBe(1);
    expect(wl(r, "trusted-ui").sessions).toBe(0);
    expect(r.simTimeNs).toBeGreaterThanOrEqual(2e9);
    expect(r.simTimeNs).toBeLessThan(2.1e9);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });
});

describe("background alone", () => {
  it("runs until `until`, churning, and frees everything at the end", () => {
    const r = run(`
platform: tzc400-board
until: 1s
workloads:
  - background: { movable: { rate: 40MiB, working_set: 16MiB }, unmovable: 4MiB, pins: { count: 3 } }
`);
    const b = wl(r, "background");
    // 16 MiB to fill the set, then ~40 MiB of churn in 1 s (10 ms ticks).
    expect(b.extra.movablePagesAllocated).toBeGreaterThan(4096 + 9000);
    expect(b.extra.pinsInCma).toBe(3);
    expect(r.simTimeNs).toBeGreaterThanOrEqual(1_000_000_000);
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings.conservation).toBe(0);
  });
});

describe("bad workload input is a positioned error", () => {
  const CASES: [string, string, string][] = [
    [
      "an unknown field",
      "workloads:\n  - secure-video: { sesions: 2 }\n",
      'w.yaml:2:21: workloads[0].secure-video.sesions: unknown key "sesions"',
    ],
    [
      "a resolution that is not WIDTHxHEIGHT",
      "workloads:\n  - secure-video: { resolution: 4k }\n",
      "w.yaml:2:33: workloads[0].secure-video.resolution: expected a resolution WIDTHxHEIGHT such as 3840x2160",
    ],
    [
      "an odd 4:2:0 resolution",
      "workloads:\n  - secure-video-record: { resolution: 1919x1080 }\n",
      "w.yaml:2:40: workloads[0].secure-video-record.resolution: expected an even, non-zero width and height",
    ],
    [
      "an unknown format",
      "workloads:\n  - secure-video: { format: YUY2 }\n",
      'w.yaml:2:29: workloads[0].secure-video.format: expected one of NV12, P010, got "YUY2"',
    ],
    [
      "an unknown kind",
      "workloads:\n  - secure-audio: {}\n",
      'w.yaml:2:5: workloads[0].secure-audio: unknown key "secure-audio"; expected one of the keys secure-video, trusted-ui, secure-video-record, background',
    ],
    [
      "a rate that is not a rate",
      "workloads:\n  - background: { movable: { rate: fast } }\n",
      "w.yaml:2:36: workloads[0].background.movable.rate: expected a rate such as 64MiB/s",
    ],
    [
      "two background loads",
      "workloads:\n  - background: {}\n  - background: {}\n",
      "w.yaml:3:5: workloads[1].background: one background load per scenario",
    ],
  ];
  it.each(CASES)("%s", (_name, text, message) => {
    let err: unknown;
    try {
      loadScenarioText(text, "w.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as Error).message.startsWith(message)).toBe(true);
  });

  it("every field has a default: `- secure-video:` alone is a 4K NV12 player", () => {
    const sc = loadScenarioText("workloads:\n  - secure-video:\n  - background:\n", "w.yaml");
    expect(sc.workloads[0]).toMatchObject({
      kind: "secure-video",
      spec: { width: 3840, height: 2160, format: "NV12", frames: 20, fps: 30, sessions: 1 },
    });
    expect(sc.workloads[1]).toMatchObject({ kind: "background", spec: { lengthNs: null } });
  });
});

describe("determinism", () => {
  it("the same scenario and seed give byte-identical RunResult JSON", () => {
    const text = ALL("upstream");
    expect(JSON.stringify(run(text))).toBe(JSON.stringify(run(text)));
  });
});
