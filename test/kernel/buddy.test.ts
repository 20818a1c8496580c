import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  GFP_DMA,
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  GFP_RECLAIMABLE,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  MIGRATE_UNMOVABLE,
  PS_FREE,
  PS_MOVABLE,
  PS_UNMOVABLE,
  ZONE_DMA,
  ZONE_NORMAL,
} from "../../src/kernel/mm/gfp.ts";
import { PAGEBLOCK_ORDER } from "../../src/kernel/mm/page_alloc.ts";
import { makeMm } from "./mm-fixture.ts";

const GFPS = [GFP_KERNEL, GFP_HIGHUSER_MOVABLE, GFP_RECLAIMABLE];
/** Movable pages placed below 4 GiB, as a working set filled while ZONE_NORMAL was short lands there. */
const GFP_DMA_MOVABLE = {
  ...GFP_HIGHUSER_MOVABLE,
  name: "GFP_HIGHUSER_MOVABLE|GFP_DMA",
  highestZone: ZONE_DMA,
};

describe("buddy allocator", () => {
  it("boots with all DRAM but the kernel's reserve free, and conservation holds", () => {
    const { mm, machine } = makeMm();
    const c = mm.conservation();
    expect(c.ok).toBe(true);
    expect(c.counts.free).toBe(machine.frames.count - (32 * 1024 * 1024) / 4096);
    expect(c.counts.reserved).toBe((32 * 1024 * 1024) / 4096);
    expect(mm.buddy.zones[ZONE_DMA].managed).toBe(c.counts.free);
    expect(mm.buddy.zones[ZONE_NORMAL].managed).toBe(0);
    // The CMA area's pages are on the CMA free lists.
    expect(mm.buddy.freeOfType(ZONE_DMA, MIGRATE_CMA)).toBe((64 * 1024 * 1024) / 4096);
  });

  it("never hands out a page twice, conserves page counts, and frees merge back to the boot state", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            alloc: fc.boolean(),
            order: fc.integer({ min: 0, max: 10 }),
            gfp: fc.integer({ min: 0, max: 2 }),
            pick: fc.nat(),
          }),
          { maxLength: 120 },
        ),
        (ops) => {
          const { mm, machine } = makeMm();
          const b = mm.buddy;
          const bootBlocks = b.freeOrder.slice();
          const owner = new Int32Array(machine.frames.count).fill(-1);
          const live: { i: number; order: number }[] = [];
          for (const op of ops) {
            if (op.alloc || live.length === 0) {
              const i = b.allocPages(op.order, GFPS[op.gfp]);
              if (i < 0) continue;
              for (let k = i; k < i + (1 << op.order); k++) {
                expect(owner[k]).toBe(-1);
                owner[k] = live.length;
                expect(machine.frames.state[k]).not.toBe(PS_FREE);
              }
              expect(i % (1 << op.order)).toBe(0);
              live.push({ i, order: op.order });
            } else {
              const [x] = live.splice(op.pick % live.length, 1);
              owner.fill(-1, x.i, x.i + (1 << x.order));
              b.freePages(x.i, x.order);
            }
            expect(mm.conservation().ok).toBe(true);
          }
          for (const x of live) b.freePages(x.i, x.order);
          b.drainAllPages();
          expect(mm.conservation().ok).toBe(true);
          // Every free block merged back: the same heads with the same orders as at boot.
          expect(b.freeOrder).toEqual(bootBlocks);
          const free = b.zones.reduce((a, z) => a + z.freePages, 0);
          expect(free).toBe(b.zones.reduce((a, z) => a + z.managed, 0));
        },
      ),
      // A case costs ~0.2 s (a fresh mm, conservation after every operation): a failure's shrinking could
      // outlast the test's timeout and show as a timeout without its counterexample. Interrupted at 40 s,
      // fast-check reports the failure with the smallest counterexample it has reached.
      { numRuns: 40, plugins: [fc.interruptAfterTimeLimit(40_000)] },
    );
  });

  it("CMA pageblocks serve only movable allocations", () => {
    const { mm, machine } = makeMm();
    const cma = mm.cmaAreas[0];
    const inCma = (i: number) => i >= cma.base && i < cma.base + cma.count;
    // Exhaust everything unmovable: none of it may come from the CMA area.
    let n = 0;
    for (;;) {
      const i = mm.buddy.allocPages(0, GFP_KERNEL);
      if (i < 0) break;
      expect(inCma(i)).toBe(false);
      n++;
    }
    expect(n).toBeGreaterThan(0);
    // Movable allocations still succeed, from CMA.
    const m = mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
    expect(m).toBeGreaterThanOrEqual(0);
    expect(inCma(m)).toBe(true);
    expect(machine.frames.state[m]).toBe(PS_MOVABLE);
  });

  it("movable allocations use CMA first once CMA holds over half of the zone's free memory", () => {
    const { mm } = makeMm({ cma: [{ name: "reserved", base: 0x44000000, size: 192 * 1024 * 1024 }] });
    const cma = mm.cmaAreas[0];
    const i = mm.buddy.allocPages(3, GFP_HIGHUSER_MOVABLE);
    expect(i >= cma.base && i < cma.base + cma.count).toBe(true);
  });

  it("an unmovable allocation that finds no unmovable block steals a movable pageblock", () => {
    const { mm, machine } = makeMm();
    const b = mm.buddy;
    const i = b.allocPages(0, GFP_KERNEL);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(machine.frames.state[i]).toBe(PS_UNMOVABLE);
    expect(b.stats.fallbacks).toBeGreaterThan(0);
    expect(b.stats.steals).toBeGreaterThan(0);
    expect(b.pageblockMt[i >> PAGEBLOCK_ORDER]).toBe(MIGRATE_UNMOVABLE);
  });

  it("watermarks refuse an allocation that would eat into the reserve", () => {
    const { mm } = makeMm({ cma: [] });
    const b = mm.buddy;
    const z = b.zones[ZONE_DMA];
    expect(z.wmarkMin).toBeGreaterThan(0);
    expect(z.wmarkLow).toBeGreaterThan(z.wmarkMin);
    let got = 0;
    while (b.allocPages(0, GFP_HIGHUSER_MOVABLE) >= 0) got++;
    expect(z.freePages).toBeLessThanOrEqual(z.wmarkMin + 1);
    expect(z.freePages).toBeGreaterThan(0);
    expect(got).toBeGreaterThan(0);
    expect(b.stats.failures).toBe(1);
  });

  it("an order above MAX_PAGE_ORDER fails", () => {
    const { mm } = makeMm();
    expect(mm.buddy.allocPages(11, GFP_KERNEL)).toBe(-1);
  });

  it("GFP_DMA stays in ZONE_DMA; GFP_KERNEL prefers ZONE_NORMAL", () => {
    const { mm } = makeMm({ dram: { base: 0xe0000000, size: 1024 * 1024 * 1024 }, cma: [] });
    const b = mm.buddy;
    expect(b.zones[ZONE_DMA].managed).toBeGreaterThan(0);
    expect(b.zones[ZONE_NORMAL].managed).toBeGreaterThan(0);
    expect(b.zoneOf(b.allocPages(0, GFP_KERNEL))).toBe(ZONE_NORMAL);
    expect(b.zoneOf(b.allocPages(0, GFP_DMA))).toBe(ZONE_DMA);
  });

  it("order-0 frees go to the per-cpu list until drained", () => {
    const { mm } = makeMm();
    const b = mm.buddy;
    const i = b.allocPages(0, GFP_HIGHUSER_MOVABLE);
    b.freePages(i, 0);
    expect(b.isFreeInBuddy(i)).toBe(false);
    expect(b.pcpCount).toBeGreaterThan(0);
    b.drainAllPages();
    expect(b.pcpCount).toBe(0);
    expect(b.isFreeInBuddy(i)).toBe(true);
    expect(b.pageblockMt[i >> PAGEBLOCK_ORDER]).toBeOneOf([MIGRATE_MOVABLE, MIGRATE_CMA]);
  });

  it("per-cpu lists are per zone: faults alternating between zones never hand a page out twice", () => {
    // Linux keeps one per_cpu_pages per zone (zone->per_cpu_pageset), refilled by rmqueue_bulk() only
    // when empty and trimmed by free_pcppages_bulk() past `high`. One list shared by both zones was
    // refilled whenever its top page was of the other zone: it grew to its end, a free past it was lost
    // and the trim left a stale copy of a page on the list, which was then handed out twice.
    const { mm } = makeMm({ dram: { base: 0xe0000000, size: 1024 * 1024 * 1024 }, cma: [] });
    const b = mm.buddy;
    const held = new Set<number>();
    const fault = (n: number): void => {
      const gfp = n % 2 === 0 ? GFP_HIGHUSER_MOVABLE : GFP_DMA_MOVABLE;
      const i = b.allocPages(0, gfp);
      expect(b.zoneOf(i)).toBe(n % 2 === 0 ? ZONE_NORMAL : ZONE_DMA);
      expect(held.has(i)).toBe(false);
      held.add(i);
    };
    // Faults alternating between the zones: a list shared by both found the other zone's page on top
    // at each one, and refilled.
    for (let n = 0; n < 12; n++) fault(n);
    for (let n = 0; n < 64; n++) {
      const oldest = held.values().next().value!;
      held.delete(oldest);
      b.freePages(oldest, 0);
      // The other zone's fault than the page just freed, so the list's top is never the zone asked for.
      fault(n + 1);
      expect(mm.conservation().ok).toBe(true);
    }
    for (const i of held) b.freePages(i, 0);
    b.drainAllPages();
    expect(mm.conservation().ok).toBe(true);
    expect(b.zones.reduce((a, z) => a + z.freePages, 0)).toBe(b.zones.reduce((a, z) => a + z.managed, 0));
  });
});

describe("pageblock types and merging", () => {
  it("a CMA pageblock never merges into a free block of another type, whatever MAX_PAGE_ORDER", () => {
    const { mm } = makeMm({
      maxOrder: 11,
      cma: [{ name: "reserved", base: 0x48400000, size: 4 * 1024 * 1024 }],
    });
    const b = mm.buddy;
    expect(b.zones[ZONE_DMA].freeCma).toBe(1024);
    expect(b.freeOfType(ZONE_DMA, MIGRATE_CMA)).toBe(1024);
    // Freed and merged again, the CMA pages stay on the CMA lists.
    const got: number[] = [];
    for (;;) {
      const i = b.allocPages(0, GFP_HIGHUSER_MOVABLE);
      if (i < 0) break;
      got.push(i);
    }
    for (const i of got) b.freePages(i, 0);
    b.drainAllPages();
    expect(b.freeOfType(ZONE_DMA, MIGRATE_CMA)).toBe(1024);
    expect(mm.conservation().ok).toBe(true);
  });
});
