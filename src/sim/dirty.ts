/**
 * Which blocks of a frame-indexed family of typed arrays were written since a mark: what lets the
 * end-of-run checks (check/quiesce.ts, Mm.conservation()) and a snapshot restore (sim/snapshot.ts)
 * cost what a run touched instead of what DRAM holds. The idea is the kernel's own soft-dirty bits and
 * KVM's dirty log (virt/kvm/dirty_ring.c): writers mark, readers collect since their last harvest.
 *
 * Every writer of a tracked array calls touch() with the frames it wrote (one range call per range
 * operation, so the cost stays per operation, not per page). A block's stamp is the clock at its last
 * write; mark() advances the clock and returns it, so "written since mark t" is `stamp >= t`.
 *
 * A snapshot restore writes the arrays back to an earlier content: their stamps go back to what they
 * were then (exact for every mark older than the snapshot's), and every mark taken after the
 * snapshot's and before the restore becomes invalid (its reader must compare everything):
 * valid(mark) says which. test/explore/dirty.test.ts holds every writer to touch().
 *
 * Readers find the blocks written since a mark in a log (KVM's dirty ring again), not by scanning the
 * stamps: a scan is a 512th of DRAM's frames, at every restore and check of every explored run — on a
 * 64 GiB platform 32,768 blocks, which made a run twice as slow as on 1 GiB. The log holds one entry
 * (block, clock) each time a block's stamp changes, so its clocks never decrease; "written since mark"
 * is a suffix of it, and the entry that still matches its block's stamp is the one that counts.
 */
import { assert, fail } from "./assert.ts";

/** Frames per block: a pageblock (pageblock_order 9 with 4 KiB pages; 2 MiB). */
export const DIRTY_BLOCK_SHIFT = 9;

export type FrameArray = Uint8Array | Int8Array | Uint16Array | Int32Array;

/** Blocks since() sorts by insertion; more with sort(). */
const SORT_IN_PLACE = 64;
/** Views of since()'s buffer kept, by length. */
const VIEWS_KEPT = 1024;

/** The tracker of each tracked array's buffer, for the snapshot walk. */
const trackerOfBuffer = new WeakMap<ArrayBufferLike, DirtyBlocks>();

export function dirtyTrackerOf(buf: ArrayBufferLike): DirtyBlocks | undefined {
  return trackerOfBuffer.get(buf);
}

export class DirtyBlocks {
  readonly blockShift = DIRTY_BLOCK_SHIFT;
  readonly blocks: number;
  /** Per block: the clock when it was last written (0: not since the tracker was made). */
  readonly stamp: Uint32Array;
  /** The arrays this tracker covers: element e of arrays[k] holds frames [e, e + 1) << shifts[k]. */
  readonly arrays: FrameArray[] = [];
  readonly shifts: number[] = [];
  #clock = 1;
  /** Marks in these [lo, hi] intervals were invalidated by a restore to an older state. */
  readonly #invalid: number[] = [];
  /**
   * The log: entry k says block logBlock[k] was stamped logClock[k] (non-decreasing in k). Every block
   * with a stamp has the entry of that stamp; other entries of it are stale and skipped.
   */
  #logBlock = new Int32Array(64);
  #logClock = new Uint32Array(64);
  #logLen = 0;
  /**
   * Entries below this are kept even when stale: a snapshot's restore puts stamps back to theirs
   * (snapshotMark()). Only the entries after it are compacted.
   */
  #frozen = 0;
  /** The blocks a reader asked for, sorted (a reused buffer: see since()), and views of its starts. */
  #scratch = new Int32Array(64);
  readonly #views: Int32Array[] = [];

  constructor(readonly frames: number) {
    this.blocks = Math.ceil(frames / (1 << DIRTY_BLOCK_SHIFT));
    this.stamp = new Uint32Array(this.blocks);
  }

  /**
   * Puts `arr` under this tracker: one element per frame, or per 2^shift frames (element e for frames
   * e << shift ...); its writers must touch() the frames an element they write stands for (any of them).
   */
  track<T extends FrameArray>(arr: T, shift = 0): T {
    const want = Math.ceil(this.frames / 2 ** shift);
    if (arr.length !== want) fail(`a tracked array has ${arr.length} elements, not ${want}`);
    assert(!trackerOfBuffer.has(arr.buffer), "an array is tracked twice");
    this.arrays.push(arr);
    this.shifts.push(shift);
    trackerOfBuffer.set(arr.buffer, this);
    return arr;
  }

  /** Frames [i0, i0 + n) of a tracked array were (or may have been) written. */
  touch(i0: number, n = 1): void {
    if (n <= 0) return;
    const c = this.#clock;
    const s = this.stamp;
    const last = (i0 + n - 1) >> DIRTY_BLOCK_SHIFT;
    for (let b = i0 >> DIRTY_BLOCK_SHIFT; b <= last; b++) {
      if (s[b] === c) continue;
      s[b] = c;
      this.#append(b, c);
    }
  }

  /** Every frame may have been written (a bulk copy into the arrays). */
  touchAll(): void {
    this.touch(0, this.frames);
  }

  /** A new mark: blocks written from now on have `stamp >= ` it. */
  mark(): number {
    assert(this.#clock < 0xffff_fffe, "dirty clock overflow");
    return ++this.#clock;
  }

  /**
   * A snapshot's mark: the log as it stands is kept whole (a restore to this snapshot puts the stamps
   * back to theirs now, and their entries must then still be there), then a new mark.
   */
  snapshotMark(): number {
    this.#compact(this.#frozen);
    this.#frozen = this.#logLen;
    return this.mark();
  }

  /**
   * Entries in the log (live and stale): at most about twice the blocks under one snapshot (the
   * explorer's), compaction sees to it; several snapshots restored in turn keep more, frozen for them.
   */
  get logLength(): number {
    return this.#logLen;
  }

  #append(b: number, c: number): void {
    if (this.#logLen === this.#logBlock.length) {
      this.#compact(this.#frozen);
      // Grown when compacting left it more than half full: at most one live entry a block.
      if (this.#logLen * 2 > this.#logBlock.length) {
        const blocks = new Int32Array(this.#logBlock.length * 2);
        const clocks = new Uint32Array(blocks.length);
        blocks.set(this.#logBlock);
        clocks.set(this.#logClock);
        this.#logBlock = blocks;
        this.#logClock = clocks;
      }
    }
    this.#logBlock[this.#logLen] = b;
    this.#logClock[this.#logLen++] = c;
  }

  /** Drops the stale entries at and after `from` (their block was stamped again since). */
  #compact(from: number): void {
    const lb = this.#logBlock;
    const lc = this.#logClock;
    const s = this.stamp;
    let k = from;
    for (let j = from; j < this.#logLen; j++) {
      if (s[lb[j]] !== lc[j]) continue;
      lb[k] = lb[j];
      lc[k++] = lc[j];
    }
    this.#logLen = k;
  }

  /** The first log entry whose clock is at least `mark` (binary search: the clocks never decrease). */
  #firstAtLeast(mark: number): number {
    const lc = this.#logClock;
    let lo = 0;
    let hi = this.#logLen;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (lc[mid] < mark) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The blocks written since `mark` (which must be valid), in ascending order: a view of a buffer the
   * next call reuses. O(entries since the mark), not O(blocks).
   */
  since(mark: number): Int32Array {
    const lb = this.#logBlock;
    const lc = this.#logClock;
    const s = this.stamp;
    const from = this.#firstAtLeast(mark);
    if (this.#scratch.length < this.#logLen - from) {
      this.#scratch = new Int32Array(2 * (this.#logLen - from));
      this.#views.length = 0;
    }
    const out = this.#scratch;
    let n = 0;
    for (let k = from; k < this.#logLen; k++) if (s[lb[k]] === lc[k]) out[n++] = lb[k];
    const blocks = this.#view(n);
    // Entries come in the order blocks were written; readers go through frames in order. A run writes
    // a few blocks: insertion sort in place (TypedArray sort() copies to sort), sort() past that.
    if (n > SORT_IN_PLACE) blocks.sort();
    else
      for (let i = 1; i < n; i++) {
        const b = blocks[i];
        let j = i;
        for (; j > 0 && blocks[j - 1] > b; j--) blocks[j] = blocks[j - 1];
        blocks[j] = b;
      }
    return blocks;
  }

  /** The scratch buffer's first n entries, a view kept per length (no allocation per call). */
  #view(n: number): Int32Array {
    let v = this.#views[n];
    if (v === undefined) {
      v = this.#scratch.subarray(0, n);
      if (n < VIEWS_KEPT) this.#views[n] = v;
    }
    return v;
  }

  /** Whether blocks' stamps still tell what changed since `mark` (no restore went back past it). */
  valid(mark: number): boolean {
    const iv = this.#invalid;
    for (let k = 0; k < iv.length; k += 2) if (mark >= iv[k] && mark <= iv[k + 1]) return false;
    return true;
  }

  /**
   * Calls `visit(i)` for each frame i of the blocks written since `mark` where byte arrays `now` and
   * `then` (one byte per frame, e.g. a tracked array and its copy at the mark) differ, in ascending
   * order. Four frames are compared at a time: most frames a run touched are back as they were.
   */
  forChangedSince(mark: number, now: Uint8Array, then: Uint8Array, visit: (i: number) => void): void {
    const aligned = now.byteOffset % 4 === 0 && then.byteOffset % 4 === 0;
    const now32 = aligned ? new Uint32Array(now.buffer, now.byteOffset, now.length >> 2) : null;
    const then32 = aligned ? new Uint32Array(then.buffer, then.byteOffset, then.length >> 2) : null;
    const blocks = this.since(mark);
    const size = 1 << DIRTY_BLOCK_SHIFT;
    for (let k = 0; k < blocks.length; k++) {
      const b = blocks[k];
      const start = b << DIRTY_BLOCK_SHIFT;
      const end = Math.min(this.frames, start + size);
      let i = start;
      if (now32 && then32) {
        // Blocks start on a multiple of 512 frames: word w holds frames 4w … 4w + 3.
        for (let w = start >> 2; w < end >> 2; w++) {
          if (now32[w] === then32[w]) continue;
          for (let k = w << 2; k < (w << 2) + 4; k++) if (now[k] !== then[k]) visit(k);
        }
        i = (end >> 2) << 2;
      }
      for (; i < end; i++) if (now[i] !== then[i]) visit(i);
    }
  }

  /**
   * The arrays were put back to their content at `mark` (a snapshot's restore), with `stamps` the
   * stamps then: marks taken after it until now no longer see what changed.
   */
  restoredTo(mark: number, stamps: Uint32Array): void {
    if (this.valid(mark)) {
      // The blocks written since the mark (the suffix of the log from it, in any order) go back to
      // their stamps then; every other block has them still. Then those entries go.
      const s = this.stamp;
      const lb = this.#logBlock;
      const from = this.#firstAtLeast(mark);
      for (let k = from; k < this.#logLen; k++) s[lb[k]] = stamps[lb[k]];
      this.#logLen = from;
    } else {
      // Back past a restore that went further back still: the stamps whole. The log keeps its entries
      // older than the mark (an older snapshot's restore puts stamps back to theirs, whose entries must
      // still be there) and gains one for each block whose stamp now has none; all of it is kept.
      this.stamp.set(stamps);
      this.#rebuildLog(this.#firstAtLeast(mark));
      this.#frozen = this.#logLen;
    }
    this.#frozen = Math.min(this.#frozen, this.#logLen);
    const lo = mark + 1;
    const hi = this.#clock;
    if (hi < lo) return;
    // Merge with the intervals it overlaps (repeated restores of one snapshot keep one interval).
    const iv = this.#invalid;
    let nlo = lo;
    let nhi = hi;
    const kept: number[] = [];
    for (let k = 0; k < iv.length; k += 2) {
      if (iv[k + 1] + 1 < nlo || iv[k] > nhi + 1) kept.push(iv[k], iv[k + 1]);
      else {
        nlo = Math.min(nlo, iv[k]);
        nhi = Math.max(nhi, iv[k + 1]);
      }
    }
    kept.push(nlo, nhi);
    iv.length = 0;
    iv.push(...kept);
  }

  /** Keeps the log's first `keep` entries and merges in, by clock, an entry for each stamp without one. */
  #rebuildLog(keep: number): void {
    const s = this.stamp;
    const lb = this.#logBlock;
    const lc = this.#logClock;
    const has = new Uint8Array(s.length);
    for (let k = 0; k < keep; k++) if (s[lb[k]] === lc[k]) has[lb[k]] = 1;
    const add: number[] = [];
    for (let b = 0; b < s.length; b++) if (s[b] !== 0 && has[b] === 0) add.push(b);
    add.sort((x, y) => s[x] - s[y] || x - y);
    const len = keep + add.length;
    const blocks = new Int32Array(Math.max(64, 2 * len));
    const clocks = new Uint32Array(blocks.length);
    for (let i = 0, j = 0, k = 0; k < len; k++) {
      if (j === add.length || (i < keep && lc[i] <= s[add[j]])) {
        blocks[k] = lb[i];
        clocks[k] = lc[i++];
      } else {
        blocks[k] = add[j];
        clocks[k] = s[add[j++]];
      }
    }
    this.#logBlock = blocks;
    this.#logClock = clocks;
    this.#logLen = len;
  }
}
