import { describe, expect, it } from "vitest";
import { BootedScenario } from "../../src/explore/explore.ts";
import { violation } from "../../src/explore/explore.ts";
import { loadScenarioFile, type Scenario } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import type { RunVerdict } from "../../src/scenario/runner.ts";
import { randomFaultChooser } from "../../src/sim/faults.ts";
import { Prng } from "../../src/sim/prng.ts";
import { randomChooser } from "../../src/sim/scheduler.ts";

function scenario(name: string, policy?: string): Scenario {
  const sc = loadScenarioFile(new URL(`../../scenarios/${name}.yaml`, import.meta.url).pathname);
  return { ...sc, schedule: null, ...(policy ? { policy: namedPolicy(policy, sc.platform) } : {}) };
}

/** Run i's chooser and fault chooser, the same each time they are made. */
function choosers(i: number, faults: number) {
  const walk = new Prng(5).stream(`verdict.${i}`);
  const struck = new Prng(5).stream(`verdict.faults.${i}`);
  return {
    chooser: randomChooser((n) => walk.int(0, n - 1), 100_000),
    faults:
      faults > 0 ? { chooser: randomFaultChooser((n) => struck.int(0, n - 1)), budget: faults } : undefined,
  };
}

const fields = (r: RunVerdict) => ({
  passed: r.passed,
  failure: r.failure,
  findings: r.findings,
  schedule: r.schedule,
  faults: r.faults,
});

describe("a run's verdict", () => {
  const cases: [string, Scenario, number, number][] = [
    ["pool-race, safe, faults", scenario("pool-race"), 2, 40],
    ["pool-race, upstream (the race)", scenario("pool-race", "upstream"), 1, 40],
    [
      "pool-race, safe, faults, a metric expectation that every run breaks",
      {
        ...scenario("pool-race"),
        expectMetrics: [{ name: "simulated_ns", op: "<", value: 1, line: 1, policy: null }],
      },
      1,
      5,
    ],
    [
      "pool-race, upstream, without expect (any finding violates)",
      { ...scenario("pool-race", "upstream"), expectFindings: [], expectMetrics: [] },
      0,
      10,
    ],
  ];
  for (const [what, sc, faults, runs] of cases) {
    it(`is the whole result's verdict, run for run: ${what}`, () => {
      const booted = new BootedScenario(sc);
      let failed = 0;
      for (let i = 0; i < runs; i++) {
        const a = choosers(i, faults);
        const v = booted.verdict(a.chooser, a.faults);
        const b = choosers(i, faults);
        const whole = booted.run(b.chooser, b.faults);
        expect(fields(v)).toEqual(fields(whole));
        expect(violation(sc, v)).toBe(violation(sc, whole));
        // Made again from the verdict, the run is the same run.
        expect(fields(booted.madeAgain(v))).toEqual(fields(whole));
        if (!v.passed) failed++;
      }
      if (what.includes("the race") || what.includes("break")) expect(failed).toBeGreaterThan(0);
    });
  }
});
