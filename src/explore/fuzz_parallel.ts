/**
 * The FF-A fuzzer over several threads (`rstmem ffa fuzz --jobs N`). Cases are a function of the seed
 * and each starts from its base's snapshot, so any thread can make any run of them: this thread makes
 * the first chunk itself (a violation in the first cases costs no thread start-up), then, when the
 * cases left are worth it, N − 1 worker threads (fuzz/fuzz_worker.ts, piscina) and this thread make
 * the next chunks, handed out in order. The merge (fuzz.ts FuzzMerge) takes them in order up to the
 * first violation, so the result — counts, coverage, corpus bytes, the shrunk violation — is the one
 * thread's, for any number of jobs; only the flavors' times differ (each thread's summed).
 */
import { performance } from "node:perf_hooks";
import { Piscina } from "piscina";
import {
  FUZZ_CHUNK,
  FuzzMaker,
  FuzzMerge,
  fuzz,
  type FuzzChunk,
  type FuzzOptions,
  type FuzzResult,
  type MakerOptions,
} from "./fuzz/fuzz.ts";
import type { FuzzChunkTask } from "./fuzz/fuzz_worker.ts";
import { workerEntry } from "./threads.ts";

export interface ParallelFuzzOptions extends FuzzOptions {
  /** Threads making cases (default 1: this thread only). */
  readonly jobs?: number;
  /** Cases per chunk handed to a thread (default FUZZ_CHUNK); results never depend on it. */
  readonly chunkCases?: number;
  /** Start the workers right after the first chunk, however few cases are left (tests). */
  readonly eagerWorkers?: boolean;
  /**
   * Tests: the workers' chunks made in this thread by makers of their own, each reply a turn of the
   * event loop later — the hand-out, the skipping of other makers' cases and the merge as with threads.
   */
  readonly inProcessWorkers?: boolean;
}

/**
 * When worker threads are worth starting: a worker boots its own rigs and compiles the model again in
 * its own V8 isolate — about 3.5 CPU-seconds of TurboFan over its first ~50,000 cases, on the cores
 * the other threads run on. On this 2-vCPU machine (hafnium, seed 1, eager workers) two threads took
 * longer than one up to about 300,000 cases (200,000: 6.1 s against 5.8) and ran 1.26× as fast at
 * 1,000,000 (18.2 s against 22.9), though warm they make 1.8× one thread's cases a second. So the
 * workers start when the cases left are at least WORTH_CASES divided among them (a count, not a time:
 * the compile scales with the machine as the cases do).
 */
const WORTH_CASES = 300_000;

/** Chunks in flight per worker (it makes them one after the other). */
const LANES = 2;

/** What makes a chunk away from this thread's maker: a worker thread, or a test's in-process stand-in. */
interface Pool {
  run(task: FuzzChunkTask): Promise<FuzzChunk>;
  destroy(): Promise<void>;
}

function threadPool(opts: MakerOptions, jobs: number): Pool {
  const { filename, execArgv } = workerEntry("explore/fuzz/fuzz_worker", import.meta.url);
  const workerData: MakerOptions = {
    flavors: opts.flavors,
    seed: opts.seed,
    ...(opts.corpus !== undefined ? { corpus: opts.corpus } : {}),
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
  };
  return new Piscina<FuzzChunkTask, FuzzChunk>({
    filename,
    execArgv,
    workerData,
    minThreads: jobs - 1,
    maxThreads: jobs - 1,
    concurrentTasksPerWorker: LANES,
  });
}

/** Stand-in workers for tests: makers of their own, in this thread, each chunk a macrotask later. */
function inProcessPool(opts: MakerOptions, jobs: number): Pool {
  const makers = Array.from({ length: jobs - 1 }, () => new FuzzMaker(opts));
  let turn = 0;
  return {
    run: async (task) => {
      const m = makers[turn++ % makers.length];
      await new Promise((resolve) => setImmediate(resolve));
      return m.make(task.start, task.count, task.timed ? () => performance.now() : undefined);
    },
    destroy: async () => {},
  };
}

export async function fuzzParallel(opts: ParallelFuzzOptions): Promise<FuzzResult> {
  const jobs = opts.jobs ?? 1;
  const chunk = opts.chunkCases ?? FUZZ_CHUNK;
  if (jobs <= 1 || opts.runs <= chunk) return fuzz(opts);
  const clock = opts.clock ?? (() => 0);
  const timed = opts.clock !== undefined;
  const maker = new FuzzMaker(opts);
  const merge = new FuzzMerge(opts);
  const total = Math.ceil(opts.runs / chunk);
  const countOf = (c: number): number => Math.min(chunk, opts.runs - c * chunk);
  const results = new Map<number, FuzzChunk>();
  let next = 0;
  let merged = 0;
  /** The merge has stopped: a violation, or a chunk cut short by the stop. */
  let ended = false;
  let stopped = false;
  /** Chunks from this one on are not handed out: one before it violated or was cut short. */
  let limit = total;
  const handOut = (): number => {
    if (ended || stopped || next >= limit) return -1;
    if (opts.shouldStop?.()) {
      stopped = true;
      return -1;
    }
    return next++;
  };
  const take = (c: number, r: FuzzChunk): void => {
    results.set(c, r);
    if (r.violation !== null || r.done < countOf(c)) limit = Math.min(limit, c + 1);
    for (let ready = results.get(merged); ready && !ended; ready = results.get(merged)) {
      results.delete(merged++);
      // A chunk the stop cut short ends the run there: the cases after it are not the one thread's.
      if (!merge.add(ready) || ready.done < countOf(merged - 1)) ended = true;
      opts.onProgress?.(merge.done);
    }
  };
  const makeHere = (c: number): void => take(c, maker.make(c * chunk, countOf(c), clock, opts.shouldStop));

  const first = handOut();
  if (first < 0) return merge.result();
  makeHere(first);
  const worth = opts.eagerWorkers || opts.runs - merge.done >= WORTH_CASES / (jobs - 1);
  if (!worth) {
    for (let c = handOut(); c >= 0; c = handOut()) makeHere(c);
    return merge.result();
  }
  const pool = opts.inProcessWorkers ? inProcessPool(opts, jobs) : threadPool(opts, jobs);
  const worker = async (): Promise<void> => {
    for (let c = handOut(); c >= 0; c = handOut())
      take(c, await pool.run({ start: c * chunk, count: countOf(c), timed }));
  };
  const here = async (): Promise<void> => {
    for (;;) {
      // The workers' replies in (and their next chunks out) between this thread's chunks.
      await new Promise((resolve) => setImmediate(resolve));
      const c = handOut();
      if (c < 0) return;
      makeHere(c);
    }
  };
  try {
    await Promise.all([here(), ...Array.from({ length: LANES * (jobs - 1) }, worker)]);
  } finally {
    await pool.destroy();
  }
  return merge.result(jobs);
}
