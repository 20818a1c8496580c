/**
 * `npx tsx bench/run.ts mutants`: how long the explorer takes to find each planted bug (src/sim/mutations.ts)
 * on test/mutants/pool-race.yaml — runs and wall time to the first violation, per strategy, with the
 * mutants test's budget, over several explorer seeds — and how fast the model as designed explores the same scenario clean.
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
/** Explorer seeds per mutation: one seed's first run is luck, the mean over several is the figure. */
const SEEDS = 8;

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
      // Over SEEDS explorer seeds: the mean runs and wall time to the first violation, and how many found it.
      let runs = 0;
      let ms = 0;
      let found = 0;
      for (let seed = 1; seed <= SEEDS; seed++) {
        const t1 = performance.now();
        const r = explore({ ...sc, mutations: [id] }, { ...opts, seed });
        const dt = performance.now() - t1;
        if (r.violation === null) continue;
        found++;
        runs += r.violation.run;
        ms += dt;
      }
      const over = `${strategy}, seeds 1–${SEEDS}`;
      figure({
        name: `planted bug ${id}: seeds whose search found it (${strategy}, ${BUDGET} runs each)`,
        value: found,
        unit: `of ${SEEDS}`,
      });
      if (found === 0) continue;
      figure({
        name: `planted bug ${id}: runs to find, mean (${over})`,
        value: Number((runs / found).toFixed(2)),
        unit: "runs",
        budget: `<= ${BUDGET}`,
      });
      figure({
        name: `planted bug ${id}: time to find, mean (${over}; boot and snapshot included)`,
        value: Number((ms / found).toFixed(1)),
        unit: "ms",
      });
    }
  }
}
