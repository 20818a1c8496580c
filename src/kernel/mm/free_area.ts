/**
 * The buddy allocator's free areas — mm/page_alloc.c, include/linux/mmzone.h (struct free_area).
 *
 * Zones (DMA below 4 GiB, Normal above) each keep free lists per migratetype and order
 * (0..MAX_PAGE_ORDER); pageblocks (order 9) carry a migratetype; CMA pageblocks serve only movable
 * allocations; an allocation that finds nothing of its type falls back and may steal a pageblock;
 * watermarks gate allocations. Freeing merges buddies; isolation moves whole pageblocks' free pages.
 * The allocation entry points and the per-cpu lists are in page_alloc.ts.
 *
 * All state is in typed arrays indexed by frame number (pfn − DRAM's first pfn): the order of a free
 * block at its head + 1 (0 elsewhere, −1 for a page on a per-cpu list), list links, pageblock types.
 * No per-page objects; every operation touches O(MAX_PAGE_ORDER) entries.
 */
import { assert, fail } from "../../sim/assert.ts";
import type { PageFrames } from "../../hw/frames.ts";
import {
  FALLBACKS,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_TYPES,
  MIGRATE_UNMOVABLE,
  PS_FREE,
  ZONE_DMA,
  ZONE_DMA_LIMIT,
  ZONE_NORMAL,
} from "./gfp.ts";

/** pageblock_order with 4 KiB pages and MAX_PAGE_ORDER ≥ 9 (arm64, x86). */
export const PAGEBLOCK_ORDER = 9;
export const PAGEBLOCK_NR_PAGES = 1 << PAGEBLOCK_ORDER;

/**
 * freeOrder of a frame that is not the head of a free block. 0, so that the array needs no filling and
 * DRAM no page allocator touched stays untouched memory (freeOrder holds order + 1 at a free head).
 */
export const NOT_FREE = 0;

export interface Zone {
  readonly id: number;
  readonly name: string;
  /** Frame index range [start, end). */
  readonly start: number;
  readonly end: number;
  managed: number;
  /** NR_FREE_PAGES and NR_FREE_CMA_PAGES: pages in the buddy lists (not on the per-cpu list). */
  freePages: number;
  freeCma: number;
  /** WMARK_MIN / LOW / HIGH in pages. */
  wmarkMin: number;
  wmarkLow: number;
  wmarkHigh: number;
}

export interface BuddyStats {
  allocs: number;
  frees: number;
  failures: number;
  /** __rmqueue_fallback() took a block of another migratetype. */
  fallbacks: number;
  /** ... and claimed its pageblock. */
  steals: number;
  pcpRefills: number;
  pcpDrains: number;
}

export class FreeArea {
  readonly maxOrder: number;
  readonly count: number;
  /** order + 1 at the head of a free block; NOT_FREE elsewhere (page_alloc.ts: −1 on a per-cpu list). */
  readonly freeOrder: Int8Array;
  /** The migratetype list a free head sits on. */
  readonly freeMt: Uint8Array;
  /**
   * List links per order, indexed by the head's frame >> order (a block of order o is 2^o aligned): the
   * arrays of high orders are small, and those of low orders are touched only where blocks were split,
   * so memory follows what the allocator did rather than DRAM's size.
   */
  readonly #next: Int32Array[];
  readonly #prev: Int32Array[];
  /** List heads and block counts, index (zone × MIGRATE_TYPES + mt) × (maxOrder + 1) + order. */
  readonly heads: Int32Array;
  readonly nrFree: Int32Array;
  /** Migratetype per pageblock (get_pageblock_migratetype()); written through setPageblockMt(). */
  readonly pageblockMt: Uint8Array;
  readonly zones: Zone[] = [];
  readonly stats: BuddyStats = {
    allocs: 0,
    frees: 0,
    failures: 0,
    fallbacks: 0,
    steals: 0,
    pcpRefills: 0,
    pcpDrains: 0,
  };
  /**
   * Bumped by each change of a kind: a pageblock's migratetype, a page's pin count, a page migrated. A
   * caller that saw the same epoch twice knows no such change happened in between.
   */
  readonly epochs = { pageblocks: 0, pins: 0, migrations: 0 };
  readonly #normalStart: number;

  constructor(
    readonly frames: PageFrames,
    maxOrder: number,
  ) {
    assert(frames.basePfn % (1 << maxOrder) === 0, "DRAM must be aligned to MAX_PAGE_ORDER pages");
    this.maxOrder = maxOrder;
    const n = frames.count;
    this.count = n;
    // Frame-indexed: their writers touch frames.dirty (sim/dirty.ts), so a restore copies what changed.
    const dirty = frames.dirty;
    this.freeOrder = dirty.track(new Int8Array(n));
    this.freeMt = dirty.track(new Uint8Array(n));
    this.#next = [];
    this.#prev = [];
    for (let o = 0; o <= maxOrder; o++) {
      this.#next.push(dirty.track(new Int32Array(Math.ceil(n / (1 << o))), o));
      this.#prev.push(dirty.track(new Int32Array(Math.ceil(n / (1 << o))), o));
    }
    const lists = 2 * MIGRATE_TYPES * (maxOrder + 1);
    this.heads = new Int32Array(lists).fill(-1);
    this.nrFree = new Int32Array(lists);
    // One element a pageblock, a dirty block each: written through setPageblockMt(), which touches it.
    assert(PAGEBLOCK_ORDER === dirty.blockShift, "a pageblock is a dirty block");
    this.pageblockMt = dirty.track(
      new Uint8Array(Math.ceil(n / PAGEBLOCK_NR_PAGES)).fill(MIGRATE_MOVABLE),
      PAGEBLOCK_ORDER,
    );
    const limit = frames.indexOf(ZONE_DMA_LIMIT - 4096) + 1;
    this.#normalStart = ZONE_DMA_LIMIT <= frames.paOf(0) ? 0 : limit > 0 ? limit : n;
    const mk = (id: number, name: string, start: number, end: number): Zone => ({
      id,
      name,
      start,
      end,
      managed: 0,
      freePages: 0,
      freeCma: 0,
      wmarkMin: 0,
      wmarkLow: 0,
      wmarkHigh: 0,
    });
    this.zones.push(
      mk(ZONE_DMA, "DMA", 0, this.#normalStart),
      mk(ZONE_NORMAL, "Normal", this.#normalStart, n),
    );
  }

  /** The list links (private), for the snapshot of the allocator that extends this class. */
  protected get links(): { next: Int32Array[]; prev: Int32Array[] } {
    return { next: this.#next, prev: this.#prev };
  }

  zoneOf(i: number): number {
    return i < this.#normalStart ? ZONE_DMA : ZONE_NORMAL;
  }

  #list(zone: number, mt: number, order: number): number {
    return (zone * MIGRATE_TYPES + mt) * (this.maxOrder + 1) + order;
  }

  #add(i: number, order: number, mt: number): void {
    const z = this.zoneOf(i);
    const l = this.#list(z, mt, order);
    const h = this.heads[l];
    const next = this.#next[order];
    const prev = this.#prev[order];
    const dirty = this.frames.dirty;
    next[i >> order] = h;
    prev[i >> order] = -1;
    dirty.touch(i);
    if (h >= 0) {
      prev[h >> order] = i;
      dirty.touch(h);
    }
    this.heads[l] = i;
    this.nrFree[l]++;
    this.freeOrder[i] = order + 1;
    this.freeMt[i] = mt;
    const zone = this.zones[z];
    zone.freePages += 1 << order;
    if (mt === MIGRATE_CMA) zone.freeCma += 1 << order;
  }

  /** Takes a free block head off its list. */
  #del(i: number, order: number): void {
    const mt = this.freeMt[i];
    const z = this.zoneOf(i);
    const l = this.#list(z, mt, order);
    const next = this.#next[order];
    const prev = this.#prev[order];
    const p = prev[i >> order];
    const nx = next[i >> order];
    const dirty = this.frames.dirty;
    if (p >= 0) {
      next[p >> order] = nx;
      dirty.touch(p);
    } else this.heads[l] = nx;
    if (nx >= 0) {
      prev[nx >> order] = p;
      dirty.touch(nx);
    }
    this.nrFree[l]--;
    this.freeOrder[i] = NOT_FREE;
    dirty.touch(i);
    const zone = this.zones[z];
    zone.freePages -= 1 << order;
    if (mt === MIGRATE_CMA) zone.freeCma -= 1 << order;
  }

  pageblockOf(i: number): number {
    return i >> PAGEBLOCK_ORDER;
  }

  /** Puts [start, end) into the buddy at boot (memblock_free_all → __free_pages_core), in maximal blocks. */
  freeBootRange(start: number, end: number): void {
    let i = start;
    while (i < end) {
      const o = this.#maximalBlock(i, end);
      this.frames.state.fill(PS_FREE, i, i + (1 << o));
      this.frames.dirty.touch(i, 1 << o);
      this.zones[this.zoneOf(i)].managed += 1 << o;
      this.freeOne(i, o);
      i += 1 << o;
    }
  }

  /** The order of the largest block at i within [i, end) that one zone holds and may merge whole. */
  #maximalBlock(i: number, end: number): number {
    let o = this.maxOrder;
    while (
      o > 0 &&
      (i % (1 << o) !== 0 ||
        i + (1 << o) > end ||
        this.zoneOf(i) !== this.zoneOf(i + (1 << o) - 1) ||
        !this.#mergeableSpan(i, o))
    )
      o--;
    return o;
  }

  /**
   * __free_one_page() of each page of [start, end), one after the other in ascending order, with
   * nothing else freed in between (pages not free, none of them on a list): done a block at a time,
   * in the same maximal blocks as freeBootRange(). The end state is the same. Freeing the pages of an
   * aligned block in ascending order merges each page only with pages of the same block (an aligned
   * block holds its sub-blocks' buddies) until its last page completes it; from there the merge goes
   * on exactly as freeOne() of the whole block does. The sub-blocks on the way are added to a list
   * head and taken off again before anything else is added, so every list ends in the same order.
   * Only the links of pages that end inside a free block (which nothing reads) may differ.
   */
  protected freeAscending(start: number, end: number): void {
    let i = start;
    while (i < end) {
      const o = this.#maximalBlock(i, end);
      this.freeOne(i, o);
      i += 1 << o;
    }
  }

  /** Whether a block of 2^order pages at i may span its pageblocks (types equal, or all ordinary). */
  #mergeableSpan(i: number, order: number): boolean {
    if (order <= PAGEBLOCK_ORDER) return true;
    const first = this.pageblockMt[i >> PAGEBLOCK_ORDER];
    for (let pb = (i >> PAGEBLOCK_ORDER) + 1; pb < (i + (1 << order)) >> PAGEBLOCK_ORDER; pb++) {
      const mt = this.pageblockMt[pb];
      if (mt !== first && (mt >= MIGRATE_CMA || first >= MIGRATE_CMA)) return false;
    }
    return true;
  }

  /** setup_per_zone_wmarks(): min_free_kbytes = √(lowmem_kbytes × 16) clamped to [128, 262144], shared by zone size. */
  setupWatermarks(): void {
    const managed = this.zones.reduce((a, z) => a + z.managed, 0);
    const minFreeKb = Math.min(262144, Math.max(128, Math.floor(Math.sqrt(managed * 4 * 16))));
    const minPages = minFreeKb / 4;
    for (const z of this.zones) {
      if (z.managed === 0) continue;
      z.wmarkMin = Math.floor((minPages * z.managed) / managed);
      // watermark_scale_factor = 10 (0.1% of the zone).
      const gap = Math.max(z.wmarkMin >> 2, Math.floor((z.managed * 10) / 10000));
      z.wmarkLow = z.wmarkMin + gap;
      z.wmarkHigh = z.wmarkMin + 2 * gap;
    }
  }

  /** __free_one_page(): merges with free buddies, never across a pageblock of different isolation. */
  protected freeOne(i: number, order: number): void {
    const max = this.maxOrder;
    const pbMt = this.pageblockMt;
    while (order < max) {
      const buddy = i ^ (1 << order);
      if (buddy >= this.count || this.freeOrder[buddy] !== order + 1) break;
      if (this.zoneOf(buddy) !== this.zoneOf(i)) break;
      // Beyond a pageblock, blocks of different types merge only when both are ordinary types
      // (migratetype_is_mergeable(): below MIGRATE_PCPTYPES): never CMA or ISOLATE with anything else.
      if (order >= PAGEBLOCK_ORDER) {
        const a = pbMt[i >> PAGEBLOCK_ORDER];
        const b = pbMt[buddy >> PAGEBLOCK_ORDER];
        if (a !== b && (a >= MIGRATE_CMA || b >= MIGRATE_CMA)) break;
      }
      this.#del(buddy, order);
      i = Math.min(i, buddy);
      order++;
    }
    this.#add(i, order, pbMt[i >> PAGEBLOCK_ORDER]);
  }

  /** The head of the free buddy block containing frame i, or −1. */
  freeBlockOf(i: number): number {
    for (let o = 0; o <= this.maxOrder; o++) {
      const h = i - (i % (1 << o));
      if (this.freeOrder[h] === o + 1) return h;
    }
    return -1;
  }

  /** expand(): splits a block of order `high` down to `low`, freeing the upper halves onto list mt. */
  #expand(i: number, low: number, high: number, mt: number): void {
    while (high > low) {
      high--;
      this.#add(i + (1 << high), high, mt);
    }
  }

  /** __rmqueue_smallest() in one zone. */
  #smallest(zone: number, order: number, mt: number): number {
    for (let o = order; o <= this.maxOrder; o++) {
      const l = this.#list(zone, mt, o);
      const i = this.heads[l];
      if (i < 0) continue;
      this.#del(i, o);
      this.#expand(i, order, o, mt);
      return i;
    }
    return -1;
  }

  /** __rmqueue_fallback(): the largest block of a fallback type; claims its pageblock when it may. */
  #fallback(zone: number, order: number, startMt: number): number {
    for (let o = this.maxOrder; o >= order; o--) {
      for (const fmt of FALLBACKS[startMt]) {
        const i = this.heads[this.#list(zone, fmt, o)];
        if (i < 0) continue;
        this.stats.fallbacks++;
        // can_steal_fallback(): large blocks, or unmovable/reclaimable requests, may claim the pageblock.
        const canSteal =
          o >= PAGEBLOCK_ORDER / 2 || startMt === MIGRATE_UNMOVABLE || startMt === MIGRATE_RECLAIMABLE;
        if (o >= PAGEBLOCK_ORDER) {
          this.setPageblockMt(i >> PAGEBLOCK_ORDER, (i + (1 << o)) >> PAGEBLOCK_ORDER, startMt);
          this.epochs.pageblocks++;
          this.#del(i, o);
          this.#add(i, o, startMt);
          this.stats.steals++;
        } else if (canSteal && this.#freeInPageblock(i >> PAGEBLOCK_ORDER) >= PAGEBLOCK_NR_PAGES / 2) {
          this.moveFreePagesBlock(i >> PAGEBLOCK_ORDER, startMt);
          this.setPageblockMt(i >> PAGEBLOCK_ORDER, (i >> PAGEBLOCK_ORDER) + 1, startMt);
          this.epochs.pageblocks++;
          this.stats.steals++;
        } else {
          this.#del(i, o);
          this.#expand(i, order, o, fmt);
          return i;
        }
        return this.#smallest(zone, order, startMt);
      }
    }
    return -1;
  }

  #freeInPageblock(pb: number): number {
    let n = 0;
    const end = Math.min(this.count, (pb + 1) * PAGEBLOCK_NR_PAGES);
    for (let i = pb * PAGEBLOCK_NR_PAGES; i < end;) {
      const o = this.freeOrder[i] - 1;
      if (o >= 0) {
        n += 1 << o;
        i += 1 << o;
      } else i++;
    }
    return n;
  }

  /** __rmqueue(): CMA first for movable when over half the zone's free memory is CMA, then type, then fallback. */
  protected rmqueue(zone: number, order: number, mt: number, allocCma: boolean): number {
    const z = this.zones[zone];
    if (allocCma && z.freeCma > z.freePages / 2) {
      const c = this.#smallest(zone, order, MIGRATE_CMA);
      if (c >= 0) return c;
    }
    let i = this.#smallest(zone, order, mt);
    if (i < 0) i = this.#fallback(zone, order, mt);
    if (i < 0 && allocCma) i = this.#smallest(zone, order, MIGRATE_CMA);
    return i;
  }

  /** zone_watermark_ok(): free pages beyond the mark after this allocation; CMA counts only for ALLOC_CMA. */
  protected watermarkOk(z: Zone, order: number, mark: number, allocCma: boolean): boolean {
    const free = z.freePages - (allocCma ? 0 : z.freeCma);
    return free - (1 << order) >= mark;
  }

  /** Whether frame i is a free page in the buddy (not on a per-cpu list). */
  isFreeInBuddy(i: number): boolean {
    return this.freeBlockOf(i) >= 0;
  }

  /** set_pageblock_migratetype() on pageblocks [pb0, pb1): their dirty blocks are touched. */
  setPageblockMt(pb0: number, pb1: number, mt: number): void {
    if (pb1 <= pb0) return;
    this.pageblockMt.fill(mt, pb0, pb1);
    this.frames.dirty.touch(pb0 << PAGEBLOCK_ORDER, (pb1 - pb0) << PAGEBLOCK_ORDER);
  }

  /**
   * move_freepages_block(): every free block inside pageblock pb moves to list mt. A free block larger
   * than a pageblock is split first so that only this pageblock's part moves.
   */
  moveFreePagesBlock(pb: number, mt: number): number {
    const start = pb * PAGEBLOCK_NR_PAGES;
    const end = Math.min(this.count, start + PAGEBLOCK_NR_PAGES);
    const outer = this.freeBlockOf(start);
    if (outer >= 0 && this.freeOrder[outer] - 1 > PAGEBLOCK_ORDER) this.#splitFree(outer, start, end);
    let moved = 0;
    for (let i = start; i < end;) {
      const o = this.freeOrder[i] - 1;
      if (o >= 0) {
        this.#del(i, o);
        this.#add(i, o, mt);
        moved += 1 << o;
        i += 1 << o;
      } else i++;
    }
    return moved;
  }

  /** Splits free block `head` so that [start, end) becomes whole free blocks of its own. */
  #splitFree(head: number, start: number, end: number): void {
    const o = this.freeOrder[head] - 1;
    const mt = this.freeMt[head];
    this.#del(head, o);
    // Re-add the pieces outside [start, end) and the aligned pieces inside, each on the list it was on.
    this.#addAligned(head, start, mt);
    this.#addAligned(start, end, mt);
    this.#addAligned(end, head + (1 << o), mt);
  }

  /** Adds [a, b) as maximal aligned free blocks on list mt (no merging: the neighbours are known). */
  #addAligned(a: number, b: number, mt: number): void {
    let i = a;
    while (i < b) {
      let o = this.maxOrder;
      while (o > 0 && (i % (1 << o) !== 0 || i + (1 << o) > b)) o--;
      this.#add(i, o, mt);
      i += 1 << o;
    }
  }

  /**
   * take_page_off_buddy() over a run: removes the free pages [start, end) from the buddy (they must all
   * be free in the buddy), splitting blocks that stick out and leaving their outer parts free.
   */
  takeOffBuddy(start: number, end: number): boolean {
    for (let i = start; i < end;) {
      const h = this.freeBlockOf(i);
      if (h < 0) return false;
      const o = this.freeOrder[h] - 1;
      const blockEnd = h + (1 << o);
      if (h < start || blockEnd > end) this.#splitFree(h, Math.max(h, start), Math.min(blockEnd, end));
      // Now [i, min(blockEnd, end)) is made of whole free blocks: remove them.
      const stop = Math.min(blockEnd, end);
      while (i < stop) {
        const oo = this.freeOrder[i] - 1;
        if (!(oo >= 0)) fail(`frame ${i} not a free head after split`);
        this.#del(i, oo);
        i += 1 << oo;
      }
    }
    return true;
  }

  /** Free pages in a zone's buddy lists of one migratetype (for reports and tests). */
  freeOfType(zone: number, mt: number): number {
    let n = 0;
    for (let o = 0; o <= this.maxOrder; o++) n += this.nrFree[this.#list(zone, mt, o)] << o;
    return n;
  }
}
