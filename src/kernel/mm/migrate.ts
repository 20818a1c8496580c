/**
 * Page migration — mm/migrate.c (migrate_pages() with alloc_migration_target()), as
 * __alloc_contig_migrate_range() uses it: a movable page gets a new page outside the range, its
 * content and taint are copied by the kernel through the linear map, and the old page is freed.
 * A page with an elevated reference (a pin) cannot be migrated: migrate_pages() gives up on it after
 * its retries.
 */
import { EBUSY, ENOMEM } from "../../abi/uapi/errno.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { GFP_HIGHUSER_MOVABLE, PS_MOVABLE, type Gfp } from "./gfp.ts";
import type { BuddyAllocator } from "./page_alloc.ts";

/** NR_MAX_MIGRATE_PAGES_RETRY — mm/migrate.c: passes over a page that keeps failing. */
export const NR_MAX_MIGRATE_PAGES_RETRY = 10;

export interface MigrateStats {
  migrated: number;
  failed: number;
}

/**
 * Migrates one movable page. Returns the new frame (≥ 0), −EBUSY (pinned) or −ENOMEM (no destination
 * page). The cost in ns is added to `cost.ns`.
 */
export function migratePage(
  machine: Machine,
  buddy: BuddyAllocator,
  i: number,
  cost: { ns: number },
  stats: MigrateStats,
  /** Where the new page may come from: movable (contiguous allocation) or not (a long-term pin). */
  gfp: Gfp = GFP_HIGHUSER_MOVABLE,
): number {
  const f = machine.frames;
  if (f.pins[i] > 0) {
    // Each retry pass unmaps, finds the extra reference, and restores the mapping.
    cost.ns += NR_MAX_MIGRATE_PAGES_RETRY * (machine.costs.migratePageNs / 2);
    stats.failed++;
    return -EBUSY;
  }
  const dest = buddy.allocPages(0, gfp);
  if (dest < 0) {
    stats.failed++;
    return -ENOMEM;
  }
  const cpu = machine.masterIndex("cpu-ns");
  const src = f.paOf(i);
  const dst = f.paOf(dest);
  // The kernel copies through its linear map: a read of the old page, a write of the new one.
  machine.access(cpu, src, PAGE_SIZE, "read", { kernel: true });
  machine.access(cpu, dst, PAGE_SIZE, "write", { kernel: true, taint: f.taint[i] });
  machine.bytes.copyPage(f.basePfn + i, f.basePfn + dest);
  f.state[dest] = PS_MOVABLE;
  f.dirty.touch(dest);
  buddy.epochs.migrations++;
  // The old page keeps its bytes until someone zeroes it: its taint stays.
  buddy.freePages(i, 0);
  cost.ns += machine.costs.migratePageNs;
  stats.migrated++;
  return dest;
}
