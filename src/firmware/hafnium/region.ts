/**
 * Hafnium's view of a memory transaction descriptor: the first fragment copied into a page of its
 * pool (so reads past the fragment see zeros, as in the real copy), checked by
 * ffa_memory_region_sanity_check() and, for an FF-A v1.0 caller, converted to the v1.1 layout it
 * works in (api_ffa_memory_transaction_descriptor_v1_1_from_v1_0()) — Hafnium src/ffa_memory.c,
 * src/api.c (reference/ffa.md §3, §5.3). The byte layouts are the codec's (abi/ffa/layout.ts).
 */
import { ffaVersionNumber, ffaVersionsAreCompatible, type FfaVersion } from "../../abi/ffa/index.ts";
import { readEmad, type Emad } from "../../abi/ffa/emad.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_SIZE,
  EMAD_SIZE_V1_0,
  EMAD_SIZE_V1_2,
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_HANDLE,
  MTD_HEADER_SIZE_V1_0,
  MTD_HEADER_SIZE_V1_1,
  MTD_RESERVED,
  MTD_SENDER_ID,
  MTD_TAG,
  MTD_V1_0_RESERVED_0,
  MTD_V1_0_RESERVED_1,
} from "../../abi/ffa/layout.ts";
import type { StoredConstituent } from "../spmc/share_state.ts";
import { MM_PPOOL_ENTRY_SIZE } from "../spmc/spmc.ts";

/** `struct ffa_memory_region` in the v1.1 form Hafnium works with, plus what it read of the composite. */
export interface HfRegion {
  readonly sender: number;
  readonly attributes: number;
  readonly flags: number;
  readonly handle: bigint;
  readonly tag: bigint;
  /** memory_access_desc_size (16 or 32; 16 after a v1.0 conversion). */
  readonly emadSize: number;
  readonly receiverCount: number;
  readonly receiversOffset: number;
  readonly emads: readonly Emad[];
  /** EMAD[0]'s composite offset (0 in a retrieve request). */
  readonly compositeOffset: number;
  /** Composite header (send only): page_count, constituent_count. */
  readonly compositePageCount: number;
  readonly compositeConstituentCount: number;
  /** Constituents carried by this first fragment (send only). */
  readonly constituents: StoredConstituent[];
  /** Fragment and total length in Hafnium's (v1.1) terms. */
  readonly fragmentLength: number;
  readonly totalLength: number;
  /** What the conversion from v1.0 added to the lengths (0 for v1.1+). */
  readonly conversionDelta: number;
}

/** The fragment as Hafnium copies it: a zero-filled pool page (or the fragment, if longer). */
export function poolCopy(fragment: Uint8Array): Uint8Array {
  if (fragment.length >= MM_PPOOL_ENTRY_SIZE) return fragment;
  const page = new Uint8Array(MM_PPOOL_ENTRY_SIZE);
  page.set(fragment);
  return page;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** ffa_version_from_memory_access_desc_size(). */
function versionFromEmadSize(size: number): number {
  return size === EMAD_SIZE_V1_0
    ? ffaVersionNumber("1.1")
    : size === EMAD_SIZE_V1_2
      ? ffaVersionNumber("1.2")
      : 0;
}

/**
 * ffa_memory_region_sanity_check(): null when the descriptor passes, else the rule that failed
 * (every failure is FFA_INVALID_PARAMETERS).
 */
export function sanityCheck(
  buf: Uint8Array,
  layout: FfaVersion,
  fragmentLength: number,
  send: boolean,
  maxRecipients: number,
): { rule: string; why: string } | null {
  const d = dv(buf);
  const count = d.getUint32(MTD_EMAD_COUNT, true);
  let emadOffset: number;
  let stride: number;
  let emadSizeField: number;
  if (layout === "1.0") {
    if (d.getUint8(MTD_V1_0_RESERVED_0) !== 0 || d.getUint32(MTD_V1_0_RESERVED_1, true) !== 0)
      return { rule: "reserved-mbz", why: "v1.0 reserved_0 / reserved_1 are not 0" };
    emadOffset = MTD_HEADER_SIZE_V1_0;
    stride = EMAD_SIZE_V1_0;
    emadSizeField = d.getUint32(MTD_V1_0_RESERVED_1, true);
  } else {
    for (let i = 0; i < 3; i++) {
      if (d.getUint32(MTD_RESERVED + 4 * i, true) !== 0)
        return { rule: "reserved-mbz", why: `reserved[${i}] is not 0` };
    }
    emadSizeField = d.getUint32(MTD_EMAD_SIZE, true);
    emadOffset = d.getUint32(MTD_EMAD_OFFSET, true);
    // receiver_size_and_offset_valid_for_version()
    const expected = versionFromEmadSize(emadSizeField);
    if (
      expected === 0 ||
      !ffaVersionsAreCompatible(expected, ffaVersionNumber(layout)) ||
      emadOffset !== MTD_HEADER_SIZE_V1_1
    ) {
      return {
        rule: "emad-size-for-version",
        why: `memory access descriptor size ${emadSizeField} or receivers offset ${emadOffset} not valid for v${layout}`,
      };
    }
    stride = emadSizeField;
  }
  if (count > maxRecipients || count < 1)
    return { rule: "receiver-count", why: `receiver count ${count} not in 1..${maxRecipients}` };
  const emads = readEmads(buf, emadOffset, stride, count);
  const comp0 = emads[0].composite_offset;
  if (!send) {
    if (comp0 !== 0)
      return {
        rule: "retrieve-composite-offset-zero",
        why: `composite offset ${comp0} in a retrieve request MBZ`,
      };
  } else if (
    comp0 === 0 ||
    comp0 < MTD_HEADER_SIZE_V1_1 + emadSizeField * count ||
    comp0 + COMPOSITE_SIZE > fragmentLength
  ) {
    return {
      rule: "composite-offset",
      why: `composite offset ${comp0} invalid for a send of a ${fragmentLength}-byte fragment`,
    };
  }
  for (let i = 0; i < count; i++) {
    if (emads[i].reserved !== 0n) return { rule: "reserved-mbz", why: `EMAD[${i}] reserved is not 0` };
    if (emads[i].composite_offset !== comp0)
      return { rule: "composite-offset-same", why: `EMAD[${i}] composite offset differs from EMAD[0]'s` };
  }
  return null;
}

function readEmads(buf: Uint8Array, offset: number, stride: number, count: number): Emad[] {
  const d = dv(buf);
  const out: Emad[] = [];
  for (let i = 0; i < count; i++) out.push(readEmad(d, offset + i * stride, stride >= EMAD_SIZE_V1_2));
  return out;
}

/**
 * Reads the (sane) descriptor as a v1.1 region, converting a v1.0 one. Fails with NOT_SUPPORTED when
 * the converted first fragment would not fit a pool page.
 */
export function readRegion(
  buf: Uint8Array,
  layout: FfaVersion,
  fragmentLength: number,
  totalLength: number,
  send: boolean,
): HfRegion | "not-supported" {
  const d = dv(buf);
  const count = d.getUint32(MTD_EMAD_COUNT, true);
  const v10 = layout === "1.0";
  const emadOffset = v10 ? MTD_HEADER_SIZE_V1_0 : d.getUint32(MTD_EMAD_OFFSET, true);
  const stride = v10 ? EMAD_SIZE_V1_0 : d.getUint32(MTD_EMAD_SIZE, true);
  const emads = readEmads(buf, emadOffset, stride, count);
  const origComposite = emads[0].composite_offset;
  let delta = 0;
  let compositeOffset = origComposite;
  if (v10) {
    const receiversEnd = MTD_HEADER_SIZE_V1_1 + count * EMAD_SIZE_V1_0;
    const constituentsSize = send ? fragmentLength - origComposite - COMPOSITE_SIZE : 0;
    const v11Length = send ? receiversEnd + COMPOSITE_SIZE + constituentsSize : receiversEnd;
    if (v11Length > MM_PPOOL_ENTRY_SIZE || constituentsSize < 0) return "not-supported";
    delta = v11Length - fragmentLength;
    compositeOffset = send ? receiversEnd : 0;
  }
  let pageCount = 0;
  let constituentCount = 0;
  const constituents: StoredConstituent[] = [];
  if (send && origComposite + COMPOSITE_SIZE <= buf.length) {
    pageCount = d.getUint32(origComposite + COMPOSITE_TOTAL_PAGE_COUNT, true);
    constituentCount = d.getUint32(origComposite + COMPOSITE_ADDRESS_RANGE_COUNT, true);
    const first = origComposite + COMPOSITE_SIZE;
    const n = Math.max(0, Math.floor((fragmentLength - first) / CONSTITUENT_SIZE));
    for (
      let i = 0, off = first;
      i < n && off + CONSTITUENT_SIZE <= buf.length;
      i++, off += CONSTITUENT_SIZE
    ) {
      constituents.push(readConstituent(d, off));
    }
  }
  return {
    sender: d.getUint16(MTD_SENDER_ID, true),
    attributes: v10 ? d.getUint8(MTD_ATTRIBUTES) : d.getUint16(MTD_ATTRIBUTES, true),
    flags: d.getUint32(MTD_FLAGS, true),
    handle: d.getBigUint64(MTD_HANDLE, true),
    tag: d.getBigUint64(MTD_TAG, true),
    emadSize: v10 ? EMAD_SIZE_V1_0 : stride,
    receiverCount: count,
    receiversOffset: MTD_HEADER_SIZE_V1_1,
    emads: emads.map((e) => ({ ...e, composite_offset: compositeOffset })),
    compositeOffset,
    compositePageCount: pageCount,
    compositeConstituentCount: constituentCount,
    constituents,
    fragmentLength: fragmentLength + delta,
    totalLength: totalLength + delta,
    conversionDelta: delta,
  };
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const ENTRY = 16; // CONSTITUENT_SIZE, local in the hot loop

/** A constituent's address beyond 2^53 cannot be DRAM; it is kept as +Infinity so every check fails. */
function readConstituent(d: DataView, off: number): StoredConstituent {
  const hi = d.getUint32(off + 4, true);
  const address = hi < 0x20_0000 ? hi * 0x1_0000_0000 + d.getUint32(off, true) : readBig(d, off);
  return { address, pageCount: d.getUint32(off + 8, true) };
}

function readBig(d: DataView, off: number): number {
  const a = d.getBigUint64(off, true);
  return a <= MAX_SAFE ? Number(a) : Number.POSITIVE_INFINITY;
}

/** Constituents of a later fragment (FFA_MEM_FRAG_TX): whole 16-byte entries. */
export function readConstituents(bytes: Uint8Array): StoredConstituent[] {
  const d = dv(bytes);
  const n = Math.floor(bytes.length / ENTRY);
  const out: StoredConstituent[] = new Array<StoredConstituent>(n);
  for (let i = 0; i < n; i++) out[i] = readConstituent(d, i * ENTRY);
  return out;
}

export { MTD_HEADER_SIZE_V1_1 };
