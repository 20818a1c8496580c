/* global URL, process, console */
// One flavor of the FF-A fuzzing bench (bench/fuzz.ts) in its own process, on the compiled JavaScript in
// dist/ that `rstmem ffa fuzz` uses: a warm-up (three runs), then `reps` runs of `runs` cases (seeds
// 1..reps). Prints, as its last line, per run {wallMs, cpuMs, calls}: CPU time is process.cpuUsage()
// (user + system, every thread) over the run, so a loaded machine slows the wall figure but not the
// CPU one.
import { performance } from "node:perf_hooks";

const dist = new URL("../dist/", import.meta.url);
const { fuzz } = await import(new URL("explore/fuzz/fuzz.js", dist).href);

const [flavor, runsArg, repsArg] = process.argv.slice(2);
const runs = Number(runsArg);
// The warm-up: three runs on other seeds. V8 keeps compiling (and deoptimizing and recompiling on
// another thread) through the first ~60,000 cases as rarer paths get hot; that CPU time is a run's
// start-up, not its throughput, and would otherwise land in the measured runs' CPU figure.
for (const seed of [97, 98, 99]) fuzz({ flavors: [flavor], runs, seed });
const out = [];
for (let rep = 0; rep < Number(repsArg); rep++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fuzz({ flavors: [flavor], runs, seed: rep + 1 });
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (r.violation) {
    console.error(`ffa fuzz found a violation on ${flavor}: ${r.violation.why}`);
    process.exit(1);
  }
  out.push({ wallMs, cpuMs: (c.user + c.system) / 1000, calls: r.flavors[0].calls });
}
console.log(JSON.stringify(out));
