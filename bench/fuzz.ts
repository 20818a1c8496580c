/**
 * FF-A fuzzing speed (issue 11, "Fuzz cases per second per flavor: ≥ 50,000"): `rstmem ffa fuzz` on one
 * flavor, best of three runs of 20,000 cases after a warm-up — the whole loop (generation, calls through
 * the conduit, the oracle, restores), without a corpus. Wall-clock time is read here only.
 */
import { performance } from "node:perf_hooks";
import { fuzz } from "../src/explore/fuzz/fuzz.ts";
import { FUZZ_FLAVORS } from "../src/explore/fuzz/rig.ts";

export interface FuzzFigure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
}

export function benchFuzz(figure: (f: FuzzFigure) => void): void {
  const runs = 20_000;
  for (const flavor of FUZZ_FLAVORS) {
    fuzz({ flavors: [flavor], runs: 2_000, seed: 99 });
    let best = Infinity;
    let calls = 0;
    for (let rep = 0; rep < 3; rep++) {
      const t0 = performance.now();
      const r = fuzz({ flavors: [flavor], runs, seed: rep + 1 });
      const ms = performance.now() - t0;
      if (r.violation) throw new Error(`ffa fuzz found a violation on ${flavor}: ${r.violation.why}`);
      if (ms < best) {
        best = ms;
        calls = r.flavors[0].calls;
      }
    }
    figure({
      name: `FF-A fuzz cases per second (${flavor}, ${runs} cases, ${(calls / runs).toFixed(2)} calls a case)`,
      value: Math.round((runs / best) * 1000),
      unit: "cases/s",
      budget: ">= 50000",
    });
  }
}

// `tsx bench/fuzz.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) benchFuzz((f) => console.log(JSON.stringify(f)));
