/**
 * A worker thread of the parallel fuzzer (explore/fuzz_parallel.ts): makes chunks of a run with its own
 * maker (fuzz.ts FuzzMaker: its own booted runners and its own copy of the case stream), made at its
 * first chunk. The run's fixed options come once, as the pool's workerData; each task is only its chunk.
 */
import { performance } from "node:perf_hooks";
import { workerData } from "piscina";
import { FuzzMaker, type FuzzChunk, type MakerOptions } from "./fuzz.ts";

export interface FuzzChunkTask {
  readonly start: number;
  readonly count: number;
  /** Time the flavors and the generation with the wall clock (as the coordinator's clock option asks). */
  readonly timed: boolean;
}

let maker: FuzzMaker | null = null;

export function makeFuzzChunk(task: FuzzChunkTask): FuzzChunk {
  maker ??= new FuzzMaker(workerData as MakerOptions);
  return maker.make(task.start, task.count, task.timed ? () => performance.now() : undefined);
}

export default makeFuzzChunk;
