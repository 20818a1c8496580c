/**
 * A worker thread of the parallel explorer (explore_parallel.ts): makes chunks of a random or PCT search
 * (walk.ts) on its own booted copy of the scenario's platform, booted at its first chunk and restored
 * from its snapshot for every run, exactly as the one-thread search does. A pool serves one search: the
 * scenario comes once, as the pool's workerData, and each task is only its chunk.
 */
import { workerData } from "piscina";
import type { Scenario } from "../scenario/loader.ts";
import { BootedScenario } from "./booted.ts";
import { violation } from "./explore.ts";
import { runChunk, type ChunkResult, type ChunkTask } from "./walk.ts";

/** The pool's workerData: the search's scenario, without its source map (functions do not cross threads; runs never read it). */
export interface ExploreWorkerData {
  readonly scenario: Omit<Scenario, "source">;
}

let booted: { sc: Scenario; booted: BootedScenario } | null = null;

export function runExploreChunk(chunk: ChunkTask): ChunkResult {
  if (booted === null) {
    const sc = (workerData as ExploreWorkerData).scenario as Scenario;
    booted = { sc, booted: new BootedScenario(sc) };
  }
  const { sc } = booted;
  return runChunk(booted.booted, chunk, (r) => violation(sc, r));
}

export default runExploreChunk;
