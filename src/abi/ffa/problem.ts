/**
 * What a decoder or validator says about a byte string: which field, where, and why.
 *
 * Modelled on Hafnium's `dlog_verbose()` rejections in src/ffa_memory.c: every rejection names the
 * field it looked at and the rule it applied, so a trace can point at the exact byte.
 */

/** One problem found in a descriptor. `offset` is the byte offset of `field` in the buffer. */
export interface FfaProblem {
  /** Wire field path, in spec spelling: `emad_size`, `emads[1].reserved`, `composite.constituents[0].address`. */
  readonly field: string;
  /** Byte offset of the field from the start of the buffer that was decoded. */
  readonly offset: number;
  /** Human-readable reason, with the values involved. */
  readonly why: string;
  /** Stable short name of the rule that fired (e.g. `reserved-mbz`, `emad-size-for-version`). */
  readonly rule: string;
}

/** Result of decoding untrusted bytes: never an exception. */
export type Decoded<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: FfaProblem };

/** Builds a failed {@link Decoded}. */
export function decodeError(
  field: string,
  offset: number,
  rule: string,
  why: string,
): { ok: false; error: FfaProblem } {
  return { ok: false, error: { field, offset, why, rule } };
}

/** Hex with a `0x` prefix, for messages. Accepts number or bigint. */
export function hex(value: number | bigint): string {
  return "0x" + value.toString(16);
}

/**
 * Appends one problem. A module-level function rather than a closure, so a clean descriptor
 * allocates nothing on the validation path.
 */
export function addProblem(
  problems: FfaProblem[],
  field: string,
  offset: number,
  rule: string,
  why: string,
): void {
  problems.push({ field, offset, why, rule });
}
