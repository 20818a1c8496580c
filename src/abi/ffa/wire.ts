/**
 * Little-endian wire helpers shared by the FF-A descriptor codecs.
 *
 * FF-A descriptors are little-endian, naturally aligned C structs (DEN0077A §5.11; the byte offsets are
 * in reference/ffa.md §3). Everything is read through a DataView over the caller's Uint8Array, so the
 * codec never copies the input.
 */

/** Width limits used by the encoders' argument checks. */
export const U8_MAX = 0xff;
export const U16_MAX = 0xffff;
export const U32_MAX = 0xffff_ffff;
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** A DataView over exactly the bytes of `bytes` (respecting its byteOffset into a larger buffer). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Encoder-side contract check: a value handed to an encoder must fit its wire field. A value that
 * does not is a bug in the caller (the model), not malformed input, so it throws.
 */
export function assertUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`ffa encode: ${what} = ${value} does not fit 0..${max}`);
  }
}

/** As {@link assertUint}, for the u64 fields (handles, tags, addresses). */
export function assertU64(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > U64_MAX) {
    throw new RangeError(`ffa encode: ${what} = ${String(value)} does not fit a u64`);
  }
}
