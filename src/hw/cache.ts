/**
 * The normal world's data caches, per page: "may hold dirty lines", and how many normal-world
 * cacheable mappings besides the linear map exist (user mmaps, vmap). Clean + invalidate to PoC by
 * range (DC CIVAC loop, arm64 dcache_clean_inval_poc()). hardware.md §4.3.
 *
 * Dirty pages are bounded by the cache's capacity: a ring of dirty pages, the oldest evicted (written
 * back while its page is still the normal world's) when a new one would not fit. So a large memset
 * leaves only its last cache-full of pages dirty, as a real cache does.
 */
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
export const CACHE_LINE = 64;

export class Caches implements Snapshottable {
  readonly dirty: Uint8Array;
  readonly extraMaps: Uint16Array;
  /** Lines cleaned and invalidated by maintenance so far. */
  maintainedLines = 0;
  /** Dirty pages evicted for capacity. */
  evictions = 0;
  readonly #ring: Int32Array;
  #head = 0;
  #size = 0;
  dirtyPages = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#head = saved.head as number;
      this.#size = saved.size as number;
    }
    return { ring: this.#ring, head: this.#head, size: this.#size };
  }

  constructor(frames: number, capacityPages: number) {
    this.dirty = new Uint8Array(frames);
    this.extraMaps = new Uint16Array(frames);
    this.#ring = new Int32Array(Math.max(0, capacityPages));
  }

  get capacityPages(): number {
    return this.#ring.length;
  }

  /** Marks pages dirty after a CPU write; evicts the oldest dirty pages beyond capacity. */
  markDirty(first: number, count: number): void {
    const cap = this.#ring.length;
    if (cap === 0) return;
    const from = count > cap ? first + count - cap : first;
    if (from > first) this.evictions += from - first;
    for (let i = from; i < first + count; i++) {
      if (this.dirty[i] !== 0) continue;
      if (this.#size === cap) this.#evictOldest();
      this.#ring[(this.#head + this.#size) % cap] = i;
      this.#size++;
      this.dirty[i] = 1;
      this.dirtyPages++;
    }
  }

  /**
   * Frees the oldest slot. A page still dirty there is written back: through `writeBack` (the machine
   * routes it through the access checkpoint, where a page protected meanwhile is a finding), else here.
   */
  #evictOldest(): void {
    const i = this.#ring[this.#head];
    this.#head = (this.#head + 1) % this.#ring.length;
    this.#size--;
    if (this.dirty[i] === 0) return;
    this.evictions++;
    if (this.writeBack) this.writeBack(i);
    this.clean(i);
  }

  /** Writes one dirty page's lines back to memory (set by the machine). */
  writeBack: ((i: number) => void) | null = null;

  /** A dirty page from the ring, chosen by `r` in [0, 1): the slot it lands on or the next dirty one; −1 when none. */
  pickDirty(r: number): number {
    if (this.dirtyPages === 0 || this.#size === 0) return -1;
    const cap = this.#ring.length;
    const start = Math.floor(r * this.#size);
    for (let k = 0; k < this.#size; k++) {
      const i = this.#ring[(this.#head + ((start + k) % this.#size)) % cap];
      if (this.dirty[i] !== 0) return i;
    }
    return -1;
  }

  /** Drops the dirty state of one page after its lines were written back or discarded. */
  clean(i: number): void {
    if (this.dirty[i] !== 0) {
      this.dirty[i] = 0;
      this.dirtyPages--;
    }
  }

  /** dcache_clean_inval_poc() over whole pages: returns the number of lines maintained. */
  cleanInvalidate(first: number, count: number): number {
    if (this.dirtyPages > 0) for (let i = first; i < first + count; i++) this.clean(i);
    const lines = (count * 4096) / CACHE_LINE;
    this.maintainedLines += lines;
    return lines;
  }

  /** Dirty pages in [first, first + count). */
  dirtyIn(first: number, count: number): number {
    if (this.dirtyPages === 0) return 0;
    let n = 0;
    for (let i = first; i < first + count; i++) n += this.dirty[i];
    return n;
  }
}
