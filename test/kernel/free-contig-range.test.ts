/**
 * free_contig_range() into one per-cpu list and drain_all_pages() of consecutive frames free a block
 * at a time (page_alloc.ts, free_area.ts freeAscending()); they must end exactly where freeing page by
 * page ends. Two allocators take the same operations, one with BuddyAllocator.oneByOne set, and must
 * agree on every allocation, every page's free order, every list's count and head, the zones' counts
 * and the per-cpu pages — then hand out the same blocks, in the same order, to the last one.
 */
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_RECLAIMABLE, type Gfp } from "../../src/kernel/mm/gfp.ts";
import { BuddyAllocator } from "../../src/kernel/mm/page_alloc.ts";
import { makeMm } from "./mm-fixture.ts";

const GFPS: readonly Gfp[] = [GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_RECLAIMABLE];

type Op =
  | { kind: "alloc"; order: number; gfp: number }
  | { kind: "freeContig"; pick: number; from: number; len: number }
  | { kind: "free0"; pick: number; at: number }
  | { kind: "drain" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("alloc" as const),
      order: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 10 })),
      gfp: fc.integer({ min: 0, max: 2 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant("freeContig" as const),
      pick: fc.nat(),
      from: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
      len: fc.double({ min: 0, max: 1, noNaN: true }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("free0" as const),
      pick: fc.nat(),
      at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "drain" as const }) },
);

/** One allocator and the frames it has handed out (not yet freed), as ascending runs [start, end). */
function side(oneByOne: boolean) {
  const { mm } = makeMm();
  const b = mm.buddy;
  const held: [number, number][] = [];
  const act = <T>(f: () => T): T => {
    BuddyAllocator.oneByOne = oneByOne;
    try {
      return f();
    } finally {
      BuddyAllocator.oneByOne = false;
    }
  };
  return { mm, b, held, act };
}

type Side = ReturnType<typeof side>;

function apply(s: Side, op: Op): number {
  const { b, held, act } = s;
  switch (op.kind) {
    case "alloc": {
      const i = act(() => b.allocPages(op.order, GFPS[op.gfp]));
      if (i >= 0) held.push([i, i + (1 << op.order)]);
      return i;
    }
    case "freeContig": {
      if (held.length === 0) return -1;
      const k = op.pick % held.length;
      const [s0, e0] = held[k];
      const from = s0 + Math.floor(op.from * (e0 - s0));
      const to = Math.min(e0, from + 1 + Math.floor(op.len * (e0 - from)));
      act(() => b.freeContigPages(from, to - from));
      held.splice(
        k,
        1,
        ...(
          [
            [s0, from],
            [to, e0],
          ] as [number, number][]
        ).filter(([a, z]) => a < z),
      );
      return from;
    }
    case "free0": {
      if (held.length === 0) return -1;
      const k = op.pick % held.length;
      const [s0, e0] = held[k];
      const at = s0 + Math.floor(op.at * (e0 - s0));
      act(() => b.freePages(at, 0));
      held.splice(
        k,
        1,
        ...(
          [
            [s0, at],
            [at + 1, e0],
          ] as [number, number][]
        ).filter(([a, z]) => a < z),
      );
      return at;
    }
    case "drain":
      act(() => b.drainAllPages());
      return 0;
  }
}

/** The first index where two arrays differ, or −1 (expect().toEqual() walks a 64 Ki-frame array slowly). */
function firstDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) return 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return i;
  return -1;
}

function expectSame(a: Side, b: Side): void {
  for (const name of ["freeOrder", "heads", "nrFree"] as const) {
    const at = firstDiff(a.b[name], b.b[name]);
    if (at >= 0)
      expect.fail(`${name}[${at}]: ${a.b[name][at]} a block at a time, ${b.b[name][at]} page by page`);
  }
  expect(a.b.pcpLists()).toEqual(b.b.pcpLists());
  expect(a.b.zones).toEqual(b.b.zones);
  // A free block's list is its head's migratetype.
  const fo = a.b.freeOrder;
  for (let i = 0; i < fo.length; i++)
    if (fo[i] > 0 && a.b.freeMt[i] !== b.b.freeMt[i]) expect.fail(`freeMt[${i}] differs`);
}

describe("free_contig_range() and drain_all_pages() a block at a time", () => {
  afterEach(() => {
    BuddyAllocator.oneByOne = false;
  });

  it("end where freeing page by page ends, and the allocator then hands out the same blocks in the same order", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => {
        const fast = side(false);
        const slow = side(true);
        for (const op of ops) {
          expect(apply(fast, op)).toBe(apply(slow, op));
          expectSame(fast, slow);
        }
        // Everything held back, then everything drained: the lists' order shows in what comes out.
        for (const s of [fast, slow])
          for (const [s0, e0] of s.held) s.act(() => s.b.freeContigPages(s0, e0 - s0));
        for (const s of [fast, slow]) s.act(() => s.b.drainAllPages());
        expectSame(fast, slow);
        for (let order = 10; order >= 0; order--) {
          for (const gfp of GFPS) {
            for (let n = 0; n < 8; n++) {
              const x = fast.act(() => fast.b.allocPages(order, gfp));
              expect(slow.act(() => slow.b.allocPages(order, gfp))).toBe(x);
              if (x < 0) break;
            }
          }
        }
        expectSame(fast, slow);
      }),
      { numRuns: 60 },
    );
  });

  it("hands back to the buddy what the list's trims would, at each trim's edge", () => {
    // Pages already on the list, then a range whose pushes end just before, at and after a trim.
    for (const before of [0, 1, 62, 63, 64, 300]) {
      for (const count of [1, 316, 377, 378, 379, 380, 441, 442, 443, 505, 1023, 1024]) {
        const [fast, slow] = [side(false), side(true)];
        for (const s of [fast, slow]) {
          const held = s.act(() => s.b.allocPages(10, GFP_HIGHUSER_MOVABLE));
          const range = s.act(() => s.b.allocPages(10, GFP_HIGHUSER_MOVABLE));
          for (let j = 0; j < before; j++) s.act(() => s.b.freePages(held + j, 0));
          s.act(() => s.b.freeContigPages(range, count));
        }
        expectSame(fast, slow);
      }
    }
  });

  it("frees a whole CMA chunk the way pool-race's reclaim does: most of it reaches the buddy, the rest waits on the list", () => {
    const fast = side(false);
    const slow = side(true);
    for (const s of [fast, slow]) {
      const i = s.act(() => s.b.allocPages(10, GFP_HIGHUSER_MOVABLE));
      expect(i).toBeGreaterThanOrEqual(0);
      s.act(() => s.b.freeContigPages(i, 1024));
      // 1,024 pushes from an empty list: 11 trims of 63, 331 pages left on it.
      expect(s.b.pcpCount).toBe(331);
    }
    expectSame(fast, slow);
  });
});
