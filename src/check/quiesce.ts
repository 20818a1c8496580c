/**
 * quiesce-clean and conservation (ARCHITECTURE.md §8): when every process has exited and the system
 * has settled, every page must be back where it was at boot. A snapshot taken after boot is compared
 * with the end state: page ownership (world), the kernel's page states, the linear map's coverage and
 * memory types, the host stage 2, the firewall's regions and the granule table. O(DRAM) once at boot;
 * at the end, page ownership and states are compared only over the blocks written since boot
 * (PageFrames.dirty, sim/dirty.ts), so an explorer's run pays for what it touched, not for DRAM.
 *
 * Two things a removed module (delete_module(2)) changes: the memory its driver took while the kernel
 * booted is free again — expected, so the page-state counts compare with the boot counts moved by
 * bootPagesReleased() — and what kmemleak would report (mm/slab.ts: objects whose last reference went
 * away with their owner, e.g. protmem.c's mem_attrs after pool_op_dyn_destroy_pool()'s kfree(rp)),
 * one problem per unreferenced object.
 */
import type { Machine } from "../hw/machine.ts";
import type { Mm } from "../kernel/mm/mm.ts";
import { bootPagesReleased } from "../kernel/kernel.ts";
import { MIGRATE_ISOLATE, PAGE_STATE_NAMES, PS_FREE } from "../kernel/mm/gfp.ts";
import { kmemleakReport } from "../kernel/mm/slab.ts";
import type { StateBaseline } from "../hw/frames.ts";
import { MT_NORMAL } from "../hw/mmu.ts";
import { PAGE_SIZE } from "../hw/platform.ts";

export interface BootSnapshot {
  readonly owner: Uint8Array;
  /** The page states at boot (owner's changes are found over the same blocks written since its mark). */
  readonly state: StateBaseline;
  /** Pageblock migratetypes and each CMA area's free count (isolation or a CMA window left behind). */
  readonly pageblockMt: Uint8Array | null;
  readonly cmaAvailable: readonly number[];
  readonly stateCounts: readonly number[];
  readonly linearMapPages: number;
  readonly tzcRegions: number;
  readonly gptNonNs: number;
  /** Bytes of the linear map typed Device (a `device-remap` left behind) and host stage-2 holes. */
  readonly deviceMappedBytes: number;
  readonly stage2Holes: number;
}

function stateCounts(histogram: readonly number[]): number[] {
  return histogram.slice(0, PAGE_STATE_NAMES.length);
}

/** Frames whose owner differs from boot's: over the blocks written since boot when the mark still tells. */
function ownersMoved(boot: BootSnapshot, machine: Machine): number {
  const owner = machine.frames.owner;
  const dirty = machine.frames.dirty;
  let moved = 0;
  if (!dirty.valid(boot.state.mark)) {
    for (let i = 0; i < owner.length; i++) if (owner[i] !== boot.owner[i]) moved++;
    return moved;
  }
  dirty.forChangedSince(boot.state.mark, owner, boot.owner, () => moved++);
  return moved;
}

/**
 * Pageblocks isolated now and not at boot: over the dirty blocks since boot when the mark still tells
 * (a pageblock is a dirty block, and setPageblockMt() touches it), else over every pageblock.
 */
function pageblocksLeftIsolated(boot: BootSnapshot, mm: Mm): number {
  const pb = mm.buddy.pageblockMt;
  const was = boot.pageblockMt!;
  const dirty = mm.machine.frames.dirty;
  let left = 0;
  if (!dirty.valid(boot.state.mark)) {
    for (let i = 0; i < pb.length; i++) if (pb[i] === MIGRATE_ISOLATE && was[i] !== MIGRATE_ISOLATE) left++;
    return left;
  }
  // One element a dirty block (PAGEBLOCK_ORDER is DIRTY_BLOCK_SHIFT).
  const blocks = dirty.since(boot.state.mark);
  for (let k = 0; k < blocks.length; k++) {
    const i = blocks[k];
    if (pb[i] === MIGRATE_ISOLATE && was[i] !== MIGRATE_ISOLATE) left++;
  }
  return left;
}

function linearMapPages(machine: Machine): number {
  const c = machine.directMap.counters;
  return c.valid4K + c.valid2M * 512 + c.valid1G * 512 * 512;
}

function tzcRegions(machine: Machine): number {
  return machine.tzc ? machine.tzc.regions.slice(1).filter((r) => r.enabled).length : 0;
}

/** Bytes of the linear map typed other than Normal, looked for only where a type was ever changed. */
function deviceMappedBytes(machine: Machine): number {
  const dm = machine.directMap;
  if (dm.retypedRanges.length === 0) return 0;
  // Ranges may overlap (a chunk retyped at every lend): count each page once.
  const pages = new Set<number>();
  for (const [start, end] of dm.retypedRanges) {
    for (let pa = start; pa < end; pa += PAGE_SIZE) {
      if (dm.isValid(pa) && dm.memTypeAt(pa) !== MT_NORMAL) pages.add(pa);
    }
  }
  return pages.size * PAGE_SIZE;
}

/** Granules not non-secure: the table's own count, so an end-of-run check does not scan the table. */
function gptNonNs(machine: Machine): number {
  return machine.gpt ? machine.gpt.nonNsGranules : 0;
}

export function takeBootSnapshot(machine: Machine, mm: Mm | null = null): BootSnapshot {
  const state = machine.frames.stateBaseline();
  return {
    owner: machine.frames.owner.slice(),
    state,
    pageblockMt: mm ? mm.buddy.pageblockMt.slice() : null,
    cmaAvailable: mm ? mm.cmaAreas.map((c) => c.availableCount) : [],
    stateCounts: stateCounts(machine.frames.stateHistogram(state)),
    linearMapPages: linearMapPages(machine),
    tzcRegions: tzcRegions(machine),
    gptNonNs: gptNonNs(machine),
    deviceMappedBytes: deviceMappedBytes(machine),
    stage2Holes: machine.stage2?.holeCount ?? 0,
  };
}

/**
 * What is not back where it was at boot, as sentences; empty when quiesce-clean holds. `histogram`:
 * the page states as they stand, when the caller has them (PageFrames.stateHistogram(boot.state)).
 */
export function quiesceProblems(
  boot: BootSnapshot,
  machine: Machine,
  mm: Mm | null,
  histogram?: readonly number[],
): string[] {
  const out: string[] = [];
  const moved = ownersMoved(boot, machine);
  if (moved > 0) out.push(`${moved} pages are not owned by the world that owned them at boot`);
  if (mm) {
    // Draining moves per-cpu pages to the buddy lists: no page changes state.
    mm.buddy.drainAllPages();
    const now = stateCounts(histogram ?? machine.frames.stateHistogram(boot.state));
    const expected = [...boot.stateCounts];
    for (const [state, n] of bootPagesReleased(mm)) {
      expected[state] -= n;
      expected[PS_FREE] += n;
    }
    PAGE_STATE_NAMES.forEach((name, k) => {
      if (now[k] !== expected[k]) out.push(`${name} pages: ${now[k]}, at boot ${boot.stateCounts[k]}`);
    });
    if (boot.pageblockMt) {
      const left = pageblocksLeftIsolated(boot, mm);
      if (left > 0) out.push(`${left} pageblocks are left isolated`);
    }
    mm.cmaAreas.forEach((c, k) => {
      const was = boot.cmaAvailable[k];
      if (was !== undefined && c.availableCount !== was) {
        out.push(`CMA area ${c.name}: ${c.availableCount} pages available, at boot ${was}`);
      }
    });
  }
  const lm = linearMapPages(machine);
  if (lm !== boot.linearMapPages) out.push(`the linear map maps ${lm} pages, at boot ${boot.linearMapPages}`);
  const tz = tzcRegions(machine);
  if (tz !== boot.tzcRegions) out.push(`${tz} TZC regions are enabled, at boot ${boot.tzcRegions}`);
  const g = gptNonNs(machine);
  if (g !== boot.gptNonNs) out.push(`${g} granules are not non-secure, at boot ${boot.gptNonNs}`);
  const dev = deviceMappedBytes(machine);
  if (dev !== boot.deviceMappedBytes)
    out.push(`${dev} bytes of the linear map are typed Device, at boot ${boot.deviceMappedBytes}`);
  const holes = machine.stage2?.holeCount ?? 0;
  if (holes !== boot.stage2Holes)
    out.push(`the host stage 2 has ${holes} holes, at boot ${boot.stage2Holes}`);
  if (mm) out.push(...kmemleakReport(mm));
  return out;
}
