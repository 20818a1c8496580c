/**
 * A run's story (what `rstmem replay` prints and its `--html` table shows) names the numbers an engineer
 * knows by name — SMC function IDs, ioctl requests, open(2) flags, OP-TEE message commands — with the
 * number beside, and writes addresses and OP-TEE cookies in hex.
 */
import { describe, expect, it } from "vitest";
import { join } from "node:path";
import { storyGaps } from "../../src/cli/explore.ts";
import { FOCUS_EVENTS, replayRun } from "../../src/explore/replay.ts";
import { STORY_EVENTS_MAX } from "../../src/report/html.ts";
import { storyEvent, type StoryEvent } from "../../src/report/story.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { bootScenario, runOnSystem } from "../../src/scenario/runner.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

const event = (layer: TraceEvent["layer"], name: string, args: Record<string, unknown>): TraceEvent => ({
  t: 0,
  task: "t",
  layer,
  name,
  args,
});

describe("a story event", () => {
  it("names an SMC's function ID, FF-A's or OP-TEE's, and gives an unknown one in hex", () => {
    expect(storyEvent(event("hw", "smc", { fid: 0xc4000072, to: "spmc" })).what).toBe(
      "fid=FFA_MEM_LEND_64(0xc4000072) to=spmc",
    );
    expect(storyEvent(event("hw", "smc", { fid: 0x32000004 })).what).toBe(
      "fid=OPTEE_SMC_CALL_WITH_ARG(0x32000004)",
    );
    expect(storyEvent(event("hw", "smc", { fid: 0x8400ffff })).what).toBe("fid=0x8400ffff");
  });

  it("names an ioctl's request, and open(2)'s flags bit by bit", () => {
    expect(storyEvent(event("user", "ioctl", { fd: 3, request: 0xc0184800 })).what).toBe(
      "fd=3 request=DMA_HEAP_IOCTL_ALLOC(0xc0184800)",
    );
    expect(storyEvent(event("user", "ioctl", { request: 0x1234 })).what).toBe("request=0x1234");
    expect(storyEvent(event("user", "open", { flags: 0o2000002 })).what).toBe("flags=O_RDWR|O_CLOEXEC");
    expect(storyEvent(event("user", "open", { flags: 0 })).what).toBe("flags=O_RDONLY");
    expect(storyEvent(event("user", "open", { flags: 0o4010001 })).what).toBe(
      "flags=O_WRONLY|O_DSYNC|0x100000",
    );
  });

  it("names OP-TEE's message command; the same keys elsewhere stay numbers", () => {
    expect(storyEvent(event("secure", "yielding-call", { cmd: 11 })).what).toBe(
      "cmd=OPTEE_MSG_CMD_ASSIGN_PROTMEM(11)",
    );
    expect(storyEvent(event("kernel", "x", { cmd: 11, flags: 2, request: 5, fid: 7 })).what).toBe(
      "cmd=11 flags=2 request=5 fid=7",
    );
  });

  it("in a replayed run: the lend's SMC, the allocation's ioctl, and OP-TEE's cookie in hex", () => {
    const sc = loadScenarioText(
      `
name: story
platform: tzc400-board
policy: upstream
steps:
  - proc: player
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - proc: player
    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
`,
      "story.yaml",
    );
    const events: string[] = [];
    let listening = false;
    const system = bootScenario(sc, 1, {
      listener: (e) => {
        if (listening) events.push(`${e.layer} ${e.name} ${storyEvent(e).what}`);
      },
      perAccess: false,
    });
    listening = true;
    runOnSystem(sc, system, { seed: 1 });
    expect(events).toContain(
      "user open pid=100 comm=player path=/dev/dma_heap/protected,secure-video flags=O_RDWR",
    );
    expect(events.some((e) => e.includes("request=DMA_HEAP_IOCTL_ALLOC(0xc0184800)"))).toBe(true);
    expect(events.some((e) => e.startsWith("hw smc fid=FFA_MEM_LEND_64(0xc4000072)"))).toBe(true);
    expect(events.some((e) => /^secure assign-protmem cookie=0x[0-9a-f]+ /.test(e))).toBe(true);
  });
});

describe("a replayed run's story, when it is long", () => {
  it("keeps the first and the last STORY_EVENTS_MAX events, and counts them all", () => {
    // 1,200 allocations and frees under upstream: each lends and reclaims the chunk, ~43 events a cycle.
    const sc = loadScenarioText(
      `
name: long
platform: ${SMALL_BOARD}
policy: upstream
steps:
  - proc: p
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - repeat: 1200
    steps:
      - proc: p
        ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
        save: buf
      - proc: p
        close: $buf
`,
      "long.yaml",
    );
    const all: StoryEvent[] = [];
    let listening = false;
    const system = bootScenario(sc, 1, {
      listener: (e) => {
        if (listening) all.push(storyEvent(e));
      },
      perAccess: true,
    });
    listening = true;
    runOnSystem(sc, system, { seed: 1, schedule: "" });
    const made = replayRun(sc, { seed: 1, schedule: "" });
    expect(all.length).toBeGreaterThan(2 * STORY_EVENTS_MAX);
    expect(made.storyTotal).toBe(all.length);
    expect(made.story).toEqual(all.slice(0, STORY_EVENTS_MAX));
    expect(made.tail).toEqual(all.slice(-STORY_EVENTS_MAX));
  });
});

describe("a long story's focus", () => {
  // protmem.c's get/put race under upstream (pool-race's shortest schedule): a kernel-warn finding inside
  // a story of ~100 events. With 10 events kept at each end, the finding falls between (and the focus,
  // FOCUS_EVENTS either side of it, is cut to what neither end shows).
  const base = loadScenarioFile(join(SCENARIOS, "pool-race.yaml"));
  const sc = { ...base, policy: namedPolicy("upstream", base.platform) };
  const rf = { seed: 1, schedule: "w100000:0*21,1*3,0*10" };

  it("shows the events around the first finding the violation is about, and no event twice", () => {
    const made = replayRun(sc, rf, undefined, 10);
    const whole = replayRun(sc, rf);
    expect(made.result.expectations.find((e) => !e.ok)?.id).toBe("kernel-warn");
    expect(made.storyTotal).toBeGreaterThan(40);
    expect(whole.story.length).toBe(made.storyTotal);
    const f = made.focus!;
    expect(f.id).toBe("kernel-warn");
    // The finding is the focus's event at its index, with FOCUS_EVENTS before it.
    expect(f.events[f.at - f.start]).toEqual(whole.story[f.at]);
    expect(f.events[f.at - f.start].call).toBe("finding");
    expect(f.events[f.at - f.start].what).toMatch(/^id=kernel-warn /);
    expect(f.events.length).toBeLessThanOrEqual(2 * FOCUS_EVENTS + 1);
    expect(f.start).toBe(10);
    expect(f.start + f.events.length).toBe(made.storyTotal - 10);
    expect(f.events).toEqual(whole.story.slice(f.start, f.start + f.events.length));
    // The parts after the first 10: the focus, then the tail, each after the events skipped before it.
    const parts = storyGaps(made);
    expect(parts.map((p) => p.heading?.replace(/\d+/g, "#"))).toEqual([
      "the # events around the first kernel-warn finding (event # of #):",
      "the last # events:",
    ]);
    let at = made.story.length;
    for (const p of parts) {
      at += p.skipped;
      expect(p.events).toEqual(whole.story.slice(at, at + p.events.length));
      at += p.events.length;
    }
    expect(at).toBe(made.storyTotal);
  });

  it("takes the events either side of the finding in order, from a ring that has wrapped", () => {
    // 5 either side: the ring of the events before it has wrapped many times by the finding.
    const made = replayRun(sc, rf, undefined, 10, 5);
    const whole = replayRun(sc, rf);
    const f = made.focus!;
    expect(f.at - f.start).toBe(5);
    expect(f.events).toHaveLength(11);
    expect(f.events).toEqual(whole.story.slice(f.start, f.start + 11));
    expect(f.events[5].what).toMatch(/^id=kernel-warn /);
  });

  it("is about the invariant's first finding: none when that one is among the first events shown", () => {
    // helper-46: the first no-speculation-hazard finding is event 31, among the first 32 shown; a
    // later one was shown as "the first".
    const whole = replayRun(sc, rf);
    const firstHazard = whole.story.findIndex((e) => e.what.startsWith("id=no-speculation-hazard "));
    expect(firstHazard).toBeGreaterThanOrEqual(0);
    const noExpect = { ...sc, expectFindings: [] };
    expect(replayRun(noExpect, rf, undefined, firstHazard + 1).focus).toBeNull();
    // Kept out of the first events, it is the focus.
    expect(replayRun(noExpect, rf, undefined, firstHazard, 5).focus?.at).toBe(firstHazard);
  });

  it("is not there when the first events or the last already show the finding", () => {
    expect(replayRun(sc, rf).focus).toBeNull();
    const made = replayRun(sc, rf, undefined, 10_000);
    expect(made.focus).toBeNull();
    expect(storyGaps(made)).toEqual([]);
  });
});
