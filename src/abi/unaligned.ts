/**
 * Little-endian loads and stores in struct bytes — include/linux/unaligned.h (get_unaligned_le32(),
 * get_unaligned_le64(), put_unaligned_le32()), as arm64 does them. For codecs on the hot path (a system
 * call's argument every explored step): byte arithmetic, where a DataView would first have to be made
 * over the bytes (about 60 ns, and an object for the GC).
 */

/** get_unaligned_le32(): the u32 at `off`. */
export function getUnalignedLe32(b: Uint8Array, off: number): number {
  return (b[off] | (b[off + 1] << 8) | (b[off + 2] << 16) | (b[off + 3] << 24)) >>> 0;
}

/** get_unaligned_le64(): the u64 at `off`. */
export function getUnalignedLe64(b: Uint8Array, off: number): bigint {
  const lo = getUnalignedLe32(b, off);
  const hi = getUnalignedLe32(b, off + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/** put_unaligned_le32(): stores the low 32 bits of `v` at `off`. */
export function putUnalignedLe32(v: number, b: Uint8Array, off: number): void {
  b[off] = v;
  b[off + 1] = v >>> 8;
  b[off + 2] = v >>> 16;
  b[off + 3] = v >>> 24;
}
