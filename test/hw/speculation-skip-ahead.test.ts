/**
 * The speculation model's skip-ahead (src/hw/speculation.ts) against its per-fill reference: the same
 * random process, so over seeds the counts agree within their statistical spread, the same hazards are
 * found, and the skip-ahead's cost follows the hazards, not the fill rate.
 */
import { describe, expect, it } from "vitest";
import { Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { logGamma, poisson } from "../../src/hw/poisson.ts";
import { speculationTask } from "../../src/hw/speculation.ts";
import { TZC_REGION_S_RDWR, tzcAccessRdWr } from "../../src/hw/tzc400.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";

type Mode = "skip-ahead" | "per-fill";
const GiB = 0x4000_0000;
const SEEDS = [1, 2, 3, 4, 5, 6];

function withMode(p: PlatformDesc, mode: Mode): PlatformDesc {
  return { ...p, caches: { ...p.caches, speculation: mode } };
}

/**
 * Boots tzc400-board, dirties pages inside and outside a 256 MiB range, protects the range with the TZC
 * while it is still mapped (fills of it are hazards, its dirty pages' write-backs are denied), and lets
 * the daemon run for `ns`.
 */
function hazardRun(mode: Mode, seed: number, ns: number, protect = true) {
  const sim = new Sim(seed);
  const m = new Machine(sim, withMode(PRESETS["tzc400-board"], mode));
  const cpu = m.masterIndex("cpu-ns");
  const base = 0xc000_0000;
  for (let k = 0; k < 64; k++) m.access(cpu, base - 0x10_0000 + k * 0x2000, 64, "write", { kernel: true });
  for (let k = 0; k < 32; k++) m.access(cpu, base + k * 0x3000, 64, "write", { kernel: true });
  if (protect) {
    m.tzcConfigureRegion(m.tzc!.freeRegion(), {
      base,
      top: base + GiB / 4 - 1,
      secAttr: TZC_REGION_S_RDWR,
      nsDeviceAccess: tzcAccessRdWr(1),
    });
  }
  sim.sched.spawn("speculation", () => speculationTask(m), { daemon: true });
  sim.sched.spawn("timer", function* () {
    yield sleep(ns);
  });
  const switches0 = sim.sched.switches;
  sim.sched.run();
  return {
    stats: m.stats,
    hazards: sim.findings.count("no-speculation-hazard"),
    switches: sim.sched.switches - switches0,
    counters: { ...m.speculation.counters },
    dirty: m.caches.dirtyPages,
    count: m.frames.count,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** Means of two samples of Poisson-like counts agree: within 5 standard errors of their difference. */
function agree(a: number[], b: number[]): void {
  const ma = mean(a);
  const mb = mean(b);
  const se = Math.sqrt((ma + mb) / a.length) + 1;
  expect(Math.abs(ma - mb), `means ${ma} and ${mb}`).toBeLessThan(5 * se);
}

describe("speculation: skip-ahead against per-fill", () => {
  const NS = 40_000_000; // 40 ms: 4,000 events at 100 a ms
  const skip = SEEDS.map((s) => hazardRun("skip-ahead", s, NS));
  const per = SEEDS.map((s) => hazardRun("per-fill", s, NS));

  it("fills, denied fills, write-backs and denied write-backs agree within their spread", () => {
    for (const k of ["specFills", "deniedFills", "writebacks", "deniedWritebacks", "accesses"] as const)
      agree(
        skip.map((r) => r.stats[k]),
        per.map((r) => r.stats[k]),
      );
    agree(
      skip.map((r) => r.hazards),
      per.map((r) => r.hazards),
    );
  });

  it("both find the hazards: denied fills of the protected range and denied write-backs of its dirty lines", () => {
    for (const r of [...skip, ...per]) {
      expect(r.stats.deniedFills).toBeGreaterThan(0);
      expect(r.stats.deniedWritebacks).toBeGreaterThan(0);
    }
  });

  it("counts every fill: the mean matches rate × time × the cacheable share of DRAM, the hazards its protected share", () => {
    const expectedFills = (100 * NS) / 1e6; // nearly all of DRAM is cacheable
    expect(Math.abs(mean(skip.map((r) => r.stats.specFills)) / expectedFills - 0.99)).toBeLessThan(0.02);
    const share = GiB / 4 / (4 * GiB);
    const expectedDenied = expectedFills * share;
    expect(Math.abs(mean(skip.map((r) => r.stats.deniedFills)) - expectedDenied)).toBeLessThan(
      5 * Math.sqrt(expectedDenied / SEEDS.length),
    );
  });

  it("steps only the events that can matter: the dirty pages' write-backs and the hazard fills", () => {
    for (const r of skip) {
      expect(r.counters.bulkEvents).toBeGreaterThan(r.counters.hazardEvents + r.counters.steppedEvents);
      expect(r.counters.steppedEvents).toBeLessThan(200);
    }
    for (const r of per) expect(r.counters.steppedEvents).toBeGreaterThan(3000);
  });

  it("without a hazard the daemon never wakes, however many fills it counts", () => {
    const r = hazardRun("skip-ahead", 1, 1_000_000_000, false);
    expect(r.stats.specFills).toBeGreaterThan(90_000);
    expect(r.hazards).toBe(0);
    expect(r.switches).toBeLessThan(5);
    expect(r.dirty).toBe(0);
  });
});

describe("speculation: a playback under upstream, skip-ahead against per-fill", () => {
  const text = `
name: skip-ahead
platform: tzc400-board
policy: upstream
workloads:
  - secure-video: { start: 10ms, length: 300ms, frames: 4, bitstream: { count: 0 } }
  - background: { movable: { rate: 64MiB, working_set: 16MiB } }
`;
  const run = (mode: Mode, seed: number) => {
    const sc = loadScenarioText(text, "skip-ahead.yaml");
    return runScenario({ ...sc, platform: withMode(sc.platform, mode) }, { seed });
  };
  const skip = SEEDS.slice(0, 4).map((s) => run("skip-ahead", s));
  const per = SEEDS.slice(0, 4).map((s) => run("per-fill", s));

  it("finds the same invariants broken, as often within their spread", () => {
    for (const r of [...skip, ...per]) {
      expect(r.findings["no-speculation-hazard"]).toBeGreaterThan(100);
      expect(r.findings["no-dirty-lend"]).toBe(1);
      expect(r.findings["scrub-before-return"]).toBe(1);
    }
    const ids = (r: (typeof skip)[number]) =>
      Object.entries(r.findings)
        .filter(([, n]) => n > 0)
        .map(([id]) => id);
    expect(ids(skip[0])).toEqual(ids(per[0]));
    agree(
      skip.map((r) => r.findings["no-speculation-hazard"]),
      per.map((r) => r.findings["no-speculation-hazard"]),
    );
    agree(
      skip.map((r) => r.machine.specFills),
      per.map((r) => r.machine.specFills),
    );
  });

  it("the rest of the run is the same: frames, allocations, lends", () => {
    for (let k = 0; k < skip.length; k++) {
      expect(skip[k].workloads).toEqual(per[k].workloads);
      expect(skip[k].protmem).toEqual(per[k].protmem);
    }
  });

  it("is deterministic: the same seed gives the same counts", () => {
    expect(run("skip-ahead", 1).machine).toEqual(skip[0].machine);
  });
});

describe("poisson()", () => {
  it("has the mean and variance of a Poisson count, for small and large means", () => {
    const sim = new Sim(9);
    const rng = sim.prng.stream("test");
    for (const mu of [0.5, 3, 9.9, 10, 42, 1e4, 1e7]) {
      const n = 4000;
      const xs = Array.from({ length: n }, () => poisson(rng, mu));
      const m = mean(xs);
      const v = mean(xs.map((x) => (x - m) ** 2));
      expect(Math.abs(m - mu), `mean at ${mu}`).toBeLessThan(5 * Math.sqrt(mu / n));
      expect(Math.abs(v / mu - 1), `variance at ${mu}`).toBeLessThan(0.15);
      expect(xs.every((x) => Number.isInteger(x) && x >= 0)).toBe(true);
    }
    expect(poisson(rng, 0)).toBe(0);
  });

  it("logGamma matches log((n-1)!)", () => {
    let f = 0;
    for (let n = 1; n < 40; n++) {
      expect(Math.abs(logGamma(n) - f)).toBeLessThan(1e-9 * Math.max(1, f));
      f += Math.log(n);
    }
  });
});
