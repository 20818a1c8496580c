import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  GENPOOL_MAX_CHUNK_BITS,
  genPoolAdd,
  genPoolAlloc,
  genPoolAllocAlgo,
  genPoolAvail,
  genPoolBestFit,
  genPoolCreate,
  genPoolDestroy,
  genPoolFirstFit,
  genPoolFirstFitAlign,
  genPoolFirstFitOrderAlign,
  genPoolFixedAlloc,
  genPoolForEachChunk,
  genPoolFree,
  genPoolHasAddr,
  genPoolSetAlgo,
  genPoolSize,
} from "./genalloc.ts";
import type { GenPool, GenPoolAlgo, GenPoolAlgoData, GenPoolWarn } from "./genalloc.ts";

const PAGE_SHIFT = 12;
const P = 1 << PAGE_SHIFT;
const B = 0x8000_0000;
const ENOMEM = 12;

interface Report {
  kind: "BUG" | "WARN";
  message: string;
}

function recorder(): { reports: Report[]; warn: GenPoolWarn } {
  const reports: Report[] = [];
  return { reports, warn: (kind, message) => void reports.push({ kind, message }) };
}

/** The TEE shape: gen_pool_create(PAGE_SHIFT, -1) + gen_pool_add(pool, base, pages * PAGE_SIZE, -1). */
function pagePool(base: number, pages: number, warn?: GenPoolWarn): GenPool {
  const pool = genPoolCreate(PAGE_SHIFT, -1, warn);
  expect(genPoolAdd(pool, base, pages * P, -1)).toBe(0);
  return pool;
}

function snapshot(pool: GenPool): { avail: number; bits: number[][] } {
  return { avail: genPoolAvail(pool), bits: pool.chunks.map((c) => Array.from(c.bits)) };
}

/** Holes at pages [0-2], [4], [6-7]; everything else allocated. */
function poolWithHoles(): GenPool {
  const pool = pagePool(B, 16);
  const sizes = [3, 1, 1, 1, 2, 1, 7];
  const addrs = sizes.map((pages) => genPoolAlloc(pool, pages * P));
  expect(addrs).toEqual([B, B + 3 * P, B + 4 * P, B + 5 * P, B + 6 * P, B + 8 * P, B + 9 * P]);
  genPoolFree(pool, B, 3 * P);
  genPoolFree(pool, B + 4 * P, P);
  genPoolFree(pool, B + 6 * P, 2 * P);
  expect(genPoolAvail(pool)).toBe(6 * P);
  return pool;
}

describe("gen_pool_first_fit", () => {
  it("hands out the lowest free run, reusing holes and rounding sizes up to whole pages", () => {
    const pool = pagePool(B, 16);
    expect(genPoolAlloc(pool, P)).toBe(B); // page 0
    const b = genPoolAlloc(pool, 3 * P); // pages 1-3
    expect(b).toBe(B + P);
    expect(genPoolAlloc(pool, 2 * P)).toBe(B + 4 * P); // pages 4-5
    genPoolFree(pool, b, 3 * P);
    expect(genPoolAlloc(pool, 2 * P)).toBe(B + P); // pages 1-2 of the 3-page hole
    expect(genPoolAlloc(pool, 2 * P)).toBe(B + 6 * P); // page 3 alone is too small
    expect(genPoolAlloc(pool, 1)).toBe(B + 3 * P); // 1 byte takes the whole page 3
    expect(genPoolAvail(pool)).toBe(8 * P);
    expect(genPoolAlloc(pool, 9 * P)).toBe(0); // 9 pages > avail: chunk skipped
    expect(genPoolAlloc(pool, 8 * P)).toBe(B + 8 * P);
    expect(genPoolAvail(pool)).toBe(0);
    expect(genPoolAlloc(pool, 1)).toBe(0);
  });

  it("a zero-byte request returns 0 and takes nothing", () => {
    const pool = pagePool(B, 4);
    expect(genPoolAlloc(pool, 0)).toBe(0);
    expect(genPoolAvail(pool)).toBe(4 * P);
  });

  it("searches the newest chunk first, as list_add_rcu() puts it at the head", () => {
    const pool = genPoolCreate(PAGE_SHIFT);
    expect(genPoolAdd(pool, 0x8000_0000, 4 * P)).toBe(0);
    expect(genPoolAdd(pool, 0x9000_0000, 4 * P)).toBe(0);
    expect(genPoolAlloc(pool, P)).toBe(0x9000_0000);
    expect(genPoolAlloc(pool, 4 * P)).toBe(0x8000_0000); // newest chunk has only 3 pages left
    expect(genPoolAlloc(pool, 3 * P)).toBe(0x9000_0000 + P);
    expect(genPoolAvail(pool)).toBe(0);
    expect(genPoolSize(pool)).toBe(8 * P);
  });

  it("a chunk at address 0 hands out 0, which every caller reads as failure", () => {
    const pool = pagePool(0, 2);
    expect(genPoolAlloc(pool, P)).toBe(0);
    expect(genPoolAvail(pool)).toBe(P); // the page is gone all the same
    expect(genPoolAlloc(pool, P)).toBe(P);
  });

  it("a chunk tail smaller than a page counts in size and avail but is never handed out", () => {
    const pool = genPoolCreate(PAGE_SHIFT);
    expect(genPoolAdd(pool, B, P + P / 2)).toBe(0);
    expect(genPoolSize(pool)).toBe(P + P / 2);
    expect(genPoolAvail(pool)).toBe(P + P / 2);
    expect(genPoolAlloc(pool, P)).toBe(B);
    expect(genPoolAvail(pool)).toBe(P / 2);
    expect(genPoolAlloc(pool, P / 2)).toBe(0); // passes the size > avail test, finds no bit
    expect(genPoolAvail(pool)).toBe(P / 2);
  });

  it("gen_pool_set_algo(NULL) restores first fit", () => {
    const pool = poolWithHoles();
    genPoolSetAlgo(pool, genPoolBestFit);
    genPoolSetAlgo(pool, null);
    expect(pool.algo).toBe(genPoolFirstFit);
    expect(genPoolAlloc(pool, P)).toBe(B);
  });
});

describe("gen_pool_best_fit", () => {
  it("takes the smallest hole that fits, where first fit takes the lowest", () => {
    const first = poolWithHoles();
    expect(genPoolAllocAlgo(first, 2 * P, genPoolFirstFit, null)).toBe(B);

    const best = poolWithHoles();
    genPoolSetAlgo(best, genPoolBestFit);
    expect(genPoolAlloc(best, P)).toBe(B + 4 * P); // exact 1-page hole
    expect(genPoolAlloc(best, 2 * P)).toBe(B + 6 * P); // exact 2-page hole, not the 3-page one
    expect(genPoolAlloc(best, 2 * P)).toBe(B); // only the 3-page hole is left
    expect(genPoolAlloc(best, 2 * P)).toBe(0);
    expect(genPoolAvail(best)).toBe(P);
  });

  it("picks the smaller of two inexact holes, and the lower one on a tie", () => {
    // Holes of 3 pages at [0-2], 5 at [4-8], 3 at [10-12]; pages 3, 9, 13-15 allocated.
    const pool = pagePool(B, 16);
    for (let i = 0; i < 16; i++) expect(genPoolAlloc(pool, P)).toBe(B + i * P);
    for (const page of [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12]) genPoolFree(pool, B + page * P, P);
    expect(genPoolAllocAlgo(pool, 2 * P, genPoolBestFit, null)).toBe(B);
    expect(genPoolAllocAlgo(pool, 3 * P, genPoolBestFit, null)).toBe(B + 10 * P);
    expect(genPoolAllocAlgo(pool, 2 * P, genPoolBestFit, null)).toBe(B + 4 * P);
  });
});

describe("gen_pool_first_fit_align", () => {
  it("aligns the address, not the bit index: 64K alignment in a chunk that starts 12K past 64K", () => {
    const base = 0x8000_3000; // pages at 0x8001_0000 (bit 13) and 0x8002_0000 (bit 29) are 64K aligned
    const pool = pagePool(base, 32);
    const align64k = { align: 0x1_0000 };
    expect(genPoolAllocAlgo(pool, P, genPoolFirstFitAlign, align64k)).toBe(0x8001_0000);
    expect(genPoolAllocAlgo(pool, 2 * P, genPoolFirstFitAlign, align64k)).toBe(0x8002_0000);
    expect(genPoolAllocAlgo(pool, P, genPoolFirstFitAlign, align64k)).toBe(0); // no third 64K boundary
    expect(genPoolAlloc(pool, P)).toBe(base); // first fit ignores alignment
    expect(genPoolAvail(pool)).toBe(28 * P);
  });

  it("an alignment at or below the page size is plain first fit", () => {
    const pool = pagePool(B, 4);
    expect(genPoolAlloc(pool, P)).toBe(B);
    expect(genPoolAllocAlgo(pool, P, genPoolFirstFitAlign, { align: 0x800 })).toBe(B + P);
    expect(genPoolAllocAlgo(pool, P, genPoolFirstFitAlign, { align: P })).toBe(B + 2 * P);
  });

  it("set as the pool algorithm, it applies to every gen_pool_alloc()", () => {
    const pool = pagePool(B, 16);
    genPoolSetAlgo(pool, genPoolFirstFitAlign, { align: 4 * P });
    expect(genPoolAlloc(pool, P)).toBe(B);
    expect(genPoolAlloc(pool, P)).toBe(B + 4 * P);
    expect(genPoolAlloc(pool, 5 * P)).toBe(B + 8 * P);
    expect(genPoolAlloc(pool, P)).toBe(0); // no free page left on a 16K boundary
  });
});

describe("gen_pool_first_fit_order_align", () => {
  it("aligns each run to its own size rounded up to a power of two", () => {
    const pool = pagePool(B, 16);
    expect(genPoolAlloc(pool, P)).toBe(B); // page 0
    const algo = genPoolFirstFitOrderAlign;
    expect(genPoolAllocAlgo(pool, 3 * P, algo, null)).toBe(B + 4 * P); // 3 -> 4-page alignment
    expect(genPoolAllocAlgo(pool, 2 * P, algo, null)).toBe(B + 2 * P);
    expect(genPoolAllocAlgo(pool, P, algo, null)).toBe(B + P);
    expect(genPoolAllocAlgo(pool, 5 * P, algo, null)).toBe(B + 8 * P); // 5 -> 8-page alignment
    expect(genPoolAllocAlgo(pool, 2 * P, algo, null)).toBe(B + 14 * P);
    expect(genPoolAvail(pool)).toBe(2 * P); // pages 7 and 13 left
  });

  it("aligns the bit index within the chunk, not the address", () => {
    const pool = pagePool(0x8000_3000, 16);
    expect(genPoolAllocAlgo(pool, 4 * P, genPoolFirstFitOrderAlign, null)).toBe(0x8000_3000);
  });
});

describe("gen_pool_fixed_alloc", () => {
  it("takes exactly the offset when free and fails when any page there is taken", () => {
    const pool = pagePool(B, 16);
    const at = (offset: number, size: number): number =>
      genPoolAllocAlgo(pool, size, genPoolFixedAlloc, { offset });
    expect(at(4 * P, 2 * P)).toBe(B + 4 * P);
    expect(at(4 * P, 2 * P)).toBe(0); // taken
    expect(at(5 * P, P)).toBe(0); // second page of the taken run
    expect(at(3 * P, 2 * P)).toBe(0); // page 3 free, page 4 taken
    expect(at(3 * P, P)).toBe(B + 3 * P);
    expect(at(15 * P, 2 * P)).toBe(0); // would run off the chunk
    expect(at(14 * P, 2 * P)).toBe(B + 14 * P);
    expect(at(16 * P, P)).toBe(0); // past the chunk
    expect(genPoolAvail(pool)).toBe(11 * P);
  });

  it("applies the offset to each chunk in list order", () => {
    const pool = genPoolCreate(PAGE_SHIFT);
    genPoolAdd(pool, 0x8000_0000, 4 * P);
    genPoolAdd(pool, 0x9000_0000, 4 * P);
    const fixed = { offset: 2 * P };
    expect(genPoolAllocAlgo(pool, P, genPoolFixedAlloc, fixed)).toBe(0x9000_2000);
    expect(genPoolAllocAlgo(pool, P, genPoolFixedAlloc, fixed)).toBe(0x8000_2000);
    expect(genPoolAllocAlgo(pool, P, genPoolFixedAlloc, fixed)).toBe(0);
  });

  it("an offset that is not page aligned is a WARN and a failure, with nothing taken", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 16, warn);
    expect(genPoolAllocAlgo(pool, P, genPoolFixedAlloc, { offset: 0x800 })).toBe(0);
    expect(reports).toHaveLength(1);
    expect(reports[0].kind).toBe("WARN");
    expect(reports[0].message).toMatch(/^WARNING: at lib\/genalloc\.c gen_pool_fixed_alloc\(\)/);
    expect(genPoolAvail(pool)).toBe(16 * P);
  });
});

describe("gen_pool_free BUGs", () => {
  it("an address in no chunk is a BUG() and changes nothing", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 16, warn);
    genPoolAlloc(pool, 2 * P);
    const before = snapshot(pool);
    genPoolFree(pool, B + 16 * P, P);
    genPoolFree(pool, B - P, P);
    expect(reports.map((r) => r.kind)).toEqual(["BUG", "BUG"]);
    expect(reports[0].message).toMatch(/^kernel BUG at lib\/genalloc\.c! gen_pool_free_owner\(\): BUG\(\)/);
    expect(snapshot(pool)).toEqual(before);
  });

  it("a double free is BUG_ON(remain) and leaves avail and the bitmap unchanged", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 16, warn);
    const a = genPoolAlloc(pool, 2 * P);
    genPoolAlloc(pool, P);
    genPoolFree(pool, a, 2 * P);
    const before = snapshot(pool);
    genPoolFree(pool, a, 2 * P);
    expect(reports).toHaveLength(1);
    expect(reports[0].kind).toBe("BUG");
    expect(reports[0].message).toContain("BUG_ON(remain)");
    expect(snapshot(pool)).toEqual(before);
    expect(genPoolAvail(pool)).toBe(15 * P);
  });

  it("a free overlapping a live and a free run clears none of it (the kernel clears up to the bad word)", () => {
    const { reports, warn } = recorder();
    const pool = genPoolCreate(PAGE_SHIFT, -1, warn);
    genPoolAdd(pool, B, 64 * P);
    expect(genPoolAlloc(pool, 40 * P)).toBe(B); // bits 0-39 span two bitmap words
    const before = snapshot(pool);
    genPoolFree(pool, B + 30 * P, 20 * P); // bits 30-49: 40-49 were never allocated
    expect(reports.map((r) => r.kind)).toEqual(["BUG"]);
    expect(reports[0].message).toContain(`0x${(B + 40 * P).toString(16)} not allocated`);
    expect(snapshot(pool)).toEqual(before);
  });

  it("a free running past the chunk end is BUG_ON(addr + size - 1 > end_addr)", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 16, warn);
    const a = genPoolAlloc(pool, 16 * P);
    genPoolFree(pool, a + 15 * P, 2 * P);
    expect(reports[0].message).toContain("BUG_ON(addr + size - 1 > chunk->end_addr)");
    expect(genPoolAvail(pool)).toBe(0);
  });

  it("without a sink a BUG throws, so misuse is loud", () => {
    const pool = pagePool(B, 4);
    expect(() => genPoolFree(pool, B, P)).toThrow(/^BUG: kernel BUG at lib\/genalloc\.c!/);
  });

  it("a zero-byte free inside a chunk is a no-op", () => {
    const pool = pagePool(B, 4);
    genPoolAlloc(pool, P);
    genPoolFree(pool, B, 0);
    expect(genPoolAvail(pool)).toBe(3 * P);
  });
});

describe("gen_pool_destroy", () => {
  it("with a live allocation unlinks the chunk, then BUGs: later allocations find no room, a later free BUGs", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 16, warn);
    const a = genPoolAlloc(pool, 3 * P);
    genPoolDestroy(pool);
    expect(reports).toHaveLength(1);
    expect(reports[0].kind).toBe("BUG");
    expect(reports[0].message).toMatch(
      /^kernel BUG at lib\/genalloc\.c! gen_pool_destroy\(\): BUG_ON\(bit < end_bit\)/,
    );
    // list_del() ran before the BUG_ON; the pool struct itself was never freed.
    expect(pool.destroyed).toBe(false);
    expect(pool.chunks).toHaveLength(0);
    expect(genPoolAlloc(pool, P)).toBe(0);
    genPoolFree(pool, a, 3 * P);
    expect(reports).toHaveLength(2);
    expect(reports[1].message).toMatch(/gen_pool_free_owner\(\): BUG\(\)/);
  });

  it("unlinks every chunk before the one that still holds bits", () => {
    const { reports, warn } = recorder();
    const pool = pagePool(B, 4, warn);
    genPoolAdd(pool, B + 0x100000, 4 * P); // newest first: this chunk is first in the list
    genPoolAdd(pool, B + 0x200000, 4 * P);
    genPoolAlloc(pool, P); // lands in the newest chunk (B + 0x200000)
    genPoolAdd(pool, B + 0x300000, 4 * P); // empty, now first
    genPoolDestroy(pool);
    expect(reports).toHaveLength(1);
    expect(pool.chunks.map((c) => c.startAddr)).toEqual([B + 0x100000, B]);
  });

  it("of an empty pool succeeds and any later use is a model error", () => {
    const pool = pagePool(B, 4);
    genPoolDestroy(pool);
    expect(() => genPoolAlloc(pool, P)).toThrow(/after gen_pool_destroy/);
  });
});

describe("gen_pool_add and queries", () => {
  it("a bitmap above the chunk limit is -ENOMEM and adds nothing", () => {
    const pool = genPoolCreate(0);
    expect(genPoolAdd(pool, B, GENPOOL_MAX_CHUNK_BITS + 1)).toBe(-ENOMEM);
    expect(pool.chunks).toHaveLength(0);
    expect(genPoolSize(pool)).toBe(0);
  });

  it("a 256 MiB TEE pool has a 65,536-bit bitmap", () => {
    const pool = pagePool(0x1_0000_0000, 65_536);
    expect(pool.chunks[0].bits.length * 32).toBe(65_536);
    expect(genPoolSize(pool)).toBe(256 * 1024 * 1024);
  });

  it("gen_pool_has_addr needs the whole range inside one chunk", () => {
    const pool = genPoolCreate(PAGE_SHIFT);
    genPoolAdd(pool, B, 4 * P);
    genPoolAdd(pool, B + 4 * P, 4 * P); // adjacent
    expect(genPoolHasAddr(pool, B, 4 * P)).toBe(true);
    expect(genPoolHasAddr(pool, B + P, 2 * P)).toBe(true);
    expect(genPoolHasAddr(pool, B + 3 * P, 2 * P)).toBe(false); // spans both chunks
    expect(genPoolHasAddr(pool, B + 8 * P, 1)).toBe(false);
    const seen: number[] = [];
    genPoolForEachChunk(pool, (_pool, chunk) => seen.push(chunk.startAddr));
    expect(seen).toEqual([B + 4 * P, B]);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: the pool against a bit-by-bit reference written from each algorithm's definition.

type AlgoName = "first" | "align" | "order" | "fixed" | "best";

interface RefChunk {
  start: number;
  size: number;
  used: boolean[];
  avail: number;
}

function refPick(c: RefChunk, order: number, nr: number, name: AlgoName, param: number): number {
  const endBit = Math.floor(c.size / 2 ** order);
  const free = (i: number): boolean => i + nr <= endBit && c.used.slice(i, i + nr).every((u) => !u);
  const candidates = [...Array(endBit).keys()].filter(free);
  switch (name) {
    case "first":
      return candidates[0] ?? -1;
    case "align": // address aligned to param bytes (a power of two)
      return candidates.find((i) => (c.start + i * 2 ** order) % param === 0) ?? -1;
    case "order": {
      let p = 1;
      while (p < nr) p *= 2;
      return candidates.find((i) => i % p === 0) ?? -1;
    }
    case "fixed":
      return free(param / 2 ** order) ? param / 2 ** order : -1;
    case "best": {
      // maximal holes that fit: smallest length, lowest start on a tie
      let best = -1;
      let bestLen = Infinity;
      for (let i = 0; i < endBit;) {
        if (c.used[i]) {
          i++;
          continue;
        }
        let j = i;
        while (j < endBit && !c.used[j]) j++;
        if (j - i >= nr && j - i < bestLen) [best, bestLen] = [i, j - i];
        i = j;
      }
      return best;
    }
  }
}

const algos: Record<AlgoName, GenPoolAlgo> = {
  first: genPoolFirstFit,
  align: genPoolFirstFitAlign,
  order: genPoolFirstFitOrderAlign,
  fixed: genPoolFixedAlloc,
  best: genPoolBestFit,
};

const chunkArb = fc.record({ pages: fc.integer({ min: 0, max: 80 }), skew: fc.nat(15), tail: fc.boolean() });
const opArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      granules: fc.integer({ min: 1, max: 24 }),
      extraBytes: fc.constantFrom(0, 0, 1, -1),
      algo: fc.constantFrom<AlgoName>("first", "align", "order", "fixed", "best"),
      param: fc.nat(63),
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("refree" as const), pick: fc.nat() }) },
);

describe("properties", () => {
  it("every algorithm returns exactly what its definition picks; runs never overlap and stay in chunks; avail + live == size; a bad free changes nothing", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(6, 12),
        fc.array(chunkArb, { minLength: 1, maxLength: 3, size: "max" }),
        fc.array(opArb, { minLength: 20, maxLength: 150, size: "max" }),
        (order, specs, ops) => {
          const g = 2 ** order;
          const { reports, warn } = recorder();
          const pool = genPoolCreate(order, -1, warn);
          const ref: RefChunk[] = [];
          specs.forEach((s, i) => {
            const start = 0x4000_0000 + i * 0x100_0000 + s.skew * g;
            const size = s.pages * g + (s.tail ? g / 2 : 0);
            expect(genPoolAdd(pool, start, size)).toBe(0);
            const bits = Math.floor(size / g);
            ref.unshift({ start, size, used: new Array<boolean>(bits).fill(false), avail: size });
          });
          const total = genPoolSize(pool);
          expect(total).toBe(ref.reduce((s, c) => s + c.size, 0));
          const live: { addr: number; size: number }[] = [];
          const freed: { addr: number; size: number }[] = [];
          const rounded = (size: number): number => Math.ceil(size / g) * g;

          for (const op of ops) {
            if (op.kind === "alloc") {
              const size = Math.max(1, op.granules * g + op.extraBytes);
              const nr = Math.ceil(size / g);
              let data: GenPoolAlgoData = null;
              let param = 0;
              if (op.algo === "align") data = { align: (param = g * 2 ** (op.param % 5)) };
              if (op.algo === "fixed") data = { offset: (param = (op.param % 40) * g) };
              let want = 0;
              for (const c of ref) {
                if (size > c.avail) continue;
                const i = refPick(c, order, nr, op.algo, param);
                if (i < 0) continue;
                c.used.fill(true, i, i + nr);
                c.avail -= nr * g;
                want = c.start + i * g;
                break;
              }
              const got = genPoolAllocAlgo(pool, size, algos[op.algo], data);
              expect(got).toBe(want);
              if (got !== 0) {
                const inChunk = pool.chunks.some(
                  (c) => got >= c.startAddr && got + rounded(size) - 1 <= c.endAddr,
                );
                expect(inChunk).toBe(true);
                for (const other of live)
                  expect(got + rounded(size) <= other.addr || other.addr + rounded(other.size) <= got).toBe(
                    true,
                  );
                live.push({ addr: got, size });
              }
            } else if (op.kind === "free" && live.length > 0) {
              const [a] = live.splice(op.pick % live.length, 1);
              genPoolFree(pool, a.addr, a.size);
              const c = ref.find((r) => a.addr >= r.start && a.addr < r.start + r.size)!;
              c.used.fill(false, (a.addr - c.start) / g, (a.addr - c.start) / g + Math.ceil(a.size / g));
              c.avail += rounded(a.size);
              freed.push(a);
            } else if (op.kind === "refree" && freed.length > 0) {
              const a = freed[op.pick % freed.length];
              const overlapsLive = live.some(
                (l) => a.addr < l.addr + rounded(l.size) && l.addr < a.addr + rounded(a.size),
              );
              if (!overlapsLive) {
                const before = snapshot(pool);
                const n = reports.length;
                genPoolFree(pool, a.addr, a.size);
                expect(reports.length).toBe(n + 1);
                expect(reports[n].kind).toBe("BUG");
                expect(snapshot(pool)).toEqual(before);
              }
            }
            expect(genPoolAvail(pool) + live.reduce((s, a) => s + rounded(a.size), 0)).toBe(total);
          }
          expect(reports.every((r) => r.kind === "BUG")).toBe(true);

          for (const a of live) genPoolFree(pool, a.addr, a.size);
          expect(genPoolAvail(pool)).toBe(total);
          expect(pool.chunks.every((c) => c.bits.every((w) => w === 0))).toBe(true);
          const n = reports.length;
          genPoolDestroy(pool);
          expect(reports.length).toBe(n);
          expect(pool.destroyed).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is deterministic: the same operations give the same addresses and bitmaps", () => {
    const run = (): string => {
      const pool = genPoolCreate(PAGE_SHIFT);
      genPoolAdd(pool, B, 64 * P);
      genPoolAdd(pool, B + 0x100_0000, 64 * P);
      const out: number[] = [];
      for (let i = 1; i <= 40; i++) {
        const a = genPoolAlloc(pool, ((i * 7) % 11) * P + 1);
        out.push(a);
        if (i % 3 === 0 && a !== 0) genPoolFree(pool, a, ((i * 7) % 11) * P + 1);
      }
      return JSON.stringify({ out, bits: pool.chunks.map((c) => Array.from(c.bits)) });
    };
    expect(run()).toBe(run());
  });
});
