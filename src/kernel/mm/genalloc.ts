/**
 * genalloc — lib/genalloc.c, include/linux/genalloc.h: the kernel's general purpose allocator for
 * special memory, as the TEE protected-memory pools use it (`gen_pool_create(PAGE_SHIFT, -1)`,
 * `gen_pool_add(pool, paddr, size, -1)`, then gen_pool_alloc()/gen_pool_free() per buffer).
 *
 * A pool is a list of chunks; a chunk is one address range and one bitmap, 1 bit per
 * `1 << min_alloc_order` bytes. Nothing else is kept per allocation: the caller passes the size back
 * to gen_pool_free(), as in the kernel. Addresses are JS numbers (exact below 2^53); TEE pools pass
 * the physical address as the "virtual" one, so the pool hands out physical addresses.
 *
 * Kept from the kernel, on purpose:
 * - chunks are searched newest first (gen_pool_add_owner() does list_add_rcu() at the list head);
 * - gen_pool_alloc*() returns 0 on failure, so address 0 is unusable: a chunk starting at 0 hands out
 *   0 for its first granule and the caller reads that as failure;
 * - chunk->avail starts at the unrounded size and the `size > avail` skip uses the unrounded request, so
 *   a tail smaller than one granule counts in gen_pool_size()/gen_pool_avail() but is never handed out;
 * - every algorithm works on bit indexes within the chunk; only gen_pool_first_fit_align() looks at the
 *   absolute address (align_off), and gen_pool_fixed_alloc()'s offset applies to every chunk in turn.
 *
 * Where the model departs:
 * - single-threaded, so bitmap_set_ll() never loses a race and the `retry:` loop never runs;
 * - BUG()/WARN_ON() go to the pool's sink: the kernel's sink (sim.bug()) kills the calling task there
 *   and then, as the oops does; a sink that returns (unit tests) sees the state the BUG leaves:
 *   gen_pool_destroy() has unlinked (list_del) and freed every chunk up to and including the one that
 *   still holds bits; gen_pool_free()'s BUGs change nothing (the kernel's bitmap_clear_ll() may have
 *   cleared words before the one that fails: not modelled);
 * - bitmap words are 32 bits (Uint32Array), not BITS_PER_LONG; no result depends on the word size.
 */

import { ENOMEM } from "../../abi/uapi/errno.ts";
import { and53, bitmapFindNextZeroAreaOff, findNextBit, findNextZeroBit, writeRange } from "../lib/bitmap.ts";

/**
 * Where BUG()/WARN_ON() land, with the genalloc function that hit them. The default throws, so misuse
 * in a test is loud; the kernel's pools pass sim.bug(), which kills the calling task.
 */
export type GenPoolWarn = (kind: "BUG" | "WARN", message: string, fn: string) => void;

/** struct genpool_data_align — alignment in bytes, an int in the kernel. */
export interface GenPoolDataAlign {
  readonly align: number;
}
/** struct genpool_data_fixed — byte offset from the start of each chunk. */
export interface GenPoolDataFixed {
  readonly offset: number;
}
export type GenPoolAlgoData = GenPoolDataAlign | GenPoolDataFixed | null;

/**
 * genpool_algo_t: (map, size in bits, start bit, nr bits, data, pool, chunk start_addr) -> first bit of
 * the area, or any value >= size when there is none.
 */
export type GenPoolAlgo = (
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  data: GenPoolAlgoData,
  pool: GenPool,
  startAddr: number,
) => number;

/** struct gen_pool_chunk (no phys_addr/owner: gen_pool_add() sets them to -1/NULL). */
export interface GenPoolChunk {
  readonly startAddr: number;
  /** Inclusive, as in the kernel: start_addr + size - 1. */
  readonly endAddr: number;
  readonly nid: number;
  /** atomic_long_t avail: free bytes, starting at the unrounded chunk size. */
  avail: number;
  /** unsigned long bits[]: 1 = granule allocated. */
  readonly bits: Uint32Array;
}

/** struct gen_pool. `chunks` is in list order: newest first. */
export interface GenPool {
  readonly minAllocOrder: number;
  readonly nid: number;
  algo: GenPoolAlgo;
  data: GenPoolAlgoData;
  readonly chunks: GenPoolChunk[];
  readonly warn: GenPoolWarn;
  destroyed: boolean;
}

/**
 * Model limit standing in for vzalloc_node() failing in gen_pool_add_owner(): a chunk bitmap above
 * 2^28 bits (32 MiB of bitmap, 1 TiB of 4 KiB pages) is refused with -ENOMEM.
 */
export const GENPOOL_MAX_CHUNK_BITS = 2 ** 28;
/** Largest min_alloc_order the model accepts (1 TiB granule); the kernel takes any int. */
export const GENPOOL_MAX_ORDER = 40;

const WORD_BITS = 32;
const ADDR_LIMIT = 2 ** 53;

const throwingWarn: GenPoolWarn = (kind, message) => {
  throw new Error(`${kind}: ${message}`);
};

function assert(cond: boolean, why: string): asserts cond {
  if (!cond) fail(why);
}

/** A caller's bug (genalloc's own checks); `if (!cond) fail(…)` builds the message only on failure. */
function fail(why: string): never {
  throw new Error(`genalloc: ${why}`);
}

const hex = (n: number): string => `0x${n.toString(16)}`;
const isByteCount = (n: number): boolean => Number.isInteger(n) && n >= 0 && n < ADDR_LIMIT;
const shr = (x: number, order: number): number => Math.floor(x / 2 ** order);
/** chunk_size(): end_addr - start_addr + 1. */
const chunkSize = (chunk: GenPoolChunk): number => chunk.endAddr - chunk.startAddr + 1;
/** `start + size - 1` as unsigned long: 0 + 0 - 1 wraps to ULONG_MAX, modelled as +Infinity. */
const lastByte = (start: number, size: number): number =>
  start + size - 1 < 0 ? Number.POSITIVE_INFINITY : start + size - 1;

/** roundup_pow_of_two(n), n >= 1. */
function roundupPowOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** gen_pool_first_fit() — first run of nr clear bits, no alignment. The default algorithm. */
export function genPoolFirstFit(map: Uint32Array, size: number, start: number, nr: number): number {
  return bitmapFindNextZeroAreaOff(map, size, start, nr, 0, 0);
}

/**
 * gen_pool_first_fit_align() — data: {align} in bytes. align_mask = ((align + granule - 1) >> order) - 1,
 * align_off = (start_addr & (align - 1)) >> order: aligned in absolute addresses, not within the chunk.
 */
export function genPoolFirstFitAlign(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  data: GenPoolAlgoData,
  pool: GenPool,
  startAddr: number,
): number {
  assert(data !== null && "align" in data, "gen_pool_first_fit_align needs struct genpool_data_align");
  const { align } = data;
  if (!(Number.isInteger(align) && align >= 1 && align < 2 ** 31))
    fail(`align ${align} is not a positive int`);
  const order = pool.minAllocOrder;
  const mask = shr(align + 2 ** order - 1, order) - 1;
  const offset = shr(and53(startAddr, align - 1), order);
  return bitmapFindNextZeroAreaOff(map, size, start, nr, mask, offset);
}

/**
 * gen_pool_fixed_alloc() — data: {offset} from the chunk start. Succeeds only if the area at exactly
 * that offset is free; WARN_ON()s and fails when the offset is not granule aligned.
 */
export function genPoolFixedAlloc(
  map: Uint32Array,
  size: number,
  start: number,
  nr: number,
  data: GenPoolAlgoData,
  pool: GenPool,
): number {
  assert(data !== null && "offset" in data, "gen_pool_fixed_alloc needs struct genpool_data_fixed");
  const { offset } = data;
  if (!isByteCount(offset)) fail(`offset ${offset} is not an unsigned long`);
  const order = pool.minAllocOrder;
  const offsetBit = shr(offset, order);
  if (offset % 2 ** order !== 0) {
    pool.warn(
      "WARN",
      `WARNING: at lib/genalloc.c gen_pool_fixed_alloc(): WARN_ON(fixed_data->offset & ((1UL << order) - 1)): ` +
        `offset ${hex(offset)} is not a multiple of the ${hex(2 ** order)}-byte granule`,
      "gen_pool_fixed_alloc",
    );
    return size;
  }
  const startBit = bitmapFindNextZeroAreaOff(map, size, start + offsetBit, nr, 0, 0);
  return startBit === offsetBit ? startBit : size;
}

/**
 * gen_pool_first_fit_order_align() — first free run whose bit index (within the chunk) is a multiple of
 * roundup_pow_of_two(nr).
 */
export function genPoolFirstFitOrderAlign(map: Uint32Array, size: number, start: number, nr: number): number {
  return bitmapFindNextZeroAreaOff(map, size, start, nr, roundupPowOfTwo(nr) - 1, 0);
}

/**
 * gen_pool_best_fit() — the smallest free run that holds nr bits (the lowest one on a tie), returning
 * at once on an exact fit. Returns size when nothing fits.
 */
export function genPoolBestFit(map: Uint32Array, size: number, start: number, nr: number): number {
  let startBit = size;
  let len = size + 1;
  let index = bitmapFindNextZeroAreaOff(map, size, start, nr, 0, 0);
  while (index < size) {
    const nextBit = findNextBit(map, size, index + nr);
    if (nextBit - index < len) {
      len = nextBit - index;
      startBit = index;
      if (len === nr) return startBit;
    }
    index = bitmapFindNextZeroAreaOff(map, size, nextBit + 1, nr, 0, 0);
  }
  return startBit;
}

function live(pool: GenPool): void {
  assert(!pool.destroyed, "pool used after gen_pool_destroy()");
}

function bug(pool: GenPool, fn: string, detail: string): void {
  pool.warn("BUG", `kernel BUG at lib/genalloc.c! ${fn}(): ${detail}`, fn);
}

/**
 * gen_pool_create() — min_alloc_order is log2 of the bytes each bitmap bit stands for. Algorithm
 * gen_pool_first_fit, no chunks. `warn` receives the BUG()/WARN_ON() reports.
 */
export function genPoolCreate(minAllocOrder: number, nid = -1, warn: GenPoolWarn = throwingWarn): GenPool {
  assert(
    Number.isInteger(minAllocOrder) && minAllocOrder >= 0 && minAllocOrder <= GENPOOL_MAX_ORDER,
    `min_alloc_order ${minAllocOrder} outside 0..${GENPOOL_MAX_ORDER}`,
  );
  return { minAllocOrder, nid, algo: genPoolFirstFit, data: null, chunks: [], warn, destroyed: false };
}

/**
 * gen_pool_add() -> gen_pool_add_virt(phys = -1) -> gen_pool_add_owner(owner = NULL). The bitmap gets
 * size >> order bits; end_addr and avail keep the unrounded size. No overlap or alignment check, as in
 * the kernel. Returns 0, or -ENOMEM when the bitmap exceeds GENPOOL_MAX_CHUNK_BITS.
 */
export function genPoolAdd(pool: GenPool, addr: number, size: number, nid = -1): number {
  live(pool);
  if (!(isByteCount(addr) && isByteCount(size) && addr + size <= ADDR_LIMIT)) fail(`chunk ${addr}+${size}`);
  const nbits = shr(size, pool.minAllocOrder);
  if (nbits > GENPOOL_MAX_CHUNK_BITS) return -ENOMEM;
  pool.chunks.unshift({
    startAddr: addr,
    endAddr: addr + size - 1,
    nid,
    avail: size,
    bits: new Uint32Array(Math.ceil(nbits / WORD_BITS)),
  });
  return 0;
}

/**
 * gen_pool_alloc_algo() -> gen_pool_alloc_algo_owner(): nbits = (size + granule - 1) >> order; for each
 * chunk, newest first, skip it if size > avail, else ask `algo` for a start bit below end_bit, set the
 * bits and take nbits << order from avail. Returns the address, or 0 when no chunk fits (or size is 0).
 */
export function genPoolAllocAlgo(
  pool: GenPool,
  size: number,
  algo: GenPoolAlgo,
  data: GenPoolAlgoData,
): number {
  live(pool);
  // A size_t beyond what a number holds exactly is larger than any chunk's avail: no chunk fits.
  if (Number.isInteger(size) && size >= ADDR_LIMIT) return 0;
  if (!isByteCount(size)) fail(`size ${size} is not a size_t`);
  if (size === 0) return 0;
  const order = pool.minAllocOrder;
  const nbits = shr(size + 2 ** order - 1, order);
  for (const chunk of pool.chunks) {
    if (size > chunk.avail) continue;
    const endBit = shr(chunkSize(chunk), order);
    const startBit = algo(chunk.bits, endBit, 0, nbits, data, pool, chunk.startAddr);
    if (startBit >= endBit) continue;
    // The message is built only on failure: this runs for every allocation from a pool.
    if (!(Number.isInteger(startBit) && startBit >= 0 && startBit + nbits <= endBit))
      fail(`algorithm returned bit ${startBit} for ${nbits} bits of ${endBit}`);
    // bitmap_set_ll() returning `remain` would send the kernel round `retry:`; alone on the CPU that
    // can only mean the algorithm returned a busy area.
    assert(
      findNextBit(chunk.bits, startBit + nbits, startBit) === startBit + nbits,
      "algorithm chose set bits",
    );
    writeRange(chunk.bits, startBit, nbits, true);
    chunk.avail -= nbits * 2 ** order;
    return chunk.startAddr + startBit * 2 ** order;
  }
  return 0;
}

/** gen_pool_alloc() — gen_pool_alloc_algo(pool, size, pool->algo, pool->data). 0 on failure. */
export function genPoolAlloc(pool: GenPool, size: number): number {
  return genPoolAllocAlgo(pool, size, pool.algo, pool.data);
}

/** gen_pool_set_algo() — a null algo means gen_pool_first_fit. */
export function genPoolSetAlgo(pool: GenPool, algo: GenPoolAlgo | null, data: GenPoolAlgoData = null): void {
  live(pool);
  pool.algo = algo ?? genPoolFirstFit;
  pool.data = data;
}

/**
 * gen_pool_free() -> gen_pool_free_owner(). Finds the chunk holding addr; BUG_ON(addr + size - 1 >
 * end_addr); clears (addr - start_addr) >> order for nbits, BUG_ON(remain) if any of them was clear;
 * gives nbits << order back to avail; BUG() if addr is in no chunk. Every BUG is reported to the sink
 * and leaves bitmap and avail untouched.
 */
export function genPoolFree(pool: GenPool, addr: number, size: number): void {
  live(pool);
  if (!(isByteCount(addr) && isByteCount(size))) fail(`free ${addr}+${size}`);
  const order = pool.minAllocOrder;
  const nbits = shr(size + 2 ** order - 1, order);
  const chunk = pool.chunks.find((c) => addr >= c.startAddr && addr <= c.endAddr);
  if (chunk === undefined) {
    bug(pool, "gen_pool_free_owner", `BUG(): ${hex(addr)} (size ${hex(size)}) is in no chunk of the pool`);
    return;
  }
  if (lastByte(addr, size) > chunk.endAddr) {
    bug(
      pool,
      "gen_pool_free_owner",
      `BUG_ON(addr + size - 1 > chunk->end_addr): ${hex(addr)} + ${hex(size)} runs past ${hex(chunk.endAddr)}`,
    );
    return;
  }
  const startBit = shr(addr - chunk.startAddr, order);
  const clear = findNextZeroBit(chunk.bits, startBit + nbits, startBit);
  if (clear < startBit + nbits) {
    const at = chunk.startAddr + clear * 2 ** order;
    bug(
      pool,
      "gen_pool_free_owner",
      `BUG_ON(remain): bitmap_clear_ll() found ${hex(at)} not allocated freeing ${hex(addr)} + ${hex(size)}`,
    );
    return;
  }
  writeRange(chunk.bits, startBit, nbits, false);
  chunk.avail += nbits * 2 ** order;
}

/**
 * gen_pool_destroy() — for each chunk in list order: list_del() it, then BUG_ON(bit < end_bit) if it
 * still has a bit set, else vfree() it; then the pool itself goes. A BUG therefore leaves the pool
 * struct alive with that chunk (and every one before it) already unlinked: a later gen_pool_alloc()
 * finds no room and a later gen_pool_free() of an address in it is BUG() (linux-kernel.md §4.9).
 */
export function genPoolDestroy(pool: GenPool): void {
  live(pool);
  while (pool.chunks.length > 0) {
    const chunk = pool.chunks.shift()!; // list_del(&chunk->next_chunk)
    const endBit = shr(chunkSize(chunk), pool.minAllocOrder);
    const bit = findNextBit(chunk.bits, endBit, 0);
    if (bit < endBit) {
      const at = chunk.startAddr + bit * 2 ** pool.minAllocOrder;
      bug(pool, "gen_pool_destroy", `BUG_ON(bit < end_bit): ${hex(at)} is still allocated`);
      return;
    }
  }
  pool.destroyed = true;
}

/** gen_pool_avail() — sum of chunk->avail (free bytes, whole granules plus never-usable tails). */
export function genPoolAvail(pool: GenPool): number {
  live(pool);
  return pool.chunks.reduce((sum, chunk) => sum + chunk.avail, 0);
}

/** gen_pool_size() — sum of chunk_size(): bytes handed to gen_pool_add(), tails included. */
export function genPoolSize(pool: GenPool): number {
  live(pool);
  return pool.chunks.reduce((sum, chunk) => sum + chunkSize(chunk), 0);
}

/** gen_pool_for_each_chunk() — list order, newest first. */
export function genPoolForEachChunk(pool: GenPool, func: (pool: GenPool, chunk: GenPoolChunk) => void): void {
  live(pool);
  for (const chunk of pool.chunks) func(pool, chunk);
}

/**
 * gen_pool_has_addr() (formerly addr_in_gen_pool()): true if [start, start + size - 1] lies inside a
 * single chunk; a range spanning two adjacent chunks is not in the pool.
 */
export function genPoolHasAddr(pool: GenPool, start: number, size: number): boolean {
  live(pool);
  const end = lastByte(start, size);
  return pool.chunks.some((c) => start >= c.startAddr && start <= c.endAddr && end <= c.endAddr);
}
