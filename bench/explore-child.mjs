/* global URL, process, console */
// The explorer bench (bench/explore.ts) in its own process, on the compiled JavaScript in dist/ that
// `rstmem explore` uses. For each strategy: a warm-up, then `reps` explorations of pool-race under safe
// (every schedule runs clean, so the whole budget is spent; the one boot of each is included). Then the
// time to find protmem.c's race under upstream. Prints, as its last line, {safe: {strategy: [{wallMs,
// cpuMs, explored, states}]}, warm: {random: [stretches of one long search, after its warm-up], "random
// --faults 1": [same, a fault a run at most]}, dram: {"64GiB": [random's stretches on 64 GiB]},
// parallel: {strategy: [same, with --jobs 2]}, upstream: {strategy: {wallMs, cpuMs, run}}}: CPU time is
// process.cpuUsage() (user + system), so a loaded machine slows the wall figures but not the CPU ones.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { stretchTimer } from "./stretch-timer.mjs";

const dist = new URL("../dist/", import.meta.url);
const { explore } = await import(new URL("explore/explore.js", dist).href);
const { exploreParallel } = await import(new URL("explore/explore_parallel.js", dist).href);
const { loadScenarioFile, loadScenarioText } = await import(new URL("scenario/loader.js", dist).href);
const { namedPolicy } = await import(new URL("scenario/policies.js", dist).href);

const [runsArg, repsArg, longFaults] = process.argv.slice(2);
const runs = Number(runsArg);
const long = repsArg === "long";
const warmJobs = repsArg === "warmjobs";
const file = new URL("../scenarios/pool-race.yaml", import.meta.url).pathname;
const base = loadScenarioFile(file, "pool-race");
const safe = { ...base, policy: namedPolicy("safe", base.platform) };
const upstream = { ...base, policy: namedPolicy("upstream", base.platform) };
// pool-race on 64 GiB of DRAM instead of its 1 GiB: a run must cost the same (no work per DRAM page).
const big = loadScenarioText(
  readFileSync(file, "utf8").replace("dram_size: 1GiB", "dram_size: 64GiB"),
  "pool-race-64GiB.yaml",
);
const safe64 = { ...big, policy: namedPolicy("safe", big.platform) };

const timed = (fn) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { r, wallMs, cpuMs: (c.user + c.system) / 1000 };
};

// `explore-child.mjs N long [faults]`: one search of N runs with --jobs 2 (random, the default) in this
// fresh process, as `rstmem explore pool-race --runs N [--faults]` makes it: cold JIT in both threads,
// the workers started at once for a search that long (explore_parallel.ts SURELY_WORTH_MS). Prints
// {wallMs, cpuMs, explored, states}.
if (long) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const faults = longFaults === "faults" ? 1 : 0;
  const r = await exploreParallel(safe, {
    strategy: "random",
    runs,
    seed: 1,
    windowNs: 100_000,
    jobs: 2,
    faults,
  });
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  if (r.violation) {
    console.error(`pool-race under safe violated: ${r.violation.why}`);
    process.exit(1);
  }
  console.log(
    JSON.stringify({ wallMs, cpuMs: (c.user + c.system) / 1000, explored: r.explored, states: r.states }),
  );
  process.exit(0);
}

// `explore-child.mjs N warmjobs [faults]`: the same long search with --jobs 2 in this fresh process, timed
// over stretches of N runs after its first 2 × N (both threads' boot and JIT warm-up): what a long search
// (`--time 10min`) makes for most of its time. Prints {stretches: [{wallMs, explored}]} (each stretch ends
// at the first merged chunk past its end).
if (warmJobs) {
  const timer = stretchTimer(2 * runs, runs);
  const r = await exploreParallel(safe, {
    strategy: "random",
    runs: 5 * runs,
    seed: 1,
    windowNs: 100_000,
    jobs: 2,
    faults: longFaults === "faults" ? 1 : 0,
    onRun: (done) => timer.done(done),
  });
  if (r.violation) {
    console.error(`pool-race under safe violated: ${r.violation.why}`);
    process.exit(1);
  }
  const stretches = timer.stretches().map(({ wallMs, count }) => ({ wallMs, explored: count }));
  console.log(JSON.stringify({ stretches }));
  process.exit(0);
}

const out = { safe: {}, upstream: {}, parallel: {} };
for (const strategy of ["random", "pct", "dfs"]) {
  explore(safe, { strategy, runs: 100, seed: 99, windowNs: 100_000 });
  out.safe[strategy] = [];
  for (let rep = 0; rep < Number(repsArg); rep++) {
    const { r, wallMs, cpuMs } = timed(() => explore(safe, { strategy, runs, seed: 1, windowNs: 100_000 }));
    if (r.violation) {
      console.error(`pool-race under safe violated: ${r.violation.why}`);
      process.exit(1);
    }
    out.safe[strategy].push({
      wallMs,
      cpuMs,
      explored: r.explored,
      states: r.states,
      pruned: r.dfs?.pruned ?? 0,
    });
  }
}
// Warm: what a search of several thousand runs and up makes for most of its time — stretches of one
// long search, once V8 has compiled the model's hot code: its runs 4 × runs to 6 × runs, 6 × to 8 ×, and
// so on (`reps` stretches of 2 × runs). One search, as `rstmem explore --runs N` makes it: each new search
// boots a new system, and V8 then re-optimizes what it had compiled for the last one (~150 ms of deopts
// and recompiles), which a long search pays once, at its start. Random, the default; then the same with a
// fault a run at most (`--faults`: pool-race's errnos, kills at any scheduling point).
function stretches(faults, scenario = safe) {
  const warmUp = runs * 4;
  const stretch = runs * 2;
  const reps = Number(repsArg);
  const marks = [];
  explore(scenario, {
    strategy: "random",
    runs: warmUp + reps * stretch,
    seed: 1,
    windowNs: 100_000,
    faults,
    onRun: (done) => {
      if (done >= warmUp && (done - warmUp) % stretch === 0)
        marks.push({ t: performance.now(), c: process.cpuUsage() });
    },
  });
  const out = [];
  for (let i = 1; i < marks.length; i++) {
    const [a, b] = [marks[i - 1], marks[i]];
    const cpuMs = (b.c.user + b.c.system - a.c.user - a.c.system) / 1000;
    out.push({ wallMs: b.t - a.t, cpuMs, explored: stretch, states: 0 });
  }
  return out;
}
out.warm = { random: stretches(0), "random --faults 1": stretches(1) };
// The same warm stretches on 64 GiB of DRAM: the per-run cost must not grow with DRAM (the restore and
// the end-of-run checks go over the blocks a run wrote, sim/dirty.ts).
out.dram = { "64GiB": stretches(0, safe64) };
// Two threads (--jobs 2; this machine's cores), on a budget long enough for the worker to be worth
// starting (explore_parallel.ts: from about 8,000 runs here) and its start-up to count for little:
// boot, this thread alone until then, then the worker boots and warms up its own JIT.
for (const strategy of ["random", "pct"]) {
  out.parallel[strategy] = [];
  for (let rep = 0; rep < Number(repsArg); rep++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = await exploreParallel(safe, { strategy, runs: runs * 20, seed: 1, windowNs: 100_000, jobs: 2 });
    const wallMs = performance.now() - t0;
    const c = process.cpuUsage(c0);
    if (r.violation) {
      console.error(`pool-race under safe violated: ${r.violation.why}`);
      process.exit(1);
    }
    out.parallel[strategy].push({
      wallMs,
      cpuMs: (c.user + c.system) / 1000,
      explored: r.explored,
      states: r.states,
    });
  }
}
for (const strategy of ["random", "pct", "dfs"]) {
  const { r, wallMs, cpuMs } = timed(() =>
    explore(upstream, { strategy, runs: 2000, seed: 1, windowNs: 100_000, shrink: false }),
  );
  if (!r.violation) {
    console.error(`pool-race under upstream: no violation in ${r.explored} ${strategy} runs`);
    process.exit(1);
  }
  out.upstream[strategy] = { wallMs, cpuMs, run: r.violation.run };
}
console.log(JSON.stringify(out));
