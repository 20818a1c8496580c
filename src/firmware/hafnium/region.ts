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
  EMAD_COMPOSITE_OFFSET,
  EMAD_RESERVED_V1_0,
  EMAD_RESERVED_V1_2,
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
import type { Why } from "../spmc/regs.ts";
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

/** The pool page poolCopy() fills, and how many of its first bytes may be non-zero. */
const poolPage = new Uint8Array(MM_PPOOL_ENTRY_SIZE);
let poolPageDirty = 0;

/**
 * The fragment as Hafnium copies it: a zero-filled pool page (or the fragment, if longer). One page is
 * reused call after call (an SPMC call never sleeps while it reads the descriptor, and nothing keeps
 * the page past the call: readRegion() copies out what it needs), cleared only where the last copy wrote.
 */
export function poolCopy(fragment: Uint8Array): Uint8Array {
  if (fragment.length >= MM_PPOOL_ENTRY_SIZE) return fragment;
  if (poolPageDirty > fragment.length) poolPage.fill(0, fragment.length, poolPageDirty);
  poolPage.set(fragment);
  poolPageDirty = fragment.length;
  return poolPage;
}

let lastBuf: Uint8Array | null = null;
let lastView: DataView | null = null;

/** A DataView of b; the last one is reused (the checks read one buffer field by field). */
function dv(b: Uint8Array): DataView {
  if (b !== lastBuf) {
    lastView = new DataView(b.buffer, b.byteOffset, b.byteLength);
    lastBuf = b;
  }
  return lastView!;
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
 * Little-endian reads that see zeros past the buffer. Hafnium's pool page (send) or per-CPU buffer
 * (retrieve) holds whatever it held before beyond the copied fragment, and a receivers offset near
 * 2^32 makes it read far outside it (below); the model reads zeros there, as in poolCopy().
 */
function u32At(buf: Uint8Array, off: number): number {
  if (off < 0 || off + 4 > buf.length) return 0;
  return dv(buf).getUint32(off, true);
}

function u64At(buf: Uint8Array, off: number): bigint {
  if (off < 0 || off + 8 > buf.length) return 0n;
  return dv(buf).getBigUint64(off, true);
}

/**
 * Where Hafnium reads an EMAD's `reserved_0` (a u64), by the CALLER's version, not the EMAD size —
 * ffa_memory_region_sanity_check() (v2.14.0, v2.15.0): a v1.0 or v1.1 caller's EMAD is cast to
 * `struct ffa_memory_access_v1_0` (reserved_0 at +8); any later caller's to `struct ffa_memory_access`
 * (receiver_permissions 4, composite offset 4, impdef 16: reserved_0 at +24), also when it sent
 * 16-byte EMADs (allowed: the v1.1 size is compatible with v1.2). Then +24 is bytes 8..15 of the next
 * EMAD (its own reserved_0), and past the last one whatever follows: the composite's reserved field
 * when the composite comes right after the EMADs, or the bytes after the fragment.
 */
export function emadReservedOffsetFor(layout: FfaVersion): number {
  return layout === "1.2" ? EMAD_RESERVED_V1_2 : EMAD_RESERVED_V1_0;
}

/**
 * ffa_memory_region_sanity_check() — Hafnium src/ffa_memory.c v2.15.0 (unchanged at 21bfbdc1): null
 * when the descriptor passes, else the rule that failed (every failure is FFA_INVALID_PARAMETERS), in
 * its order:
 * 1. v1.0: reserved_0 / reserved_1 MBZ; EMADs at 32, 16 bytes each. v1.1+: reserved[3] MBZ, then
 *    receiver_size_and_offset_valid_for_version(): memory_access_desc_size must be 16 (v1.1) or 32
 *    (v1.2) and that version compatible with the caller's (same major, minor ≤), and
 *    `receivers_offset >= sizeof(struct ffa_memory_region)` (48) — any offset at or past the header
 *    (68007003 "relax receivers offset check", in v2.14.0; it was `== 48` before).
 * 2. receiver_count in 1..MAX_MEM_SHARE_RECIPIENTS.
 * 3. (v2.15.0, a9d6a31f) the fragment holds the EMAD array: fragment_length ≥ receivers_offset +
 *    size × count, computed in u32 (so an offset near 2^32 wraps and passes; the EMADs are then read
 *    ~4 GiB away — zeros here). v2.14.0 did not check this here; it checked `fragment_length ≥ 48 +
 *    size` in api_ffa_mem_send() after the v1.0 conversion instead.
 * 4. EMAD[0]'s composite offset: 0 in a retrieve request; in a send non-zero, ≥ 48 + desc_size ×
 *    count (the v1.1 struct's fields: for a v1.0 caller desc_size is reserved_1, 0) — not the
 *    receivers offset — and with the 16-byte composite header inside the fragment.
 * 5. For every EMAD: reserved_0 MBZ where emadReservedOffsetFor() says, then its composite offset
 *    equal to EMAD[0]'s.
 */
export function sanityCheck(
  buf: Uint8Array,
  layout: FfaVersion,
  fragmentLength: number,
  send: boolean,
  maxRecipients: number,
): { rule: string; why: Why } | null {
  const d = dv(buf);
  const count = d.getUint32(MTD_EMAD_COUNT, true);
  let receiversOffset: number;
  let receiversSize: number;
  if (layout === "1.0") {
    if (d.getUint8(MTD_V1_0_RESERVED_0) !== 0 || d.getUint32(MTD_V1_0_RESERVED_1, true) !== 0)
      return { rule: "reserved-mbz", why: "v1.0 reserved_0 / reserved_1 are not 0" };
    receiversOffset = MTD_HEADER_SIZE_V1_0;
    receiversSize = EMAD_SIZE_V1_0;
  } else {
    receiversSize = d.getUint32(MTD_EMAD_SIZE, true);
    receiversOffset = d.getUint32(MTD_EMAD_OFFSET, true);
    for (let i = 0; i < 3; i++) {
      if (d.getUint32(MTD_RESERVED + 4 * i, true) !== 0)
        return { rule: "reserved-mbz", why: () => `reserved[${i}] is not 0` };
    }
    // receiver_size_and_offset_valid_for_version()
    const expected = versionFromEmadSize(receiversSize);
    if (expected === 0 || !ffaVersionsAreCompatible(expected, ffaVersionNumber(layout)))
      return {
        rule: "emad-size-for-version",
        why: () => `memory access descriptor size ${receiversSize} not valid for a v${layout} caller`,
      };
    if (receiversOffset < MTD_HEADER_SIZE_V1_1)
      return {
        rule: "receivers-offset",
        why: () => `receivers offset ${receiversOffset} overlaps the ${MTD_HEADER_SIZE_V1_1}-byte header`,
      };
  }
  if (count > maxRecipients || count < 1)
    return { rule: "receiver-count", why: () => `receiver count ${count} not in 1..${maxRecipients}` };
  const receiversEnd = (receiversOffset + Math.imul(receiversSize, count)) >>> 0;
  if (fragmentLength < receiversEnd)
    return {
      rule: "fragment-too-short",
      why: () => `fragment length ${fragmentLength} smaller than the receivers' end ${receiversEnd}`,
    };
  // ffa_memory_region_get_receiver(): receivers_offset + i × memory_access_desc_size (v1.0: 32 + 16i).
  const at = (i: number) => receiversOffset + i * receiversSize;
  const comp0 = u32At(buf, at(0) + EMAD_COMPOSITE_OFFSET);
  if (!send) {
    if (comp0 !== 0)
      return {
        rule: "retrieve-composite-offset-zero",
        why: () => `composite offset ${comp0} in a retrieve request MBZ`,
      };
  } else {
    // Read through the v1.1 struct: for a v1.0 caller memory_access_desc_size is reserved_1 (0).
    const descSize = d.getUint32(MTD_EMAD_SIZE, true);
    if (
      comp0 === 0 ||
      comp0 < MTD_HEADER_SIZE_V1_1 + (Math.imul(descSize, count) >>> 0) ||
      comp0 + COMPOSITE_SIZE > fragmentLength
    )
      return {
        rule: "composite-offset",
        why: () => `composite offset ${comp0} invalid for a send of a ${fragmentLength}-byte fragment`,
      };
  }
  const reservedAt = emadReservedOffsetFor(layout);
  for (let i = 0; i < count; i++) {
    const reserved = u64At(buf, at(i) + reservedAt);
    if (reserved !== 0n) {
      const where =
        reservedAt >= receiversSize
          ? ` (read at +${reservedAt} of this ${receiversSize}-byte EMAD, as a v${layout} caller's)`
          : "";
      return {
        rule: "reserved-mbz",
        why: () => `EMAD[${i}] reserved is 0x${reserved.toString(16)}${where}`,
      };
    }
    if (u32At(buf, at(i) + EMAD_COMPOSITE_OFFSET) !== comp0)
      return {
        rule: "composite-offset-same",
        why: () => `EMAD[${i}] composite offset differs from EMAD[0]'s`,
      };
  }
  return null;
}

/** The EMADs as Hafnium reads them (zeros where they lie past the buffer, see u32At()). */
function readEmads(buf: Uint8Array, offset: number, stride: number, count: number): Emad[] {
  const d = dv(buf);
  const out: Emad[] = [];
  for (let i = 0; i < count; i++) {
    const off = offset + i * stride;
    out.push(
      off + stride <= buf.length
        ? readEmad(d, off, stride >= EMAD_SIZE_V1_2)
        : readEmad(new DataView(new ArrayBuffer(stride)), 0, stride >= EMAD_SIZE_V1_2),
    );
  }
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
    // ffa_memory_send_validate() and ffa_memory_retrieve_validate() use the descriptor's own field.
    receiversOffset: v10 ? MTD_HEADER_SIZE_V1_1 : emadOffset,
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

/**
 * A constituent's address beyond 2^53 cannot be DRAM: `address` is +Infinity, so no page lookup finds
 * it, and `big` keeps it whole for the checks Hafnium makes on the 64-bit value (alignment, overlap).
 */
function readConstituent(d: DataView, off: number): StoredConstituent {
  const hi = d.getUint32(off + 4, true);
  const pageCount = d.getUint32(off + 8, true);
  if (hi < 0x20_0000) return { address: hi * 0x1_0000_0000 + d.getUint32(off, true), pageCount };
  const a = d.getBigUint64(off, true);
  return a <= MAX_SAFE ? { address: Number(a), pageCount } : { address: Infinity, pageCount, big: a };
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
