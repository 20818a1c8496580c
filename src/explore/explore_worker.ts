/**
 * A worker thread of the parallel explorer (explore_parallel.ts): makes chunks of a random or PCT search
 * (walk.ts) on its own booted copy of the scenario's platform, booted once per search and restored from
 * its snapshot for every run, exactly as the one-thread search does.
 */
import type { Scenario } from "../scenario/loader.ts";
import { BootedScenario } from "./booted.ts";
import { violation } from "./explore.ts";
import { runChunk, type ChunkResult, type ChunkTask } from "./walk.ts";

export interface ExploreChunkTask {
  /** The search this chunk belongs to: a thread boots once per search. */
  readonly search: string;
  /** The scenario, without its source map (functions do not cross threads; runs never read it). */
  readonly scenario: Omit<Scenario, "source">;
  readonly chunk: ChunkTask;
}

let booted: { search: string; sc: Scenario; booted: BootedScenario } | null = null;

export function runExploreChunk(t: ExploreChunkTask): ChunkResult {
  if (booted?.search !== t.search) {
    const sc = t.scenario as Scenario;
    booted = { search: t.search, sc, booted: new BootedScenario(sc) };
  }
  const { sc } = booted;
  return runChunk(booted.booted, t.chunk, (r) => violation(sc, r));
}

export default runExploreChunk;
