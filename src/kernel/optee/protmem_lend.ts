/**
 * Lending and reclaiming one chunk of protected memory under the run's policy: what the kernel does to
 * its linear map and caches around FFA_MEM_LEND and FFA_MEM_RECLAIM (ARCHITECTURE.md §5,
 * linux-kernel.md §4.7–4.8). Upstream protmem.c does none of it (its TODO); the policies' pools
 * (growable, per-buffer, static) and the dynamic pool with an `unmap`/`cache` policy go through here.
 *
 * The order that makes a lend safe, and that this follows (the design's rule, not an upstream one):
 * lend = clean+invalidate to PoC → unmap → TLB flush (inside unmapForLend) → FFA_MEM_LEND → ASSIGN;
 * reclaim = RELEASE (OP-TEE scrubs under `scrub: secure-on-release`) → FFA_MEM_RECLAIM → remap → free.
 * The mapping comes back only after a successful reclaim: memory the SPMC still holds stays unmapped.
 */
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { SECTION_SIZE } from "../mm/direct_map.ts";
import { cleanInvalidateToPoc } from "../mm/cacheflush.ts";
import { remapAfterReclaim, unmapForLend, type UnmapKind } from "../mm/unmap.ts";
import type { TeeShm } from "../tee/tee_shm.ts";
import type { Optee } from "./optee.ts";

/** What the OP-TEE driver reads of the run's policy (the scenario's `policy:`, scenario/policies.ts). */
export interface ProtmemPolicy {
  readonly pool: "static" | "dynamic" | "growable" | "per-buffer";
  readonly unmap: UnmapKind;
  readonly cache: "none" | "clean-invalidate";
  readonly scrub: "none" | "secure-on-release" | "ffa-clear";
  /** growable: bytes per chunk (0: OP-TEE's min_size). */
  readonly chunk: number;
  /** growable: the most bytes lent at once. */
  readonly max: number;
  /** growable: ns an empty chunk stays lent. */
  readonly idle_release: number;
}

/**
 * The size and CMA alignment (log2 pages) of a chunk that must hold `bytes` under the policy: whole
 * 128 MiB sections, section aligned, for `linear-remove` (arch_remove_linear_mapping() takes whole
 * sections: memtrace allocates them size-aligned); page-granular otherwise.
 */
export function chunkShape(policy: ProtmemPolicy, bytes: number): { bytes: number; alignOrder: number } {
  if (policy.unmap !== "linear-remove")
    return { bytes: Math.ceil(bytes / PAGE_SIZE) * PAGE_SIZE, alignOrder: 0 };
  return {
    bytes: Math.ceil(bytes / SECTION_SIZE) * SECTION_SIZE,
    alignOrder: Math.log2(SECTION_SIZE / PAGE_SIZE),
  };
}

/** Counters a pool keeps of its lends (the reports read them). */
export interface LendStats {
  lends: number;
  reclaims: number;
  /** Chunks given up after their reclaim was refused (protmem_reclaim.ts): still lent, never freed. */
  stuck: number;
  /** Bytes lent now and at most. */
  lentBytes: number;
  peakLentBytes: number;
  /** Virtual time spent lending (preparation included) and reclaiming (remap included), total and worst, ns. */
  lendNs: number;
  lendNsMax: number;
  reclaimNs: number;
  reclaimNsMax: number;
  /** Bytes reclaimed and given back to Linux, in all. */
  reclaimedBytes: number;
  /** Bytes lent over time: [t0, bytes0, t1, bytes1, …], one pair per lend or reclaim (virtual ns). */
  history: number[];
}

export function newLendStats(): LendStats {
  return {
    lends: 0,
    reclaims: 0,
    stuck: 0,
    lentBytes: 0,
    peakLentBytes: 0,
    lendNs: 0,
    lendNsMax: 0,
    reclaimNs: 0,
    reclaimNsMax: 0,
    reclaimedBytes: 0,
    history: [],
  };
}

/** Counts one successful lend of `bytes` that took `ns` and ended at `now`. */
export function countLend(stats: LendStats, bytes: number, ns: number, now: number): void {
  stats.lends++;
  stats.lentBytes += bytes;
  stats.history.push(now, stats.lentBytes);
  stats.peakLentBytes = Math.max(stats.peakLentBytes, stats.lentBytes);
  stats.lendNs += ns;
  stats.lendNsMax = Math.max(stats.lendNsMax, ns);
}

/** Counts one successful reclaim of `bytes` that took `ns` and ended at `now`. */
export function countReclaim(stats: LendStats, bytes: number, ns: number, now: number): void {
  stats.reclaims++;
  stats.lentBytes -= bytes;
  stats.reclaimedBytes += bytes;
  stats.history.push(now, stats.lentBytes);
  stats.reclaimNs += ns;
  stats.reclaimNsMax = Math.max(stats.reclaimNsMax, ns);
}

/** Prepares `shm` as the policy says, then lends it (lend_protmem: FFA_MEM_LEND + ASSIGN). 0 or −errno. */
export function* protmemLend(
  optee: Optee,
  policy: ProtmemPolicy,
  shm: TeeShm,
  memAttrs: readonly number[],
  useCase: number,
  stats: LendStats,
): Sleeps<number> {
  const mm = optee.kernel.mm;
  const sim = optee.kernel.sim;
  const t0 = sim.now;
  // Planted bug `no-cache-clean` (sim/mutations.ts); correct: clean+invalidate to PoC before the lend.
  if (policy.cache === "clean-invalidate" && !sim.mutations["no-cache-clean"])
    yield* cleanInvalidateToPoc(mm, shm.paddr, shm.size);
  // Planted bug `lend-before-unmap`; correct: unmap (and flush the TLB) before FFA_MEM_LEND.
  const lendFirst = sim.mutations["lend-before-unmap"];
  let rc = lendFirst ? 0 : yield* unmapForLend(mm, policy.unmap, shm.paddr, shm.size);
  if (rc) return rc;
  rc = yield* optee.ops.lendProtmem(optee, shm, memAttrs, useCase);
  if (rc && lentAfterFailedLend(shm)) {
    // The lend failed after FFA_MEM_LEND, and the SPMC refused its reclaim: the memory is still lent
    // (counted so), stays unmapped, and the caller must reclaim it before it may be freed.
    countLend(stats, shm.size, optee.kernel.sim.now - t0, optee.kernel.sim.now);
    return rc;
  }
  if (rc) {
    // lend_protmem() failed, and reclaimed what it had lent: the memory is the kernel's again.
    if (!lendFirst) yield* remapAfterReclaim(mm, policy.unmap, shm.paddr, shm.size);
    return rc;
  }
  if (lendFirst) yield* unmapForLend(mm, policy.unmap, shm.paddr, shm.size);
  countLend(stats, shm.size, optee.kernel.sim.now - t0, optee.kernel.sim.now);
  return 0;
}

/**
 * After protmemLend() failed: whether the memory is still lent all the same (the failed lend's own
 * FFA_MEM_RECLAIM was refused, Optee.protmemKeepRefusedLend), so that it must be reclaimed, never freed.
 */
export function lentAfterFailedLend(shm: TeeShm): boolean {
  return shm.secWorldId !== 0n;
}

/**
 * Reclaims `shm` (reclaim_protmem: RELEASE_PROTMEM + FFA_MEM_RECLAIM), then remaps it. 0, or −errno when
 * the reclaim failed: the memory is still lent, stays unmapped, and must not be freed.
 */
export function* protmemReclaim(
  optee: Optee,
  policy: ProtmemPolicy,
  shm: TeeShm,
  stats: LendStats,
): Sleeps<number> {
  const t0 = optee.kernel.sim.now;
  const rc = yield* optee.ops.reclaimProtmem(optee, shm);
  if (rc) return rc;
  // Planted bug `no-remap` (sim/mutations.ts); correct: the linear map comes back before the pages are freed.
  if (!optee.kernel.sim.mutations["no-remap"])
    yield* remapAfterReclaim(optee.kernel.mm, policy.unmap, shm.paddr, shm.size);
  countReclaim(stats, shm.size, optee.kernel.sim.now - t0, optee.kernel.sim.now);
  return 0;
}
