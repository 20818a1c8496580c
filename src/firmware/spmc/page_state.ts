/**
 * The SPMC's record of who owns each page of DRAM and in which mode (Hafnium's stage-2 modes of the
 * owner, inc/hf/mm.h, reference/ffa.md §5.1), and which share state holds it. Typed arrays indexed
 * by frame; range updates are fills. Borrowers' access lives in the share state (one per page at
 * most: a sender must own a page exclusively to send it). The arrays are under the frames' dirty
 * tracker (sim/dirty.ts): each writer touches what it fills, so a snapshot restore copies back only
 * the blocks a run wrote — whole, they were 5 bytes a page at every explored run.
 */
import type { PageFrames } from "../../hw/frames.ts";
import { FFA_NWD_ID } from "./endpoint.ts";

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
/**
 * The normal world's memory at the SPMC: its ns-memory ranges mapped R|W|X|NS
 * (arch_other_world_vm_init()), the mode its mailbox pages must have at FFA_RXTX_MAP and get back at
 * FFA_RXTX_UNMAP (other_world.c).
 */
export const MM_MODE_NWD_MEMORY = MM_MODE_R | MM_MODE_W | MM_MODE_X | MM_MODE_NS;
/** The state bits ffa_send_check_transition() requires clear. */
export const MM_MODE_STATE_MASK = MM_MODE_INVALID | MM_MODE_UNOWNED | MM_MODE_SHARED;

/** Owner value for a page nobody may send (outside every endpoint's memory). */
export const NO_OWNER = 0xffff;

/**
 * The mode Hafnium reads for a range its page tables hold no entry for: attributes 0 →
 * arch_mm_stage2_attrs_to_mode(0) = X | D | INVALID | UNOWNED | SHARED (src/arch/aarch64/mm.c,
 * v2.15): mm_vm_get_mode() of an absent range succeeds, with this mode.
 */
export const MM_MODE_ABSENT = MM_MODE_X | MM_MODE_D | MM_MODE_INVALID | MM_MODE_UNOWNED | MM_MODE_SHARED;

export class PageState {
  /** Endpoint ID owning each frame. */
  readonly owner: Uint16Array;
  /** The owner's MM_MODE_* for the frame. */
  readonly mode: Uint8Array;
  /** Share-state slot + 1 holding the frame, 0 when none. */
  readonly holder: Uint16Array;
  /**
   * The normal world's own stage-2 mode (at the SPMC: the other-world VM's page tables) for frames it
   * does not own, 0 where it has no entry (MM_MODE_ABSENT). Only a send whose first fragment names such
   * frames before its last constituent writes it (send_complete.ts: constituents_get_mode() checks
   * the last one only); partitions' views of frames they do not own are not kept.
   */
  readonly nwdView: Uint8Array;

  readonly #basePfn: number;
  readonly #count: number;

  constructor(readonly frames: PageFrames) {
    this.owner = frames.dirty.track(new Uint16Array(frames.count));
    this.mode = frames.dirty.track(new Uint8Array(frames.count));
    this.holder = frames.dirty.track(new Uint16Array(frames.count));
    this.nwdView = frames.dirty.track(new Uint8Array(frames.count));
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

  /**
   * arch_vm_mem_get_mode() for a sender: the mode `ep` has on every frame of the range, when it is one
   * mode; null otherwise. A partition's mode is its own on frames it owns (frames it does not own: null,
   * its view of them is not kept). The normal world's is its own on frames it owns and its view of the
   * others (nwdView: MM_MODE_ABSENT where it has no entry) — one page table, as Hafnium reads it.
   */
  senderMode(ep: number, first: number, end: number): number | null {
    if (ep !== FFA_NWD_ID) return this.ownerMode(ep, first, end);
    if (first >= end) return null;
    const m = this.#nwdModeAt(first);
    for (let i = first + 1; i < end; i++) if (this.#nwdModeAt(i) !== m) return null;
    return m;
  }

  #nwdModeAt(i: number): number {
    if (this.owner[i] === FFA_NWD_ID) {
      // INVALID|UNOWNED is no entry at all in Hafnium's tables (mm_mode_to_flags() unmaps): a donate's
      // pages, the mailbox pages RXTX_MAP took away (unmapNwd()).
      const m = this.mode[i];
      return (m & MM_MODE_UNMAPPED_MASK) === MM_MODE_UNMAPPED_MASK ? MM_MODE_ABSENT : m;
    }
    const v = this.nwdView[i];
    return v === 0 ? MM_MODE_ABSENT : v;
  }

  /** vm_unmap() of [first, end) from the normal world's page tables at the SPMC. */
  unmapNwd(first: number, end: number): void {
    for (let i = first; i < end; i++) {
      if (this.owner[i] === FFA_NWD_ID) this.mode[i] = MM_MODE_UNMAPPED_MASK;
      else this.nwdView[i] = 0;
    }
    this.frames.dirty.touch(first, end - first);
  }

  /** The sender's new mode over [first, end): its own mode where it owns a frame, else its view. */
  setSenderMode(ep: number, first: number, end: number, mode: number): void {
    const owner = this.owner;
    for (let i = first; i < end; i++) {
      if (owner[i] === ep) this.mode[i] = mode;
      else this.nwdView[i] = mode;
    }
    this.frames.dirty.touch(first, end - first);
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
