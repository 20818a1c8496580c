import { describe, expect, it } from "vitest";
import {
  FuzzMaker,
  FuzzMerge,
  fuzz,
  type FuzzOptions,
  type FuzzResult,
} from "../../src/explore/fuzz/fuzz.ts";
import { fuzzParallel } from "../../src/explore/fuzz_parallel.ts";
import { shareChunks } from "../../src/explore/threads.ts";
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

  it("makes a run that starts past case 0 (--case's) as one thread does", async () => {
    const opts: FuzzOptions = {
      flavors: ["hafnium", "optee-sel1"],
      runs: 400,
      first: 250,
      seed: 6,
      corpus: true,
    };
    const one = fuzz(opts);
    expect(one.cases).toBe(400);
    expect(one.corpus[0].id).toBe(250);
    const r = await fuzzParallel({
      ...opts,
      jobs: 3,
      chunkCases: 100,
      eagerWorkers: true,
      inProcessWorkers: true,
    });
    expect(bytes(r)).toBe(bytes(one));
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

  it("runs in this thread when the cases left are too few to pay for a worker, however many --jobs", async () => {
    const r = await fuzzParallel({ flavors: ["optee-sel1"], runs: 1500, seed: 2, jobs: 64 });
    expect(r.threads).toBe(1);
    expect(bytes(r)).toBe(bytes(fuzz({ flavors: ["optee-sel1"], runs: 1500, seed: 2 })));
  });

  it("starts no worker when the first chunk ended the run, and counts only the threads that made cases", async () => {
    const unplant = plantRxFullOnTooManyFragments();
    try {
      // Seed 3 violates at case 17, in the coordinator's first chunk.
      const opts: FuzzOptions = { flavors: ["hafnium"], runs: 2000, seed: 3 };
      const r = await fuzzParallel({
        ...opts,
        jobs: 4,
        chunkCases: 100,
        eagerWorkers: true,
        inProcessWorkers: true,
      });
      expect(r.violation?.caseIndex).toBe(17);
      expect(r.threads).toBe(1);
    } finally {
      unplant();
    }
  });

  it("stops the workers at --time's deadline, between batches, and ends the run at the first chunk cut short", async () => {
    // A deadline already past: the coordinator (no shouldStop) makes chunk 0 whole, each worker stops
    // before its first batch, and the run ends at chunk 1 with chunk 0's cases.
    const r = await fuzzParallel({
      flavors: ["optee-sel1"],
      runs: 1000,
      seed: 4,
      jobs: 3,
      chunkCases: 100,
      eagerWorkers: true,
      inProcessWorkers: true,
      deadline: Date.now() - 1,
    });
    expect(r.cases).toBe(100);
    // The workers' chunks came back empty: only this thread made cases.
    expect(r.threads).toBe(1);
    expect(bytes(r)).toBe(bytes(fuzz({ flavors: ["optee-sel1"], runs: 100, seed: 4 })));
  });

  it("fails where one thread would: an error in a chunk after a violation loses to it; alone, it ends the run", async () => {
    const make = FuzzMaker.prototype.make;
    const starts: number[] = [];
    FuzzMaker.prototype.make = function (this: FuzzMaker, start, count, clock, stop) {
      starts.push(start);
      if (start === 500) throw new Error("boom at 500");
      return make.call(this, start, count, clock, stop);
    };
    try {
      const opts = { flavors: ["optee-sel1"] as const, runs: 3000, seed: 4, jobs: 3, chunkCases: 100 };
      const go = () =>
        fuzzParallel({ ...opts, flavors: [...opts.flavors], eagerWorkers: true, inProcessWorkers: true });
      await expect(go()).rejects.toThrow(/boom at 500/);
      // Nothing past the failed chunk's neighbours was made once it failed (30 chunks in all).
      expect(Math.max(...starts)).toBeLessThan(1000);
      const unplant = plantRxFullOnTooManyFragments();
      try {
        // Seed 8 violates at case 344 (chunk 3), before the chunk that throws: one thread reports that.
        const planted = { flavors: ["hafnium" as const], runs: 3000, seed: 8, jobs: 3, chunkCases: 100 };
        const r = await fuzzParallel({
          ...planted,
          flavors: [...planted.flavors],
          eagerWorkers: true,
          inProcessWorkers: true,
        });
        expect(r.violation?.caseIndex).toBe(344);
      } finally {
        unplant();
      }
    } finally {
      FuzzMaker.prototype.make = make;
    }
  });

  it("shareChunks: the first error stops every lane and this thread before their next chunk, then is thrown", async () => {
    let next = 0;
    const handOut = () => (next < 1000 ? next++ : -1);
    const madeHere: number[] = [];
    const remote = async (c: number) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (c === 5) throw new Error("lane failed at chunk 5");
    };
    await expect(shareChunks(handOut, (c) => madeHere.push(c), remote, 4)).rejects.toThrow(/chunk 5/);
    // Without the stop, this thread went on to chunk 999 after the search had failed (helper-48).
    expect(next).toBeLessThan(20);
    expect(Math.max(...madeHere)).toBeLessThan(20);
  });
});
