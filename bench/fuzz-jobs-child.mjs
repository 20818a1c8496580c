/* global URL, process, console */
// One long FF-A fuzzing run over several threads (bench/fuzz.ts), as `rstmem ffa fuzz --flavor F --runs N
// --jobs J` makes it: a cold process (each thread compiles the model itself, part of what a user waits
// for), on the compiled JavaScript in dist/. Prints, as its last line, {wallMs, cpuMs, calls, threads,
// stretches}: `stretches` are the wall times of the run's consecutive stretches of `stretch` cases after its
// first `warm` (the threads' JIT warm-up), as {wallMs, cases}.
import { performance } from "node:perf_hooks";
import { stretchTimer } from "./stretch-timer.mjs";

const dist = new URL("../dist/", import.meta.url);
const { fuzzParallel } = await import(new URL("explore/fuzz_parallel.js", dist).href);

const [flavor, runsArg, jobsArg, warmArg, stretchArg] = process.argv.slice(2);
const warm = Number(warmArg ?? runsArg);
const stretch = Number(stretchArg ?? runsArg);
const timer = stretchTimer(warm, stretch);
const c0 = process.cpuUsage();
const t0 = performance.now();
const r = await fuzzParallel({
  flavors: [flavor],
  runs: Number(runsArg),
  seed: 1,
  jobs: Number(jobsArg),
  onProgress: (done) => timer.done(done),
});
const wallMs = performance.now() - t0;
const c = process.cpuUsage(c0);
if (r.violation) {
  console.error(`ffa fuzz found a violation on ${flavor}: ${r.violation.why}`);
  process.exit(1);
}
console.log(
  JSON.stringify({
    wallMs,
    cpuMs: (c.user + c.system) / 1000,
    calls: r.flavors[0].calls,
    threads: r.threads,
    stretches: timer.stretches().map(({ wallMs, count }) => ({ wallMs, cases: count })),
  }),
);
