/**
 * FF-A memory handles (64-bit, allocated by the relayer on FFA_MEM_DONATE/LEND/SHARE).
 *
 * Hafnium inc/vmapi/hf/ffa.h: bit 63 is the allocator (`FFA_MEMORY_HANDLE_ALLOCATOR_MASK`), 0 = SPMC,
 * 1 = hypervisor; `FFA_MEMORY_HANDLE_INVALID` = ~0. The handle crosses registers split in two 32-bit
 * halves (`ffa_assemble_handle()`; Linux `PACK_HANDLE`, `HANDLE_LOW`, `HANDLE_HIGH` in
 * include/linux/arm_ffa.h). See reference/ffa.md §4.1.
 */

import { assertU64 } from "./wire.ts";

/** FFA_MEMORY_HANDLE_ALLOCATOR_MASK — Hafnium inc/vmapi/hf/ffa.h. */
export const FFA_MEMORY_HANDLE_ALLOCATOR_MASK = 1n << 63n;
/** FFA_MEMORY_HANDLE_ALLOCATOR_SPMC — Hafnium inc/vmapi/hf/ffa.h. */
export const FFA_MEMORY_HANDLE_ALLOCATOR_SPMC = 0n;
/** FFA_MEMORY_HANDLE_ALLOCATOR_HYPERVISOR — Hafnium inc/vmapi/hf/ffa.h. */
export const FFA_MEMORY_HANDLE_ALLOCATOR_HYPERVISOR = 1n << 63n;
/** FFA_MEMORY_HANDLE_INVALID — Hafnium inc/vmapi/hf/ffa.h (~0ULL). */
export const FFA_MEMORY_HANDLE_INVALID = 0xffff_ffff_ffff_ffffn;

/** Who allocated a handle, from bit 63. */
export type FfaHandleAllocator = "spmc" | "hypervisor";

/**
 * A handle as Hafnium builds it: share-state index | (allocator << 63); the SPMC build uses
 * allocator 0, the hypervisor build 1 (src/ffa/{spmc,hypervisor}/ffa_memory.c, reference/ffa.md §4.1).
 */
export function ffaMemoryHandleMake(index: bigint | number, allocator: FfaHandleAllocator): bigint {
  const idx = BigInt(index);
  if (idx < 0n || idx >= FFA_MEMORY_HANDLE_ALLOCATOR_MASK) {
    throw new RangeError(`ffa handle: index ${idx} does not fit bits[62:0]`);
  }
  return allocator === "hypervisor" ? idx | FFA_MEMORY_HANDLE_ALLOCATOR_HYPERVISOR : idx;
}

/** The allocator named by bit 63 (`handle & FFA_MEMORY_HANDLE_ALLOCATOR_MASK`). */
export function ffaMemoryHandleAllocator(handle: bigint): FfaHandleAllocator {
  return (handle & FFA_MEMORY_HANDLE_ALLOCATOR_MASK) !== 0n ? "hypervisor" : "spmc";
}

/** The index bits of a handle, bits[62:0] (computed once: BigInt operators allocate). */
const FFA_MEMORY_HANDLE_INDEX_BITS = ~FFA_MEMORY_HANDLE_ALLOCATOR_MASK & FFA_MEMORY_HANDLE_INVALID;

/** Bits[62:0] of a handle (Hafnium's share-state index for its own handles). */
export function ffaMemoryHandleIndex(handle: bigint): bigint {
  return handle & FFA_MEMORY_HANDLE_INDEX_BITS;
}

/** HANDLE_LOW(x) — include/linux/arm_ffa.h: bits[31:0], as an unsigned number. */
export function ffaHandleLow(handle: bigint): number {
  return Number(handle & 0xffff_ffffn);
}

/** HANDLE_HIGH(x) — include/linux/arm_ffa.h: bits[63:32], as an unsigned number. */
export function ffaHandleHigh(handle: bigint): number {
  return Number((handle >> 32n) & 0xffff_ffffn);
}

/** ffa_assemble_handle(a1, a2) — Hafnium inc/vmapi/hf/ffa.h; PACK_HANDLE(l, h) in Linux. */
export function ffaAssembleHandle(low: number, high: number): bigint {
  const h = BigInt(low >>> 0) | (BigInt(high >>> 0) << 32n);
  assertU64(h, "handle");
  return h;
}

/** Hex form used in traces and JSON: `0x` + 16 digits. */
export function ffaHandleHex(handle: bigint): string {
  return "0x" + handle.toString(16).padStart(16, "0");
}
