import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runMetrics } from "../../src/scenario/metrics.ts";
import { WorkloadMetrics } from "../../src/user/workloads/index.ts";

const dir = mkdtempSync(join(tmpdir(), "rstmem-compare-"));
function file(name: string, text: string): string {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
}

// Two short 4K sessions with a gap, and a trusted-UI prompt: enough to show every column.
const SHORT = `name: short
platform: tzc400-board
until: 20s
workloads:
  - secure-video: { start: 1s, sessions: 2, length: 1s, gap: 3s, resolution: 1920x1080, frames: 4 }
  - trusted-ui: { start: 8s, sessions: 1, length: 1s, width: 1080, height: 2400, bpp: 4, buffers: 2 }
`;

describe("rstmem compare", () => {
  it("prints one table with a column per policy, the findings per invariant and a verdict per policy", async () => {
    const r = await rstmem("compare", file("short.yaml", SHORT), "--policies", "upstream,safe");
    expect(r.err).toBe("");
    expect(r.out).toMatch(
      /^compare {4}short \(.*short\.yaml\) on tzc400-board, seed 1, .*: upstream vs safe$/m,
    );
    const header = r.out.split("\n").find((l) => /upstream\s+safe$/.test(l));
    expect(header).toBeDefined();
    for (const row of [
      "first-frame alloc p50/p99/max",
      "every alloc p50/p99/max",
      "allocation failures",
      "lent at peak",
      "lent while idle",
      "given back between sessions",
      "CMA migrations (pages)",
      "FF-A calls",
      "linear-map splits",
      "TLB flushes",
      "firewall regions (peak)",
      "findings: no-speculation-hazard",
    ])
      expect(r.out).toMatch(new RegExp(`^${row.replace(/[()/]/g, "\\$&")}\\s`, "m"));
    // Upstream leaves the lent chunk in the cacheable linear map; safe unmaps it.
    expect(r.out).toMatch(/^findings: no-speculation-hazard\s+[1-9]\d*\s+0$/m);
    expect(r.out).toMatch(/^ {2}upstream {2}UNSAFE on tzc400-board: no-speculation-hazard ×\d+/m);
    expect(r.out).toMatch(/^ {2}safe {6}safe on tzc400-board: no safety finding in /m);
    // Upstream registers no trusted-UI heap: the prompt's open fails, and the verdict says so.
    expect(r.out).toMatch(/^allocation failures\s+1\s+0$/m);
    expect(r.out).toMatch(
      /1 allocation failed \(ENOENT: no device node \/dev\/dma_heap\/protected,trusted-ui/,
    );
    expect(r.out).toMatch(/^result {5}PASS$/m);
    expect(r.code).toBe(0);
  });

  it("--json is one typed object: per policy its simulated_ns, metrics, findings, verdict and the whole run", async () => {
    const f = file("short.yaml", SHORT);
    const a = await rstmem("compare", f, "--policies", "upstream,safe", "--json");
    const b = await rstmem("compare", f, "--policies", "upstream,safe", "--json");
    expect(b.out).toBe(a.out);
    const j = JSON.parse(a.out);
    expect(j).toMatchObject({
      kind: "compare",
      scenario: "short",
      platform: "tzc400-board",
      seed: 1,
      passed: true,
    });
    expect(j.policies.map((p: { policy: string }) => p.policy)).toEqual(["upstream", "safe"]);
    const [up, safe] = j.policies;
    expect(up.simulated_ns).toBe(up.result.simTimeNs);
    expect(up.metrics.simulated_ns).toBe(up.simulated_ns);
    expect(up.verdict.safe).toBe(false);
    expect(safe.verdict.safe).toBe(true);
    expect(safe.metrics.sessions).toBe(3);
    expect(safe.metrics.lent_peak_bytes).toBeGreaterThan(320 * 2 ** 20);
    expect(up.metrics.returned_bytes).toBe(2 * 320 * 2 ** 20);
    expect(safe.metrics.tlb_flushes).toBeGreaterThan(0);
    expect(up.findings["no-speculation-hazard"]).toBeGreaterThan(0);
  });

  it("a scenario's compare: runs under each policy from `rstmem run`; --policy runs one", async () => {
    const f = file("c.yaml", SHORT + "compare: [upstream, safe]\n");
    const r = await rstmem("run", f);
    expect(r.out).toMatch(/^compare {4}short .*: upstream vs safe$/m);
    expect(r.code).toBe(0);
    const one = await rstmem("run", f, "--policy", "safe");
    expect(one.out).toMatch(/^scenario {3}short/);
    const viaCompare = await rstmem("compare", f);
    expect(viaCompare.out).toBe(r.out);
  });

  it("bad policies are usage errors before anything runs", async () => {
    const f = file("short.yaml", SHORT);
    expect(await rstmem("compare", f)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/has no compare: list; name the policies with --policies a,b/),
    });
    expect(await rstmem("compare", f, "--policies", "upstream,nope")).toMatchObject({
      code: 2,
      err: 'rstmem: --policies: unknown policy "nope"; expected one of upstream, safe, carveout, lend-pool, tegra-vpr\n',
    });
    expect((await rstmem("compare", f, "--policies", "safe,safe")).err).toBe(
      "rstmem: --policies names safe twice\n",
    );
    // A carveout that does not fit the platform is bad input, as it is in a scenario's own policy.
    const carve = await rstmem("compare", "pool-race", "--policies", "safe,carveout");
    expect(carve).toMatchObject({ code: 2, out: "" });
    expect(carve.err).toMatch(
      /^rstmem: --policies carveout on tzc400-board: the 4 MiB protected carveout .* would overlap optee_core\n$/,
    );
    expect((await rstmem("run", "pool-race", "--policy", "carveout")).err).toMatch(
      /^rstmem: --policy carveout on tzc400-board: .* would overlap optee_core\n$/,
    );
  });
});

describe("expect: metrics", () => {
  it("asserts on metrics for every run and per policy; a failed bound names the metric, its line and the value", async () => {
    const f = file(
      "m.yaml",
      SHORT +
        `compare: [upstream, safe]
expect:
  findings:
    safe: { no-speculation-hazard: 0 }
  metrics:
    sessions: 3
    first_frame_alloc_p99_ns: "<1s"
    safe: { alloc_failures: 0, lent_peak_bytes: ">320MiB" }
    upstream: { alloc_failures: 0 }
`,
    );
    const r = await rstmem("run", f);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^expect {5}\[upstream\] alloc_failures 0: 1 ✗$/m);
    expect(r.out).toMatch(/result {5}FAIL: \[upstream\] expected alloc_failures 0 \(.*m\.yaml:15\), got 1$/m);
    expect(r.out).not.toMatch(/\[safe\] .*✗/);
  });

  it("bad metric names and bounds are positioned errors", async () => {
    const bad = (body: string) =>
      rstmem(
        "validate",
        file("bad.yaml", `platform: tzc400-board\ncompare: [upstream, safe]\nexpect:\n${body}`),
      );
    expect((await bad("  metrics: { latency: 3 }\n")).err).toBe(
      `rstmem: ${dir}/bad.yaml:4:14: expect.metrics.latency: unknown metric "latency"; expected one of: simulated_ns, sessions, first_frame_alloc_p50_ns, first_frame_alloc_p99_ns, first_frame_alloc_max_ns, alloc_p50_ns, alloc_p99_ns, alloc_max_ns, alloc_failures, frames_shown, device_faults, lent_peak_bytes, lent_idle_bytes, returned_bytes, stuck_chunks, cma_migrations, ffa_calls, linear_map_splits, tlb_flushes, firewall_regions, kernel_slowdown_pct, findings\n`,
    );
    expect((await bad('  metrics: { alloc_p99_ns: "about 3ms" }\n')).err).toBe(
      `rstmem: ${dir}/bad.yaml:4:28: expect.metrics.alloc_p99_ns: expected a duration or bound such as 20ms, "<20ms" or ">1s", got "about 3ms"\n`,
    );
    expect((await bad("  metrics: { safe: 3 }\n")).err).toBe(
      `rstmem: ${dir}/bad.yaml:4:20: expect.metrics.safe: expected a mapping of metrics for the safe run\n`,
    );
    expect((await bad("  findings: { carveout: { kernel-warn: 0 } }\n")).err).toMatch(
      /bad\.yaml:4:15: expect\.findings\.carveout: unknown key "carveout"; expected one of: conservation,/,
    );
    const cmp = await rstmem(
      "validate",
      file("bad2.yaml", "platform: qemu-virt\ncompare: [upstream, carveout, upstream]\n"),
    );
    expect(cmp.err).toBe(`rstmem: ${dir}/bad2.yaml:2:31: compare[2]: "upstream" is listed twice\n`);
  });

  it("sizes and durations bound *_bytes and *_ns metrics", () => {
    const sc = loadScenarioText(
      'expect:\n  metrics: { lent_peak_bytes: "<512MiB", alloc_max_ns: ">2ms", frames_shown: 10 }\n',
      "u.yaml",
    );
    expect(sc.expectMetrics.map((e) => [e.name, e.op, e.value])).toEqual([
      ["lent_peak_bytes", "<", 512 * 2 ** 20],
      ["alloc_max_ns", ">", 2e6],
      ["frames_shown", "=", 10],
    ]);
  });
});

describe("metrics", () => {
  it("lent while idle is the time-weighted mean over the gaps between sessions; given back counts drops before the last end", () => {
    const w = new WorkloadMetrics("secure-video#0", "secure-video", 1);
    // Sessions [10, 20) and [50, 60): one gap of 30 ns.
    w.sessionStart(10);
    w.sessionEnd(20);
    w.sessionStart(50);
    w.sessionEnd(60);
    const m = runMetrics({
      simTimeNs: 100,
      workloads: [w],
      // 300 lent at 10; down to 100 at 30 (two thirds of the gap at 100, one third at 300); 0 at 70.
      pools: [{ peakLentBytes: 300, reclaimedBytes: 300, stuck: 0, history: [10, 300, 30, 100, 70, 0] }],
      machine: {},
      ffaCalls: 0,
      findings: 0,
      tzcPeakRegions: 0,
    });
    expect(m.lent_peak_bytes).toBe(300);
    expect(m.lent_idle_bytes).toBe(Math.round((300 * 10 + 100 * 20) / 30));
    // The drop at 70 came after the last session ended: not "between sessions".
    expect(m.returned_bytes).toBe(200);
    expect(m.sessions).toBe(2);
  });
});

describe("the default run", () => {
  // Ten simulated minutes under two policies: the main job. Its speed is a bench figure, not a test.
  it(
    "compares upstream and safe over ten minutes of secure media on tzc400-board, and passes",
    { timeout: 600_000 },
    async () => {
      const r = await rstmem("run", "--json");
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j).toMatchObject({
        kind: "compare",
        scenario: "default",
        platform: "tzc400-board",
        passed: true,
      });
      expect(j.policies.map((p: { policy: string }) => p.policy)).toEqual(["upstream", "safe"]);
      const [up, safe] = j.policies;
      for (const p of j.policies) {
        expect(p.simulated_ns).toBeGreaterThanOrEqual(600e9);
        // Sessions with gaps, a trusted-UI prompt, and a background load.
        expect(p.metrics.sessions).toBe(12);
        expect(p.result.workloads.map((w: { kind: string }) => w.kind)).toEqual([
          "secure-video",
          "trusted-ui",
          "background",
        ]);
        // The working set spills into CMA: chunk allocations migrate pages out of it.
      }
      expect(up.verdict.safe).toBe(false);
      expect(up.findings["no-speculation-hazard"]).toBeGreaterThan(0);
      expect(safe.verdict.safe).toBe(true);
      expect(safe.metrics.alloc_failures).toBe(0);
      expect(safe.metrics.lent_idle_bytes).toBeGreaterThan(up.metrics.lent_idle_bytes);
    },
  );
});

describe("the cma-pressure run", () => {
  it(
    "is the default run with a page cache in CMA: each session's first allocation migrates it and takes longer",
    { timeout: 600_000 },
    async () => {
      const r = await rstmem("run", "cma-pressure", "--policy", "upstream", "--json");
      expect(r.code).toBe(0);
      const m = JSON.parse(r.out).metrics;
      expect(m.cma_migrations).toBeGreaterThan(0);
      expect(m.first_frame_alloc_max_ns).toBeGreaterThan(100e6);
      // Exactly as before the background workload's failed check was retried slot-first (a pure speed-up,
      // user/workloads/background.ts): the same migrations, latencies and failures, to the page and ns.
      expect({
        cma_migrations: m.cma_migrations,
        first_frame_alloc_p99_ns: m.first_frame_alloc_p99_ns,
        alloc_failures: m.alloc_failures,
      }).toEqual({ cma_migrations: 33470, first_frame_alloc_p99_ns: 207586306, alloc_failures: 4 });
    },
  );
});
