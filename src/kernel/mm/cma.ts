/**
 * CMA — mm/cma.c, include/trace/events/cma.h (linux-kernel.md §3).
 *
 * An area is a pageblock-aligned range whose pageblocks are MIGRATE_CMA: the buddy lends its free
 * pages to movable allocations, and cma_alloc() takes ranges back with alloc_contig_range(). The
 * bitmap has one bit per 2^order_per_bit pages. cma_alloc() searches the bitmap for an aligned free
 * window, marks it, and tries alloc_contig_range(); on −EBUSY it clears the window, emits
 * cma_alloc_busy_retry, and tries the next window, `bitmap_no + mask + 1` (the mainline loop).
 */
import { EBUSY, ENOMEM } from "../../abi/uapi/errno.ts";
import type { Mutex } from "../../sim/mutex.ts";
import { CMA_KEY } from "../../sim/faults.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { bitmapFindNextZeroAreaOff, writeRange } from "../lib/bitmap.ts";
import { allocContigRange, freeContigRange, type ContigStats } from "./alloc_contig.ts";
import { PS_CONTIG } from "./gfp.ts";
import type { Mm } from "./mm.ts";

export class Cma {
  readonly bitmap: Uint32Array;
  availableCount: number;
  /** cma_alloc()/cma_release() outcomes, as /sys/kernel/mm/cma/<name>/ reports them. */
  allocPagesSuccess = 0;
  allocPagesFail = 0;
  releasePages = 0;
  busyRetries = 0;
  /** Pages alloc_contig_range() migrated out of the area's allocations. */
  migrated = 0;

  constructor(
    readonly name: string,
    /** First frame index of the area. */
    readonly base: number,
    /** Pages in the area (cma->count). */
    readonly count: number,
    readonly orderPerBit: number,
    /** cma->alloc_mutex */
    readonly allocMutex: Mutex,
  ) {
    this.bitmap = new Uint32Array(Math.ceil(this.bitmapMaxno / 32));
    this.availableCount = count;
  }

  /** cma_bitmap_maxno() */
  get bitmapMaxno(): number {
    return this.count >> this.orderPerBit;
  }

  /** cma_bitmap_aligned_mask() */
  alignedMask(alignOrder: number): number {
    return alignOrder <= this.orderPerBit ? 0 : (1 << (alignOrder - this.orderPerBit)) - 1;
  }

  /** cma_bitmap_aligned_offset(): base_pfn's misalignment in bits. */
  alignedOffset(mm: Mm, alignOrder: number): number {
    const basePfn = mm.machine.frames.basePfn + this.base;
    return (basePfn & ((1 << alignOrder) - 1)) >> this.orderPerBit;
  }

  /** cma_bitmap_pages_to_bits() */
  pagesToBits(pages: number): number {
    const unit = 1 << this.orderPerBit;
    return Math.ceil(pages / unit);
  }

  contains(frame: number, count: number): boolean {
    return frame >= this.base && frame + count <= this.base + this.count;
  }
}

/** The vmemmap address of a frame's struct page, printed where the tracepoints print `page=%p` (64-byte struct page). */
export function pageAddress(pfn: number): string {
  const vmemmap = 0xfffffdffc0000000n;
  return (vmemmap + BigInt(pfn) * 64n).toString(16).padStart(16, "0");
}

/** Emits a tracepoint; its args are built only when someone listens. */
function trace(mm: Mm, name: string, args: () => Record<string, unknown>): void {
  if (mm.sim.trace.listening) mm.sim.trace.emit("kernel", name, args());
}

/**
 * cma_alloc(cma, count, align, no_warn): the first frame of `count` contiguous pages, or −1.
 * `align` is an order (the window is 2^align pages aligned). Sleeps: it migrates.
 */
export function* cmaAlloc(mm: Mm, cma: Cma, count: number, align: number, noWarn = false): Sleeps<number> {
  trace(mm, "cma_alloc_start", () => ({
    name: cma.name,
    request_count: count,
    available_count: cma.availableCount,
    total_count: cma.count,
    align,
  }));
  let ret = -ENOMEM;
  let frame = -1;
  if (count > 0 && count <= cma.count) {
    const mask = cma.alignedMask(align);
    const offset = cma.alignedOffset(mm, align);
    const maxno = cma.bitmapMaxno;
    const bits = cma.pagesToBits(count);
    // Fault `cma` (sim/faults.ts): this cma_alloc() meets a page pinned by someone else (a GUP pin,
    // a page under I/O) in its first N windows, or in every window ("all"): alloc_contig_range() fails
    // there with −EBUSY, as when migrate_pages() cannot move a pinned page, and cma_alloc() goes on to
    // the next window as mm/cma.c does.
    const pinned = mm.sim.faults.at("cma", CMA_KEY, ["1", "all"]);
    let windows = 0;
    for (let start = 0; ;) {
      if (count > cma.availableCount) break;
      const bitmapNo = bitmapFindNextZeroAreaOff(cma.bitmap, maxno, start, bits, mask, offset);
      if (bitmapNo >= maxno || bitmapNo + bits > maxno) break;
      writeRange(cma.bitmap, bitmapNo, bits, true);
      cma.availableCount -= count;
      const f = cma.base + (bitmapNo << cma.orderPerBit);
      yield* cma.allocMutex.lock();
      const stats: ContigStats = { migrated: 0, failed: 0, busyFrame: -1 };
      const hitsPin = pinned !== null && (pinned === "all" || windows++ < Number(pinned));
      ret = hitsPin ? yield* pinnedWindow(mm, f) : yield* allocContigRange(mm, f, f + count, stats);
      cma.migrated += stats.migrated;
      yield* cma.allocMutex.unlockPreempt();
      if (ret === 0) {
        frame = f;
        break;
      }
      writeRange(cma.bitmap, bitmapNo, bits, false);
      cma.availableCount += count;
      if (ret !== -EBUSY) break;
      cma.busyRetries++;
      const pfn = mm.machine.frames.basePfn + f;
      trace(mm, "cma_alloc_busy_retry", () => ({
        name: cma.name,
        pfn,
        page: pageAddress(pfn),
        count,
        align,
      }));
      start = bitmapNo + mask + 1;
    }
  }
  if (frame >= 0) cma.allocPagesSuccess += count;
  else cma.allocPagesFail += count;
  const pfn = frame >= 0 ? mm.machine.frames.basePfn + frame : 0;
  trace(mm, "cma_alloc_finish", () => ({
    name: cma.name,
    pfn,
    page: frame >= 0 ? pageAddress(pfn) : "0000000000000000",
    count,
    align,
    errorno: frame >= 0 ? 0 : ret,
  }));
  if (frame < 0 && !noWarn) {
    trace(mm, "printk", () => ({
      text: `cma_alloc: ${cma.name}: alloc failed, req-size: ${count} pages, ret: ${ret}`,
    }));
  }
  return frame;
}

/**
 * alloc_contig_range() over a window whose first page someone holds pinned (fault `cma`): isolation and
 * the migration attempt take their time, then −EBUSY ("has_unmovable_pages" / a failed migrate_pages()).
 */
function* pinnedWindow(mm: Mm, frame: number): Sleeps<number> {
  trace(mm, "alloc_contig_pinned", () => ({ pfn: mm.machine.frames.basePfn + frame }));
  if (!elapse(PINNED_WINDOW_NS)) yield sleep(PINNED_WINDOW_NS);
  return -EBUSY;
}

/** Time alloc_contig_range() spends on a window before a pinned page fails it (an assumption: isolate + one migrate attempt). */
const PINNED_WINDOW_NS = 20_000;

/**
 * cma_release(cma, pages, count): false when the range is not this area's (as the kernel returns),
 * else frees the pages, clears the bitmap and emits cma_release.
 */
export function cmaRelease(mm: Mm, cma: Cma, frame: number, count: number): boolean {
  if (!cma.contains(frame, count)) return false;
  const state = mm.machine.frames.state;
  for (let i = frame; i < frame + count; i++) {
    if (state[i] !== PS_CONTIG) {
      mm.sim.kernelWarn(
        "WARN",
        `cma_release: ${cma.name}: page at pfn 0x${(mm.machine.frames.basePfn + i).toString(16)} is not allocated`,
      );
      return false;
    }
  }
  freeContigRange(mm, frame, count);
  const bitNo = (frame - cma.base) >> cma.orderPerBit;
  writeRange(cma.bitmap, bitNo, cma.pagesToBits(count), false);
  cma.availableCount += count;
  cma.releasePages += count;
  const pfn = mm.machine.frames.basePfn + frame;
  trace(mm, "cma_release", () => ({ name: cma.name, pfn, page: pageAddress(pfn), count }));
  return true;
}
