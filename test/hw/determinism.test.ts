import { describe, expect, it } from "vitest";
import { Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { speculationTask } from "../../src/hw/speculation.ts";
import { TZC_REGION_S_RDWR, tzcAccessRdWr } from "../../src/hw/tzc400.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";
import { PRESETS } from "../../src/scenario/presets.ts";

const GiB = 0x4000_0000;
const RUN_NS = 20_000_000;

/** tzc400-board where denied cache traffic aborts instead of hanging, so a run shows many events. */
const ABORTING: PlatformDesc = {
  ...PRESETS["tzc400-board"],
  caches: {
    ...PRESETS["tzc400-board"].caches,
    deniedFill: "external-abort",
    deniedWriteback: "external-abort",
  },
};

interface Outcome {
  readonly end: string;
  readonly now: number;
  readonly stats: Machine["stats"];
  readonly findings: Record<string, number>;
  readonly dirtyPages: number;
  readonly evictions: number;
  readonly events: readonly TraceEvent[];
}

/**
 * Boots, dirties pages on both sides of a range, protects the range with the TZC while it is still mapped,
 * and lets the speculation daemon run for RUN_NS of virtual time.
 */
function run(platform: PlatformDesc, seed: number): Outcome {
  const sim = new Sim(seed);
  const events: TraceEvent[] = [];
  sim.trace.subscribe((e) => events.push(e));
  const m = new Machine(sim, platform);
  const cpu = m.masterIndex("cpu-ns");
  for (let k = 0; k < 64; k++) m.access(cpu, 0xbfff_0000 + k * 0x2000, 64, "write", { kernel: true });
  if (m.tzc) {
    m.tzcConfigureRegion(m.tzc.freeRegion(), {
      base: 0xc000_0000,
      top: 0xc000_0000 + GiB - 1,
      secAttr: TZC_REGION_S_RDWR,
      nsDeviceAccess: tzcAccessRdWr(1),
    });
  }
  sim.sched.spawn("speculation", () => speculationTask(m), { daemon: true });
  sim.sched.spawn("timer", function* () {
    yield sleep(RUN_NS);
  });
  const end = sim.sched.run();
  return {
    end,
    now: sim.now,
    stats: { ...m.stats },
    findings: sim.findings.counts(),
    dirtyPages: m.caches.dirtyPages,
    evictions: m.caches.evictions,
    events,
  };
}

describe("determinism of the hardware model", () => {
  for (const [name, platform] of [
    ["tzc400-board with aborting cache traffic", ABORTING],
    ["fvp-rme", PRESETS["fvp-rme"]],
  ] as const) {
    it(`two machines with the same seed running the speculation daemon produce identical stats and traces (${name})`, () => {
      const a = run(platform, 42);
      const b = run(platform, 42);
      expect(a.end).toBe("done");
      expect(a.stats.specFills).toBeGreaterThan(1000);
      expect(b.stats).toEqual(a.stats);
      expect(b.findings).toEqual(a.findings);
      expect([b.dirtyPages, b.evictions, b.now]).toEqual([a.dirtyPages, a.evictions, a.now]);
      expect(JSON.stringify(b.events)).toBe(JSON.stringify(a.events));
    });
  }

  it("the run is not trivially constant: the trace has denied fills and write-backs, and another seed changes it", () => {
    const a = run(ABORTING, 42);
    const c = run(ABORTING, 43);
    expect(a.stats.deniedFills).toBeGreaterThan(0);
    expect(a.stats.deniedWritebacks).toBeGreaterThan(0);
    expect(a.events.filter((e) => e.name === "access").length).toBeGreaterThan(10);
    expect(a.events.some((e) => e.t > 0 && e.task === "speculation")).toBe(true);
    expect(JSON.stringify(c.events)).not.toBe(JSON.stringify(a.events));
  });
});
