/**
 * The normal world's data caches, per page: "may hold dirty lines", and how many normal-world
 * cacheable mappings besides the linear map exist (user mmaps, vmap). Clean + invalidate to PoC by
 * range (DC CIVAC loop, arm64 dcache_clean_inval_poc()). hardware.md §4.3.
 */
export const CACHE_LINE = 64;

export class Caches {
  readonly dirty: Uint8Array;
  readonly extraMaps: Uint16Array;
  /** Lines cleaned and invalidated by maintenance so far. */
  maintainedLines = 0;
  dirtyPages = 0;

  constructor(frames: number) {
    this.dirty = new Uint8Array(frames);
    this.extraMaps = new Uint16Array(frames);
  }

  markDirty(first: number, count: number): void {
    const d = this.dirty;
    for (let i = first; i < first + count; i++) {
      if (d[i] === 0) {
        d[i] = 1;
        this.dirtyPages++;
      }
    }
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
    for (let i = first; i < first + count; i++) this.clean(i);
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
