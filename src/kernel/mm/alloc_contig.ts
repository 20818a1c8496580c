/**
 * alloc_contig_range() and free_contig_range() — mm/page_alloc.c (with page_isolation.c, migrate.c).
 *
 * Isolate the pageblocks, drain the per-cpu lists, migrate every movable page out of the range, check
 * that the whole range is free, take it off the buddy, and undo the isolation. A pinned or unmovable
 * page makes it fail with −EBUSY (the caller, cma_alloc(), then tries elsewhere). Work is on ranges:
 * its cost grows with the range, never with DRAM. Migration yields every COMPACT_CLUSTER_MAX pages so
 * other tasks can interleave, as the real loop can be preempted there.
 */
import { EBUSY, EINTR, ENOMEM } from "../../abi/uapi/errno.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { PS_CONTIG, PS_FREE, PS_MOVABLE } from "./gfp.ts";
import { migratePage, type MigrateStats } from "./migrate.ts";
import type { Mm } from "./mm.ts";
import { startIsolatePageRange, testPagesIsolated, undoIsolatePageRange } from "./page_isolation.ts";

/** COMPACT_CLUSTER_MAX — pages isolated for migration per pass. */
export const COMPACT_CLUSTER_MAX = 32;

/** Costs of the fixed parts (assumptions: no public per-step numbers, hardware.md §5.4). */
const ISOLATE_PAGEBLOCK_NS = 500;
const DRAIN_ALL_PAGES_NS = 5_000;
const SCAN_PAGE_NS = 2;

export interface ContigStats extends MigrateStats {
  /** The first frame that made the attempt fail, or −1. */
  busyFrame: number;
}

/**
 * alloc_contig_range(start, end): 0 with [start, end) taken (state PS_CONTIG), or −EBUSY / −ENOMEM /
 * −EINTR with nothing taken (pages already migrated stay where they went, as in Linux).
 */
export function* allocContigRange(mm: Mm, start: number, end: number, stats?: ContigStats): Sleeps<number> {
  const buddy = mm.buddy;
  const machine = mm.machine;
  const st: ContigStats = stats ?? { migrated: 0, failed: 0, busyFrame: -1 };
  const iso = startIsolatePageRange(buddy, start, end);
  if (!iso.isolation) {
    st.busyFrame = start;
    return iso.rc;
  }
  const costNs = iso.isolation.savedMt.length * ISOLATE_PAGEBLOCK_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  buddy.drainAllPages();
  if (!elapse(DRAIN_ALL_PAGES_NS)) yield sleep(DRAIN_ALL_PAGES_NS);

  // __alloc_contig_migrate_range()
  let rc = 0;
  const state = machine.frames.state;
  const cost = { ns: 0 };
  let batch = 0;
  for (let i = start; i < end && rc === 0;) {
    const s = state[i];
    if (s === PS_FREE) {
      const h = buddy.freeBlockOf(i);
      i = h >= 0 ? h + (1 << (buddy.freeOrder[h] - 1)) : i + 1;
      cost.ns += SCAN_PAGE_NS;
      continue;
    }
    if (s === PS_MOVABLE) {
      const r = migratePage(machine, buddy, i, cost, st);
      if (r < 0) {
        st.busyFrame = i;
        rc = r === -ENOMEM ? -ENOMEM : -EBUSY;
      }
      if (++batch === COMPACT_CLUSTER_MAX) {
        batch = 0;
        if (!elapse(cost.ns)) yield sleep(cost.ns);
        cost.ns = 0;
        // __alloc_contig_migrate_range(): `if (fatal_signal_pending(current)) { ret = -EINTR; break; }`
        if (machine.hung !== null || mm.sim.sched.current?.fatalSignal) rc = -EINTR;
      }
    }
    i++;
  }
  if (cost.ns > 0 && !elapse(cost.ns)) yield sleep(cost.ns);

  if (rc === 0) {
    const t = testPagesIsolated(buddy, start, end);
    if (t.rc !== 0) {
      st.busyFrame = t.busy;
      rc = t.rc;
    }
  }
  if (rc === 0) {
    // test_pages_isolated() just found every page free, with no yield since: this cannot fail.
    const taken = buddy.takeOffBuddy(start, end);
    if (!taken) throw new Error(`alloc_contig_range: [${start}, ${end}) changed after test_pages_isolated`);
    state.fill(PS_CONTIG, start, end);
    machine.frames.dirty.touch(start, end - start);
  }
  undoIsolatePageRange(buddy, iso.isolation);
  return rc;
}

/** free_contig_range(): gives the pages back to the buddy as __free_page() of each (BuddyAllocator.freeContigPages()). */
export function freeContigRange(mm: Mm, start: number, count: number): void {
  mm.buddy.freeContigPages(start, count);
}
