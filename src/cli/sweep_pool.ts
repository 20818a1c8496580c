/**
 * Runs points (sweep_worker.ts) in worker threads with piscina, or in-process for one job. The worker
 * file is found next to this module: sweep_worker.ts under tsx (the worker then loads tsx too),
 * sweep_worker.js when the command runs compiled from dist/.
 */
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { pathToFileURL } from "node:url";
import { Piscina } from "piscina";
import { runPoint, type PointOutcome, type PointTask } from "./sweep_worker.ts";

export interface PointPool {
  run(task: PointTask): Promise<PointOutcome>;
  close(): Promise<void>;
}

/** `--jobs` default: the machine's cores. */
export const defaultJobs = (): number => Math.max(1, availableParallelism());

/** The worker's URL and the Node options its threads need to load it. */
export function workerEntry(here: string = import.meta.url): { filename: string; execArgv: string[] } {
  const ts = /\.[cm]?ts$/.test(new URL(here).pathname);
  const filename = new URL(`./sweep_worker.${ts ? "ts" : "js"}`, here).href;
  // Profiling flags would make every thread write its own profile: keep the rest of the parent's options.
  const execArgv = process.execArgv.filter((a) => !a.startsWith("--cpu-prof") && !a.startsWith("--prof"));
  if (ts && !execArgv.some((a) => a.includes("tsx"))) {
    // tsx registered at run time (bin/rstmem.js) stays in the main thread: each worker imports its loader.
    execArgv.push("--import", pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href);
  }
  return { filename, execArgv };
}

export function pointPool(jobs: number): PointPool {
  if (jobs <= 1) {
    return {
      run: (task) => Promise.resolve().then(() => runPoint(task)),
      close: () => Promise.resolve(),
    };
  }
  const { filename, execArgv } = workerEntry();
  const pool = new Piscina<PointTask, PointOutcome>({
    filename,
    execArgv,
    minThreads: jobs,
    maxThreads: jobs,
    // Points are independent and long: one in flight per thread.
    concurrentTasksPerWorker: 1,
  });
  return {
    run: (task) => pool.run(task),
    close: () => pool.destroy(),
  };
}
