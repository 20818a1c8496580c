/**
 * Where a worker-thread module is and how its threads must start: the module next to the caller, `.ts`
 * under tsx (each thread then imports tsx's loader too), `.js` when the command runs compiled from
 * dist/. Used by the sweep's pool (cli/sweep_pool.ts) and the parallel explorer (explore_parallel.ts).
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";

export function workerEntry(name: string, here: string): { filename: string; execArgv: string[] } {
  const ts = /\.[cm]?ts$/.test(new URL(here).pathname);
  const filename = new URL(`./${name}.${ts ? "ts" : "js"}`, here).href;
  // Profiling flags would make every thread write its own profile: keep the rest of the parent's options.
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--cpu-prof") && !a.startsWith("--prof"));
  if (ts && !execArgv.some((a) => a.includes("tsx"))) {
    // tsx registered at run time (bin/rstmem.js) stays in the main thread: each worker imports its loader.
    execArgv.push("--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href);
  }
  return { filename, execArgv };
}

/** `--jobs` default: the machine's cores. */
export const defaultJobs = (): number => Math.max(1, availableParallelism());
