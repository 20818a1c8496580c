/**
 * The buddy allocator's entry points — mm/page_alloc.c: alloc_pages() across the zonelist and its
 * watermarks, __free_pages(), and the per-cpu page lists order-0 pages go through (one CPU modelled,
 * one struct per_cpu_pages per zone as zone->per_cpu_pageset), as free_unref_page() /
 * rmqueue_pcplist() do — which is why alloc_contig_range() must drain them.
 * The free lists themselves are free_area.ts.
 */
import { assert, fail } from "../../sim/assert.ts";
import type { PageFrames } from "../../hw/frames.ts";
import {
  MIGRATE_ISOLATE,
  MIGRATE_MOVABLE,
  MIGRATE_RECLAIMABLE,
  MIGRATE_UNMOVABLE,
  PS_FREE,
  PS_OF_MIGRATETYPE,
  type Gfp,
} from "./gfp.ts";
import { FreeArea, NOT_FREE, PAGEBLOCK_ORDER } from "./free_area.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

export { PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, type BuddyStats, type Zone } from "./free_area.ts";

/** freeOrder of a page sitting on a per-cpu list. */
const ON_PCP = -1;

/** Per-cpu list sizes: batch as zone_batchsize() gives for zones above 1 GiB, high = 6 × batch (assumption). */
export const PCP_BATCH = 63;
export const PCP_HIGH = 6 * PCP_BATCH;
/** MIGRATE_PCPTYPES: the per-cpu lists of a zone, one per migratetype below MIGRATE_CMA (order 0 only here). */
const PCP_TYPES = 3;
/**
 * A list's room. A list is refilled only when empty (≤ PCP_BATCH pages) and trimmed as soon as a free
 * takes it past PCP_HIGH, so it never holds more than PCP_HIGH + 1 pages.
 */
const PCP_ROOM = PCP_HIGH + 1;

export class BuddyAllocator extends FreeArea implements Snapshottable {
  /**
   * For tests: free page by page where the range paths (freeContigPages() into one list,
   * drainAllPages() of consecutive frames) would free a block at a time. Both must end the same.
   */
  static oneByOne = false;
  /** Where the allocator's WARN_ON_ONCE()s go (the kernel's sim.warnOnce; none in bare mm tests). */
  warnOnce: ((site: string, message: string) => void) | null = null;
  /** The per-cpu lists (order 0), as stacks: index zone × PCP_TYPES + pcp migratetype. */
  readonly #pcp: Int32Array[];
  readonly #pcpLen: Int32Array;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { pcp: this.#pcp, pcpLen: this.#pcpLen, ...this.links };
  }

  constructor(frames: PageFrames, maxOrder: number) {
    super(frames, maxOrder);
    const lists = this.zones.length * PCP_TYPES;
    this.#pcp = Array.from({ length: lists }, () => new Int32Array(PCP_ROOM));
    this.#pcpLen = new Int32Array(lists);
  }

  /**
   * alloc_pages(): a block of 2^order pages, as a frame index, or −1. Tries each zone of the zonelist
   * against WMARK_LOW, then against WMARK_MIN (the slow path, without reclaim or compaction: we do not
   * model them). Order-0 requests use the per-cpu list.
   */
  allocPages(order: number, gfp: Gfp): number {
    // __alloc_pages_noprof(): "There are several places where we assume that the order value is sane
    // so bail out early if the request is out of bound" — WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER, gfp).
    if (order > this.maxOrder) {
      if (!gfp.noWarn)
        this.warnOnce?.(
          "__alloc_pages_noprof:order",
          `WARNING: at mm/page_alloc.c __alloc_pages_noprof(): WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER): order ${order} > ${this.maxOrder} (${gfp.name})`,
        );
      this.stats.failures++;
      return -1;
    }
    const mt = gfp.migratetype;
    const allocCma = mt === MIGRATE_MOVABLE;
    for (const mark of [0, 1]) {
      for (let zone = gfp.highestZone; zone >= 0; zone--) {
        const z = this.zones[zone];
        if (z.managed === 0) continue;
        if (!this.watermarkOk(z, order, mark === 0 ? z.wmarkLow : z.wmarkMin, allocCma)) continue;
        const i = order === 0 ? this.#pcpAlloc(zone, mt, allocCma) : this.rmqueue(zone, order, mt, allocCma);
        if (i < 0) continue;
        this.frames.state.fill(PS_OF_MIGRATETYPE[mt], i, i + (1 << order));
        this.frames.dirty.touch(i, 1 << order);
        this.stats.allocs++;
        return i;
      }
    }
    this.stats.failures++;
    return -1;
  }

  /** The per-cpu list of `zone` for migratetype mt (order_to_pindex(): CMA pages go on MOVABLE's). */
  #pcpIndex(zone: number, mt: number): number {
    return zone * PCP_TYPES + (mt === MIGRATE_UNMOVABLE ? 0 : mt === MIGRATE_RECLAIMABLE ? 2 : 1);
  }

  /**
   * rmqueue_pcplist(): pops the zone's per-cpu list; __rmqueue_pcplist() refills it with a batch
   * (rmqueue_bulk()) only when it is empty.
   */
  #pcpAlloc(zone: number, mt: number, allocCma: boolean): number {
    const k = this.#pcpIndex(zone, mt);
    const list = this.#pcp[k];
    if (this.#pcpLen[k] > 0) {
      const i = list[--this.#pcpLen[k]];
      if (this.freeOrder[i] !== ON_PCP) fail(`frame ${i} on a per-cpu list is not marked so`);
      this.freeOrder[i] = NOT_FREE;
      this.frames.dirty.touch(i);
      return i;
    }
    this.stats.pcpRefills++;
    let got = -1;
    for (let b = 0; b < PCP_BATCH; b++) {
      const i = this.rmqueue(zone, 0, mt, allocCma);
      if (i < 0) break;
      if (got < 0) {
        got = i;
        continue;
      }
      this.freeOrder[i] = ON_PCP;
      this.frames.dirty.touch(i);
      list[this.#pcpLen[k]++] = i;
    }
    return got;
  }

  /**
   * __free_pages(): order-0 pages go to the per-cpu list (unless their pageblock is isolated), and a
   * batch goes back to the buddy when the list passes `high`.
   */
  freePages(i: number, order: number): void {
    // The message is built only on failure: this runs for every page a workload frees.
    if (this.freeOrder[i] !== NOT_FREE || this.frames.state[i] === PS_FREE) fail(`double free of frame ${i}`);
    this.frames.state.fill(PS_FREE, i, i + (1 << order));
    this.frames.dirty.touch(i, 1 << order);
    this.stats.frees++;
    const pbMt = this.pageblockMt[i >> PAGEBLOCK_ORDER];
    if (order !== 0 || pbMt === MIGRATE_ISOLATE) {
      this.freeOne(i, order);
      return;
    }
    // free_unref_page(): the list of the page's own zone (page_zone()).
    const k = this.#pcpIndex(this.zoneOf(i), pbMt);
    const list = this.#pcp[k];
    // A typed array drops a store past its end: a list that outgrew its room would lose pages.
    if (!(this.#pcpLen[k] < list.length)) fail(`per-cpu list ${k} full (${this.#pcpLen[k]} pages)`);
    this.freeOrder[i] = ON_PCP;
    list[this.#pcpLen[k]++] = i;
    if (this.#pcpLen[k] > PCP_HIGH) {
      // free_pcppages_bulk(): the coldest pages (bottom of the stack) go back.
      for (let b = 0; b < PCP_BATCH; b++) {
        const j = list[b];
        this.freeOrder[j] = NOT_FREE;
        this.frames.dirty.touch(j);
        this.freeOne(j, 0);
      }
      list.copyWithin(0, PCP_BATCH, this.#pcpLen[k]);
      this.#pcpLen[k] -= PCP_BATCH;
    }
  }

  /**
   * free_contig_range(): frees [start, start + count) page by page, as __free_page() on each in turn
   * (mm/page_alloc.c) — the same per-cpu list pushes, trims and buddy merges, in the same order, as
   * count calls of freePages(i, 0). Only the parts that do not depend on the order are done once for
   * the range: the double-free check (freeing a page changes no other page of the range: its merges
   * take only free blocks), the page states (the buddy never reads them) and the dirty marks. A range
   * that goes to one per-cpu list is done a block at a time (#freeContigOneList()), with the same end.
   */
  freeContigPages(start: number, count: number): void {
    const end = start + count;
    const state = this.frames.state;
    const freeOrder = this.freeOrder;
    for (let i = start; i < end; i++)
      if (freeOrder[i] !== NOT_FREE || state[i] === PS_FREE) assert(false, `double free of frame ${i}`);
    state.fill(PS_FREE, start, end);
    this.frames.dirty.touch(start, count);
    this.stats.frees += count;
    if (count > 0 && this.#freeContigOneList(start, end)) return;
    const pageblockMt = this.pageblockMt;
    for (let i = start; i < end; i++) {
      const pbMt = pageblockMt[i >> PAGEBLOCK_ORDER];
      if (pbMt === MIGRATE_ISOLATE) {
        this.freeOne(i, 0);
        continue;
      }
      const k = this.#pcpIndex(this.zoneOf(i), pbMt);
      const list = this.#pcp[k];
      assert(this.#pcpLen[k] < list.length, "per-cpu list full");
      freeOrder[i] = ON_PCP;
      list[this.#pcpLen[k]++] = i;
      if (this.#pcpLen[k] > PCP_HIGH) {
        for (let b = 0; b < PCP_BATCH; b++) {
          const j = list[b];
          freeOrder[j] = NOT_FREE;
          this.frames.dirty.touch(j);
          this.freeOne(j, 0);
        }
        list.copyWithin(0, PCP_BATCH, this.#pcpLen[k]);
        this.#pcpLen[k] -= PCP_BATCH;
      }
    }
  }

  /**
   * freeContigPages() of a range whose pages all go to one per-cpu list (one zone, no isolated
   * pageblock, one list's migratetype): the same end state without pushing page by page. The list is
   * a queue for what the trims hand back — its oldest pages first, then the range's in ascending order
   * — and a trim comes each time a push takes it past PCP_HIGH, so how many pages reach the buddy is
   * arithmetic: first the list's own oldest, one by one, then the range's first pages in ascending
   * order (freeAscending(): block by block, the same end state), and the list keeps the rest. False,
   * with nothing done, when the range spans lists (the page-by-page loop then does it).
   */
  #freeContigOneList(start: number, end: number): boolean {
    if (BuddyAllocator.oneByOne) return false;
    const zone = this.zoneOf(start);
    if (this.zoneOf(end - 1) !== zone) return false;
    const pbMt = this.pageblockMt;
    const mt0 = pbMt[start >> PAGEBLOCK_ORDER];
    if (mt0 === MIGRATE_ISOLATE) return false;
    const k = this.#pcpIndex(zone, mt0);
    for (let pb = (start >> PAGEBLOCK_ORDER) + 1; pb <= (end - 1) >> PAGEBLOCK_ORDER; pb++) {
      const mt = pbMt[pb];
      if (mt === MIGRATE_ISOLATE || this.#pcpIndex(zone, mt) !== k) return false;
    }
    const list = this.#pcp[k];
    const len0 = this.#pcpLen[k];
    const count = end - start;
    // Pushes until the first trim, then one trim every PCP_BATCH pushes.
    const first = PCP_HIGH + 1 - len0;
    const trims = count >= first ? 1 + Math.floor((count - first) / PCP_BATCH) : 0;
    const back = trims * PCP_BATCH;
    const oldBack = Math.min(len0, back);
    const freeOrder = this.freeOrder;
    for (let b = 0; b < oldBack; b++) {
      const j = list[b];
      freeOrder[j] = NOT_FREE;
      this.frames.dirty.touch(j);
      this.freeOne(j, 0);
    }
    // The range's pages are NOT_FREE (checked): those that reach the buddy go as they are.
    const reached = back - oldBack;
    this.freeAscending(start, start + reached);
    list.copyWithin(0, oldBack, len0);
    let len = len0 - oldBack;
    for (let i = start + reached; i < end; i++) {
      freeOrder[i] = ON_PCP;
      list[len++] = i;
    }
    this.#pcpLen[k] = len;
    return true;
  }

  /**
   * The zone an order-0 allocation of `gfp` would take its page from off the per-cpu list, if an
   * order-0 page of a MOVABLE or CMA pageblock, freed just before, would be handed straight back with
   * nothing else changed: the zone (the freed page is handed back if it is in that zone), or −1 (a
   * zone's movable list is at `high`, or no zone passes its watermark). A churning page cache relies
   * on it: evicting a page and faulting another in at once recycles the same page (free_unref_page()
   * then rmqueue_pcplist(), LIFO).
   */
  order0RecycleZone(gfp: Gfp): number {
    if (gfp.migratetype !== MIGRATE_MOVABLE) return -1;
    // The freed page goes on its own zone's list: none may be at `high` (the free would trim it).
    for (let zone = 0; zone < this.zones.length; zone++)
      if (this.#pcpLen[this.#pcpIndex(zone, MIGRATE_MOVABLE)] + 1 > PCP_HIGH) return -1;
    for (const mark of [0, 1]) {
      for (let zone = gfp.highestZone; zone >= 0; zone--) {
        const z = this.zones[zone];
        if (z.managed === 0) continue;
        if (this.watermarkOk(z, 0, mark === 0 ? z.wmarkLow : z.wmarkMin, true)) return zone;
      }
    }
    return -1;
  }

  /**
   * `n` free + alloc pairs that order0RecycleZone() says give back the page freed: only the counters
   * move (the pages, lists and zone counts end as they were).
   */
  countRecycles(n: number): void {
    this.stats.allocs += n;
    this.stats.frees += n;
  }

  /** Each per-cpu list's pages, oldest first (the order they go back to the buddy in). */
  pcpLists(): number[][] {
    return this.#pcp.map((list, k) => Array.from(list.subarray(0, this.#pcpLen[k])));
  }

  /** Pages on the per-cpu lists. */
  get pcpCount(): number {
    let n = 0;
    for (const len of this.#pcpLen) n += len;
    return n;
  }

  /**
   * drain_all_pages(): every per-cpu page back to the buddy, oldest first. A run of consecutive
   * frames on a list (a range freed by free_contig_range() lands so) goes back a block at a time
   * (freeAscending(): the same end state).
   */
  drainAllPages(): void {
    this.stats.pcpDrains++;
    const freeOrder = this.freeOrder;
    for (let k = 0; k < this.#pcp.length; k++) {
      const list = this.#pcp[k];
      const len = this.#pcpLen[k];
      for (let b = 0; b < len;) {
        const first = list[b];
        let e = b + 1;
        if (!BuddyAllocator.oneByOne) while (e < len && list[e] === list[e - 1] + 1) e++;
        for (let x = b; x < e; x++) freeOrder[list[x]] = NOT_FREE;
        if (e - b === 1) this.freeOne(first, 0);
        else this.freeAscending(first, first + (e - b));
        b = e;
      }
      this.#pcpLen[k] = 0;
    }
  }
}
