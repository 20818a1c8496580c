/* global URL, process, console */
// One default run (bench/default-run.ts) in its own process, on the compiled JavaScript in dist/ that
// `rstmem run` uses: each policy in turn, optionally on a platform with another DRAM size (bytes,
// argv[3]). Prints, as its last line, {ms per policy, simulated seconds per policy, maxRssMiB}; the
// times are in process (start-up and loading excluded).
import { performance } from "node:perf_hooks";

const dist = new URL("../dist/", import.meta.url);
const { loadScenarioFile } = await import(new URL("scenario/loader.js", dist).href);
const { runScenario } = await import(new URL("scenario/runner.js", dist).href);
const { namedPolicy } = await import(new URL("scenario/policies.js", dist).href);

const [file, policies, dramArg] = process.argv.slice(2);
const dram = dramArg === undefined ? undefined : Number(dramArg);
const ms = [];
const simS = [];
for (const p of policies.split(",")) {
  const base = loadScenarioFile(file, "default-run");
  const platform =
    dram === undefined ? base.platform : { ...base.platform, dram: { ...base.platform.dram, size: dram } };
  const sc = { ...base, platform, policy: namedPolicy(p, platform) };
  const t0 = performance.now();
  const r = runScenario(sc);
  ms.push(performance.now() - t0);
  simS.push(r.simTimeNs / 1e9);
}
console.log(JSON.stringify({ ms, simS, maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
