/**
 * The SPMC's record of who owns each page of DRAM and in which mode (Hafnium's stage-2 modes of the
 * owner, inc/hf/mm.h, reference/ffa.md §5.1), and which share state holds it. Typed arrays indexed
 * by frame; range updates are fills. Borrowers' access lives in the share state (one per page at
 * most: a sender must own a page exclusively to send it). The arrays are under the frames' dirty
 * tracker (sim/dirty.ts): each writer touches what it fills, so a snapshot restore copies back only
 * the blocks a run wrote — whole, they were 5 bytes a page at every explored run.
 */
import type { PageFrames } from "../../hw/frames.ts";

/** 4 KiB (hw PAGE_SIZE, local for the hot loops). */
const PAGE_SIZE = 4096;

/** MM_MODE_* — Hafnium inc/hf/mm.h. */
export const MM_MODE_R = 1 << 0;
export const MM_MODE_W = 1 << 1;
export const MM_MODE_X = 1 << 2;
export const MM_MODE_D = 1 << 3;
export const MM_MODE_INVALID = 1 << 4;
export const MM_MODE_UNOWNED = 1 << 5;
export const MM_MODE_SHARED = 1 << 6;
export const MM_MODE_NS = 1 << 7;
export const MM_MODE_UNMAPPED_MASK = MM_MODE_INVALID | MM_MODE_UNOWNED;
/** The state bits ffa_send_check_transition() requires clear. */
export const MM_MODE_STATE_MASK = MM_MODE_INVALID | MM_MODE_UNOWNED | MM_MODE_SHARED;

/** Owner value for a page nobody may send (outside every endpoint's memory). */
export const NO_OWNER = 0xffff;

export class PageState {
  /** Endpoint ID owning each frame. */
  readonly owner: Uint16Array;
  /** The owner's MM_MODE_* for the frame. */
  readonly mode: Uint8Array;
  /** Share-state slot + 1 holding the frame, 0 when none. */
  readonly holder: Uint16Array;

  readonly #basePfn: number;
  readonly #count: number;

  constructor(readonly frames: PageFrames) {
    this.owner = frames.dirty.track(new Uint16Array(frames.count));
    this.mode = frames.dirty.track(new Uint8Array(frames.count));
    this.holder = frames.dirty.track(new Uint16Array(frames.count));
    this.#basePfn = frames.basePfn;
    this.#count = frames.count;
  }

  /** First frame of [pa, pa + pages × 4 KiB), or −1 when any of it is outside DRAM. */
  first(pa: number, pages: number): number {
    const i = Math.floor(pa / PAGE_SIZE) - this.#basePfn;
    return i >= 0 && i + pages <= this.#count && Number.isFinite(i) ? i : -1;
  }

  /** Boot: [pa, pa + size) belongs to `owner` with `mode`. */
  assign(pa: number, size: number, owner: number, mode: number): void {
    const i = this.frames.indexOf(pa);
    const n = Math.ceil(size / PAGE_SIZE);
    if (i < 0) return;
    const end = Math.min(i + n, this.frames.count);
    this.owner.fill(owner, i, end);
    this.mode.fill(mode, i, end);
    this.frames.dirty.touch(i, end - i);
  }

  /** Frame index range of [pa, pa + pages × 4 KiB), or null when any of it is outside DRAM. */
  range(pa: number, pages: number): { first: number; end: number } | null {
    const first = this.first(pa, pages);
    return first < 0 ? null : { first, end: first + pages };
  }

  /**
   * vm_mem_get_mode() for the owner side: the mode `ep` has on every frame of the range when it owns
   * them all with one uniform mode; null when a frame is outside DRAM, owned by someone else, or the
   * modes differ. Hafnium answers DENIED where modes differ, a range that mixes pages `ep` has with
   * pages it has not included; a range it has no mapping for at all reads there as absent entries, a
   * mode of their own, which the model does not keep (send_complete.ts).
   */
  ownerMode(ep: number, first: number, end: number): number | null {
    if (first >= end) return null;
    const owner = this.owner;
    const mode = this.mode;
    const m = mode[first];
    for (let i = first; i < end; i++) if (owner[i] !== ep || mode[i] !== m) return null;
    return m;
  }

  setMode(first: number, end: number, mode: number): void {
    fill(this.mode, mode, first, end);
    this.frames.dirty.touch(first, end - first);
  }

  setOwner(first: number, end: number, owner: number, mode: number): void {
    fill(this.owner, owner, first, end);
    fill(this.mode, mode, first, end);
    this.frames.dirty.touch(first, end - first);
  }

  setHolder(first: number, end: number, slotPlusOne: number): void {
    fill(this.holder, slotPlusOne, first, end);
    this.frames.dirty.touch(first, end - first);
  }
}

/** TypedArray.fill, with a plain loop for short ranges (fill's call overhead dominates there). */
function fill(a: Uint8Array | Uint16Array, v: number, first: number, end: number): void {
  if (end - first < 16) for (let i = first; i < end; i++) a[i] = v;
  else a.fill(v, first, end);
}
