import { describe, expect, it } from "vitest";
import {
  FuzzMaker,
  FuzzMerge,
  fuzz,
  type FuzzOptions,
  type FuzzResult,
} from "../../src/explore/fuzz/fuzz.ts";
import { fuzzParallel } from "../../src/explore/fuzz_parallel.ts";
import { plantRxFullOnTooManyFragments } from "../helpers/fuzz-plants.ts";

/** A result as bytes, without what may differ between thread counts (the threads, and times: no clock here). */
const bytes = (r: FuzzResult): string => JSON.stringify({ ...r, threads: 0 });

describe("rstmem ffa fuzz --jobs: the same run over several threads", () => {
  const both: FuzzOptions = { flavors: ["hafnium", "optee-sel1"], runs: 900, seed: 5, corpus: true };

  it("reports, byte for byte, what one thread reports: counts, coverage, panics, known findings and the corpus", async () => {
    const one = fuzz(both);
    expect(one.corpus.length).toBeGreaterThan(50);
    expect(one.flavors[0].panics).toBeGreaterThan(0);
    // Chunks of 100 cases, two stand-in workers in this thread beside the coordinator: every maker makes
    // chunks out of the others' sight and tells the merge only the keys it had not reached itself.
    const inProcess = await fuzzParallel({
      ...both,
      jobs: 3,
      chunkCases: 100,
      eagerWorkers: true,
      inProcessWorkers: true,
    });
    expect(inProcess.threads).toBe(3);
    expect(bytes(inProcess)).toBe(bytes(one));
    // Worker threads.
    const threads = await fuzzParallel({ ...both, jobs: 2, chunkCases: 150, eagerWorkers: true });
    expect(threads.threads).toBe(2);
    expect(bytes(threads)).toBe(bytes(one));
  });

  it("stops at the first violation, shrunk as one thread shrinks it, whichever thread met it", async () => {
    const unplant = plantRxFullOnTooManyFragments();
    try {
      const opts: FuzzOptions = { flavors: ["hafnium"], runs: 2000, seed: 8, corpus: true };
      const one = fuzz(opts);
      expect(one.violation?.kind).toBe("state-changed-on-rejection");
      expect(one.cases).toBe(one.violation!.caseIndex + 1);
      // The violation falls in a later chunk than the first, made by a stand-in worker or the coordinator.
      expect(one.violation!.caseIndex).toBeGreaterThan(100);
      for (const chunkCases of [64, 100]) {
        const r = await fuzzParallel({
          ...opts,
          jobs: 3,
          chunkCases,
          eagerWorkers: true,
          inProcessWorkers: true,
        });
        expect(bytes(r)).toBe(bytes(one));
      }
    } finally {
      unplant();
    }
  });

  it("makes a chunk before its maker's last as the one thread does (the maker forgets what it reached since)", () => {
    const opts: FuzzOptions = { flavors: ["hafnium", "optee-sel1"], runs: 300, seed: 8, corpus: true };
    const a = new FuzzMaker(opts);
    const b = new FuzzMaker(opts);
    a.make(100, 200);
    const merge = new FuzzMerge(opts);
    expect(merge.add(a.make(0, 100))).toBe(true);
    expect(merge.add(b.make(100, 100))).toBe(true);
    expect(merge.add(a.make(200, 100))).toBe(true);
    expect(bytes(merge.result())).toBe(bytes(fuzz(opts)));
    // Taken out of order, a chunk is refused: the merge's counts would not be the run's.
    expect(() => new FuzzMerge(opts).add(b.make(100, 100))).toThrow(/chunk at case 100 merged after 0/);
  });

  it("runs in this thread when the cases left are too few to pay for a worker", async () => {
    const r = await fuzzParallel({ flavors: ["optee-sel1"], runs: 1500, seed: 2, jobs: 4 });
    expect(r.threads).toBe(1);
    expect(bytes(r)).toBe(bytes(fuzz({ flavors: ["optee-sel1"], runs: 1500, seed: 2 })));
  });
});
