/**
 * How the kernel keeps itself — and its CPU's speculation — away from memory it lends to the secure
 * world: the `unmap` policies (ARCHITECTURE.md §5), each as the real design does it, TLB maintenance
 * included (linux-kernel.md §4.1–4.8, hardware.md §3–4, optee.md §5). The lead's pools call
 * unmapForLend() before FFA_MEM_LEND and remapAfterReclaim() after a successful FFA_MEM_RECLAIM.
 *
 * - `none`: upstream protmem.c (its TODO): the linear map stays, cacheable.
 * - `pte`: secretmem's order (mm/secretmem.c): set_direct_map_invalid_noflush() over the range, then
 *   flush_tlb_kernel_range(); back with set_direct_map_default_noflush() and no flush (invalid → valid
 *   needs none: pageattr.c's own comment; secretmem_free_folio() does the same). Needs can_set_direct_map()
 *   (rodata_full); with BBML2/BBML3 the first change inside a block splits it.
 * - `lend-pool`: Google's FF-A lend pool (linux-mm mirror, drivers/firmware/arm_ffa/lend_pool.c, 2026):
 *   ffa_prepare_lend() clears the valid bit page by page with __set_direct_map_invalid_noflush() and
 *   flushes nothing; its caller tee_shm_alloc_dma_mem() (drivers/tee/tee_shm.c, same tree) calls it right
 *   after dma_alloc_pages() and flushes nothing either; ffa_lend_reclaimed() restores page by page, no
 *   flush. The TLB may therefore still translate lent pages when the firewall closes (no-stale-tlb).
 * - `device-remap`: NVIDIA Tegra VPR v3 (lore 20260701-tegra-vpr-v3, patches 04/11 and 08/11):
 *   tegra_vpr_chunk_activate() = cma_alloc() → set_memory_device() → (the SMC programs the VPR);
 *   deactivate = set_memory_normal() → cma_release(). set_memory_*() rewrite the linear alias's memory
 *   type in place (update_range_prot(): split, then read-modify-write each entry, no break-before-make),
 *   then flush_tlb_kernel_range(). Device-nGnRnE is never speculatively read or cached.
 * - `linear-remove`: powerpc memtrace's arch_remove_linear_mapping() / arch_create_linear_mapping() of
 *   whole 128 MiB sections (direct_map.ts): −EINVAL for a chunk that is not section aligned.
 * - `boot-pte-region`: the CMA area mapped with 4 KiB pages from boot (bootPteRegion(), as map_mem()
 *   maps the KFENCE pool; `ll-map`); at lend a per-page invalidate and flush_tlb_kernel_range(), never a
 *   split.
 * - `hypervisor`: an EL2 hypervisor takes the range from the host's stage 2 (one hypercall per range,
 *   its own stage-2 TLBI) and gives it back at reclaim; the kernel's linear-map entry stays valid but
 *   nothing translates through it (src/hw/stage2.ts; upstream pKVM does not do this for LEND, see there).
 *
 * Each returns 0 or −errno and charges virtual time from the cost model. A strategy the platform does not
 * support (unmapSupport() says why) returns −EOPNOTSUPP: the policy layer refuses it, the model does not
 * play a silent no-op.
 */
import { ERRNO } from "../../abi/uapi/errno.ts";
import type { Machine } from "../../hw/machine.ts";
import { MT_DEVICE_nGnRnE, MT_NORMAL } from "../../hw/mmu.ts";
import { hex, PAGE_SIZE, type PlatformDesc } from "../../hw/platform.ts";
import { assert } from "../../sim/assert.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import {
  archCreateLinearMapping,
  archRemoveLinearMapping,
  flushTlbKernelRange,
  pgtableSplitLock,
  PTE_UPDATE_NS,
  SECTION_SIZE,
  setDirectMapValidNoflush,
  splitsLiveBlocks,
  splitsOf,
} from "./direct_map.ts";
import { PAGEBLOCK_NR_PAGES } from "./free_area.ts";
import type { Mm } from "./mm.ts";

export { cleanInvalidateToPoc } from "./cacheflush.ts";

export const UNMAP_KINDS = [
  "none",
  "pte",
  "lend-pool",
  "device-remap",
  "linear-remove",
  "boot-pte-region",
  "hypervisor",
] as const;

export type UnmapKind = (typeof UNMAP_KINDS)[number];

/** CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE * pageblock_nr_pages: what ffa_lend_pool_setup() checks. */
const CMA_MIN_ALIGNMENT_BYTES = PAGE_SIZE * PAGEBLOCK_NR_PAGES;

/** Whether a CMA area is mapped with 4 KiB pages from boot: force_pte_mapping() (rodata=full, no BBML2/3) or `ll-map`. */
function areaPageMapped(platform: PlatformDesc, area: PlatformDesc["cma"][number]): boolean {
  const mmu = platform.mmu;
  return (mmu.rodataFull && !mmu.bbml2 && mmu.bbml3 !== true) || area.llMap === true;
}

/**
 * null when `platform` can run the strategy, else one sentence naming what it lacks. The region lent
 * from is the default CMA area (the first), where dma_alloc_pages() takes the chunks.
 */
export function unmapSupport(platform: PlatformDesc, kind: UnmapKind): string | null {
  const mmu = platform.mmu;
  const on = platform.name;
  const area = platform.cma[0];
  switch (kind) {
    case "none":
    case "boot-pte-region":
      return null;
    case "pte":
      return mmu.rodataFull
        ? null
        : `\`pte\` needs rodata_full on ${on}: without it can_set_direct_map() is false and set_direct_map_invalid_noflush() is a silent no-op, BBML2 or not`;
    case "lend-pool":
      if (!area) return `\`lend-pool\` needs a CMA area for its arm,ffa-lend-pool region on ${on}`;
      if ((area.base | area.size) % CMA_MIN_ALIGNMENT_BYTES !== 0)
        return `\`lend-pool\` needs its region aligned to CMA_MIN_ALIGNMENT_BYTES (${CMA_MIN_ALIGNMENT_BYTES} bytes) on ${on}: ffa_lend_pool_setup() refuses ${area.name}`;
      if (!areaPageMapped(platform, area) && mmu.bbml3 !== true)
        return `\`lend-pool\` needs its region last-level mapped (rodata_full without BBML2, or ll-map) or BBML3 on ${on}: can_set_direct_map_range() refuses a block-mapped region`;
      return null;
    case "device-remap":
      if (!area) return `\`device-remap\` needs a CMA area for the VPR chunks on ${on}`;
      if (!areaPageMapped(platform, area) && !mmu.bbml2 && mmu.bbml3 !== true)
        return `\`device-remap\` needs the CMA area page-mapped (rodata_full or ll-map) or BBML2/BBML3 splitting on ${on}: set_memory_device() on a block entry WARNs with -EINVAL, or turns a whole block into a table descriptor`;
      return null;
    case "linear-remove":
      if (!area || area.base % SECTION_SIZE !== 0 || area.size < SECTION_SIZE)
        return `\`linear-remove\` needs a CMA area aligned to 128 MiB memory sections on ${on}: arch_remove_linear_mapping() removes whole sections`;
      return null;
    case "hypervisor":
      return platform.hypervisor === "pkvm"
        ? null
        : `\`hypervisor\` needs an EL2 hypervisor owning the host's stage 2 (platform hypervisor: pkvm) on ${on}`;
  }
}

/**
 * At boot, maps [start, start + size) of the linear map with 4 KiB pages and no contiguous hint, the rest
 * keeping its blocks (the `boot-pte-region` strategy's set-up, called for the CMA area; what `ll-map`
 * does). Nothing to do where the map is page-granular already (rodata=full without BBML2).
 */
export function bootPteRegion(machine: Machine, start: number, size: number): void {
  assert(
    start % PAGE_SIZE === 0 && size % PAGE_SIZE === 0 && size > 0,
    `boot PTE region ${hex(start)}+${hex(size)}`,
  );
  const dm = machine.directMap;
  if (dm.isPageMapped(start, start + size)) return;
  dm.bootPageGranular(start, start + size);
}

/** The default CMA area's byte range: the lend pool's region (ffa_lend_pool_contains()). */
function lendPoolRegion(mm: Mm): { base: number; end: number } | null {
  const c = mm.defaultCma;
  if (!c) return null;
  const base = mm.machine.frames.paOf(c.base);
  return { base, end: base + c.count * PAGE_SIZE };
}

function trace(
  mm: Mm,
  what: string,
  kind: UnmapKind,
  pa: number,
  size: number,
  rc: number,
  extra = {},
): void {
  if (!mm.sim.trace.listening) return;
  mm.sim.trace.emit("kernel", what, { kind, pa: hex(pa), pages: size / PAGE_SIZE, rc, ...extra });
}

/**
 * What both directions refuse before touching anything: −EINVAL for a range that is not whole pages,
 * −EOPNOTSUPP (traced with the reason) for a strategy the platform cannot run; else 0.
 */
function refusal(mm: Mm, what: string, kind: UnmapKind, pa: number, size: number): number {
  if (size <= 0 || pa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return -ERRNO.EINVAL;
  const why = unmapSupport(mm.machine.platform, kind);
  if (why === null) return 0;
  trace(mm, what, kind, pa, size, -ERRNO.EOPNOTSUPP, { why });
  return -ERRNO.EOPNOTSUPP;
}

/**
 * Makes [pa, pa + size) unreachable for the kernel's CPU (or its speculation) before it is lent, as
 * strategy `kind` does it. 0 or −errno.
 */
export function* unmapForLend(mm: Mm, kind: UnmapKind, pa: number, size: number): Sleeps<number> {
  const refused = refusal(mm, "unmap_for_lend", kind, pa, size);
  if (refused) return refused;
  const splits = splitsOf(mm.machine);
  let rc: number;
  switch (kind) {
    case "none":
      rc = 0;
      break;
    case "pte":
      rc = yield* ptesInvalid(mm, pa, size);
      break;
    case "lend-pool":
      rc = yield* ffaPrepareLend(mm, pa, size);
      break;
    case "device-remap":
      rc = yield* setMemoryType(mm, pa, size, MT_DEVICE_nGnRnE);
      break;
    case "linear-remove":
      rc = yield* archRemoveLinearMapping(mm.machine, pa, size);
      break;
    case "boot-pte-region":
      rc = yield* bootRegionInvalid(mm, pa, size);
      break;
    case "hypervisor":
      rc = yield* hostStage2(mm, pa, size, false);
      break;
  }
  trace(mm, "unmap_for_lend", kind, pa, size, rc, { splits: splitsOf(mm.machine) - splits });
  return rc;
}

/**
 * Gives [pa, pa + size) back to the kernel's linear map after a successful reclaim, as strategy `kind`
 * does it. 0 or −errno.
 */
export function* remapAfterReclaim(mm: Mm, kind: UnmapKind, pa: number, size: number): Sleeps<number> {
  const refused = refusal(mm, "remap_after_reclaim", kind, pa, size);
  if (refused) return refused;
  let rc: number;
  switch (kind) {
    case "none":
      rc = 0;
      break;
    case "pte":
      // secretmem_free_folio(): set_direct_map_default_noflush(), no flush (an invalid entry is not cached).
      rc = yield* setDirectMapValidNoflush(mm.machine, pgtableSplitLock(mm.machine), pa, size, true);
      break;
    case "lend-pool":
      rc = yield* ffaLendReclaimed(mm, pa, size);
      break;
    case "device-remap":
      rc = yield* setMemoryType(mm, pa, size, MT_NORMAL);
      break;
    case "linear-remove":
      rc = yield* archCreateLinearMapping(mm.machine, pa, size);
      break;
    case "boot-pte-region":
      rc = yield* bootRegionRestore(mm, pa, size);
      break;
    case "hypervisor":
      rc = yield* hostStage2(mm, pa, size, true);
      break;
  }
  trace(mm, "remap_after_reclaim", kind, pa, size, rc);
  return rc;
}

/** `pte`: set_direct_map_invalid_noflush() over the range, then flush_tlb_kernel_range() (secretmem's order). */
function* ptesInvalid(mm: Mm, pa: number, size: number): Sleeps<number> {
  const machine = mm.machine;
  const rc = yield* setDirectMapValidNoflush(machine, pgtableSplitLock(machine), pa, size, false);
  if (rc !== 0) return rc;
  // Planted bug `no-tlb-flush` (sim/mutations.ts); correct, as secretmem: flush after invalidating.
  if (!mm.sim.mutations["no-tlb-flush"]) yield* flushTlbKernelRange(machine, pa, pa + size);
  return 0;
}

/**
 * ffa_prepare_lend(): −ENODEV outside the lend pool's region (tee_shm_alloc_dma_mem() then goes on
 * without unmapping); __set_direct_map_invalid_noflush() on each page — a range operation here, with
 * the per-page cost; split on demand only with BBML3, else a block in the range is update_range_prot()'s
 * WARN and −EINVAL. No TLB flush, here or in the caller.
 */
function* ffaPrepareLend(mm: Mm, pa: number, size: number): Sleeps<number> {
  const region = lendPoolRegion(mm);
  if (!region || pa < region.base || pa + size > region.end) return -ERRNO.ENODEV;
  const machine = mm.machine;
  const dm = machine.directMap;
  const split = !dm.isPageMapped(pa, pa + size);
  if (split && machine.platform.mmu.bbml3 !== true) return -ERRNO.EINVAL;
  const lock = pgtableSplitLock(machine);
  if (split) yield* lock.lock();
  const before = splitsOf(machine);
  dm.invalidate(pa, pa + size);
  const splits = splitsOf(machine) - before;
  if (split) yield* lock.unlockPreempt();
  const costNs = splits * machine.costs.blockSplitNs + (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}

/** ffa_lend_reclaimed(): __set_direct_map_default_noflush() on each page of the region, no flush; silent outside it. */
function* ffaLendReclaimed(mm: Mm, pa: number, size: number): Sleeps<number> {
  const region = lendPoolRegion(mm);
  if (!region || pa < region.base || pa + size > region.end) return 0;
  mm.machine.directMap.restore(pa, pa + size);
  const costNs = (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}

/**
 * set_memory_device() / set_memory_normal() (Tegra VPR v3 04/11): __change_memory_common() →
 * update_range_prot() (split_kernel_leaf_mapping() under BBML2/BBML3, else a block is −EINVAL) rewrites
 * each entry's memory type in place — no break-before-make — then flush_tlb_kernel_range().
 * can_set_direct_map() is not consulted (the review's point).
 */
function* setMemoryType(mm: Mm, pa: number, size: number, mt: number): Sleeps<number> {
  const machine = mm.machine;
  const dm = machine.directMap;
  const pageMapped = dm.isPageMapped(pa, pa + size);
  const live = splitsLiveBlocks(machine);
  if (!pageMapped && !live) return -ERRNO.EINVAL;
  const lock = pgtableSplitLock(machine);
  if (!pageMapped) yield* lock.lock();
  const before = splitsOf(machine);
  dm.setMemType(pa, pa + size, mt);
  const splits = splitsOf(machine) - before;
  if (!pageMapped) yield* lock.unlockPreempt();
  const costNs = splits * machine.costs.blockSplitNs + (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  yield* flushTlbKernelRange(machine, pa, pa + size);
  return 0;
}

/** `boot-pte-region` at lend: the range must lie in the page-mapped region (−EINVAL otherwise); invalidate, flush. */
function* bootRegionInvalid(mm: Mm, pa: number, size: number): Sleeps<number> {
  const machine = mm.machine;
  const dm = machine.directMap;
  if (!dm.isPageMapped(pa, pa + size)) return -ERRNO.EINVAL;
  const before = splitsOf(machine);
  dm.invalidate(pa, pa + size);
  assert(splitsOf(machine) === before, "the boot PTE region never splits");
  const costNs = (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  // Planted bug `no-tlb-flush` (sim/mutations.ts); correct: flush after invalidating.
  if (!mm.sim.mutations["no-tlb-flush"]) yield* flushTlbKernelRange(machine, pa, pa + size);
  return 0;
}

/** `boot-pte-region` after reclaim: the valid bit back, no flush. */
function* bootRegionRestore(mm: Mm, pa: number, size: number): Sleeps<number> {
  const dm = mm.machine.directMap;
  if (!dm.isPageMapped(pa, pa + size)) return -ERRNO.EINVAL;
  dm.restore(pa, pa + size);
  const costNs = (size / PAGE_SIZE) * PTE_UPDATE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}

/** `hypervisor`: one hypercall for the range; EL2 changes each page's host stage-2 entry and flushes the stage-2 TLB. */
function* hostStage2(mm: Mm, pa: number, size: number, give: boolean): Sleeps<number> {
  const machine = mm.machine;
  const n = give ? machine.hostStage2Map(pa, size) : machine.hostStage2Unmap(pa, size);
  if (n < 0) return n;
  const c = machine.costs;
  const costNs = c.hypercallNs + n * c.stage2PageNs + c.stage2TlbFlushNs;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}
