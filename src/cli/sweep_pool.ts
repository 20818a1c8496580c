/**
 * Runs points (sweep_worker.ts) in worker threads with piscina, or in-process for one job. The worker
 * file is found as explore/threads.ts says: sweep_worker.ts under tsx (the worker then loads tsx too),
 * dist/cli/sweep_worker.js when the command runs compiled (from dist/ or its bundle).
 */
import { Piscina } from "piscina";
import { runPoint, type PointOutcome, type PointTask } from "./sweep_worker.ts";
import { workerEntry as threadEntry } from "../explore/threads.ts";

export interface PointPool {
  run(task: PointTask): Promise<PointOutcome>;
  close(): Promise<void>;
}

export { defaultJobs } from "../explore/threads.ts";

/** The worker's URL and the Node options its threads need to load it. */
export function workerEntry(here: string = import.meta.url): { filename: string; execArgv: string[] } {
  return threadEntry("cli/sweep_worker", here);
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
