/**
 * The random and PCT searches over several threads (`rstmem explore --jobs N`). The coordinator boots
 * the platform itself and makes the first chunk of runs in-process (a bug that shows in the first runs
 * costs no thread start-up); then worker threads (explore_worker.ts, one piscina thread per job, each
 * booting its own copy) make the next chunks, at most one each in flight, in order of their first run.
 * A chunk that violates ends the hand-out; the chunks before it are waited for (one of them may violate
 * earlier). The result merges the chunks in order up to the first violation (walk.ts), so it is the
 * same as the one-thread search's for any number of jobs, run for run — only faster. DFS is one
 * search over one stack and state cache: it runs in this thread whatever --jobs says.
 */
import { Piscina } from "piscina";
import type { Scenario } from "../scenario/loader.ts";
import type { RunResult } from "../scenario/runner.ts";
import { BootedScenario } from "./booted.ts";
import {
  explore,
  searchParams,
  violation,
  walkParams,
  walkResult,
  type ExploreOptions,
  type ExploreResult,
} from "./explore.ts";
import type { ExploreChunkTask } from "./explore_worker.ts";
import { workerEntry } from "./threads.ts";
import { CHUNK_RUNS, runChunk, WalkMerge, type ChunkResult } from "./walk.ts";

export interface ParallelExploreOptions extends ExploreOptions {
  /** Threads making runs (default 1: this thread only). */
  readonly jobs?: number;
  /** Runs per chunk handed to a thread (default CHUNK_RUNS); results never depend on it. */
  readonly chunkRuns?: number;
}

let searches = 0;

export async function exploreParallel(sc: Scenario, opts: ParallelExploreOptions): Promise<ExploreResult> {
  const jobs = opts.jobs ?? 1;
  const chunk = opts.chunkRuns ?? CHUNK_RUNS;
  if (jobs <= 1 || opts.strategy === "dfs" || opts.runs <= chunk) return explore(sc, opts);
  searchParams(opts);
  const booted = new BootedScenario(sc);
  const p = walkParams(sc, booted, opts);
  const m = new WalkMerge();
  let kept: RunResult | null = null;
  // Chunk 0 here, as the one-thread search makes it.
  let done = 0;
  m.add(
    runChunk(
      booted,
      { ...p, start: 0, count: chunk },
      (r) => violation(sc, r),
      (r) => opts.onRun?.(++done, r),
      (r) => (kept = r),
    ),
  );
  if (m.found !== null) return walkResult(sc, booted, p, m, "runs", opts, kept);

  const { source: _source, ...scenario } = sc;
  const search = `${process.pid}.${++searches}`;
  const total = Math.ceil(opts.runs / chunk);
  const results = new Map<number, ChunkResult>();
  let next = 1;
  let inFlight = 0;
  let firstViolating = Infinity;
  let stopped = false;
  const { filename, execArgv } = workerEntry("explore_worker", import.meta.url);
  const pool = new Piscina<ExploreChunkTask, ChunkResult>({
    filename,
    execArgv,
    minThreads: jobs,
    maxThreads: jobs,
    concurrentTasksPerWorker: 1,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        while (inFlight < jobs && next < total && next < firstViolating && !stopped) {
          if (opts.shouldStop?.()) {
            stopped = true;
            break;
          }
          const c = next++;
          const start = c * chunk;
          inFlight++;
          pool
            .run({ search, scenario, chunk: { ...p, start, count: Math.min(chunk, opts.runs - start) } })
            .then((r) => {
              inFlight--;
              results.set(c, r);
              if (r.found !== null) firstViolating = Math.min(firstViolating, c);
              done += r.done;
              opts.onRun?.(done, null);
              pump();
            }, reject);
        }
        if (inFlight === 0) resolve();
      };
      pump();
    });
  } finally {
    await pool.destroy();
  }
  // Every chunk handed out before the first violating one (or before the stop) is back: merge in order.
  for (let c = 1; c < next && c <= firstViolating; c++) m.add(results.get(c)!);
  return walkResult(sc, booted, p, m, stopped ? "stopped" : "runs", opts, null);
}
