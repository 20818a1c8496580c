// Times stretches of a long run in progress (bench/explore-child.mjs, bench/fuzz-jobs-child.mjs): after
// its first `warm` units (the threads' JIT warm-up), each `stretch` long. The run reports its count as it
// goes (a chunk at a time, so a mark falls at the first report past each stretch's end, not exactly on
// it); stretches() gives each one's wall time and count, as {wallMs, count}.
import { performance } from "node:perf_hooks";

export function stretchTimer(warm, stretch) {
  /** [count, time] at each stretch's end. */
  const marks = [];
  let next = warm;
  return {
    done(count) {
      if (count < next) return;
      marks.push([count, performance.now()]);
      next += stretch;
    },
    stretches: () => marks.slice(1).map(([d, t], i) => ({ wallMs: t - marks[i][1], count: d - marks[i][0] })),
  };
}
