/**
 * The kernel's memory management at boot and after: memblock's view of DRAM (reserved and no-map
 * regions stay out of the buddy), the buddy allocator, the CMA areas from the device tree, and the
 * counts the conservation invariant adds up. mm_core_init() / memblock_free_all() / cma_init_reserved_areas().
 */
import type { StateBaseline } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { Mutex } from "../../sim/mutex.ts";
import type { Sim } from "../../sim/sim.ts";
import { Cma } from "./cma.ts";
import { MIGRATE_CMA, PAGE_STATE_NAMES, PS_FREE } from "./gfp.ts";
import { BuddyAllocator, PAGEBLOCK_NR_PAGES } from "./page_alloc.ts";

/** Memory the kernel image and its early allocations (memmap, page tables) take at the start of DRAM (assumption). */
export const KERNEL_RESERVED_BYTES = 32 * 1024 * 1024;

export class Mm {
  readonly buddy: BuddyAllocator;
  readonly cmaAreas: Cma[] = [];
  /** The frame index ranges memblock reserved at boot (kernel image, carveouts), for reports. */
  readonly reservedRanges: { name: string; start: number; end: number }[] = [];

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
  ) {
    const f = machine.frames;
    const platform = machine.platform;
    this.buddy = new BuddyAllocator(f, platform.maxOrder);
    this.buddy.warnOnce = (site, message) => sim.warnOnce(site, message);
    const reserved: { name: string; start: number; end: number }[] = [
      { name: "kernel", start: 0, end: KERNEL_RESERVED_BYTES / PAGE_SIZE },
    ];
    for (const r of platform.reserved) {
      const s = f.indexOf(r.base);
      if (s >= 0) reserved.push({ name: r.name, start: s, end: s + r.size / PAGE_SIZE });
    }
    reserved.sort((a, b) => a.start - b.start);
    this.reservedRanges.push(...reserved);
    // CMA pageblocks are MIGRATE_CMA before their pages reach the buddy (init_cma_reserved_pageblock()).
    for (const c of platform.cma) {
      const s = f.indexOf(c.base);
      const n = c.size / PAGE_SIZE;
      this.buddy.setPageblockMt(
        Math.floor(s / PAGEBLOCK_NR_PAGES),
        Math.floor((s + n) / PAGEBLOCK_NR_PAGES),
        MIGRATE_CMA,
      );
      this.cmaAreas.push(new Cma(c.name, s, n, 0, new Mutex(sim, `cma:${c.name}`)));
    }
    let cursor = 0;
    for (const r of reserved) {
      if (r.start > cursor) this.buddy.freeBootRange(cursor, r.start);
      cursor = Math.max(cursor, r.end);
    }
    if (cursor < f.count) this.buddy.freeBootRange(cursor, f.count);
    this.buddy.setupWatermarks();
  }

  /** The CMA area devices use when they have none of their own (dma_contiguous_default_area): the first. */
  get defaultCma(): Cma | null {
    return this.cmaAreas[0] ?? null;
  }

  cmaByName(name: string): Cma | null {
    return this.cmaAreas.find((c) => c.name === name) ?? null;
  }

  /**
   * Pages per state, and whether they add up: every frame in exactly one state, the totals equal DRAM,
   * and the free count equals what the buddy lists and the per-cpu list hold. For the end of a run:
   * O(DRAM), or O(blocks written since) from a `base` taken at boot (PageFrames.stateHistogram()), or
   * none: the caller's `histogram` of the frames as they stand.
   */
  conservation(
    base: StateBaseline | null = null,
    histogram: readonly number[] = this.machine.frames.stateHistogram(base),
  ): {
    counts: Record<string, number>;
    ok: boolean;
    why: string | null;
  } {
    const state = this.machine.frames.state;
    const counts = histogram.slice(0, PAGE_STATE_NAMES.length);
    let bad = 0;
    for (let s = counts.length; s < histogram.length; s++) bad += histogram[s];
    const named = Object.fromEntries(PAGE_STATE_NAMES.map((n, i) => [n, counts[i]]));
    const buddyFree = this.buddy.zones.reduce((a, z) => a + z.freePages, 0) + this.buddy.pcpCount;
    let why: string | null = null;
    if (bad > 0) why = `${bad} frames in no known state`;
    else if (counts.reduce((a, b) => a + b, 0) !== state.length) why = "state counts do not add up to DRAM";
    else if (counts[PS_FREE] !== buddyFree)
      why = `${counts[PS_FREE]} frames marked free but the buddy holds ${buddyFree}`;
    return { counts: named, ok: why === null, why };
  }
}
