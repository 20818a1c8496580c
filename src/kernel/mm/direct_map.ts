/**
 * The kernel's operations on its linear map — arch/arm64/mm/pageattr.c (set_direct_map_*),
 * arch/arm64/include/asm/tlbflush.h (flush_tlb_kernel_range), arch/arm64/mm/mmu.c
 * (arch_remove_linear_mapping / arch_create_linear_mapping, as powerpc's memtrace uses them);
 * linux-kernel.md §4, hardware.md §3.
 *
 * can_set_direct_map() is rodata_full (debug_pagealloc, late KFENCE and realms are not modelled): when
 * it is false the set_direct_map_* calls are silent no-ops that return 0, as on arm64 with rodata=on.
 * With BBML2_NOABORT (or BBML3) the linear map keeps its blocks and the first change inside one splits
 * it under pgtable_split_lock (split_kernel_leaf_mapping()), which sleeps and allocates table pages.
 */
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { Mutex } from "../../sim/mutex.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { SideTable } from "../../sim/side_table.ts";

/** SECTION_SIZE_BITS on arm64 with 4 KiB pages: memory is added and removed by 128 MiB section. */
export const SECTION_SIZE = 128 * 1024 * 1024;
/** Writing one leaf entry (assumption: a store and its share of the walk). */
export const PTE_UPDATE_NS = 5;

const splitLocks = new SideTable<Machine, Mutex>();

/** pgtable_split_lock — arch/arm64/mm/mmu.c `static DEFINE_MUTEX(pgtable_split_lock)`: one per machine. */
export function pgtableSplitLock(machine: Machine): Mutex {
  let m = splitLocks.get(machine);
  if (m === undefined) {
    m = new Mutex(machine.sim, "pgtable_split_lock");
    splitLocks.set(machine, m);
  }
  return m;
}

/** can_set_direct_map() */
export function canSetDirectMap(machine: Machine): boolean {
  return machine.platform.mmu.rodataFull;
}

/** Whether live blocks split on demand: BBML2_NOABORT (system_supports_bbml2_noabort()) or BBML3. */
export function splitsLiveBlocks(machine: Machine): boolean {
  return machine.platform.mmu.bbml2 || machine.platform.mmu.bbml3 === true;
}

export function splitsOf(machine: Machine): number {
  const c = machine.directMap.counters;
  return c.splits1G + c.splits2M + c.contBreaks;
}

/**
 * set_direct_map_valid_noflush(page, nr, valid) over [pa, pa + length): invalidates (valid = false, what
 * set_direct_map_invalid_noflush() does per page) or restores the linear-map entries. No TLB flush.
 * Returns 0; a no-op when can_set_direct_map() is false.
 */
export function* setDirectMapValidNoflush(
  machine: Machine,
  splitLock: Mutex,
  pa: number,
  length: number,
  valid: boolean,
): Sleeps<number> {
  if (!canSetDirectMap(machine)) return 0;
  const dm = machine.directMap;
  const before = splitsOf(machine);
  const bbml2 = splitsLiveBlocks(machine);
  if (bbml2) yield* splitLock.lock();
  if (valid) dm.restore(pa, pa + length);
  else dm.invalidate(pa, pa + length);
  const splits = splitsOf(machine) - before;
  if (bbml2) yield* splitLock.unlockPreempt();
  const costNs = splits * machine.costs.blockSplitNs + (length / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  if (machine.sim.trace.listening) {
    machine.sim.trace.emit("kernel", valid ? "set_direct_map_default" : "set_direct_map_invalid", {
      pa: `0x${pa.toString(16)}`,
      pages: length / PAGE_SIZE,
      splits,
    });
  }
  return 0;
}

/** flush_tlb_kernel_range(): per-page TLBIs below MAX_DVM_OPS pages, else flush_tlb_all(). */
export function* flushTlbKernelRange(machine: Machine, start: number, end: number): Sleeps {
  const tlbis = machine.directMap.flushTlbKernelRange(start, end);
  const costNs = tlbis > 0 ? tlbis * machine.costs.tlbiPageNs : machine.costs.tlbFlushAllNs;
  if (!elapse(costNs)) yield sleep(costNs);
}

/**
 * arch_remove_linear_mapping(start, size): removes whole sections from the linear map and frees the
 * emptied tables, then flushes the TLB for them. −EINVAL (−22) unless section aligned.
 */
export function* archRemoveLinearMapping(machine: Machine, start: number, size: number): Sleeps<number> {
  if (start % SECTION_SIZE !== 0 || size % SECTION_SIZE !== 0 || size === 0) return -22;
  const c = machine.directMap.counters;
  const tables = c.pmdTables + c.pteTables;
  machine.directMap.remove(start, start + size);
  const freed = tables - (c.pmdTables + c.pteTables);
  const costNs = Math.max(0, freed) * machine.costs.pageTablePageNs + (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  yield* flushTlbKernelRange(machine, start, start + size);
  return 0;
}

/** arch_create_linear_mapping(nid, start, size, params): maps whole sections back, blocks where allowed. */
export function* archCreateLinearMapping(machine: Machine, start: number, size: number): Sleeps<number> {
  if (start % SECTION_SIZE !== 0 || size % SECTION_SIZE !== 0 || size === 0) return -22;
  const c = machine.directMap.counters;
  const tables = c.pmdTables + c.pteTables;
  machine.directMap.create(start, start + size);
  const made = c.pmdTables + c.pteTables - tables;
  const leaves = machine.directMap.options.blocks ? size / (2 * 1024 * 1024) : size / PAGE_SIZE;
  const costNs = Math.max(0, made) * machine.costs.pageTablePageNs + leaves * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}

/** set_direct_map_invalid_noflush(page): one page out of the linear map (no flush). */
export function* setDirectMapInvalidNoflush(machine: Machine, splitLock: Mutex, pa: number): Sleeps<number> {
  return yield* setDirectMapValidNoflush(machine, splitLock, pa, PAGE_SIZE, false);
}

/** set_direct_map_default_noflush(page): one page back in the linear map. */
export function* setDirectMapDefaultNoflush(machine: Machine, splitLock: Mutex, pa: number): Sleeps<number> {
  return yield* setDirectMapValidNoflush(machine, splitLock, pa, PAGE_SIZE, true);
}
