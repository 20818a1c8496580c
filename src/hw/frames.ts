/**
 * DRAM page frames: per-page facts in typed arrays indexed by frame number (pfn − first pfn).
 *
 * No per-page objects: each fact is one array, range updates are `fill`s. The hardware holds what the
 * hardware knows (who owns the page in the world sense, what data it holds); the kernel's own state
 * (free, movable, pinned, …) lives in the `state` and `pins` arrays that src/kernel/mm defines values for.
 */
import { assert } from "../sim/assert.ts";
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

export class PageFrames {
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

  constructor(basePa: number, sizeBytes: number) {
    assert(basePa % PAGE_SIZE === 0 && sizeBytes % PAGE_SIZE === 0, "DRAM must be page aligned");
    this.basePfn = basePa / PAGE_SIZE;
    this.count = sizeBytes / PAGE_SIZE;
    this.owner = new Uint8Array(this.count);
    this.useCase = new Uint8Array(this.count);
    this.taint = new Uint8Array(this.count);
    this.state = new Uint8Array(this.count);
    this.pins = new Uint16Array(this.count);
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
