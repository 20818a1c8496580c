/**
 * Memory transaction descriptor: encode and decode, v1.0 / v1.1 / v1.2.
 *
 * The descriptor carried in the TX buffer by FFA_MEM_DONATE / LEND / SHARE and FFA_MEM_RETRIEVE_REQ,
 * and in the RX buffer by FFA_MEM_RETRIEVE_RESP: header, EMAD array, composite, constituents.
 * `struct ffa_mem_region` — include/linux/arm_ffa.h; `struct ffa_memory_region` (v1.1+) and
 * `struct ffa_memory_region_v1_0` — Hafnium inc/vmapi/hf/ffa.h, ffa_v1_0.h; `struct ffa_mtd` /
 * `struct ffa_mtd_v1_0` — TF-A include/services/el3_spmc_ffa_memory.h. Byte layout: reference/ffa.md §3.
 *
 * Decode reads what the bytes say and fails only when a structure cannot be read (out of bounds);
 * rule checks (reserved MBZ, alignment, counts, sums…) are validateMemRegion()'s job.
 */

import { readComposite, writeCompositeHeader, writeConstituent, type Composite } from "./composite.ts";
import { readEmad, writeEmad, type Emad } from "./emad.ts";
import {
  COMPOSITE_SIZE,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_SIZE_V1_0,
  EMAD_SIZE_V1_2,
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_HANDLE,
  MTD_RESERVED,
  MTD_SENDER_ID,
  MTD_TAG,
  MTD_V1_0_RESERVED_0,
  MTD_V1_0_RESERVED_1,
  emadSize,
  mtdHeaderSize,
} from "./layout.ts";
import { decodeError, type Decoded } from "./problem.ts";
import type { FfaVersion } from "./version.ts";
import { U16_MAX, U32_MAX, U8_MAX, assertU64, assertUint, viewOf } from "./wire.ts";

/**
 * A decoded memory transaction descriptor: every wire field, raw, in spec spelling. Typed views of
 * `attributes`, `flags` and the EMAD `permissions` come from attributes.ts and flags.ts.
 */
export interface MemRegion {
  /** `sender_id` — the owner's endpoint ID. */
  readonly sender_id: number;
  /** `attributes` — 8-bit in v1.0, 16-bit from v1.1. */
  readonly attributes: number;
  readonly flags: number;
  /** `handle` — 0 on send; set by the relayer. */
  readonly handle: bigint;
  /** `tag` — implementation defined; a retrieve request must repeat the sender's. */
  readonly tag: bigint;
  /** `ep_mem_size` (v1.1+). In v1.0 there is no field: 16, the fixed EMAD size. */
  readonly emad_size: number;
  /** `ep_count` / `receiver_count`. */
  readonly emad_count: number;
  /** `ep_mem_offset` (v1.1+). In v1.0 there is no field: 32, where the EMADs start. */
  readonly emad_offset: number;
  /** Reserved words: v1.0 `[reserved_0 (u8 @3), reserved_1 (u32 @24)]`, v1.1+ `reserved[0..2]` (@36/40/44). */
  readonly reserved: readonly number[];
  /** The `emad_count` EMADs, read at `emad_offset + i × emad_size`. */
  readonly emads: readonly Emad[];
  /** The composite at EMAD[0]'s composite offset, or null when that offset is 0 (or there are no EMADs). */
  readonly composite: Composite | null;
  /** Byte length of the buffer that was decoded (the descriptor's total length, w1). */
  readonly length: number;
}

/** One receiver, for encoding. Optional raw fields default to the well-formed value. */
export interface EmadInput {
  readonly receiver_id: number;
  readonly permissions: number;
  /** Receiver flags (default 0). */
  readonly flags?: number;
  /** v1.2 impdef value (default [0n, 0n]); dropped when encoding v1.0 / v1.1, which have no such field. */
  readonly impdef?: readonly [bigint, bigint];
  /** Raw composite offset for this EMAD only (default: the real one, or 0 without a composite). */
  readonly composite_offset?: number;
  /** Raw `reserved` for this EMAD only (default 0n). */
  readonly reserved?: bigint;
}

/** One constituent, for encoding. */
export interface ConstituentInput {
  readonly address: bigint;
  readonly page_count: number;
  /** Raw `reserved` (default 0). */
  readonly reserved?: number;
}

/** What a sender (or retriever) puts in a descriptor; sizes, counts and offsets are computed. */
export interface MemRegionInput {
  readonly sender_id: number;
  readonly attributes: number;
  readonly flags: number;
  /** Default 0n (a send). */
  readonly handle?: bigint;
  /** Default 0n. */
  readonly tag?: bigint;
  readonly emads: readonly EmadInput[];
  /** The pages; null for no composite at all (a retrieve request: every EMAD's composite offset is 0). */
  readonly constituents: readonly ConstituentInput[] | null;
}

/**
 * Raw values written in place of the computed ones, to build malformed descriptors on purpose. They
 * change only the field written, never where things are placed: EMADs stay at the canonical offset
 * (32 or 48), the composite right after them. `emad_size` and `emad_offset` have no field in v1.0
 * and are ignored there (use `reserved` for v1.0's reserved_1).
 */
export interface MemRegionOverrides {
  readonly emad_size?: number;
  readonly emad_count?: number;
  readonly emad_offset?: number;
  /** Written into every EMAD that does not set its own `composite_offset`. */
  readonly composite_offset?: number;
  readonly total_page_count?: number;
  readonly address_range_count?: number;
  /** Header reserved words, same shape as {@link MemRegion.reserved}; missing entries are 0. */
  readonly reserved?: readonly number[];
  /** `reserved` of every EMAD that does not set its own. */
  readonly emad_reserved?: bigint;
  /** The composite's `reserved`. */
  readonly composite_reserved?: bigint;
}

/** Byte offset of EMAD `i` of a decoded descriptor. */
export function emadOffsetOf(desc: MemRegion, i: number): number {
  return desc.emad_offset + i * desc.emad_size;
}

/**
 * Encodes a descriptor in the canonical layout Linux's ffa_setup_and_transmit()
 * (drivers/firmware/arm_ffa/driver.c) and Hafnium's ffa_memory_region_init() produce: EMADs right
 * after the header, one composite right after the EMADs, shared by every EMAD. Throws RangeError
 * when a value does not fit its field (a caller bug, not malformed input).
 */
export function encodeMemRegion(
  input: MemRegionInput,
  version: FfaVersion,
  overrides: MemRegionOverrides = {},
): Uint8Array {
  const v10 = version === "1.0";
  const headerSize = mtdHeaderSize(version);
  const stride = emadSize(version);
  const n = input.emads.length;
  const compositeOffset = headerSize + n * stride;
  const constituents = input.constituents;
  const total =
    constituents === null
      ? compositeOffset
      : compositeOffset + COMPOSITE_SIZE + constituents.length * CONSTITUENT_SIZE;

  assertUint(input.sender_id, U16_MAX, "sender_id");
  assertUint(input.attributes, v10 ? U8_MAX : U16_MAX, "attributes");
  assertUint(input.flags, U32_MAX, "flags");
  const handle = input.handle ?? 0n;
  const tag = input.tag ?? 0n;
  assertU64(handle, "handle");
  assertU64(tag, "tag");
  const reserved = overrides.reserved ?? [];
  const reservedMax = v10 ? 2 : 3;
  if (reserved.length > reservedMax) {
    throw new RangeError(
      `ffa encode: v${version} header has ${reservedMax} reserved words, got ${reserved.length}`,
    );
  }

  const bytes = new Uint8Array(total);
  const dv = viewOf(bytes);
  dv.setUint16(MTD_SENDER_ID, input.sender_id, true);
  dv.setUint32(MTD_FLAGS, input.flags, true);
  dv.setBigUint64(MTD_HANDLE, handle, true);
  dv.setBigUint64(MTD_TAG, tag, true);
  const emadCount = overrides.emad_count ?? n;
  assertUint(emadCount, U32_MAX, "emad_count");
  dv.setUint32(MTD_EMAD_COUNT, emadCount, true);
  if (v10) {
    dv.setUint8(MTD_ATTRIBUTES, input.attributes);
    const r0 = reserved[0] ?? 0;
    const r1 = reserved[1] ?? 0;
    assertUint(r0, U8_MAX, "reserved[0] (reserved_0)");
    assertUint(r1, U32_MAX, "reserved[1] (reserved_1)");
    dv.setUint8(MTD_V1_0_RESERVED_0, r0);
    dv.setUint32(MTD_V1_0_RESERVED_1, r1, true);
  } else {
    dv.setUint16(MTD_ATTRIBUTES, input.attributes, true);
    const size = overrides.emad_size ?? stride;
    const offset = overrides.emad_offset ?? headerSize;
    assertUint(size, U32_MAX, "emad_size");
    assertUint(offset, U32_MAX, "emad_offset");
    dv.setUint32(MTD_EMAD_SIZE, size, true);
    dv.setUint32(MTD_EMAD_OFFSET, offset, true);
    for (let i = 0; i < 3; i++) {
      const r = reserved[i] ?? 0;
      assertUint(r, U32_MAX, `reserved[${i}]`);
      dv.setUint32(MTD_RESERVED + 4 * i, r, true);
    }
  }

  const defaultCompositeOffset = overrides.composite_offset ?? (constituents === null ? 0 : compositeOffset);
  const impdef = stride === EMAD_SIZE_V1_2;
  for (let i = 0; i < n; i++) {
    const e = input.emads[i];
    const emad: Emad = {
      receiver_id: e.receiver_id,
      permissions: e.permissions,
      flags: e.flags ?? 0,
      composite_offset: e.composite_offset ?? defaultCompositeOffset,
      impdef: impdef ? (e.impdef ?? [0n, 0n]) : null,
      reserved: e.reserved ?? overrides.emad_reserved ?? 0n,
    };
    assertUint(emad.receiver_id, U16_MAX, `emads[${i}].receiver_id`);
    assertUint(emad.permissions, U8_MAX, `emads[${i}].permissions`);
    assertUint(emad.flags, U8_MAX, `emads[${i}].flags`);
    assertUint(emad.composite_offset, U32_MAX, `emads[${i}].composite_offset`);
    assertU64(emad.reserved, `emads[${i}].reserved`);
    if (emad.impdef !== null) {
      assertU64(emad.impdef[0], `emads[${i}].impdef[0]`);
      assertU64(emad.impdef[1], `emads[${i}].impdef[1]`);
    }
    writeEmad(dv, headerSize + i * stride, emad, impdef);
  }

  if (constituents !== null) {
    let sum = 0;
    for (let i = 0; i < constituents.length; i++) {
      const c = constituents[i];
      const item = { address: c.address, page_count: c.page_count, reserved: c.reserved ?? 0 };
      assertU64(item.address, `constituents[${i}].address`);
      assertUint(item.page_count, U32_MAX, `constituents[${i}].page_count`);
      assertUint(item.reserved, U32_MAX, `constituents[${i}].reserved`);
      writeConstituent(dv, compositeOffset + COMPOSITE_SIZE + i * CONSTITUENT_SIZE, item);
      sum += item.page_count;
    }
    const totalPages = overrides.total_page_count ?? sum;
    const rangeCount = overrides.address_range_count ?? constituents.length;
    const compositeReserved = overrides.composite_reserved ?? 0n;
    assertUint(totalPages, U32_MAX, "total_page_count (sum of page counts; override it to wrap)");
    assertUint(rangeCount, U32_MAX, "address_range_count");
    assertU64(compositeReserved, "composite reserved");
    writeCompositeHeader(dv, compositeOffset, totalPages, rangeCount, compositeReserved);
  }
  return bytes;
}

/**
 * Decodes a complete (all fragments joined) transaction descriptor as `version` lays it out. Never
 * throws: out-of-bounds structures give `{ ok: false, error: { field, offset, why, rule } }`.
 *
 * EMADs are read at `emad_offset + i × emad_size`, as Hafnium's ffa_memory_region_get_receiver()
 * does; an EMAD size of 32 or more is read with the v1.2 impdef field, 16..31 without
 * (ffa_version_from_memory_access_desc_size()). The composite is the one EMAD[0] points at, as in
 * ffa_memory_region_get_composite(…, 0).
 */
export function decodeMemRegion(bytes: Uint8Array, version: FfaVersion): Decoded<MemRegion> {
  const length = bytes.length;
  const headerSize = mtdHeaderSize(version);
  if (length < headerSize) {
    return decodeError(
      "header",
      0,
      "header-in-bounds",
      `a v${version} transaction descriptor header is ${headerSize} bytes; the buffer has ${length}`,
    );
  }
  const dv = viewOf(bytes);
  let attributes: number;
  let emadSizeField: number;
  let emadOffset: number;
  let reserved: number[];
  if (version === "1.0") {
    attributes = dv.getUint8(MTD_ATTRIBUTES);
    reserved = [dv.getUint8(MTD_V1_0_RESERVED_0), dv.getUint32(MTD_V1_0_RESERVED_1, true)];
    emadSizeField = EMAD_SIZE_V1_0;
    emadOffset = headerSize;
  } else {
    attributes = dv.getUint16(MTD_ATTRIBUTES, true);
    emadSizeField = dv.getUint32(MTD_EMAD_SIZE, true);
    emadOffset = dv.getUint32(MTD_EMAD_OFFSET, true);
    reserved = [
      dv.getUint32(MTD_RESERVED, true),
      dv.getUint32(MTD_RESERVED + 4, true),
      dv.getUint32(MTD_RESERVED + 8, true),
    ];
  }
  const count = dv.getUint32(MTD_EMAD_COUNT, true);

  const emads: Emad[] = [];
  let composite: Composite | null = null;
  if (count > 0) {
    if (emadSizeField < EMAD_SIZE_V1_0) {
      return decodeError(
        "emad_size",
        MTD_EMAD_SIZE,
        "emad-size-readable",
        `EMAD size ${emadSizeField} is smaller than the ${EMAD_SIZE_V1_0}-byte EMAD; the array cannot be read`,
      );
    }
    if (emadOffset > length) {
      return decodeError(
        "emad_offset",
        MTD_EMAD_OFFSET,
        "emad-array-in-bounds",
        `EMAD array offset ${emadOffset} is past the ${length}-byte buffer`,
      );
    }
    if (count > (length - emadOffset) / emadSizeField) {
      return decodeError(
        "emad_count",
        MTD_EMAD_COUNT,
        "emad-array-in-bounds",
        `${count} EMADs of ${emadSizeField} bytes at offset ${emadOffset} end at ${emadOffset + count * emadSizeField}, past the ${length}-byte buffer`,
      );
    }
    const impdef = emadSizeField >= EMAD_SIZE_V1_2;
    for (let i = 0, off = emadOffset; i < count; i++, off += emadSizeField)
      emads.push(readEmad(dv, off, impdef));

    const compositeOffset = emads[0].composite_offset;
    if (compositeOffset !== 0) {
      const read = readComposite(
        dv,
        compositeOffset,
        length,
        "emads[0].composite_offset",
        emadOffset + EMAD_COMPOSITE_OFFSET,
      );
      if (!read.ok) return read;
      composite = read.value;
    }
  }

  return {
    ok: true,
    value: {
      sender_id: dv.getUint16(MTD_SENDER_ID, true),
      attributes,
      flags: dv.getUint32(MTD_FLAGS, true),
      handle: dv.getBigUint64(MTD_HANDLE, true),
      tag: dv.getBigUint64(MTD_TAG, true),
      emad_size: emadSizeField,
      emad_count: count,
      emad_offset: emadOffset,
      reserved,
      emads,
      composite,
      length,
    },
  };
}
