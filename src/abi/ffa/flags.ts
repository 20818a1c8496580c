/**
 * Flags words: the memory transaction descriptor's `flags` (offset 4), the relinquish descriptor's
 * `flags`, and the FFA_MEM_RECLAIM w3 flags — raw numbers and typed objects.
 *
 * Bits: Hafnium inc/vmapi/hf/ffa.h (`FFA_MEMORY_REGION_FLAG_*`, `FFA_MEMORY_REGION_TRANSACTION_TYPE_*`,
 * `FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_*`, `FFA_MEM_RECLAIM_CLEAR`), Linux include/linux/arm_ffa.h
 * (`FFA_MEM_CLEAR`, `FFA_TIME_SLICE_ENABLE`, `FFA_MEM_RETRIEVE_TYPE_*`, `FFA_MEM_RETRIEVE_ADDR_ALIGN*`),
 * Arm's arm-ffa crate `MemTransactionFlags` (reference/ffa.md §3.9, §3.6, §1).
 */

import type { FfaVersion } from "./version.ts";

/** bit 0: zero the memory before retrieval — FFA_MEMORY_REGION_FLAG_CLEAR (Linux FFA_MEM_CLEAR). */
export const FFA_MEMORY_REGION_FLAG_CLEAR = 0x1;
/** bit 1: the relayer may time-slice the operation — FFA_MEMORY_REGION_FLAG_TIME_SLICE. */
export const FFA_MEMORY_REGION_FLAG_TIME_SLICE = 0x2;
/** bit 2 (retrieve): zero the memory after relinquish — FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH. */
export const FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH = 0x4;
/** bits[4:3] (retrieve): transaction type — FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK. */
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_OFFSET = 3;
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK = 0x3 << 3;
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_UNSPECIFIED = 0x0 << 3;
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE = 0x1 << 3;
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND = 0x2 << 3;
export const FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE = 0x3 << 3;
/** bits[8:5] (retrieve): address-range alignment hint — FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK. */
export const FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_OFFSET = 5;
export const FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK = 0xf << 5;
/** bit 9 (retrieve): the hint is valid — FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID (Linux FFA_MEM_RETRIEVE_ADDR_ALIGN_HINT). */
export const FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID = 1 << 9;
/** bit 10 (v1.2 retrieve): bypass the multiple-borrower check — FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK. */
export const FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK = 1 << 10;

/** Flags allowed in DONATE/LEND/SHARE: bits[1:0] — arm-ffa `MEM_SHARE_MASK`. */
export const FFA_MEM_SEND_FLAGS_MASK = 0x3;
/** Flags allowed in RETRIEVE_REQ before v1.2: bits[9:0] — arm-ffa `MEM_RETRIEVE_REQ_MASK`. */
export const FFA_MEM_RETRIEVE_REQ_FLAGS_MASK_V1_1 = 0x3ff;
/** Flags allowed in RETRIEVE_REQ from v1.2: bits[10:0] (Hafnium rejects `flags & ~0x7FF`). */
export const FFA_MEM_RETRIEVE_REQ_FLAGS_MASK_V1_2 = 0x7ff;
/** Flags allowed in RETRIEVE_RESP: bits[4:0] — arm-ffa `MEM_RETRIEVE_RESP_MASK`. */
export const FFA_MEM_RETRIEVE_RESP_FLAGS_MASK = 0x1f;

/** The flags bits a version defines at all (the union over every transaction kind). */
export function ffaMemRegionFlagsMask(version: FfaVersion): number {
  return version === "1.2" ? FFA_MEM_RETRIEVE_REQ_FLAGS_MASK_V1_2 : FFA_MEM_RETRIEVE_REQ_FLAGS_MASK_V1_1;
}

/** Transaction type in bits[4:3] (Linux FFA_MEM_RETRIEVE_TYPE_IN_RESP / _SHARE / _LEND / _DONATE). */
export type FfaTransactionType = "unspecified" | "share" | "lend" | "donate";

/** Typed transaction-descriptor flags. Bits[31:11] are not represented: keep the raw number for them. */
export interface MemRegionFlags {
  /** bit 0 — zero memory before retrieval. */
  readonly zeroMemory: boolean;
  /** bit 1 — time slicing allowed. */
  readonly timeSlicing: boolean;
  /** bit 2 — zero memory after relinquish (retrieve). */
  readonly zeroAfterRelinquish: boolean;
  /** bits[4:3] — transaction type (retrieve request/response). */
  readonly transactionType: FfaTransactionType;
  /** bits[8:5] — address-range alignment hint (retrieve request). */
  readonly alignmentHint: number;
  /** bit 9 — the alignment hint is valid. */
  readonly alignmentHintValid: boolean;
  /** bit 10 — bypass the multiple-borrower identifier check (v1.2 retrieve request). */
  readonly bypassBorrowersCheck: boolean;
}

const TRANSACTION_TYPES: readonly FfaTransactionType[] = ["unspecified", "share", "lend", "donate"];

/** Raw flags → typed. */
export function unpackMemRegionFlags(raw: number): MemRegionFlags {
  return {
    zeroMemory: (raw & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0,
    timeSlicing: (raw & FFA_MEMORY_REGION_FLAG_TIME_SLICE) !== 0,
    zeroAfterRelinquish: (raw & FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH) !== 0,
    transactionType:
      TRANSACTION_TYPES[
        (raw & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK) >> FFA_MEMORY_REGION_TRANSACTION_TYPE_OFFSET
      ],
    alignmentHint:
      (raw & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK) >> FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_OFFSET,
    alignmentHintValid: (raw & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID) !== 0,
    bypassBorrowersCheck: (raw & FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK) !== 0,
  };
}

/** Typed flags → raw. Missing fields count as 0; `alignmentHint` is masked to 4 bits. */
export function packMemRegionFlags(flags: Partial<MemRegionFlags>): number {
  const type = TRANSACTION_TYPES.indexOf(flags.transactionType ?? "unspecified");
  return (
    ((flags.zeroMemory ? FFA_MEMORY_REGION_FLAG_CLEAR : 0) |
      (flags.timeSlicing ? FFA_MEMORY_REGION_FLAG_TIME_SLICE : 0) |
      (flags.zeroAfterRelinquish ? FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH : 0) |
      (type << FFA_MEMORY_REGION_TRANSACTION_TYPE_OFFSET) |
      (((flags.alignmentHint ?? 0) & 0xf) << FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_OFFSET) |
      (flags.alignmentHintValid ? FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID : 0) |
      (flags.bypassBorrowersCheck ? FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK : 0)) >>>
    0
  );
}

// ---- relinquish descriptor flags ---------------------------------------------------------------

/** Relinquish bit 0: zero the memory after relinquish (reference/ffa.md §3.6). */
export const FFA_MEM_RELINQUISH_FLAG_CLEAR = 0x1;
/** Relinquish bit 1: time slicing. */
export const FFA_MEM_RELINQUISH_FLAG_TIME_SLICE = 0x2;
/** Relinquish bits[31:2] MBZ. */
export const FFA_MEM_RELINQUISH_FLAGS_MASK = 0x3;

/** Typed relinquish flags. */
export interface RelinquishFlags {
  readonly zeroAfterRelinquish: boolean;
  readonly timeSlicing: boolean;
}

export function unpackRelinquishFlags(raw: number): RelinquishFlags {
  return {
    zeroAfterRelinquish: (raw & FFA_MEM_RELINQUISH_FLAG_CLEAR) !== 0,
    timeSlicing: (raw & FFA_MEM_RELINQUISH_FLAG_TIME_SLICE) !== 0,
  };
}

export function packRelinquishFlags(flags: Partial<RelinquishFlags>): number {
  return (
    (flags.zeroAfterRelinquish ? FFA_MEM_RELINQUISH_FLAG_CLEAR : 0) |
    (flags.timeSlicing ? FFA_MEM_RELINQUISH_FLAG_TIME_SLICE : 0)
  );
}

// ---- FFA_MEM_RECLAIM w3 flags ------------------------------------------------------------------

/** FFA_MEM_RECLAIM_CLEAR — Hafnium inc/vmapi/hf/ffa.h: bit 0, zero the memory on reclaim. */
export const FFA_MEM_RECLAIM_CLEAR = 0x1;
/** Reclaim bit 1: time slicing. */
export const FFA_MEM_RECLAIM_TIME_SLICE = 0x2;
/** Reclaim bits[31:2] MBZ — arm-ffa `MemReclaimFlags` MBZ_BITS = 0xffff_fffc. */
export const FFA_MEM_RECLAIM_FLAGS_MBZ_MASK = 0xffff_fffc;

/** Typed reclaim flags. */
export interface ReclaimFlags {
  readonly zeroMemory: boolean;
  readonly timeSlicing: boolean;
}

export function unpackReclaimFlags(raw: number): ReclaimFlags {
  return {
    zeroMemory: (raw & FFA_MEM_RECLAIM_CLEAR) !== 0,
    timeSlicing: (raw & FFA_MEM_RECLAIM_TIME_SLICE) !== 0,
  };
}

export function packReclaimFlags(flags: Partial<ReclaimFlags>): number {
  return (
    (flags.zeroMemory ? FFA_MEM_RECLAIM_CLEAR : 0) | (flags.timeSlicing ? FFA_MEM_RECLAIM_TIME_SLICE : 0)
  );
}
