/**
 * The host's stage-2 translation under an EL2 hypervisor (pKVM's host_mmu.pgt — arch/arm64/kvm/hyp/nvhe/
 * mem_protect.c), for the `hypervisor` unmap strategy (ARCHITECTURE.md §5; optee.md §5).
 *
 * The host runs with an identity stage-2: every host IPA is its PA. Taking a range away from the host
 * (host_stage2_set_owner_locked(), as for a donation) leaves the kernel's own stage-1 linear map intact
 * but makes any translation through it fail at stage 2: a CPU access takes a stage-2 fault (pKVM injects
 * an abort into the host), and speculation cannot fill a line, because the walk never produces a
 * cacheable translation — MMU-side protection, like RME's granule check. Dirty lines already in the
 * caches are another matter: their write-back goes out on the bus whatever stage 2 says.
 *
 * The state is the set of ranges the host no longer translates, as sorted, disjoint, non-adjacent flat
 * [start, end) pairs: a range structure, not per-page state. Its limit is the real one: the table grows
 * with the ranges taken away (pKVM's page-table pages), bounded by DRAM; no fixed entry count.
 *
 * Note (Dec 2026): upstream pKVM's FF-A proxy (arch/arm64/kvm/hyp/nvhe/ffa.c) does *not* do this for a
 * host FFA_MEM_LEND: __do_ffa_mem_xfer() → ffa_host_share_ranges() → __pkvm_host_share_ffa() only marks
 * the pages PKVM_PAGE_SHARED_OWNED and keeps them mapped. This models the EL2 the protmem.c TODO and
 * the review thread expect ("the hypervisor should unmap the memory from EL2 translation tables").
 */
import { assert } from "../sim/assert.ts";
import { PAGE_SIZE } from "./platform.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

export interface HostStage2Counters {
  /** Hypercalls that changed the host stage-2 (one per range). */
  hypercalls: number;
  /** Ranges taken from the host, and given back. */
  rangesUnmapped: number;
  rangesMapped: number;
  /** Pages whose host stage-2 entry changed, each way. */
  pagesUnmapped: number;
  pagesMapped: number;
  /** Stage-2 TLB invalidations after a change (TLBI VMALLS12E1IS for the host VMID). */
  tlbFlushes: number;
}

export class HostStage2 implements Snapshottable {
  readonly counters: HostStage2Counters = {
    hypercalls: 0,
    rangesUnmapped: 0,
    rangesMapped: 0,
    pagesUnmapped: 0,
    pagesMapped: 0,
    tlbFlushes: 0,
  };
  /** Ranges the host does not translate, sorted flat [start, end) pairs. */
  #holes: number[] = [];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#holes = saved.holes as number[];
    }
    return { holes: this.#holes };
  }

  /** Number of untranslated ranges: 0 means every host access translates (the O(1) fast path). */
  get holeCount(): number {
    return this.#holes.length >> 1;
  }

  get holes(): readonly number[] {
    return this.#holes;
  }

  /** Index of the first hole whose end is > pa (binary search), in pairs. */
  #firstEndingAfter(pa: number): number {
    const h = this.#holes;
    let lo = 0;
    let hi = h.length >> 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (h[2 * mid + 1] <= pa) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Whether the host's stage 2 translates pa. */
  translates(pa: number): boolean {
    if (this.#holes.length === 0) return true;
    const k = this.#firstEndingAfter(pa);
    return k >= this.#holes.length >> 1 || this.#holes[2 * k] > pa;
  }

  /** The first address of [pa, pa + length) the host does not translate, or −1. */
  firstUntranslated(pa: number, length: number): number {
    if (this.#holes.length === 0) return -1;
    const k = this.#firstEndingAfter(pa);
    if (k >= this.#holes.length >> 1) return -1;
    const s = this.#holes[2 * k];
    if (s >= pa + length) return -1;
    return Math.max(s, pa);
  }

  /** Whether the host translates no page of [pa, pa + length): one hole covers it (holes never touch). */
  hidesAll(pa: number, length: number): boolean {
    if (this.#holes.length === 0) return false;
    const k = this.#firstEndingAfter(pa);
    return 2 * k < this.#holes.length && this.#holes[2 * k] <= pa && this.#holes[2 * k + 1] >= pa + length;
  }

  /** Pages of [start, end) inside holes. */
  #pagesIn(start: number, end: number): number {
    const h = this.#holes;
    let bytes = 0;
    for (let k = this.#firstEndingAfter(start); 2 * k < h.length && h[2 * k] < end; k++) {
      bytes += Math.min(end, h[2 * k + 1]) - Math.max(start, h[2 * k]);
    }
    return bytes / PAGE_SIZE;
  }

  /** Takes [start, end) from the host. Returns the number of pages that changed. */
  unmap(start: number, end: number): number {
    assert(start % PAGE_SIZE === 0 && end % PAGE_SIZE === 0 && start < end, "stage-2 range");
    const changed = (end - start) / PAGE_SIZE - this.#pagesIn(start, end);
    const h = this.#holes;
    // Merge with every hole that overlaps or touches [start, end).
    const k = this.#firstEndingAfter(start - 1);
    let s = start;
    let e = end;
    let j = k;
    while (2 * j < h.length && h[2 * j] <= end) {
      s = Math.min(s, h[2 * j]);
      e = Math.max(e, h[2 * j + 1]);
      j++;
    }
    h.splice(2 * k, 2 * (j - k), s, e);
    this.counters.rangesUnmapped++;
    this.counters.pagesUnmapped += changed;
    return changed;
  }

  /** Gives [start, end) back to the host. Returns the number of pages that changed. */
  map(start: number, end: number): number {
    assert(start % PAGE_SIZE === 0 && end % PAGE_SIZE === 0 && start < end, "stage-2 range");
    const changed = this.#pagesIn(start, end);
    if (changed > 0) {
      const h = this.#holes;
      const out: number[] = [];
      const k = this.#firstEndingAfter(start);
      let j = k;
      while (2 * j < h.length && h[2 * j] < end) {
        if (h[2 * j] < start) out.push(h[2 * j], start);
        if (h[2 * j + 1] > end) out.push(end, h[2 * j + 1]);
        j++;
      }
      h.splice(2 * k, 2 * (j - k), ...out);
    }
    this.counters.rangesMapped++;
    this.counters.pagesMapped += changed;
    return changed;
  }
}
