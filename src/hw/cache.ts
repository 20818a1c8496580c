/**
 * The normal world's data caches, per page: "may hold dirty lines", and how many normal-world
 * cacheable mappings besides the linear map exist (user mmaps, vmap). Clean + invalidate to PoC by
 * range (DC CIVAC loop, arm64 dcache_clean_inval_poc()). hardware.md §4.3.
 *
 * Dirty pages are bounded by the cache's capacity: a ring of dirty pages, the oldest evicted (written
 * back while its page is still the normal world's) when a new one would not fit. So a large memset
 * leaves only its last cache-full of pages dirty, as a real cache does. Each dirty page knows its ring
 * slot, so cleaning a page frees its slot and a range is cleaned by walking the (small) ring rather
 * than the range.
 *
 * Whoever models the caches' own activity over time (speculation.ts) is told before the dirty set or
 * the extra mappings change (`listener`), so it can account for the time that passed under the old state.
 */
import { DirtyBlocks } from "../sim/dirty.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
export const CACHE_LINE = 64;

/** Told of changes to what the caches hold (the speculation model). */
export interface CacheListener {
  /** Before a page becomes dirty or clean, outside the listener's own write-backs. */
  beforeDirtyChange(): void;
  /** Before and after the extra cacheable mappings of frames [first, first + count) change. */
  beforeMapsChange(first: number, count: number): void;
  afterMapsChange(first: number, count: number): void;
}

export class Caches implements Snapshottable {
  readonly #dirty: Uint8Array;
  readonly extraMaps: Uint16Array;
  /** Lines cleaned and invalidated by maintenance so far. */
  maintainedLines = 0;
  /** Dirty pages evicted for capacity. */
  evictions = 0;
  /** Frames with at least one extra cacheable mapping. */
  extraMappedFrames = 0;
  listener: CacheListener | null = null;
  /** Ring of dirty pages, oldest first: a frame, or −1 where the page was cleaned since. */
  readonly #ring: Int32Array;
  /** Per frame: its ring slot + 1 while dirty, else 0. Touched only for pages that were ever dirty. */
  readonly #slot: Int32Array;
  #head = 0;
  #size = 0;
  #dirtyPages = 0;
  /**
   * The last write of whole pages (markWrittenInOrder()), not yet in the ring: its pages, oldest first,
   * while the ring is otherwise empty. Most such writes are written back in bulk before anyone looks at
   * them one by one; whoever does puts them in the ring first (#settle()).
   */
  #pending: Int32Array;
  #pendingLen = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#head = saved.head as number;
      this.#size = saved.size as number;
      this.#dirtyPages = saved.dirtyPages as number;
      this.#pendingLen = saved.pendingLen as number;
    }
    return {
      dirty: this.#dirty,
      pending: this.#pending,
      pendingLen: this.#pendingLen,
      ring: this.#ring,
      slot: this.#slot,
      head: this.#head,
      size: this.#size,
      dirtyPages: this.#dirtyPages,
    };
  }

  /**
   * `tracker`: the frames' DirtyBlocks (sim/dirty.ts), which the frame-indexed arrays here go under;
   * every write to them touches it.
   */
  constructor(frames: number, capacityPages: number, tracker: DirtyBlocks = new DirtyBlocks(frames)) {
    this.#tracker = tracker;
    this.#dirty = tracker.track(new Uint8Array(frames));
    this.#pending = new Int32Array(Math.max(0, capacityPages));
    this.extraMaps = tracker.track(new Uint16Array(frames));
    this.#ring = new Int32Array(Math.max(0, capacityPages));
    this.#slot = capacityPages > 0 ? tracker.track(new Int32Array(frames)) : new Int32Array(0);
  }

  readonly #tracker: DirtyBlocks;

  /** Per frame: 1 when the page may hold dirty lines. */
  get dirty(): Uint8Array {
    this.#settle();
    return this.#dirty;
  }

  /** Puts a pending write's pages in the ring, oldest first. */
  #settle(): void {
    const n = this.#pendingLen;
    if (n === 0) return;
    this.#pendingLen = 0;
    this.#dirtyPages -= n;
    for (let k = 0; k < n; k++) this.#insert(this.#pending[k]);
  }

  get capacityPages(): number {
    return this.#ring.length;
  }

  /** Pages that may hold dirty lines. */
  get dirtyPages(): number {
    return this.#dirtyPages;
  }

  /** Marks pages dirty after a CPU write; evicts the oldest dirty pages beyond capacity. */
  markDirty(first: number, count: number): void {
    const cap = this.#ring.length;
    if (cap === 0) return;
    this.listener?.beforeDirtyChange();
    this.#settle();
    const from = count > cap ? first + count - cap : first;
    // Pages before `from` would be evicted by the pages after them within this same write.
    if (from > first) this.evictions += from - first;
    for (let i = from; i < first + count; i++) this.#insert(i);
  }

  /** Marks one page dirty (a write of part of it); see markDirty. */
  markPageDirty(i: number): void {
    if (this.#ring.length === 0) return;
    this.listener?.beforeDirtyChange();
    this.#settle();
    this.#insert(i);
  }

  /**
   * A CPU's writes of whole pages, in order: page k is `pages[(from + k) % pages.length]`, k < n. Every
   * page must be distinct and clean now. As markPageDirty() of each in turn, except that the pages a
   * later page of the same write evicts are not walked: they are counted as evicted and returned, for
   * the caller to count their write-backs (it must know none of them is denied).
   */
  markWrittenInOrder(pages: Int32Array, from: number, n: number): number {
    const cap = this.#ring.length;
    if (cap === 0 || n <= 0) return 0;
    this.listener?.beforeDirtyChange();
    this.#settle();
    const bulk = Math.max(0, n - cap);
    this.evictions += bulk;
    const len = pages.length;
    if (this.#dirtyPages === 0) {
      // Nothing else dirty: the pages wait as one write, copied out of the caller's ring.
      const a = (from + bulk) % len;
      const m = n - bulk;
      const first = Math.min(m, len - a);
      this.#pending.set(pages.subarray(a, a + first), 0);
      if (first < m) this.#pending.set(pages.subarray(0, m - first), first);
      this.#pendingLen = m;
      this.#dirtyPages = m;
      return bulk;
    }
    for (let k = bulk; k < n; k++) this.#insert(pages[(from + k) % len]);
    return bulk;
  }

  #insert(i: number): void {
    if (this.#dirty[i] !== 0) return;
    const cap = this.#ring.length;
    if (this.#size === cap) this.#evictOldest();
    const s = (this.#head + this.#size) % cap;
    this.#ring[s] = i;
    this.#slot[i] = s + 1;
    this.#size++;
    this.#dirty[i] = 1;
    this.#tracker.touch(i);
    this.#dirtyPages++;
  }

  /**
   * Frees the oldest slot. A page still dirty there is written back: through `writeBack` (the machine
   * routes it through the access checkpoint, where a page protected meanwhile is a finding), else here.
   */
  #evictOldest(): void {
    const i = this.#ring[this.#head];
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    if (i < 0 || this.#dirty[i] === 0) return;
    this.evictions++;
    if (this.writeBack) this.writeBack(i);
    if (this.#dirty[i] !== 0) this.#clean(i);
  }

  /** Writes one dirty page's lines back to memory (set by the machine). */
  writeBack: ((i: number) => void) | null = null;

  /** A dirty page chosen uniformly by `r` in [0, 1) (the ⌊r·dirty⌋-th in ring order); −1 when none. */
  pickDirty(r: number): number {
    this.#settle();
    if (this.#dirtyPages === 0) return -1;
    let k = Math.floor(r * this.#dirtyPages);
    const cap = this.#ring.length;
    for (let n = 0; n < this.#size; n++) {
      const i = this.#ring[(this.#head + n) % cap];
      if (i >= 0 && k-- === 0) return i;
    }
    return -1;
  }

  /** The dirty pages, oldest first. */
  dirtyList(): number[] {
    this.#settle();
    const out: number[] = [];
    const cap = this.#ring.length;
    for (let n = 0; n < this.#size; n++) {
      const i = this.#ring[(this.#head + n) % cap];
      if (i >= 0) out.push(i);
    }
    return out;
  }

  /** Drops the dirty state of one page after its lines were written back or discarded. */
  clean(i: number): void {
    this.#settle();
    if (this.#dirty[i] === 0) return;
    this.listener?.beforeDirtyChange();
    this.#clean(i);
  }

  /** clean() without telling the listener: for the listener's own write-backs. */
  cleanQuietly(i: number): void {
    this.#settle();
    if (this.#dirty[i] !== 0) this.#clean(i);
  }

  #clean(i: number): void {
    this.#dirty[i] = 0;
    this.#tracker.touch(i);
    this.#ring[this.#slot[i] - 1] = -1;
    this.#slot[i] = 0;
    this.#dirtyPages--;
    if (this.#dirtyPages === 0) {
      this.#head = 0;
      this.#size = 0;
    }
  }

  /** Every dirty page written back at once (the listener's bulk write-backs): returns how many. */
  cleanAllQuietly(): number {
    const n = this.#dirtyPages;
    this.#pendingLen = 0;
    const cap = this.#ring.length;
    for (let k = 0; k < this.#size; k++) {
      const i = this.#ring[(this.#head + k) % cap];
      if (i < 0) continue;
      this.#dirty[i] = 0;
      this.#slot[i] = 0;
      this.#tracker.touch(i);
    }
    this.#dirtyPages = 0;
    this.#head = 0;
    this.#size = 0;
    return n;
  }

  /** dcache_clean_inval_poc() over whole pages: returns the number of lines maintained. */
  cleanInvalidate(first: number, count: number): number {
    if (this.#dirtyPages > 0) {
      this.listener?.beforeDirtyChange();
      this.#settle();
      this.#forDirtyIn(first, count, (i) => this.#clean(i));
    }
    const lines = (count * 4096) / CACHE_LINE;
    this.maintainedLines += lines;
    return lines;
  }

  /** The dirty pages in [first, first + count), in ascending order. */
  dirtyPagesIn(first: number, count: number): number[] {
    const out: number[] = [];
    this.#forDirtyIn(first, count, (i) => out.push(i));
    // A walk of the ring (the range outnumbers it) meets the pages oldest first.
    return count <= this.#size ? out : out.sort((a, b) => a - b);
  }

  /** Dirty pages in [first, first + count). */
  dirtyIn(first: number, count: number): number {
    let n = 0;
    this.#forDirtyIn(first, count, () => n++);
    return n;
  }

  /**
   * Calls `f` on each dirty page in [first, first + count), in no set order, by the range or by the
   * ring, whichever is shorter. `f` may clean the page it is given (the walk reads the ring as it was).
   */
  #forDirtyIn(first: number, count: number, f: (i: number) => void): void {
    this.#settle();
    if (this.#dirtyPages === 0) return;
    const end = first + count;
    const size = this.#size;
    if (count <= size) {
      const dirty = this.#dirty;
      for (let i = first; i < end; i++) if (dirty[i] !== 0) f(i);
      return;
    }
    const ring = this.#ring;
    const head = this.#head;
    const cap = ring.length;
    for (let k = 0; k < size; k++) {
      const i = ring[(head + k) % cap];
      if (i >= first && i < end) f(i);
    }
  }

  /** Adds `delta` (±1) extra cacheable mappings to frames [first, first + count) (a user mmap, munmap). */
  addExtraMaps(first: number, count: number, delta: 1 | -1): void {
    const maps = this.extraMaps;
    this.listener?.beforeMapsChange(first, count);
    for (let i = first; i < first + count; i++) {
      const v = maps[i] + delta;
      if (v < 0 || v > 0xffff) throw new Error(`frame ${i} mapped ${v} times`);
      if (v === 0) this.extraMappedFrames--;
      else if (maps[i] === 0) this.extraMappedFrames++;
      maps[i] = v;
    }
    this.#tracker.touch(first, count);
    this.listener?.afterMapsChange(first, count);
  }
}
