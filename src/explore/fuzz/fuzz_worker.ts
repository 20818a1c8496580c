/**
 * A worker thread of the parallel fuzzer (explore/fuzz_parallel.ts): makes chunks of a run with its own
 * maker (fuzz.ts FuzzMaker: its own booted runners), made at its first chunk. The run's fixed options
 * come once, as the pool's workerData; each task is only its chunk.
 */
import { performance } from "node:perf_hooks";
import { threadId } from "node:worker_threads";
import { workerData } from "piscina";
import { FuzzMaker, type FuzzChunk, type MakerOptions } from "./fuzz.ts";

export interface FuzzChunkTask {
  readonly start: number;
  readonly count: number;
  /** Time the flavors and the generation with the wall clock (as the coordinator's clock option asks). */
  readonly timed: boolean;
  /** Stop between batches once Date.now() reaches this (`--time`). */
  readonly deadline?: number;
}

/** A chunk and the thread that made it (the run reports how many made the chunks it took). */
export interface FuzzChunkMade {
  readonly chunk: FuzzChunk;
  readonly thread: number;
}

/** Makes a task's chunk with `maker`. */
export function makeChunk(maker: FuzzMaker, task: FuzzChunkTask): FuzzChunk {
  const { deadline } = task;
  return maker.make(
    task.start,
    task.count,
    task.timed ? () => performance.now() : undefined,
    deadline === undefined ? undefined : () => Date.now() >= deadline,
  );
}

let maker: FuzzMaker | null = null;

export function makeFuzzChunk(task: FuzzChunkTask): FuzzChunkMade {
  maker ??= new FuzzMaker(workerData as MakerOptions);
  return { chunk: makeChunk(maker, task), thread: threadId };
}

export default makeFuzzChunk;
