/**
 * Endpoint memory access descriptor (EMAD): one per receiver.
 *
 * `struct ffa_mem_region_attributes` — include/linux/arm_ffa.h; `struct ffa_memory_access` and
 * `struct ffa_memory_access_v1_0` — Hafnium inc/vmapi/hf/ffa.h, ffa_v1_0.h; `struct ffa_emad_v1_0` —
 * TF-A include/services/el3_spmc_ffa_memory.h. Layout (reference/ffa.md §3.3):
 *
 *   0  u16 receiver endpoint ID     2  u8 permissions     3  u8 receiver flags
 *   4  u32 composite offset         8  u8[16] impdef (v1.2+ only)
 *   8 (16-byte EMAD) or 24 (32-byte EMAD)  u64 reserved, MBZ
 *
 * Which layout applies follows the EMAD size, as Hafnium's
 * ffa_version_from_memory_access_desc_size() does: 16 → no impdef, 32 (or more) → impdef.
 */

import {
  EMAD_COMPOSITE_OFFSET,
  EMAD_FLAGS,
  EMAD_IMPDEF,
  EMAD_PERMISSIONS,
  EMAD_RECEIVER_ID,
  EMAD_RESERVED_V1_0,
  EMAD_RESERVED_V1_2,
  EMAD_SIZE_V1_2,
} from "./layout.ts";

/** A decoded EMAD: every wire field, raw. */
export interface Emad {
  /** `receiver` — endpoint ID of the borrower. */
  readonly receiver_id: number;
  /** `attrs` — memory access permissions (see unpackMemAccessPermissions()). */
  readonly permissions: number;
  /** `flag` — receiver flags (bit 0 FFA_MEM_RETRIEVE_SELF_BORROWER). */
  readonly flags: number;
  /** `composite_off` — offset of the composite descriptor from the start of the transaction descriptor. */
  readonly composite_offset: number;
  /** `impdef.val[2]` (v1.2+, two little-endian u64); null in a 16-byte EMAD. */
  readonly impdef: readonly [bigint, bigint] | null;
  /** `reserved` (u64), MBZ. */
  readonly reserved: bigint;
}

/** True when an EMAD of this stride carries the v1.2 impdef field. */
export function emadHasImpdef(stride: number): boolean {
  return stride >= EMAD_SIZE_V1_2;
}

/** Offset of `reserved` inside an EMAD of this stride. */
export function emadReservedOffset(stride: number): number {
  return emadHasImpdef(stride) ? EMAD_RESERVED_V1_2 : EMAD_RESERVED_V1_0;
}

/** Reads one EMAD at `off`. The caller has checked that `off + (impdef ? 32 : 16)` is in bounds. */
export function readEmad(dv: DataView, off: number, impdef: boolean): Emad {
  return {
    receiver_id: dv.getUint16(off + EMAD_RECEIVER_ID, true),
    permissions: dv.getUint8(off + EMAD_PERMISSIONS),
    flags: dv.getUint8(off + EMAD_FLAGS),
    composite_offset: dv.getUint32(off + EMAD_COMPOSITE_OFFSET, true),
    impdef: impdef
      ? [dv.getBigUint64(off + EMAD_IMPDEF, true), dv.getBigUint64(off + EMAD_IMPDEF + 8, true)]
      : null,
    reserved: dv.getBigUint64(off + (impdef ? EMAD_RESERVED_V1_2 : EMAD_RESERVED_V1_0), true),
  };
}

/** Writes one EMAD at `off`; `impdef` selects the 32-byte layout. Values are already range-checked. */
export function writeEmad(dv: DataView, off: number, emad: Emad, impdef: boolean): void {
  dv.setUint16(off + EMAD_RECEIVER_ID, emad.receiver_id, true);
  dv.setUint8(off + EMAD_PERMISSIONS, emad.permissions);
  dv.setUint8(off + EMAD_FLAGS, emad.flags);
  dv.setUint32(off + EMAD_COMPOSITE_OFFSET, emad.composite_offset, true);
  if (impdef) {
    const val = emad.impdef ?? [0n, 0n];
    dv.setBigUint64(off + EMAD_IMPDEF, val[0], true);
    dv.setBigUint64(off + EMAD_IMPDEF + 8, val[1], true);
  }
  dv.setBigUint64(off + (impdef ? EMAD_RESERVED_V1_2 : EMAD_RESERVED_V1_0), emad.reserved, true);
}
