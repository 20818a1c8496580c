/**
 * Relinquish descriptor: what a borrower puts in its TX buffer for FFA_MEM_RELINQUISH.
 *
 * `struct ffa_mem_relinquish` — Hafnium inc/vmapi/hf/ffa.h (filled by ffa_mem_relinquish_init());
 * `struct ffa_mem_relinquish_descriptor` — TF-A include/services/el3_spmc_ffa_memory.h. Same layout
 * in every version (reference/ffa.md §3.6):
 *
 *   0 u64 handle   8 u32 flags   12 u32 endpoint_count   16 u16 endpoints[endpoint_count]
 */

import { FFA_MEM_RELINQUISH_FLAGS_MASK } from "./flags.ts";
import { decodeError, hex, type Decoded, type FfaProblem } from "./problem.ts";
import { U16_MAX, U32_MAX, assertU64, assertUint, viewOf } from "./wire.ts";

export const RELINQUISH_HANDLE = 0;
export const RELINQUISH_FLAGS = 8;
export const RELINQUISH_ENDPOINT_COUNT = 12;
export const RELINQUISH_ENDPOINTS = 16;
/** sizeof(struct ffa_mem_relinquish) without the endpoint array. */
export const RELINQUISH_HEADER_SIZE = 16;

/** A decoded relinquish descriptor. */
export interface Relinquish {
  readonly handle: bigint;
  /** bit 0 zero after relinquish, bit 1 time slicing (see unpackRelinquishFlags()). */
  readonly flags: number;
  readonly endpoint_count: number;
  readonly endpoints: readonly number[];
}

/** What a borrower relinquishes; `endpoint_count` is computed. */
export interface RelinquishInput {
  readonly handle: bigint;
  /** Default 0. */
  readonly flags?: number;
  readonly endpoints: readonly number[];
}

/** Raw value written in place of the computed count (the endpoint array is still `endpoints`). */
export interface RelinquishOverrides {
  readonly endpoint_count?: number;
}

/** Encodes 16 + 2 × endpoints bytes. Throws RangeError when a value does not fit its field. */
export function encodeRelinquish(input: RelinquishInput, overrides: RelinquishOverrides = {}): Uint8Array {
  const flags = input.flags ?? 0;
  const count = overrides.endpoint_count ?? input.endpoints.length;
  assertU64(input.handle, "handle");
  assertUint(flags, U32_MAX, "flags");
  assertUint(count, U32_MAX, "endpoint_count");
  const bytes = new Uint8Array(RELINQUISH_HEADER_SIZE + 2 * input.endpoints.length);
  const dv = viewOf(bytes);
  dv.setBigUint64(RELINQUISH_HANDLE, input.handle, true);
  dv.setUint32(RELINQUISH_FLAGS, flags, true);
  dv.setUint32(RELINQUISH_ENDPOINT_COUNT, count, true);
  for (let i = 0; i < input.endpoints.length; i++) {
    assertUint(input.endpoints[i], U16_MAX, `endpoints[${i}]`);
    dv.setUint16(RELINQUISH_ENDPOINTS + 2 * i, input.endpoints[i], true);
  }
  return bytes;
}

/** Decodes a relinquish descriptor. Never throws; fails when the header or the endpoint array is cut short. */
export function decodeRelinquish(bytes: Uint8Array): Decoded<Relinquish> {
  const length = bytes.length;
  if (length < RELINQUISH_HEADER_SIZE) {
    return decodeError(
      "header",
      0,
      "header-in-bounds",
      `a relinquish descriptor header is ${RELINQUISH_HEADER_SIZE} bytes; the buffer has ${length}`,
    );
  }
  const dv = viewOf(bytes);
  const count = dv.getUint32(RELINQUISH_ENDPOINT_COUNT, true);
  if (count > (length - RELINQUISH_ENDPOINTS) / 2) {
    return decodeError(
      "endpoint_count",
      RELINQUISH_ENDPOINT_COUNT,
      "endpoints-in-bounds",
      `${count} endpoints end at ${RELINQUISH_ENDPOINTS + 2 * count}, past the ${length}-byte buffer`,
    );
  }
  const endpoints: number[] = [];
  for (let i = 0; i < count; i++) endpoints.push(dv.getUint16(RELINQUISH_ENDPOINTS + 2 * i, true));
  return {
    ok: true,
    value: {
      handle: dv.getBigUint64(RELINQUISH_HANDLE, true),
      flags: dv.getUint32(RELINQUISH_FLAGS, true),
      endpoint_count: count,
      endpoints,
    },
  };
}

/**
 * Spec-level problems of a relinquish descriptor: flags bits[31:2] MBZ, no endpoints, a repeated
 * endpoint. (Hafnium and TF-A also insist on exactly one endpoint, the caller — an SPMC rule:
 * api_ffa_mem_relinquish(), reference/ffa.md §5.5, §5.8.)
 */
export function validateRelinquish(desc: Relinquish): FfaProblem[] {
  const problems: FfaProblem[] = [];
  if ((desc.flags & ~FFA_MEM_RELINQUISH_FLAGS_MASK) !== 0) {
    problems.push({
      field: "flags",
      offset: RELINQUISH_FLAGS,
      rule: "flags-mbz",
      why: `flags ${hex(desc.flags >>> 0)} set bits outside ${hex(FFA_MEM_RELINQUISH_FLAGS_MASK)}`,
    });
  }
  if (desc.endpoint_count === 0) {
    problems.push({
      field: "endpoint_count",
      offset: RELINQUISH_ENDPOINT_COUNT,
      rule: "endpoint-count-nonzero",
      why: "no endpoints",
    });
  }
  const eps = desc.endpoints;
  const seen = new Set<number>();
  for (let i = 0; i < eps.length; i++) {
    if (seen.has(eps[i])) {
      problems.push({
        field: `endpoints[${i}]`,
        offset: RELINQUISH_ENDPOINTS + 2 * i,
        rule: "endpoint-duplicate",
        why: `endpoint ${hex(eps[i])} appears twice`,
      });
    }
    seen.add(eps[i]);
  }
  return problems;
}
