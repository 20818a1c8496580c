/**
 * DRAM page frames: per-page facts in typed arrays indexed by frame number (pfn − first pfn).
 *
 * No per-page objects: each fact is one array, range updates are `fill`s. The hardware holds what the
 * hardware knows (who owns the page in the world sense, what data it holds); the kernel's own state
 * (free, movable, pinned, …) lives in the `state` and `pins` arrays that src/kernel/mm defines values for.
 */
import { assert } from "../sim/assert.ts";
import { DirtyBlocks } from "../sim/dirty.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
import { PAGE_SIZE } from "./platform.ts";

/** Which world a page belongs to now. */
export const OWNER_NORMAL = 0;
/** Lent or donated to the secure world (restricted), or secure from boot. */
export const OWNER_SECURE = 1;

/** Taint: what a page holds. Clean = zeros (or never written). */
export const TAINT_CLEAN = 0;
/** Data written by the normal world. */
export const TAINT_NS_DATA = 1;
/** Secret data of a use case u is TAINT_SECRET | u (u in 0..127). */
export const TAINT_SECRET = 0x80;

export function isSecret(taint: number): boolean {
  return (taint & TAINT_SECRET) !== 0;
}

/** Appends run [a, b) of owner o and use case u to sorted flat runs, merged with the last one if they touch. */
function pushRun(out: number[], m: number, a: number, b: number, o: number, u: number): number {
  if (m > 0 && out[m - 3] === a && out[m - 2] === o && out[m - 1] === u) {
    out[m - 3] = b;
    return m;
  }
  out[m] = a;
  out[m + 1] = b;
  out[m + 2] = o;
  out[m + 3] = u;
  return m + 4;
}

/**
 * The page states at a mark of frames.dirty, and how many frames held each value then: what lets
 * stateHistogram() count only the blocks written since.
 */
export interface StateBaseline {
  readonly state: Uint8Array;
  /** Frames per state value (256 entries). */
  readonly histogram: readonly number[];
  readonly mark: number;
}

export class PageFrames implements Snapshottable {
  /** First page frame number of DRAM. */
  readonly basePfn: number;
  readonly count: number;
  readonly owner: Uint8Array;
  /** The use case a restricted page is lent for (OPTEE_MSG use-case id), 0 if none. */
  readonly useCase: Uint8Array;
  readonly taint: Uint8Array;
  /** Kernel page state; values are defined by src/kernel/mm. 0 = not tracked yet. */
  readonly state: Uint8Array;
  /** Long-term pin count (FOLL_LONGTERM). */
  readonly pins: Uint16Array;
  /**
   * The blocks of these arrays (and of the other frame-indexed arrays put under it: the buddy's lists,
   * the cache's dirty lines) written since a mark. Every writer touches what it wrote (sim/dirty.ts).
   */
  readonly dirty: DirtyBlocks;

  constructor(basePa: number, sizeBytes: number) {
    assert(basePa % PAGE_SIZE === 0 && sizeBytes % PAGE_SIZE === 0, "DRAM must be page aligned");
    this.basePfn = basePa / PAGE_SIZE;
    this.count = sizeBytes / PAGE_SIZE;
    this.dirty = new DirtyBlocks(this.count);
    this.owner = this.dirty.track(new Uint8Array(this.count));
    this.useCase = this.dirty.track(new Uint8Array(this.count));
    this.taint = this.dirty.track(new Uint8Array(this.count));
    this.state = this.dirty.track(new Uint8Array(this.count));
    this.pins = this.dirty.track(new Uint16Array(this.count));
  }

  /**
   * The frames not owned by the normal world, as sorted, disjoint, flat runs [start, end, owner,
   * useCase] (adjacent runs with the same owner and use case merged): an index over `owner` and
   * `useCase` that lets an access ask about a range in O(log runs) instead of walking its pages.
   * Kept by setOwner(), the one writer of both arrays. The array is the readers' to read, not to keep.
   */
  get restrictedRuns(): number[] {
    this.#dropDead();
    return this.#runs;
  }

  #dropDead(): void {
    if (this.#dead === 0) return;
    this.#runs.splice(0, this.#dead);
    this.#dead = 0;
  }
  /**
   * The runs, after #dead numbers of runs already dropped from the front. A reclaim returns its
   * constituents in ascending order, each dropping the first run: moving the rest down each time made
   * returning n constituents O(n²). They are dropped in one go when someone next reads the runs.
   */
  readonly #runs: number[] = [];
  #dead = 0;
  /** setOwner()'s work array (its contents mean nothing between calls). */
  readonly #scratch: number[] = [];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) this.#dead = saved.dead as number;
    return { runs: this.#runs, dead: this.#dead };
  }

  /** Frames [i0, i0 + n) now belong to `owner` (for use case `useCase` when restricted). */
  setOwner(i0: number, n: number, owner: number, useCase: number): void {
    if (!(i0 >= 0 && n >= 0 && i0 + n <= this.count)) assert(false, `frames ${i0}+${n} outside DRAM`);
    const uc = owner === OWNER_NORMAL ? 0 : useCase;
    if (n <= 8) {
      // A page or a few (a constituent): by hand, cheaper than two fill() calls.
      for (let i = i0; i < i0 + n; i++) {
        this.owner[i] = owner;
        this.useCase[i] = uc;
      }
    } else {
      this.owner.fill(owner, i0, i0 + n);
      this.useCase.fill(uc, i0, i0 + n);
    }
    this.dirty.touch(i0, n);
    const r = this.#runs;
    const end = i0 + n;
    // Only the runs that overlap or touch [i0, end) change: found by binary search, rebuilt in order
    // (the head of a run cut at i0, the new run, the tail of a run cut at end, merged where they touch
    // with the same attributes) and spliced back. O(log runs + runs touched), no sort: a fuzzed SPMC
    // lends and returns single pages tens of thousands of times a second among hundreds of runs.
    const lo = this.#runAfter(i0 - 1);
    let hi = lo;
    while (hi < r.length && r[hi] <= end) hi += 4;
    // The first m entries of the scratch array are this call's (its length is never cut back: a
    // length of 0 would free its store, and the next push allocate another).
    const out = this.#scratch;
    let m = 0;
    let after = -1;
    for (let k = lo; k < hi; k += 4) {
      if (r[k] < i0) m = pushRun(out, m, r[k], Math.min(r[k + 1], i0), r[k + 2], r[k + 3]);
      if (r[k + 1] > end) after = k;
    }
    if (owner !== OWNER_NORMAL && n > 0) m = pushRun(out, m, i0, end, owner, useCase);
    if (after >= 0) m = pushRun(out, m, Math.max(r[after], end), r[after + 1], r[after + 2], r[after + 3]);
    if (m === hi - lo) for (let j = 0; j < m; j++) r[lo + j] = out[j];
    else if (m === 0 && lo === this.#dead) {
      this.#dead = hi;
      // Once most of the array is dead, drop it (each number is dropped once: O(1) a run).
      if (this.#dead * 2 > r.length) this.#dropDead();
    } else spliceRuns(r, lo, hi, out, m);
  }

  /** Index (into restrictedRuns, a multiple of 4) of the first run ending after frame i. */
  runAfter(i: number): number {
    this.#dropDead();
    return this.#runAfter(i);
  }

  /** runAfter() in the runs as they stand (an index past the dropped ones). */
  #runAfter(i: number): number {
    const r = this.#runs;
    let lo = this.#dead >> 2;
    let hi = r.length >> 2;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (r[4 * mid + 1] <= i) lo = mid + 1;
      else hi = mid;
    }
    return 4 * lo;
  }

  /** The first frame of [first, last] not owned by the normal world, or −1. */
  firstRestricted(first: number, last: number): number {
    const r = this.restrictedRuns;
    if (r.length === 0) return -1;
    const k = this.runAfter(first);
    return k < r.length && r[k] <= last ? Math.max(r[k], first) : -1;
  }

  /** The page states now, as a baseline for later histograms (a copy: O(DRAM), once). */
  stateBaseline(): StateBaseline {
    const mark = this.dirty.mark();
    const s = this.state;
    return { state: s.slice(), histogram: byteHistogram(s), mark };
  }

  /**
   * Frames per state value (256 entries). From `base`: its counts, corrected over the blocks written
   * since its mark (O(blocks written)); without one, or when a restore went back past its mark, a
   * scan of every frame.
   */
  stateHistogram(base: StateBaseline | null = null): number[] {
    const s = this.state;
    if (base === null || !this.dirty.valid(base.mark)) return byteHistogram(s);
    const h = base.histogram.slice();
    const was = base.state;
    this.dirty.forChangedSince(base.mark, s, was, (i) => {
      h[s[i]]++;
      h[was[i]]--;
    });
    return h;
  }

  /** Frame index of a physical address, or −1 outside DRAM. */
  indexOf(pa: number): number {
    const i = Math.floor(pa / PAGE_SIZE) - this.basePfn;
    return i >= 0 && i < this.count ? i : -1;
  }

  paOf(index: number): number {
    return (this.basePfn + index) * PAGE_SIZE;
  }

  /** Number of frames in [first, first + n) whose `arr` value satisfies pred; a range scan. */
  countWhere(arr: Uint8Array | Uint16Array, first: number, n: number, pred: (v: number) => boolean): number {
    let c = 0;
    for (let i = first; i < first + n; i++) if (pred(arr[i])) c++;
    return c;
  }
}

/** r.splice(lo, hi − lo, ...out.slice(0, m)) without the copy and the spread (runs for every constituent lent). */
function spliceRuns(r: number[], lo: number, hi: number, out: readonly number[], m: number): void {
  // The native splice moves the tail (thousands of numbers with a thousand runs) as one block: a
  // tail shifted element by element in JS made a 1,000-constituent lend 3.7× slower. The new runs go
  // in as arguments, not spread from a copy (one to three runs: 4, 8 or 12 numbers).
  const del = hi - lo;
  const o = out;
  if (m === 0) r.splice(lo, del);
  else if (m === 4) r.splice(lo, del, o[0], o[1], o[2], o[3]);
  else if (m === 8) r.splice(lo, del, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]);
  else if (m === 12)
    r.splice(lo, del, o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7], o[8], o[9], o[10], o[11]);
  else r.splice(lo, del, ...o.slice(0, m));
}

/**
 * How many bytes of `a` hold each value (256 entries). Read a 32-bit word at a time, a run of equal
 * words counted once: page states come in long runs (all of DRAM free at boot), and a byte at a time
 * was most of a 64 GiB boot's scans (16M frames, twice).
 */
export function byteHistogram(a: Uint8Array): number[] {
  const h = new Array<number>(256).fill(0);
  // Bytes before the first 4-aligned one, then whole words, then the tail.
  const head = Math.min(a.length, (4 - (a.byteOffset % 4)) % 4);
  for (let i = 0; i < head; i++) h[a[i]]++;
  // (An array shorter than its head ends unaligned, with no words.)
  const start = a.byteOffset + head;
  const words =
    start % 4 === 0 ? new Uint32Array(a.buffer, start, (a.length - head) >> 2) : new Uint32Array(0);
  let i = 0;
  while (i < words.length) {
    const w = words[i];
    let j = i + 1;
    while (j < words.length && words[j] === w) j++;
    const n = j - i;
    h[w & 0xff] += n;
    h[(w >>> 8) & 0xff] += n;
    h[(w >>> 16) & 0xff] += n;
    h[w >>> 24] += n;
    i = j;
  }
  for (let k = head + words.length * 4; k < a.length; k++) h[a[k]]++;
  return h;
}
