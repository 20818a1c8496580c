/**
 * The random and PCT searches over several threads (`rstmem explore --jobs N`). The coordinator boots
 * the platform itself and makes chunks of runs in-process (a bug that shows in the first runs costs no
 * thread start-up) until the runs left are worth starting workers (WARM_MS, WORTH_MS below); then
 * N − 1 worker threads (explore_worker.ts, piscina, each booting its own copy, two chunks queued each)
 * and the coordinator itself make the next chunks, handed out in order of their first run.
 * A chunk that violates ends the hand-out; the chunks before it are waited for (one of them may violate
 * earlier). The result merges the chunks in order up to the first violation (walk.ts), so it is the
 * same as the one-thread search's for any number of jobs, run for run — only faster. A search that
 * keeps going (--keep-going) has no violation that ends it: its chunks tally their failures, merged in
 * order as well (walk.ts FailureTally), so it too finds the same for any number of jobs. DFS is one
 * search over one stack and state cache: it runs in this thread whatever --jobs says.
 */
import { performance } from "node:perf_hooks";
import { Piscina } from "piscina";
import type { Scenario } from "../scenario/loader.ts";
import type { RunResult } from "../scenario/runner.ts";
import { BootedScenario } from "./booted.ts";
import {
  explore,
  firstRunIsEvery,
  heard,
  violation,
  walkParams,
  walkResult,
  type ExploreOptions,
  type ExploreResult,
} from "./explore.ts";
import type { ExploreWorkerData } from "./explore_worker.ts";
import { shareChunks, workerEntry } from "./threads.ts";
import { CHUNK_RUNS, runChunk, WalkMerge, type ChunkResult, type ChunkTask } from "./walk.ts";

export interface ParallelExploreOptions extends ExploreOptions {
  /** Threads making runs (default 1: this thread only). */
  readonly jobs?: number;
  /** Runs per chunk handed to a thread (default CHUNK_RUNS); results never depend on it. */
  readonly chunkRuns?: number;
  /**
   * Start the worker threads right after the first chunk, however little work is left (tests that
   * must see the workers make runs). By default they start only when the work left is worth them.
   */
  readonly eagerWorkers?: boolean;
}

/**
 * When worker threads are worth starting. A worker boots its own platform and warms up its own JIT,
 * which competes for the cores with the threads already making runs: on a 2-core machine, pool-race
 * with one worker breaks even with this thread alone at about 8,000 runs (3.3 s alone; 1,000 runs take
 * 0.81 s alone and 1.04 s with a worker). So this thread makes chunks alone for WARM_MS, while its pace
 * settles, then starts the workers once the runs left, at its last chunk's pace (still not quite warm:
 * about 5 s for those 8,000), would take it WORTH_MS divided among the workers. Which thread makes a
 * chunk never changes the result.
 */
const WARM_MS = 250;
const WORTH_MS = 5000;
/**
 * Runs left that would take this thread this long at chunk 0's pace start the workers at once, without
 * the WARM_MS alone: chunk 0 runs about 8× slower than warm runs (pool-race: 2.9 ms a run against 0.35,
 * the JIT has compiled nothing yet), so what passes this takes well over WORTH_MS warm too, and past
 * the break-even. Pool-race: from about 14,000 runs with --jobs 2.
 */
const SURELY_WORTH_MS = 40_000;

/** Chunks in flight per worker thread (it makes them one after the other). */
const LANES = 2;

export async function exploreParallel(sc: Scenario, opts: ParallelExploreOptions): Promise<ExploreResult> {
  const jobs = opts.jobs ?? 1;
  const chunk = opts.chunkRuns ?? CHUNK_RUNS;
  if (jobs <= 1 || opts.strategy === "dfs" || opts.runs <= chunk) return explore(sc, opts);
  const booted = new BootedScenario(sc);
  const p = walkParams(sc, booted, opts);
  const m = new WalkMerge(opts.keepGoing);
  let kept: RunResult | null = null;
  // Chunk 0 here, as the one-thread search makes it: its first run alone (when it met no scheduling
  // choice and no fault budget varies the runs, that run is every run: firstRunIsEvery()), then the rest.
  let done = 0;
  const chunk0 = performance.now();
  const here0 = (start: number, count: number): void =>
    m.add(
      runChunk(
        booted,
        { ...p, start, count },
        (r) => violation(sc, r),
        (r) => heard(opts, ++done, r),
        (r) => (kept = r),
        undefined,
        opts.onResult !== undefined,
        opts.shouldStop,
      ),
    );
  here0(0, 1);
  if (firstRunIsEvery(p, m)) return walkResult(sc, booted, p, m, "exhausted", opts, kept);
  if (m.found === null) here0(1, chunk - 1);
  if (m.found !== null) return walkResult(sc, booted, p, m, "runs", opts, kept);
  // At chunk 0's pace (the coldest: the JIT has compiled nothing yet), a search this long is worth
  // the workers beyond doubt: they start now, booting while this thread warms up.
  const coldPerRun = (performance.now() - chunk0) / m.explored;
  const surelyWorth = (opts.runs - m.explored) * coldPerRun >= SURELY_WORTH_MS / (jobs - 1);

  const { source: _source, ...scenario } = sc;
  const total = Math.ceil(opts.runs / chunk);
  const results = new Map<number, ChunkResult>();
  /** Violating runs this thread made, by chunk: the report needs no second making of them. */
  const keptAt = new Map<number, RunResult>();
  let next = 1;
  let firstViolating = Infinity;
  let stopped = false;
  /** The next chunk to hand out, or −1 when the search hands out no more. */
  const handOut = (): number => {
    if (stopped || next >= total || next >= firstViolating) return -1;
    if (opts.shouldStop?.()) {
      stopped = true;
      return -1;
    }
    return next++;
  };
  const taskOf = (c: number): ChunkTask => ({
    ...p,
    start: c * chunk,
    count: Math.min(chunk, opts.runs - c * chunk),
    ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
  });
  /** Chunks 1 … merged − 1 are merged into `m` (and dropped from `results`). */
  let merged = 1;
  const record = (c: number, r: ChunkResult): void => {
    results.set(c, r);
    if (r.found !== null) firstViolating = Math.min(firstViolating, c);
    done += r.done;
    // Merged as soon as every chunk before it is, up to the first violating one: a long search would
    // otherwise hold every chunk's state hashes (tens of KiB each) until it ends.
    for (let ready = results.get(merged); ready && merged <= firstViolating; ready = results.get(merged)) {
      m.add(ready);
      results.delete(merged++);
    }
    heard(opts, done, null);
  };
  /** Makes chunk c in this thread; returns how many runs it made. */
  const makeHere = (c: number): number => {
    const r = runChunk(
      booted,
      taskOf(c),
      (run) => violation(sc, run),
      undefined,
      (run) => keptAt.set(c, run),
      undefined,
      false,
      opts.shouldStop,
    );
    record(c, r);
    return r.done;
  };
  // Alone until the workers are worth their start-up (WARM_MS, WORTH_MS).
  const started = performance.now();
  while (!opts.eagerWorkers && !surelyWorth && firstViolating === Infinity) {
    const c = handOut();
    if (c < 0) break;
    const t0 = performance.now();
    const made = makeHere(c);
    if (t0 - started < WARM_MS) continue;
    const perRun = (performance.now() - t0) / made;
    // A time budget (--time) is taken to outlast the warm-up.
    if (opts.shouldStop !== undefined || (opts.runs - done) * perRun >= WORTH_MS / (jobs - 1)) break;
  }
  if (stopped || next >= total || firstViolating !== Infinity) return finish();

  // jobs − 1 worker threads, and this thread (booted and warm) makes chunks too, between the workers'
  // replies.
  const { filename, execArgv } = workerEntry("explore/explore_worker", import.meta.url);
  const pool = new Piscina<ChunkTask, ChunkResult>({
    filename,
    execArgv,
    // The scenario goes to each worker once, not with every chunk (its structured clone cost ~50 µs).
    workerData: { scenario } satisfies ExploreWorkerData,
    minThreads: jobs - 1,
    maxThreads: jobs - 1,
    // Two chunks queued per worker: this thread hands out chunks only between its own, so a worker
    // with one would wait out the rest of this thread's chunk after each reply (1.68 → 1.79 cores
    // busy on 2, pool-race).
    concurrentTasksPerWorker: LANES,
  });
  try {
    await shareChunks(
      handOut,
      makeHere,
      async (c) => record(c, await pool.run(taskOf(c))),
      LANES * (jobs - 1),
    );
  } finally {
    await pool.destroy();
  }
  return finish();

  function finish(): ExploreResult {
    // Every chunk handed out before the first violating one (or before the stop) is back: merge the
    // rest in order.
    for (let c = merged; c < next && c <= firstViolating; c++) m.add(results.get(c)!);
    const keptRun = firstViolating === Infinity ? null : (keptAt.get(firstViolating) ?? null);
    // A chunk may have ended short at the time budget (a worker's, at its deadline).
    const short = m.found === null && m.explored < opts.runs;
    return walkResult(sc, booted, p, m, stopped || short ? "stopped" : "runs", opts, keptRun);
  }
}
