import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explore, type ExploreOptions, type ExploreResult } from "../../src/explore/explore.ts";
import { exploreParallel } from "../../src/explore/explore_parallel.ts";
import { loadScenarioFile, type Scenario } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";

const ROOT = join(import.meta.dirname, "../..");
const POOL_RACE = loadScenarioFile(join(ROOT, "scenarios/pool-race.yaml"), "pool-race");
const MUTANTS = loadScenarioFile(join(ROOT, "test/mutants/pool-race.yaml"));

/** What a search reports, without the run results' objects. */
function outline(r: ExploreResult) {
  return {
    explored: r.explored,
    distinct: r.distinct,
    states: r.states,
    faulted: r.faulted,
    ended: r.ended,
    run: r.violation?.run ?? null,
    why: r.violation?.why ?? null,
    schedule: r.violation?.result.schedule ?? null,
    shrunk: r.shrunk?.result.schedule ?? null,
    pct: r.pct,
  };
}

describe("rstmem explore --jobs: the same search over several threads", () => {
  const cases: [string, Scenario, ExploreOptions][] = [
    [
      "a clean search under faults (random)",
      { ...POOL_RACE, policy: namedPolicy("safe", POOL_RACE.platform) },
      { strategy: "random", runs: 60, seed: 3, windowNs: 100_000, faults: 1 },
    ],
    [
      "a clean search (pct)",
      { ...POOL_RACE, policy: namedPolicy("safe", POOL_RACE.platform) },
      { strategy: "pct", runs: 40, seed: 2, windowNs: 100_000 },
    ],
    [
      "a violation past the first chunks (random, refcount-inc)",
      { ...MUTANTS, mutations: ["refcount-inc"] },
      { strategy: "random", runs: 100, seed: 6, windowNs: 100_000 },
    ],
    [
      "a violation past the first chunks (pct, refcount-inc)",
      { ...MUTANTS, mutations: ["refcount-inc"] },
      { strategy: "pct", runs: 100, seed: 4, windowNs: 100_000 },
    ],
  ];
  for (const [name, sc, opts] of cases) {
    it(`finds what one thread finds, run for run: ${name}`, async () => {
      const one = explore(sc, opts);
      // Chunks of 2 runs over 2 threads: the violation, if any, lies in a chunk a worker made.
      const two = await exploreParallel(sc, { ...opts, jobs: 2, chunkRuns: 2, eagerWorkers: true });
      expect(outline(two)).toEqual(outline(one));
      if (one.violation) expect(one.violation.run).toBeGreaterThan(2);
      else expect(one.explored).toBe(opts.runs);
    }, 60_000);
  }

  it("a search this thread makes alone past its warm-up (no worker worth starting) reports what explore() does", async () => {
    // 250 ms alone (WARM_MS), then the estimate; the chunks this thread made are merged as they come.
    const sc = { ...POOL_RACE, policy: namedPolicy("safe", POOL_RACE.platform) };
    const opts: ExploreOptions = { strategy: "random", runs: 1200, seed: 5, windowNs: 100_000 };
    const two = await exploreParallel(sc, { ...opts, jobs: 2 });
    expect(outline(two)).toEqual(outline(explore(sc, opts)));
  }, 60_000);
});
