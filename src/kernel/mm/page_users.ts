/**
 * Who uses pages besides the drivers under study: user processes (movable page cache and anonymous
 * pages, which CMA can migrate away), kernel allocations (unmovable), and pins — a short-term GUP pin
 * (FOLL_PIN, e.g. O_DIRECT I/O in flight) holds a page where it is and blocks its migration; a
 * long-term pin (FOLL_LONGTERM) first migrates the page out of CMA (check_and_migrate_movable_pages(),
 * mm/gup.c). Background workloads drive these through this file.
 */
import { EBUSY, ENOMEM } from "../../abi/uapi/errno.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { TAINT_NS_DATA } from "../../hw/frames.ts";
import { GFP_HIGHUSER_MOVABLE, GFP_KERNEL, MIGRATE_CMA, PS_MOVABLE, type Gfp } from "./gfp.ts";
import { migratePage } from "./migrate.ts";
import type { Mm } from "./mm.ts";
import { PAGEBLOCK_ORDER } from "./page_alloc.ts";

/** A user page fault: a movable page, written by the process (its data, through a cacheable mapping). */
export function allocUserPage(mm: Mm): number {
  const i = mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
  if (i < 0) return -1;
  const m = mm.machine;
  m.access(m.masterIndex("cpu-ns"), m.frames.paOf(i), PAGE_SIZE, "write", { taint: TAINT_NS_DATA });
  return i;
}

/** munmap / page-cache eviction of an unpinned user page. −EBUSY while pinned. */
export function freeUserPage(mm: Mm, i: number): number {
  if (mm.machine.frames.pins[i] > 0) return -EBUSY;
  mm.buddy.freePages(i, 0);
  return 0;
}

/** A kernel allocation of 2^order unmovable pages (slab, page tables, …), or −1. */
export function allocKernelPages(mm: Mm, order: number, gfp: Gfp = GFP_KERNEL): number {
  return mm.buddy.allocPages(order, gfp);
}

export function freeKernelPages(mm: Mm, i: number, order: number): void {
  mm.buddy.freePages(i, order);
}

/** pin_user_pages() without FOLL_LONGTERM: the page stays where it is, and cannot migrate while pinned. */
export function pinPage(mm: Mm, i: number): void {
  mm.machine.frames.pins[i]++;
  mm.machine.frames.dirty.touch(i);
  mm.buddy.epochs.pins++;
}

/** unpin_user_page() */
export function unpinPage(mm: Mm, i: number): void {
  const pins = mm.machine.frames.pins;
  if (pins[i] === 0) {
    mm.sim.kernelWarn(
      "WARN",
      `unpin_user_page of an unpinned page (pfn 0x${(mm.machine.frames.basePfn + i).toString(16)})`,
    );
    return;
  }
  pins[i]--;
  mm.machine.frames.dirty.touch(i);
  mm.buddy.epochs.pins++;
}

/**
 * pin_user_pages(FOLL_LONGTERM): a movable page in a CMA pageblock is migrated out first (to memory
 * that is not CMA), then pinned. Returns the frame now pinned, or −ENOMEM / −EBUSY.
 */
export function pinLongterm(mm: Mm, i: number): number {
  const f = mm.machine.frames;
  let frame = i;
  if (f.state[i] === PS_MOVABLE && mm.buddy.pageblockMt[i >> PAGEBLOCK_ORDER] === MIGRATE_CMA) {
    const cost = { ns: 0 };
    const r = migratePage(mm.machine, mm.buddy, i, cost, { migrated: 0, failed: 0 }, GFP_KERNEL);
    if (r < 0) return r === -ENOMEM ? -ENOMEM : -EBUSY;
    f.state[r] = PS_MOVABLE;
    f.dirty.touch(r);
    frame = r;
  }
  f.pins[frame]++;
  f.dirty.touch(frame);
  mm.buddy.epochs.pins++;
  return frame;
}
