/**
 * Sizes and byte offsets of the memory transaction descriptor family, per version.
 *
 * v1.1+ header: Hafnium `struct ffa_memory_region`, Linux `struct ffa_mem_region`
 * (include/linux/arm_ffa.h), TF-A `struct ffa_mtd`. v1.0 header: Hafnium `struct
 * ffa_memory_region_v1_0` (inc/vmapi/hf/ffa_v1_0.h), TF-A `struct ffa_mtd_v1_0`. EMAD: Linux
 * `struct ffa_mem_region_attributes`, Hafnium `struct ffa_memory_access`. Composite and constituent:
 * Linux `struct ffa_composite_mem_region` / `struct ffa_mem_region_addr_range`. reference/ffa.md §3.
 */

import type { FfaVersion } from "./version.ts";

/** FFA_PAGE_SIZE — include/linux/arm_ffa.h: descriptors always count 4 KiB pages. */
export const FFA_PAGE_SIZE = 4096;

/** Header field offsets common to every version. */
export const MTD_SENDER_ID = 0;
export const MTD_ATTRIBUTES = 2;
/** v1.0 only: `reserved_0` (u8) after the 8-bit attributes. */
export const MTD_V1_0_RESERVED_0 = 3;
export const MTD_FLAGS = 4;
export const MTD_HANDLE = 8;
export const MTD_TAG = 16;
/** v1.1+: `ep_mem_size` / `memory_access_desc_size`; v1.0: `reserved_1` (u32, MBZ). */
export const MTD_EMAD_SIZE = 24;
export const MTD_V1_0_RESERVED_1 = 24;
/** `ep_count` / `receiver_count` / `emad_count` — same offset in every version. */
export const MTD_EMAD_COUNT = 28;
/** v1.1+: `ep_mem_offset` / `receivers_offset`. */
export const MTD_EMAD_OFFSET = 32;
/** v1.1+: `reserved[3]` (3 × u32, MBZ). */
export const MTD_RESERVED = 36;

/** sizeof(struct ffa_mtd_v1_0) = 32: the v1.0 EMAD array starts right after it. */
export const MTD_HEADER_SIZE_V1_0 = 32;
/** sizeof(struct ffa_mem_region) = 48 in v1.1+. */
export const MTD_HEADER_SIZE_V1_1 = 48;

/** EMAD field offsets. */
export const EMAD_RECEIVER_ID = 0;
export const EMAD_PERMISSIONS = 2;
export const EMAD_FLAGS = 3;
export const EMAD_COMPOSITE_OFFSET = 4;
/** v1.2+: `impdef_val[16]`. */
export const EMAD_IMPDEF = 8;
/** `reserved` (u64) in the 16-byte (v1.0/v1.1) EMAD. */
export const EMAD_RESERVED_V1_0 = 8;
/** `reserved` (u64) in the 32-byte (v1.2+) EMAD. */
export const EMAD_RESERVED_V1_2 = 24;
/** EMAD sizes: 16 before v1.2, 32 from v1.2 (Linux ffa_emad_size_get()). */
export const EMAD_SIZE_V1_0 = 16;
export const EMAD_SIZE_V1_2 = 32;

/** Composite field offsets; sizeof(struct ffa_composite_mem_region) = 16. */
export const COMPOSITE_TOTAL_PAGE_COUNT = 0;
export const COMPOSITE_ADDRESS_RANGE_COUNT = 4;
export const COMPOSITE_RESERVED = 8;
export const COMPOSITE_SIZE = 16;

/** Constituent field offsets; sizeof(struct ffa_mem_region_addr_range) = 16. */
export const CONSTITUENT_ADDRESS = 0;
export const CONSTITUENT_PAGE_COUNT = 8;
export const CONSTITUENT_RESERVED = 12;
export const CONSTITUENT_SIZE = 16;

/** Header size of a version: 32 (v1.0) or 48. */
export function mtdHeaderSize(version: FfaVersion): number {
  return version === "1.0" ? MTD_HEADER_SIZE_V1_0 : MTD_HEADER_SIZE_V1_1;
}

/** ffa_emad_size_get() — include/linux/arm_ffa.h: 32 from v1.2, else 16. */
export function emadSize(version: FfaVersion): number {
  return version === "1.2" ? EMAD_SIZE_V1_2 : EMAD_SIZE_V1_0;
}

/** Where the EMAD array starts in the canonical layout: 32 (v1.0) or 48 (`ep_mem_offset`). */
export function emadArrayOffset(version: FfaVersion): number {
  return mtdHeaderSize(version);
}

/**
 * ffa_mem_desc_offset() — include/linux/arm_ffa.h: the composite offset Linux writes, right after
 * `emadCount` EMADs.
 */
export function compositeOffsetFor(version: FfaVersion, emadCount: number): number {
  return emadArrayOffset(version) + emadCount * emadSize(version);
}

/**
 * Total length of a canonical descriptor (Linux ffa_setup_and_transmit(): composite offset + 16 +
 * 16 × constituents). With 1 receiver and 1 constituent: 112 (v1.2), 96 (v1.1), 80 (v1.0).
 */
export function mtdTotalSize(version: FfaVersion, emadCount: number, constituentCount: number): number {
  return compositeOffsetFor(version, emadCount) + COMPOSITE_SIZE + constituentCount * CONSTITUENT_SIZE;
}

/**
 * Byte offsets of the header `reserved` words: v1.0 `[reserved_0 (u8), reserved_1 (u32)]`, v1.1+
 * `reserved[0..2]` (u32 each).
 */
export function mtdReservedLayout(
  version: FfaVersion,
): readonly { readonly offset: number; readonly bytes: 1 | 4 }[] {
  return version === "1.0" ? RESERVED_V1_0 : RESERVED_V1_1;
}

const RESERVED_V1_0 = [
  { offset: MTD_V1_0_RESERVED_0, bytes: 1 as const },
  { offset: MTD_V1_0_RESERVED_1, bytes: 4 as const },
];
const RESERVED_V1_1 = [
  { offset: MTD_RESERVED, bytes: 4 as const },
  { offset: MTD_RESERVED + 4, bytes: 4 as const },
  { offset: MTD_RESERVED + 8, bytes: 4 as const },
];
