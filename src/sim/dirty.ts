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
 */
import { assert, fail } from "./assert.ts";

/** Frames per block: a pageblock (pageblock_order 9 with 4 KiB pages; 2 MiB). */
export const DIRTY_BLOCK_SHIFT = 9;

export type FrameArray = Uint8Array | Int8Array | Uint16Array | Int32Array;

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
    const last = (i0 + n - 1) >> DIRTY_BLOCK_SHIFT;
    for (let b = i0 >> DIRTY_BLOCK_SHIFT; b <= last; b++) this.stamp[b] = c;
  }

  /** Every frame may have been written (a bulk copy into the arrays). */
  touchAll(): void {
    this.stamp.fill(this.#clock);
  }

  /** A new mark: blocks written from now on have `stamp >= ` it. */
  mark(): number {
    assert(this.#clock < 0xffff_fffe, "dirty clock overflow");
    return ++this.#clock;
  }

  /** Whether blocks' stamps still tell what changed since `mark` (no restore went back past it). */
  valid(mark: number): boolean {
    const iv = this.#invalid;
    for (let k = 0; k < iv.length; k += 2) if (mark >= iv[k] && mark <= iv[k + 1]) return false;
    return true;
  }

  /** The blocks written since `mark` (which must be valid), in order. O(blocks), a 512th of DRAM's frames. */
  blocksSince(mark: number): number[] {
    const out: number[] = [];
    const s = this.stamp;
    for (let b = 0; b < s.length; b++) if (s[b] >= mark) out.push(b);
    return out;
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
    const s = this.stamp;
    const size = 1 << DIRTY_BLOCK_SHIFT;
    for (let b = 0; b < s.length; b++) {
      if (s[b] < mark) continue;
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
    this.stamp.set(stamps);
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
}
