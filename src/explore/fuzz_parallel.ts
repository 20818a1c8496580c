/**
 * The FF-A fuzzer over several threads (`rstmem ffa fuzz --jobs N`). Cases are a function of the seed
 * and each starts from its base's snapshot, so any thread can make any run of them: this thread makes
 * the first chunk itself (a violation in the first cases costs no thread start-up), then, when the
 * cases left are worth it, N − 1 worker threads (fuzz/fuzz_worker.ts, piscina) and this thread make
 * the next chunks, handed out in order. The merge (fuzz.ts FuzzMerge) takes them in order up to the
 * first violation, so the result — counts, coverage, corpus bytes, the shrunk violation — is the one
 * thread's, for any number of jobs; only the flavors' times differ (each thread's summed).
 */
import { Piscina } from "piscina";
import {
  FUZZ_CHUNK,
  FuzzMaker,
  FuzzMerge,
  endsRun,
  fuzz,
  type FuzzOptions,
  type FuzzResult,
  type MakerOptions,
} from "./fuzz/fuzz.ts";
import { makeChunk, type FuzzChunkMade, type FuzzChunkTask } from "./fuzz/fuzz_worker.ts";
import { shareChunks, workerEntry } from "./threads.ts";

export interface ParallelFuzzOptions extends FuzzOptions {
  /** Threads making cases (default 1: this thread only). */
  readonly jobs?: number;
  /** Cases per chunk handed to a thread (default FUZZ_CHUNK); results never depend on it. */
  readonly chunkCases?: number;
  /** Start the workers right after the first chunk, however few cases are left (tests). */
  readonly eagerWorkers?: boolean;
  /**
   * A wall-clock deadline (Date.now() ms) the worker threads stop at, between batches, as `shouldStop`
   * stops this thread: each thread's clock reads it alike (performance.now() starts anew in each).
   */
  readonly deadline?: number;
  /**
   * Tests: the workers' chunks made in this thread by makers of their own, each reply a turn of the
   * event loop later — the hand-out, each maker's own view of what it reached, and the merge as with threads.
   */
  readonly inProcessWorkers?: boolean;
}

/**
 * When worker threads are worth starting: a worker boots its own rigs and compiles the model again in
 * its own V8 isolate — about 3.5 CPU-seconds of TurboFan over its first ~50,000 cases, on the cores
 * the other threads run on. On this 2-core machine (hafnium, seed 1, eager workers) two threads took
 * longer than one up to about 300,000 cases (200,000: 6.1 s against 5.8) and ran 1.26× as fast at
 * 1,000,000 (18.2 s against 22.9), though warm they make 1.8× one thread's cases a second. So the run
 * takes as many threads, up to --jobs, as it has WORTH_CASES cases left for each (a count, not a time:
 * the compile scales with the machine as the cases do): one below 300,000, two from there, and more
 * threads only for longer runs, as each adds its own compile.
 */
const WORTH_CASES = 150_000;

/**
 * How much slower the first chunk runs than a warm thread: V8 has compiled nothing yet (hafnium and all
 * flavors here: ~0.4 ms a case in the first chunk, 25–37 µs warm, so 10–16×). Taken low, so that a
 * deadline's cases are overestimated little: a 1.5 s run stays in one thread, a 30 s one takes two.
 */
const COLD_FACTOR = 8;

/** Chunks in flight per worker (it makes them one after the other). */
const LANES = 2;

/** What makes a chunk away from this thread's maker: a worker thread, or a test's in-process stand-in. */
interface Pool {
  run(task: FuzzChunkTask): Promise<FuzzChunkMade>;
  destroy(): Promise<void>;
}

function threadPool(opts: MakerOptions, workers: number): Pool {
  const { filename, execArgv } = workerEntry("explore/fuzz/fuzz_worker", import.meta.url);
  const workerData: MakerOptions = {
    flavors: opts.flavors,
    seed: opts.seed,
    ...(opts.corpus !== undefined ? { corpus: opts.corpus } : {}),
    ...(opts.batch !== undefined ? { batch: opts.batch } : {}),
  };
  return new Piscina<FuzzChunkTask, FuzzChunkMade>({
    filename,
    execArgv,
    workerData,
    minThreads: workers,
    maxThreads: workers,
    concurrentTasksPerWorker: LANES,
  });
}

/** Stand-in workers for tests: makers of their own, in this thread, each chunk a macrotask later. */
function inProcessPool(opts: MakerOptions, workers: number): Pool {
  const makers = Array.from({ length: workers }, () => new FuzzMaker(opts));
  let turn = 0;
  return {
    run: async (task) => {
      const k = turn++ % makers.length;
      await new Promise((resolve) => setImmediate(resolve));
      return { chunk: makeChunk(makers[k], task), thread: k + 1 };
    },
    destroy: async () => {},
  };
}

/** What comes back of a chunk: the chunk and its thread, or the error its thread met making it. */
type Back = FuzzChunkMade | { readonly error: unknown };

export async function fuzzParallel(opts: ParallelFuzzOptions): Promise<FuzzResult> {
  const jobs = opts.jobs ?? 1;
  const chunk = opts.chunkCases ?? FUZZ_CHUNK;
  if (jobs <= 1 || opts.runs <= chunk) return fuzz(opts);
  const clock = opts.clock ?? (() => 0);
  const timed = opts.clock !== undefined;
  const maker = new FuzzMaker(opts);
  /** Chunk c is cases base + c × chunk onwards. */
  const base = opts.first ?? 0;
  const merge = new FuzzMerge(opts, base);
  const total = Math.ceil(opts.runs / chunk);
  const countOf = (c: number): number => Math.min(chunk, opts.runs - c * chunk);
  /** Chunks back and not merged yet: a chunk, or the error its thread met making it. */
  const results = new Map<number, Back>();
  /** The threads whose chunks the merge took (0: this one). */
  const made = new Set<number>();
  let next = 0;
  let merged = 0;
  /** The merge has stopped: a violation, a chunk cut short by the stop, or an error. */
  let ended = false;
  let failure: { readonly error: unknown } | null = null;
  let stopped = false;
  /** Chunks from this one on are not handed out: one before it violated, was cut short or failed. */
  let limit = total;
  const handOut = (): number => {
    if (ended || stopped || next >= limit) return -1;
    if (opts.shouldStop?.()) {
      stopped = true;
      return -1;
    }
    return next++;
  };
  const take = (c: number, r: Back): void => {
    results.set(c, r);
    if ("error" in r || endsRun(r.chunk)) limit = Math.min(limit, c + 1);
    for (let ready = results.get(merged); ready && !ended; ready = results.get(merged)) {
      results.delete(merged++);
      // An error ends the run where one thread would have met it: after every chunk before it (one of
      // them may violate first, as one thread would report).
      if ("error" in ready) {
        failure = ready;
        ended = true;
        break;
      }
      if (ready.chunk.done > 0) made.add(ready.thread);
      if (!merge.add(ready.chunk)) ended = true;
      opts.onProgress?.(merge.done);
    }
  };
  const makeHere = (c: number): void => {
    let r: Back;
    try {
      r = { chunk: maker.make(base + c * chunk, countOf(c), clock, opts.shouldStop), thread: 0 };
    } catch (error) {
      r = { error };
    }
    take(c, r);
  };
  const result = (): FuzzResult => {
    if (failure) throw failure.error;
    return merge.result(Math.max(1, made.size));
  };

  const first = handOut();
  if (first < 0) return result();
  const t0 = Date.now();
  makeHere(first);
  // Worker threads, each worth WORTH_CASES of the cases left, when the run goes on. Under a deadline,
  // the cases left are at most what the time left makes at one thread's warm pace, taken as the first
  // chunk's divided by COLD_FACTOR.
  const pace = (Date.now() - t0) / Math.max(1, merge.done) / COLD_FACTOR;
  const left = Math.min(
    opts.runs - merge.done,
    opts.deadline === undefined ? Infinity : (opts.deadline - Date.now()) / Math.max(pace, 1e-3),
  );
  const threads = opts.eagerWorkers ? jobs : Math.min(jobs, Math.floor(left / WORTH_CASES));
  const workers = Math.min(threads - 1, Math.ceil((total - next) / LANES));
  if (ended || stopped || workers < 1) {
    for (let c = handOut(); c >= 0; c = handOut()) makeHere(c);
    return result();
  }
  const pool = opts.inProcessWorkers ? inProcessPool(opts, workers) : threadPool(opts, workers);
  const remote = async (c: number): Promise<void> => {
    const task: FuzzChunkTask = {
      start: base + c * chunk,
      count: countOf(c),
      timed,
      ...(opts.deadline !== undefined ? { deadline: opts.deadline } : {}),
    };
    let r: Back;
    try {
      r = await pool.run(task);
    } catch (error) {
      r = { error };
    }
    take(c, r);
  };
  try {
    await shareChunks(handOut, makeHere, remote, LANES * workers);
  } finally {
    await pool.destroy();
  }
  return result();
}
