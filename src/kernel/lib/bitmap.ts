/**
 * Bitmap helpers — lib/bitmap.c, lib/find_bit.c: word-at-a-time scans over Uint32Array bitmaps.
 * Shared by genalloc and CMA, as in the kernel.
 */

const WORD_BITS = 32;

/** a & b for non-negative integers below 2^53 (JS bitwise ops are 32-bit). */
export function and53(a: number, b: number): number {
  const lo = ((a % 2 ** 32) & (b % 2 ** 32)) >>> 0;
  const hi = (Math.floor(a / 2 ** 32) & Math.floor(b / 2 ** 32)) >>> 0;
  return hi * 2 ** 32 + lo;
}

/** __ALIGN_MASK(x, mask) = (x + mask) & ~mask. */
export function alignMask(x: number, mask: number): number {
  const y = x + mask;
  return y - and53(y, mask);
}

const ctz = (word: number): number => 31 - Math.clz32(word & -word);
const wordAt = (map: Uint32Array, w: number): number => (w < map.length ? map[w] : 0);

/** find_next_bit() / find_next_zero_bit(): first bit in [start, size) equal to `set`, else size. */
export function findNext(map: Uint32Array, size: number, start: number, set: boolean): number {
  if (start >= size) return size;
  let w = Math.floor(start / WORD_BITS);
  const flip = set ? 0 : -1;
  let word = (wordAt(map, w) ^ flip) & (-1 << (start % WORD_BITS));
  for (;;) {
    if (word !== 0) return Math.min(w * WORD_BITS + ctz(word), size);
    w++;
    if (w * WORD_BITS >= size) return size;
    word = wordAt(map, w) ^ flip;
  }
}
export const findNextBit = (map: Uint32Array, size: number, start: number): number =>
  findNext(map, size, start, true);
export const findNextZeroBit = (map: Uint32Array, size: number, start: number): number =>
  findNext(map, size, start, false);

/** bitmap_set_ll()/bitmap_clear_ll() without the cmpxchg: whole words at a time. */
export function writeRange(map: Uint32Array, start: number, nr: number, set: boolean): void {
  let w = Math.floor(start / WORD_BITS);
  let bit = start % WORD_BITS;
  for (let left = nr; left > 0; w++, bit = 0) {
    const n = Math.min(WORD_BITS - bit, left);
    const mask = (0xffffffff >>> (WORD_BITS - n)) << bit;
    map[w] = set ? map[w] | mask : map[w] & ~mask;
    left -= n;
  }
}

/**
 * bitmap_find_next_zero_area_off() — lib/bitmap.c. First index >= start whose nr bits are clear and
 * where index + align_offset is a multiple of align_mask + 1; on failure returns index + nr (> size).
 */
export function bitmapFindNextZeroAreaOff(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  mask: number,
  offset: number,
): number {
  for (;;) {
    const index = alignMask(findNextZeroBit(map, size, start) + offset, mask) - offset;
    const end = index + nr;
    if (end > size) return end;
    const busy = findNextBit(map, end, index);
    if (busy >= end) return index;
    start = busy + 1;
  }
}
