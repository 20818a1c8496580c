/**
 * PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS 2010),
 * as shuttle's `check_pct` runs it: every task gets a random priority when it first becomes a
 * candidate (all above `depth`), d − 1 priority-change points are drawn among the run's k choices, and
 * at each choice the highest-priority candidate runs; at the j-th change point the task about to run
 * drops to priority j (below every initial priority), and the choice is made again.
 *
 * For a bug of depth d, n tasks and k steps, each run finds it with probability ≥ 1/(n·k^(d−1)).
 */
import type { RandomStream } from "../sim/prng.ts";
import type { Chooser, Task } from "../sim/scheduler.ts";

/** PCT's per-run lower bound on finding a bug of depth `depth`: 1/(n·k^(d−1)). */
export function pctBound(tasks: number, steps: number, depth: number): number {
  return 1 / (Math.max(1, tasks) * Math.max(1, steps) ** (depth - 1));
}

/**
 * One run's PCT chooser. `steps` is k, the number of choices a run makes (estimated by the explorer);
 * `rand` supplies the priorities and change points, so a seeded stream gives the same run each time.
 */
export function pctChooser(rand: RandomStream, depth: number, steps: number, windowNs = 0): Chooser {
  const k = Math.max(1, steps);
  // Change point j (1-based) at choice changeAt[j − 1]; duplicates merge, as in the paper's sampling.
  const changeAt = new Map<number, number>();
  for (let j = 1; j < depth; j++) changeAt.set(rand.int(1, k), j);
  const priority = new Map<number, number>();
  let choice = 0;
  const prio = (t: Task): number => {
    let p = priority.get(t.id);
    if (p === undefined) {
      // Distinct initial priorities above `depth`: a random 32-bit key breaks ties by id.
      p = depth + 1 + rand.u32() / 0x100000000 + t.id * 2 ** -40;
      priority.set(t.id, p);
    }
    return p;
  };
  const highest = (candidates: readonly Task[]): number => {
    let best = 0;
    for (let i = 1; i < candidates.length; i++) if (prio(candidates[i]) > prio(candidates[best])) best = i;
    return best;
  };
  return {
    name: "pct",
    windowNs,
    choose(candidates) {
      choice++;
      let i = highest(candidates);
      const j = changeAt.get(choice);
      if (j !== undefined) {
        priority.set(candidates[i].id, j);
        i = highest(candidates);
      }
      return i;
    },
  };
}
