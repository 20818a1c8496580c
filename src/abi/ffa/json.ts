/**
 * JSON views of FF-A descriptors for `rstmem ffa decode HEX|@FILE [--version 1.0|1.1|1.2]`: every
 * field named in spec spelling, handles and addresses as hex strings, typed forms next to the raw
 * numbers, and every problem validateMemRegion() finds — or, with `--call NAME`, the call's rules as
 * the SPMCs apply them (validateCall()). Output is plain JSON (no bigint).
 */

import {
  unpackMemAccessPermissions,
  unpackMemAttributes,
  FFA_MEM_RETRIEVE_SELF_BORROWER,
} from "./attributes.ts";
import type { FfaMemCall } from "./call.ts";
import { unpackMemRegionFlags, unpackRelinquishFlags } from "./flags.ts";
import { ffaHandleHex, ffaMemoryHandleAllocator } from "./handle.ts";
import { FFA_PAGE_SIZE } from "./layout.ts";
import { decodeMemRegion, emadOffsetOf } from "./mem_region.ts";
import type { Decoded, FfaProblem } from "./problem.ts";
import { decodeRelinquish, validateRelinquish } from "./relinquish.ts";
import { validateMemRegion, type ValidateOptions } from "./validate.ts";
import {
  callNotChecked,
  validateCall,
  type CallOptions,
  type CallProblem,
  type CallVerdict,
  type FfaSpmc,
} from "./validate_call.ts";
import type { FfaVersion } from "./version.ts";

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function hexN(value: number | bigint, digits: number): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}

function problemJson(p: FfaProblem): Json {
  return { field: p.field, offset: p.offset, rule: p.rule, why: p.why };
}

/**
 * Decodes and validates a memory transaction descriptor and describes it as JSON. Never throws; a
 * descriptor that cannot be decoded gives `decoded: false` and its decode error as the only problem.
 */
export function describeDescriptor(
  bytes: Uint8Array,
  version: FfaVersion = "1.2",
  options: ValidateOptions = {},
): { [key: string]: Json } {
  const out: { [key: string]: Json } = { descriptor: "ffa_mem_region", version, length: bytes.length };
  const decoded = decodeMemRegion(bytes, version);
  if (!decoded.ok) {
    out.decoded = false;
    out.problems = [problemJson(decoded.error)];
    return out;
  }
  const d = decoded.value;
  const attrs = unpackMemAttributes(d.attributes);
  const flags = unpackMemRegionFlags(d.flags);
  out.decoded = true;
  out.header = {
    sender_id: hexN(d.sender_id, 4),
    attributes: {
      raw: d.attributes,
      hex: hexN(d.attributes, version === "1.0" ? 2 : 4),
      type: attrs.type,
      cacheability: attrs.cacheability,
      device: attrs.device,
      shareability: attrs.shareability,
      ns: attrs.ns,
    },
    flags: {
      raw: d.flags,
      hex: hexN(d.flags, 8),
      zero_memory: flags.zeroMemory,
      time_slicing: flags.timeSlicing,
      zero_after_relinquish: flags.zeroAfterRelinquish,
      transaction_type: flags.transactionType,
      alignment_hint: flags.alignmentHint,
      alignment_hint_valid: flags.alignmentHintValid,
      bypass_borrowers_check: flags.bypassBorrowersCheck,
    },
    handle: ffaHandleHex(d.handle),
    handle_allocator: ffaMemoryHandleAllocator(d.handle),
    tag: hexN(d.tag, 16),
    emad_size: d.emad_size,
    emad_count: d.emad_count,
    emad_offset: d.emad_offset,
    reserved: d.reserved.slice(),
  };
  out.emads = d.emads.map((e, i) => {
    const perm = unpackMemAccessPermissions(e.permissions);
    return {
      index: i,
      offset: emadOffsetOf(d, i),
      receiver_id: hexN(e.receiver_id, 4),
      permissions: {
        raw: e.permissions,
        hex: hexN(e.permissions, 2),
        data: perm.data,
        instruction: perm.instruction,
      },
      flags: {
        raw: e.flags,
        hex: hexN(e.flags, 2),
        self_borrower: (e.flags & FFA_MEM_RETRIEVE_SELF_BORROWER) !== 0,
      },
      composite_offset: e.composite_offset,
      impdef: e.impdef === null ? null : [hexN(e.impdef[0], 16), hexN(e.impdef[1], 16)],
      reserved: hexN(e.reserved, 16),
    };
  });
  const comp = d.composite;
  out.composite =
    comp === null
      ? null
      : {
          offset: comp.offset,
          total_page_count: comp.total_page_count,
          address_range_count: comp.address_range_count,
          reserved: hexN(comp.reserved, 16),
          constituents: comp.constituents.map((c, j) => ({
            index: j,
            offset: comp.offset + 16 + 16 * j,
            address: hexN(c.address, 16),
            page_count: c.page_count,
            size_bytes: c.page_count * FFA_PAGE_SIZE,
            end: hexN(c.address + BigInt(c.page_count) * BigInt(FFA_PAGE_SIZE), 16),
            reserved: c.reserved,
          })),
        };
  out.problems = validateMemRegion(d, version, options).map(problemJson);
  return out;
}

function callProblemJson(p: CallProblem): Json {
  return { field: p.field, offset: p.offset, rule: p.rule, why: p.why, error: p.error, source: p.source };
}

function verdictJson(v: CallVerdict, func: FfaMemCall["func"]): Json {
  return {
    valid: v.problems.length === 0,
    problems: v.problems.map(callProblemJson),
    notes: v.notes.slice(),
    not_checked: callNotChecked(func, v.spmc).slice(),
  };
}

/**
 * As {@link describeDescriptor}, with the rules of `call` as the SPMCs apply them (validateCall()):
 * `call` holds Hafnium's and TF-A's verdicts, and `problems` is the verdict of `spmc` (default
 * Hafnium), each problem with the FF-A error the SPMC answers and the function that applies the rule.
 * A descriptor that does not decode keeps its decode error as its only problem.
 */
export function describeDescriptorForCall(
  bytes: Uint8Array,
  version: FfaVersion,
  call: FfaMemCall,
  spmc: FfaSpmc = "hafnium",
  options: CallOptions = {},
): { [key: string]: Json } {
  const out = describeDescriptor(bytes, version);
  const head: { [key: string]: Json } = {
    name: call.name,
    id: hexN(call.id, 8),
    decided_by: spmc,
  };
  const decoded = decodeMemRegion(bytes, version);
  if (!decoded.ok) {
    const problems = out.problems;
    delete out.problems;
    out.call = head;
    out.problems = problems;
    return out;
  }
  const verdicts = validateCall(bytes, decoded.value, version, call.func, options);
  head.hafnium = verdictJson(verdicts.hafnium, call.func);
  head.tf_a = verdictJson(verdicts["tf-a"], call.func);
  delete out.problems; // re-added last, after `call`
  out.call = head;
  out.problems = verdicts[spmc].problems.map(callProblemJson);
  return out;
}

/** As {@link describeDescriptor}, for a relinquish descriptor (same layout in every version). */
export function describeRelinquish(bytes: Uint8Array): { [key: string]: Json } {
  const out: { [key: string]: Json } = { descriptor: "ffa_mem_relinquish", length: bytes.length };
  const decoded = decodeRelinquish(bytes);
  if (!decoded.ok) {
    out.decoded = false;
    out.problems = [problemJson(decoded.error)];
    return out;
  }
  const r = decoded.value;
  const flags = unpackRelinquishFlags(r.flags);
  out.decoded = true;
  out.handle = ffaHandleHex(r.handle);
  out.handle_allocator = ffaMemoryHandleAllocator(r.handle);
  out.flags = {
    raw: r.flags,
    hex: hexN(r.flags, 8),
    zero_after_relinquish: flags.zeroAfterRelinquish,
    time_slicing: flags.timeSlicing,
  };
  out.endpoint_count = r.endpoint_count;
  out.endpoints = r.endpoints.map((e) => hexN(e, 4));
  out.problems = validateRelinquish(r).map(problemJson);
  return out;
}

function hexDigit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48; // 0-9
  if (code >= 97 && code <= 102) return code - 87; // a-f
  if (code >= 65 && code <= 70) return code - 55; // A-F
  return -1;
}

/** Separators allowed between hex digits or byte tokens: whitespace , : - _ ; [ ] */
function isSeparator(code: number): boolean {
  return (
    code === 32 ||
    code === 9 ||
    code === 10 ||
    code === 13 ||
    code === 44 ||
    code === 58 ||
    code === 45 ||
    code === 95 ||
    code === 59 ||
    code === 91 ||
    code === 93
  );
}

function isTextByte(code: number): boolean {
  return hexDigit(code) >= 0 || isSeparator(code) || code === 120 || code === 88; // x X
}

function parseError(offset: number, why: string): Decoded<Uint8Array> {
  return { ok: false, error: { field: "input", offset, why, rule: "hex-syntax" } };
}

/**
 * Bytes from CLI input. Text is hex: digits with optional `0x` prefixes and any of the separators
 * whitespace , : - _ ; [ ] between them ("0x2f00…", "2f 00 01", "[0x2f, 0x00]"); digits pair up
 * left to right, so the total must be even. A Uint8Array (an @FILE) is parsed as hex text when every
 * byte is a hex digit, separator or x, and otherwise returned as the raw bytes. Never throws.
 */
export function parseHexOrBytes(input: string | Uint8Array): Decoded<Uint8Array> {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    for (let i = 0; i < input.length; i++) if (!isTextByte(input[i])) return { ok: true, value: input };
    text = String.fromCharCode(...input.subarray(0, Math.min(input.length, 1 << 16)));
    for (let i = 1 << 16; i < input.length; i += 1 << 16)
      text += String.fromCharCode(...input.subarray(i, i + (1 << 16)));
  }
  const digits: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (isSeparator(code)) continue;
    // A "0x" / "0X" prefix at the start of a token.
    if (
      code === 48 &&
      (text.charCodeAt(i + 1) | 0x20) === 120 &&
      (i === 0 || isSeparator(text.charCodeAt(i - 1)))
    ) {
      i++;
      continue;
    }
    const d = hexDigit(code);
    if (d < 0) return parseError(i, `character ${JSON.stringify(text[i])} at ${i} is not a hex digit`);
    digits.push(d);
  }
  if (digits.length % 2 !== 0)
    return parseError(text.length, `${digits.length} hex digits: an odd count does not make whole bytes`);
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = (digits[2 * i] << 4) | digits[2 * i + 1];
  return { ok: true, value: bytes };
}
