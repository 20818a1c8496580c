/**
 * Page isolation — mm/page_isolation.c: start_isolate_page_range(), undo_isolate_page_range(),
 * test_pages_isolated(). Isolation works on whole pageblocks: their free pages move to the ISOLATE
 * lists, where no allocation can take them, and pages freed into them stay there.
 */
import { EBUSY } from "../../abi/uapi/errno.ts";
import { MIGRATE_CMA, MIGRATE_ISOLATE, PS_FREE, PS_MOVABLE } from "./gfp.ts";
import { PAGEBLOCK_ORDER, type BuddyAllocator } from "./page_alloc.ts";

/** What undo_isolate_page_range() restores: each pageblock's type before isolation. */
export interface Isolation {
  readonly firstPageblock: number;
  readonly savedMt: Uint8Array;
}

/**
 * has_unmovable_pages(): a pageblock holding pages that can be neither migrated nor freed. CMA
 * pageblocks are never refused here ("CMA allocations (alloc_contig_range) really need to mark isolate
 * CMA pageblocks even when they are not movable in fact"): their busy pages fail later.
 */
function hasUnmovablePages(buddy: BuddyAllocator, pb: number): boolean {
  if (buddy.pageblockMt[pb] === MIGRATE_CMA) return false;
  const state = buddy.frames.state;
  const start = pb << PAGEBLOCK_ORDER;
  const end = Math.min(buddy.count, start + (1 << PAGEBLOCK_ORDER));
  for (let i = start; i < end; i++) if (state[i] !== PS_FREE && state[i] !== PS_MOVABLE) return true;
  return false;
}

/** start_isolate_page_range(): 0 and the isolation, or −EBUSY with nothing changed. */
export function startIsolatePageRange(
  buddy: BuddyAllocator,
  start: number,
  end: number,
): { rc: 0; isolation: Isolation } | { rc: number; isolation: null } {
  const pb0 = start >> PAGEBLOCK_ORDER;
  const pb1 = (end - 1) >> PAGEBLOCK_ORDER;
  for (let pb = pb0; pb <= pb1; pb++) {
    if (buddy.pageblockMt[pb] === MIGRATE_ISOLATE || hasUnmovablePages(buddy, pb))
      return { rc: -EBUSY, isolation: null };
  }
  const savedMt = buddy.pageblockMt.slice(pb0, pb1 + 1);
  for (let pb = pb0; pb <= pb1; pb++) {
    buddy.moveFreePagesBlock(pb, MIGRATE_ISOLATE);
    buddy.setPageblockMt(pb, pb + 1, MIGRATE_ISOLATE);
    buddy.epochs.pageblocks++;
  }
  return { rc: 0, isolation: { firstPageblock: pb0, savedMt } };
}

/** undo_isolate_page_range(): back to the saved types, free pages back on their lists. */
export function undoIsolatePageRange(buddy: BuddyAllocator, iso: Isolation): void {
  for (let k = 0; k < iso.savedMt.length; k++) {
    const pb = iso.firstPageblock + k;
    buddy.setPageblockMt(pb, pb + 1, iso.savedMt[k]);
    buddy.epochs.pageblocks++;
    buddy.moveFreePagesBlock(pb, iso.savedMt[k]);
  }
}

/** test_pages_isolated(): 0 when every page of [start, end) is free in the buddy, else −EBUSY and the first busy frame. */
export function testPagesIsolated(
  buddy: BuddyAllocator,
  start: number,
  end: number,
): { rc: number; busy: number } {
  for (let i = start; i < end;) {
    const h = buddy.freeBlockOf(i);
    if (h < 0) return { rc: -EBUSY, busy: i };
    i = h + (1 << (buddy.freeOrder[h] - 1));
  }
  return { rc: 0, busy: -1 };
}
