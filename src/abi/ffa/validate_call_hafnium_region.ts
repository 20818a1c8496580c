/**
 * How Hafnium reads a memory transaction descriptor, and the rules its send and retrieve paths share —
 * TF-Hafnium/hafnium 21bfbdc1 src/ffa_memory.c ffa_memory_region_sanity_check(),
 * receiver_size_and_offset_valid_for_version(), ffa_memory_attributes_validate(),
 * ffa_memory_check_overlap(), ffa_send_check_update(); inc/hf/ffa/ffa_memory.h
 * ffa_memory_is_handle_allocated_by_current_world(); src/vm.c vm_id_is_current_world()
 * (reference/ffa.md §5.3, §5.4). Used by validate_call_hafnium_send.ts, _retrieve.ts and _resp.ts.
 */

import {
  FFA_MEMORY_CACHEABILITY_MASK,
  FFA_MEMORY_SHAREABILITY_MASK,
  FFA_MEMORY_TYPE_MASK,
} from "./attributes.ts";
import { FFA_DENIED, FFA_INVALID_PARAMETERS } from "./error.ts";
import { ffaMemoryHandleAllocator } from "./handle.ts";
import {
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_ADDRESS,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_RESERVED_V1_0,
  EMAD_RESERVED_V1_2,
  EMAD_SIZE_V1_0,
  EMAD_SIZE_V1_2,
  FFA_PAGE_SIZE,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_HANDLE,
  MTD_ATTRIBUTES,
  MTD_HEADER_SIZE_V1_1,
  mtdReservedLayout,
} from "./layout.ts";
import { emadOffsetOf } from "./mem_region.ts";
import { hex } from "./problem.ts";
import type { CallCheck } from "./validate_call.ts";
import { FFA_VERSION_1_1, FFA_VERSION_1_2, ffaVersionNumber, ffaVersionsAreCompatible } from "./version.ts";

const INVAL = FFA_INVALID_PARAMETERS;

/** MM_PPOOL_ENTRY_SIZE — inc/hf/mm.h: one page-table page, where a v1.0 descriptor is converted. */
export const HF_MM_PPOOL_ENTRY_SIZE = 4096;

/** Field name and offset for whole-descriptor (w1) length rules: the length has no byte of its own. */
export const LENGTH_FIELD = "length";

/**
 * 8 little-endian bytes at `off`. Bytes past the descriptor read as 0, as in the simulator's Hafnium
 * model (a zero-filled pool page); real Hafnium reads whatever its pool entry holds there.
 */
export function u64At(bytes: Uint8Array, off: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(off + i < bytes.length ? bytes[off + i] : 0);
  return v;
}

/** `attributes.security` — Hafnium's 2-bit field, bits[7:6] (bit 6 is NS): MBZ in send and retrieve. */
export function securityBits(attributes: number): number {
  return (attributes >> 6) & 0x3;
}

/**
 * ffa_memory_attributes_validate() — the attributes Hafnium maps: Normal memory must be write-back,
 * Device memory nGnRnE, and either inner shareable. Null when accepted, else why (FFA_DENIED). A
 * reserved type (0b11) is neither Normal nor Device, so only its shareability is checked.
 */
export function hafniumAttributesInvalid(attributes: number): string | null {
  const type = (attributes & FFA_MEMORY_TYPE_MASK) >> 4;
  const cache = (attributes & FFA_MEMORY_CACHEABILITY_MASK) >> 2;
  if (type === 2 && cache !== 3) return `Normal memory with cacheability ${cache}, expected write-back (3)`;
  if (type === 1 && cache !== 0) return `Device memory with attributes ${cache}, expected nGnRnE (0)`;
  const share = attributes & FFA_MEMORY_SHAREABILITY_MASK;
  if (share !== 3) return `shareability ${share}, expected inner shareable (3)`;
  return null;
}

/** The version an EMAD size stands for: ffa_version_from_memory_access_desc_size(). */
function versionOfEmadSize(size: number): number {
  return size === EMAD_SIZE_V1_0 ? FFA_VERSION_1_1 : size === EMAD_SIZE_V1_2 ? FFA_VERSION_1_2 : 0;
}

/**
 * ffa_memory_region_sanity_check(): reserved fields, EMAD size and offset for the caller's version,
 * receiver count, EMAD[0]'s composite offset (send: after the EMADs and in the fragment; retrieve
 * request: 0), every EMAD's reserved field, equal composite offsets. Returns false when the header
 * is too broken for the EMAD checks (Hafnium would not read further).
 */
export function hafniumSanityCheck(c: CallCheck, send: boolean, max: number): boolean {
  const d = c.desc;
  const src = "ffa_memory_region_sanity_check()";
  const layout = mtdReservedLayout(c.version);
  for (let i = 0; i < layout.length; i++) {
    const value = d.reserved[i] ?? 0;
    if (value !== 0) {
      const name = c.version === "1.0" ? `reserved_${i}` : `reserved[${i}]`;
      c.fail(INVAL, src, "reserved-mbz", name, layout[i].offset, `${name} is ${hex(value)}; it MBZ`);
    }
  }
  let whole = true;
  if (c.version !== "1.0") {
    // receiver_size_and_offset_valid_for_version()
    const sizeVersion = versionOfEmadSize(d.emad_size);
    if (sizeVersion === 0 || !ffaVersionsAreCompatible(sizeVersion, ffaVersionNumber(c.version))) {
      const why =
        `memory access descriptor size ${d.emad_size} is not one a v${c.version} caller may use ` +
        `(16 is v1.1, 32 is v1.2; a caller may use its own or an older size)`;
      c.fail(
        INVAL,
        "receiver_size_and_offset_valid_for_version()",
        "emad-size-for-version",
        "emad_size",
        MTD_EMAD_SIZE,
        why,
      );
      whole = false;
    } else if (d.emad_offset < MTD_HEADER_SIZE_V1_1) {
      const why = `receivers offset ${d.emad_offset} is inside the ${MTD_HEADER_SIZE_V1_1}-byte header`;
      c.fail(
        INVAL,
        "receiver_size_and_offset_valid_for_version()",
        "receivers-offset",
        "emad_offset",
        MTD_EMAD_OFFSET,
        why,
      );
      whole = false;
    }
  }
  const count = d.emad_count;
  if (count < 1 || count > max) {
    c.fail(
      INVAL,
      src,
      "receiver-count",
      "emad_count",
      MTD_EMAD_COUNT,
      `receiver count ${count} is not in 1..${max} (MAX_MEM_SHARE_RECIPIENTS)`,
    );
    whole = false;
  }
  if (!whole) return false;

  const comp0 = d.emads[0].composite_offset;
  const comp0Off = emadOffsetOf(d, 0) + EMAD_COMPOSITE_OFFSET;
  if (send) {
    // Read through the v1.1 struct: for a v1.0 caller memory_access_desc_size is reserved_1 (0).
    const sizeField = c.version === "1.0" ? (d.reserved[1] ?? 0) : d.emad_size;
    const min = MTD_HEADER_SIZE_V1_1 + sizeField * count;
    if (comp0 === 0 || comp0 < min || comp0 + COMPOSITE_SIZE > d.length) {
      const why =
        `composite offset ${comp0}: a send needs it non-zero, at least ${min}, ` +
        `with the 16-byte composite inside the ${d.length}-byte fragment`;
      c.fail(INVAL, src, "composite-offset", "emads[0].composite_offset", comp0Off, why);
    }
  }
  // The reserved u64 is read at +8 for a v1.0 or v1.1 caller, at +24 (the 32-byte struct's) for v1.2
  // and later — whatever the EMAD size, so a 16-byte EMAD's +24 is in the next structure.
  const reservedAt = c.version === "1.2" ? EMAD_RESERVED_V1_2 : EMAD_RESERVED_V1_0;
  for (let i = 0; i < count; i++) {
    const base = emadOffsetOf(d, i);
    const reserved = u64At(c.bytes, base + reservedAt);
    if (reserved !== 0n && base + reservedAt < d.length) {
      const beyond =
        reservedAt >= d.emad_size
          ? ` (past this ${d.emad_size}-byte EMAD: Hafnium reads the v1.2 field)`
          : "";
      c.fail(
        INVAL,
        src,
        "reserved-mbz",
        `emads[${i}].reserved`,
        base + reservedAt,
        `EMAD[${i}] reserved is ${hex(reserved)}${beyond}`,
      );
    }
    const comp = d.emads[i].composite_offset;
    const compOff = base + EMAD_COMPOSITE_OFFSET;
    if (!send && comp !== 0) {
      const why = `composite offset ${comp}: a retrieve request gives no address ranges, the offset MBZ`;
      c.fail(INVAL, src, "retrieve-composite-offset-zero", `emads[${i}].composite_offset`, compOff, why);
    } else if (send && i > 0 && comp !== comp0) {
      const why = `composite offset ${comp} differs from EMAD[0]'s ${comp0}`;
      c.fail(INVAL, src, "composite-offset-same", `emads[${i}].composite_offset`, compOff, why);
    }
  }
  return true;
}

/** True for an ID of the secure world (Hafnium's SPMC: vm_id_is_current_world(), bit 15). */
export function isSecureId(id: number): boolean {
  return (id & 0x8000) !== 0;
}

/** ffa_memory_attributes_validate() as a rule: FFA_DENIED with why, when hafniumAttributesInvalid() says so. */
export function checkAttributesValid(c: CallCheck): void {
  const bad = hafniumAttributesInvalid(c.desc.attributes);
  if (bad === null) return;
  c.fail(
    FFA_DENIED,
    "ffa_memory_attributes_validate()",
    "attributes",
    "attributes",
    MTD_ATTRIBUTES,
    `attributes ${hex(c.desc.attributes)}: ${bad}`,
  );
}

/** Every constituent's address page-aligned (constituents_get_mode()); `code` null for a response. */
export function checkConstituentsAligned(c: CallCheck, code: number | null, source: string): void {
  const comp = c.desc.composite;
  if (comp === null) return;
  const first = comp.offset + COMPOSITE_SIZE;
  for (let j = 0; j < comp.constituents.length; j++) {
    const a = comp.constituents[j].address;
    if (BigInt.asUintN(12, a) === 0n) continue;
    c.fail(
      code,
      source,
      "constituent-address-aligned",
      `composite.constituents[${j}].address`,
      first + j * CONSTITUENT_SIZE + CONSTITUENT_ADDRESS,
      `address ${hex(a)} is not page-aligned`,
    );
  }
}

/** Σ page_count (mod 2^32, as Hafnium adds them) must be the composite's total_page_count. */
export function checkPageSum(c: CallCheck, code: number | null, source: string): void {
  const comp = c.desc.composite;
  if (comp === null) return;
  let sum = 0;
  for (const k of comp.constituents) sum = (sum + k.page_count) >>> 0;
  if (sum !== comp.total_page_count) {
    const why = `total_page_count ${comp.total_page_count}, but the constituents sum to ${sum} pages (mod 2^32)`;
    c.fail(
      code,
      source,
      "total-page-count-sum",
      "composite.total_page_count",
      comp.offset + COMPOSITE_TOTAL_PAGE_COUNT,
      why,
    );
  }
}

const U64_MAX = (1n << 64n) - 1n;

/**
 * ffa_memory_check_overlap() (Hafnium v2.15 src/ffa_memory.c), literally: each constituent against the
 * ones after it, by is_memory_range_within() both ways on inclusive ends; a constituent of 0 pages, or
 * one that runs past 2^64, ends that constituent's scan without an overlap (the C returns false there).
 * Each constituent i that overlaps a later one, with the first such j and their inclusive ranges; Hafnium
 * stops at the first. Quadratic, as in Hafnium; a descriptor holds a few thousand constituents at most.
 * Also the SPMC model's check (firmware/hafnium/send_complete.ts) for what its sweep cannot answer.
 */
export function* hafniumOverlaps(
  count: number,
  addressOf: (i: number) => bigint,
  pagesOf: (i: number) => number,
): Generator<{ i: number; j: number; cur: [bigint, bigint]; other: [bigint, bigint] }> {
  // Each inclusive range once, as 32-bit halves in numbers: the quadratic scan compares numbers, not
  // bigints (a bigint per comparison made this most of the fuzzer's time on descriptors of many
  // constituents). valid[k] = 0: 0 pages, or past 2^64.
  const bh = new Float64Array(count);
  const bl = new Float64Array(count);
  const eh = new Float64Array(count);
  const el = new Float64Array(count);
  const valid = new Uint8Array(count);
  for (let k = 0; k < count; k++) {
    const size = BigInt(pagesOf(k)) * BigInt(FFA_PAGE_SIZE);
    const begin = addressOf(k);
    if (size === 0n || size > U64_MAX - begin) continue;
    const end = begin + size - 1n;
    bh[k] = Number(begin >> 32n);
    bl[k] = Number(begin & 0xffff_ffffn);
    eh[k] = Number(end >> 32n);
    el[k] = Number(end & 0xffff_ffffn);
    valid[k] = 1;
  }
  if (!anyIntersect(bh, bl, eh, el, valid)) return;
  const span = (k: number): [bigint, bigint] => [
    (BigInt(bh[k]) << 32n) | BigInt(bl[k]),
    (BigInt(eh[k]) << 32n) | BigInt(el[k]),
  ];
  for (let i = 0; i < count; i++) {
    if (valid[i] === 0) continue;
    const cbh = bh[i];
    const cbl = bl[i];
    const ceh = eh[i];
    const cel = el[i];
    for (let j = i + 1; j < count; j++) {
      if (valid[j] === 0) break;
      // is_memory_range_within(other, cur) || is_memory_range_within(cur, other): (b >= ib && b < ie)
      // || (e <= ie && e > ib), each comparison on (high, low) halves.
      const obh = bh[j];
      const obl = bl[j];
      const oeh = eh[j];
      const oel = el[j];
      if (
        (ge(obh, obl, cbh, cbl) && lt(obh, obl, ceh, cel)) ||
        (ge(ceh, cel, oeh, oel) && lt(cbh, cbl, oeh, oel)) ||
        (ge(cbh, cbl, obh, obl) && lt(cbh, cbl, oeh, oel)) ||
        (ge(oeh, oel, ceh, cel) && lt(obh, obl, ceh, cel))
      ) {
        yield { i, j, cur: span(i), other: span(j) };
        break;
      }
    }
  }
}

/**
 * Whether two valid ranges of one run of valid constituents (a scan stops at an invalid one) share a
 * byte: sorted by start, a range starting at or before the furthest end so far. Hafnium's test is
 * narrower (two ranges meeting in one byte only do not overlap for it), so none here means none there,
 * and the quadratic scan runs only when this finds some: a sweep over hundreds of constituents instead
 * of tens of thousands of pairs.
 */
function anyIntersect(
  bh: Float64Array,
  bl: Float64Array,
  eh: Float64Array,
  el: Float64Array,
  valid: Uint8Array,
): boolean {
  const order: number[] = [];
  for (let k = 0; k <= valid.length; k++) {
    if (k < valid.length && valid[k] === 1) {
      order.push(k);
      continue;
    }
    if (order.length > 1) {
      order.sort((a, b) => bh[a] - bh[b] || bl[a] - bl[b]);
      let mh = eh[order[0]];
      let ml = el[order[0]];
      for (let n = 1; n < order.length; n++) {
        const x = order[n];
        if (!lt(mh, ml, bh[x], bl[x])) return true;
        if (lt(mh, ml, eh[x], el[x])) {
          mh = eh[x];
          ml = el[x];
        }
      }
    }
    order.length = 0;
  }
  return false;
}

/** (ah, al) < (bh, bl), 64-bit values as 32-bit halves. */
function lt(ah: number, al: number, bh: number, bl: number): boolean {
  return ah < bh || (ah === bh && al < bl);
}

/** (ah, al) >= (bh, bl). */
function ge(ah: number, al: number, bh: number, bl: number): boolean {
  return !lt(ah, al, bh, bl);
}

/** ffa_memory_check_overlap() over the descriptor's constituents (hafniumOverlaps()): every overlap a problem. */
export function checkOverlap(c: CallCheck, code: number | null, source: string): void {
  const comp = c.desc.composite;
  if (comp === null) return;
  const cs = comp.constituents;
  const first = comp.offset + COMPOSITE_SIZE;
  const overlaps = hafniumOverlaps(
    cs.length,
    (k) => cs[k].address,
    (k) => cs[k].page_count,
  );
  for (const { i, j, cur, other } of overlaps) {
    const why = `constituent ${i} (${hex(cur[0])}..${hex(cur[1])}) overlaps constituent ${j} (${hex(other[0])}..${hex(other[1])})`;
    c.fail(
      code,
      source,
      "constituents-overlap",
      `composite.constituents[${i}].address`,
      first + i * CONSTITUENT_SIZE + CONSTITUENT_ADDRESS,
      why,
    );
  }
}

/** The handle must be the SPMC's (bit 63 clear): ffa_memory_is_handle_allocated_by_current_world(). */
export function checkHandleAllocator(c: CallCheck, source: string, code: number | null): void {
  const h = c.desc.handle;
  if (ffaMemoryHandleAllocator(h) !== "spmc") {
    const why = `handle ${hex(h)} has bit 63 set: the hypervisor allocated it (or it is FFA_MEMORY_HANDLE_INVALID), not the SPMC`;
    c.fail(code, source, "handle-other-world", "handle", MTD_HANDLE, why);
  }
  if (h === 0n) {
    c.note(
      "handle 0 is share-state index 0 with the SPMC allocator bit: Hafnium's first handle, so it is valid there " +
        "(TF-A's handles start at 0xffffffc0)",
    );
  }
}
