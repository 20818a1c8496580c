/**
 * `npx tsx bench/run.ts mutants`: how long the explorer takes to find each planted bug (src/sim/mutations.ts)
 * on test/mutants/pool-race.yaml — runs and wall time to the first violation, per strategy, with the
 * mutants test's budget and seed — and how fast the model as designed explores the same scenario clean.
 */
import { performance } from "node:perf_hooks";
import { explore, type Strategy } from "../src/explore/explore.ts";
import { loadScenarioFile } from "../src/scenario/loader.ts";
import { MUTATION_IDS } from "../src/sim/mutations.ts";

interface Figure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
}

/** The mutants test's budget (test/mutants/mutants.test.ts). */
const BUDGET = 25;

export function benchMutants(figure: (f: Figure) => void): void {
  const file = new URL("../test/mutants/pool-race.yaml", import.meta.url).pathname;
  const sc = loadScenarioFile(file, "mutants-pool-race");
  for (const strategy of ["random", "pct"] as Strategy[]) {
    const opts = { strategy, runs: BUDGET, seed: 1, windowNs: 100_000 };
    const t0 = performance.now();
    const clean = explore(sc, opts);
    const cleanMs = performance.now() - t0;
    if (clean.violation) throw new Error(`the model as designed violated: ${clean.violation.why}`);
    figure({
      name: `mutants scenario, model as designed: schedules per second (${strategy}, ${BUDGET} runs)`,
      value: Number(((clean.explored / cleanMs) * 1000).toFixed(2)),
      unit: "schedules/s",
    });
    for (const id of MUTATION_IDS) {
      const t1 = performance.now();
      const r = explore({ ...sc, mutations: [id] }, opts);
      const ms = performance.now() - t1;
      const found = r.violation !== null;
      figure({
        name: `planted bug ${id}: ${found ? "runs to find" : "not found in"} (${strategy}, seed 1)`,
        value: found ? r.violation!.run : r.explored,
        unit: "runs",
        budget: `<= ${BUDGET}`,
      });
      figure({
        name: `planted bug ${id}: time to ${found ? "find" : "exhaust the budget"} (${strategy}, seed 1)`,
        value: Number(ms.toFixed(1)),
        unit: "ms",
      });
    }
  }
}
