/**
 * The kernel's direct (linear) map as real translation entries, and the TLB's view of it —
 * arch/arm64/mm/mmu.c (__create_pgd_mapping), arch/arm64/mm/pageattr.c (set_memory_valid,
 * split_kernel_leaf_mapping), asm/tlbflush.h (flush_tlb_kernel_range); hardware.md §3.
 *
 * Entries live in three typed arrays, one per level, indexed from the 1 GiB-aligned start of DRAM:
 * PUD (1 GiB), PMD (2 MiB), PTE (4 KiB). A level's entries mean something only under a TABLE entry
 * of the level above. A leaf is VALID, or INVALID (present with the valid bit clear: what
 * set_direct_map_invalid_noflush leaves), or NONE (no entry: never mapped, or removed). Changing part
 * of a block splits it into a table of the next level (counted: the TLB reach lost); the contiguous
 * hint of a 16-entry group is dropped as soon as one member changes. Nothing ever merges back, as in Linux.
 *
 * Invalidated or removed translations may still sit in the TLB until a flush covers them: the TLB is
 * modelled as the set of such stale ranges, which is what speculation can still use.
 *
 * Each leaf also has a memory type (MAIR index class), in a typed array beside each level's codes:
 * Normal write-back cacheable (PAGE_KERNEL, what map_mem() uses) or Device-nGnRnE (what Tegra VPR v3's
 * set_memory_device() writes). A Device entry translates but is never speculatively read or cached
 * (hardware.md §4.1). Changing the type of an entry the TLB may hold — a valid entry, or one invalidated
 * without a flush — needs break-before-make whatever FEAT_BBM level the CPU has, and the old cacheable
 * translation may stay in the TLB until flushed (it joins the stale ranges). Such live changes, and
 * splits of live blocks, are told to `onLiveChange` (the machine decides what is a finding).
 */
import { assert, fail } from "../sim/assert.ts";
import { PAGE_SIZE, SZ_1G, SZ_2M } from "./platform.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
import { DIRTY_BLOCK_SHIFT, DirtyBlocks } from "../sim/dirty.ts";

export const PT_NONE = 0;
export const PT_VALID = 1;
export const PT_INVALID = 2;
export const PT_TABLE = 3;

/** Memory types of a leaf (arch/arm64/include/asm/memory.h MT_NORMAL, MT_DEVICE_nGnRnE). */
export const MT_NORMAL = 0;
export const MT_DEVICE_nGnRnE = 1;

/** flush_tlb_kernel_range() falls back to flush_tlb_all() at MAX_DVM_OPS = PTRS_PER_PTE pages. */
export const MAX_DVM_OPS = 512;

const PTRS = 512;
const CONT = 16;

type Mode = "valid" | "invalid" | "remove" | "create" | "attr";

/** A live change the architecture wants break-before-make for (without FEAT_BBM help for splits). */
export type LiveChange = "split" | "attr";

export interface MapOptions {
  /** Blocks (1 GiB / 2 MiB) allowed: false under rodata=full without BBML2 (force_pte_mapping). */
  readonly blocks: boolean;
  /** Contiguous hint allowed (NO_CONT_MAPPINGS not set). */
  readonly cont: boolean;
}

export interface DirectMapCounters {
  /** Present leaf entries per size, valid ones. */
  valid1G: number;
  valid2M: number;
  valid4K: number;
  /** Present leaf entries with the valid bit clear. */
  invalid1G: number;
  invalid2M: number;
  invalid4K: number;
  /** Page-table pages in use below the PUD level. */
  pmdTables: number;
  pteTables: number;
  /** 16-entry groups carrying the contiguous hint. */
  contPmdGroups: number;
  contPteGroups: number;
  /** Blocks split into tables, and contiguous groups broken. */
  splits1G: number;
  splits2M: number;
  contBreaks: number;
  /** Entries that replaced split blocks: 2 MiB entries from 1 GiB blocks, 4 KiB entries from 2 MiB blocks (TLB reach lost). */
  splitPmds: number;
  splitPtes: number;
  /** Leaf entries whose memory type changed, and those of them that were live (valid, or stale in the TLB). */
  attrChanges: number;
  liveAttrChanges: number;
  /** TLB maintenance: range flushes, full flushes, single-page TLBIs issued. */
  flushRange: number;
  flushAll: number;
  tlbiPages: number;
}

/** Told before and after the translations of [start, end) change (the speculation model's bookkeeping). */
export interface MapChangeListener {
  before(start: number, end: number): void;
  after(start: number, end: number): void;
}

export class DirectMap implements Snapshottable {
  readonly base: number;
  readonly pud: Uint8Array;
  readonly pmd: Uint8Array;
  readonly pte: Uint8Array;
  readonly contPmd: Uint8Array;
  readonly contPte: Uint8Array;
  /** Memory type (MT_*) of the leaf at each entry of each level; meaningful where that level holds a leaf. */
  readonly mtPud: Uint8Array;
  readonly mtPmd: Uint8Array;
  readonly mtPte: Uint8Array;
  /**
   * Which last-level tables were written (sim/dirty.ts): a snapshot restore copies back only those
   * of pte, mtPte and contPte (a DRAM-sized family) instead of all of them. A block is one table's 512
   * entries; #applyPmd, the one writer of that level, touches its table. The middle level (pmd, mtPmd,
   * contPmd) is tracked with it, an entry per block: #applyPmd writes entry m after touching block m,
   * and #applyPud touches the 512 blocks of a table it makes.
   */
  readonly dirty: DirtyBlocks;
  /**
   * Told of each operation's live changes once it is done: block splits and contiguous-group breaks of
   * valid entries by set_memory_*()-style changes ("split"), and memory-type changes of entries the TLB
   * may hold ("attr"), with the first and last address touched and how many entries.
   */
  onLiveChange: ((what: LiveChange, start: number, end: number, entries: number) => void) | null = null;
  /** Told before and after any operation changes what [start, end) translates to, TLB included. */
  onChange: MapChangeListener | null = null;
  /**
   * Every range ever given a memory type other than Normal: where quiesce-clean looks for Device
   * entries left behind, without walking the whole map.
   */
  readonly retypedRanges: [number, number][] = [];
  readonly counters: DirectMapCounters = {
    valid1G: 0,
    valid2M: 0,
    valid4K: 0,
    invalid1G: 0,
    invalid2M: 0,
    invalid4K: 0,
    pmdTables: 0,
    pteTables: 0,
    contPmdGroups: 0,
    contPteGroups: 0,
    splits1G: 0,
    splits2M: 0,
    contBreaks: 0,
    splitPmds: 0,
    splitPtes: 0,
    attrChanges: 0,
    liveAttrChanges: 0,
    flushRange: 0,
    flushAll: 0,
    tlbiPages: 0,
  };
  /** Stale TLB ranges as flat [start, end) pairs. */
  #stale: number[] = [];
  #opts: MapOptions = { blocks: true, cont: true };
  /** Set while the boot map is being laid out: no splits, stale translations or live changes to count. */
  #boot = false;
  #mode: Mode = "create";
  #attrTarget = MT_NORMAL;
  /** Live changes of the operation in progress: count, first start, last end; per kind. */
  #liveSplit = 0;
  #liveSplitStart = 0;
  #liveSplitEnd = 0;
  #liveAttr = 0;
  #liveAttrStart = 0;
  #liveAttrEnd = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#stale = saved.stale as number[];
      this.#opts = saved.opts as MapOptions;
      this.#boot = saved.boot as boolean;
      this.#mode = saved.mode as Mode;
      this.#attrTarget = saved.attrTarget as number;
      this.#liveSplit = saved.liveSplit as number;
      this.#liveSplitStart = saved.liveSplitStart as number;
      this.#liveSplitEnd = saved.liveSplitEnd as number;
      this.#liveAttr = saved.liveAttr as number;
      this.#liveAttrStart = saved.liveAttrStart as number;
      this.#liveAttrEnd = saved.liveAttrEnd as number;
    }
    return {
      stale: this.#stale,
      opts: this.#opts,
      boot: this.#boot,
      mode: this.#mode,
      attrTarget: this.#attrTarget,
      liveSplit: this.#liveSplit,
      liveSplitStart: this.#liveSplitStart,
      liveSplitEnd: this.#liveSplitEnd,
      liveAttr: this.#liveAttr,
      liveAttrStart: this.#liveAttrStart,
      liveAttrEnd: this.#liveAttrEnd,
    };
  }

  constructor(dramBase: number, dramSize: number) {
    this.base = Math.floor(dramBase / SZ_1G) * SZ_1G;
    const n1g = Math.ceil((dramBase + dramSize - this.base) / SZ_1G);
    this.pud = new Uint8Array(n1g);
    assert(1 << DIRTY_BLOCK_SHIFT === PTRS, "a dirty block is one last-level table");
    this.dirty = new DirtyBlocks(n1g * PTRS * PTRS);
    // The middle level is tracked too, an entry a block (the table under it): a restore copied all of
    // it otherwise, 3 bytes per 2 MiB of DRAM, at every explored run (1.5 MiB a run on 1 TiB).
    const shiftPmd = Math.log2(PTRS);
    this.pmd = this.dirty.track(new Uint8Array(n1g * PTRS), shiftPmd);
    this.pte = this.dirty.track(new Uint8Array(n1g * PTRS * PTRS));
    this.contPmd = this.dirty.track(new Uint8Array((n1g * PTRS) / CONT), shiftPmd + Math.log2(CONT));
    this.contPte = this.dirty.track(new Uint8Array((n1g * PTRS * PTRS) / CONT), Math.log2(CONT));
    this.mtPud = new Uint8Array(n1g);
    this.mtPmd = this.dirty.track(new Uint8Array(n1g * PTRS), shiftPmd);
    this.mtPte = this.dirty.track(new Uint8Array(n1g * PTRS * PTRS));
  }

  setOptions(opts: MapOptions): void {
    this.#opts = opts;
  }

  get options(): MapOptions {
    return this.#opts;
  }

  /** The leaf state at pa: PT_VALID, PT_INVALID or PT_NONE. */
  lookup(pa: number): number {
    const off = pa - this.base;
    if (off < 0) return PT_NONE;
    const g = Math.floor(off / SZ_1G);
    if (g >= this.pud.length) return PT_NONE;
    const c1 = this.pud[g];
    if (c1 !== PT_TABLE) return c1;
    const m = Math.floor(off / SZ_2M);
    const c2 = this.pmd[m];
    if (c2 !== PT_TABLE) return c2;
    return this.pte[Math.floor(off / PAGE_SIZE)];
  }

  isValid(pa: number): boolean {
    return this.lookup(pa) === PT_VALID;
  }

  /** The memory type (MT_*) of the leaf at pa; MT_NORMAL where there is none. */
  memTypeAt(pa: number): number {
    const off = pa - this.base;
    if (off < 0) return MT_NORMAL;
    const g = Math.floor(off / SZ_1G);
    if (g >= this.pud.length) return MT_NORMAL;
    if (this.pud[g] !== PT_TABLE) return this.mtPud[g];
    const m = Math.floor(off / SZ_2M);
    if (this.pmd[m] !== PT_TABLE) return this.mtPmd[m];
    return this.mtPte[Math.floor(off / PAGE_SIZE)];
  }

  /** Whether the tables map pa valid and Normal-cacheable (what speculation can use, TLB aside). */
  mappedCacheable(pa: number): boolean {
    const off = pa - this.base;
    if (off < 0) return false;
    const g = Math.floor(off / SZ_1G);
    if (g >= this.pud.length) return false;
    const c1 = this.pud[g];
    if (c1 !== PT_TABLE) return c1 === PT_VALID && this.mtPud[g] === MT_NORMAL;
    const m = Math.floor(off / SZ_2M);
    const c2 = this.pmd[m];
    if (c2 !== PT_TABLE) return c2 === PT_VALID && this.mtPmd[m] === MT_NORMAL;
    const p = Math.floor(off / PAGE_SIZE);
    return this.pte[p] === PT_VALID && this.mtPte[p] === MT_NORMAL;
  }

  /**
   * Whether the CPU may hold or fetch cacheable lines of pa through the linear map: a valid Normal
   * entry, or a translation still in the TLB (counted as cacheable: what it held is not tracked).
   */
  cacheable(pa: number): boolean {
    return this.mappedCacheable(pa) || (this.#stale.length > 0 && this.isStale(pa));
  }

  /**
   * Whether [start, end) is mapped at the last level only: no block leaf covers any part of it (what
   * can_set_direct_map_range() asks of the FF-A lend pool's region). Pages with no entry count as
   * last-level. O(range / 2 MiB).
   */
  isPageMapped(start: number, end: number): boolean {
    if (start >= end) return true;
    const g0 = Math.floor((start - this.base) / SZ_1G);
    const g1 = Math.ceil((end - this.base) / SZ_1G);
    for (let g = g0; g < g1; g++) {
      const c = this.pud[g];
      if (c === PT_VALID || c === PT_INVALID) return false;
    }
    const m0 = Math.floor((start - this.base) / SZ_2M);
    const m1 = Math.ceil((end - this.base) / SZ_2M);
    for (let m = m0; m < m1; m++) {
      if (this.pud[Math.floor(m / PTRS)] !== PT_TABLE) continue;
      const c = this.pmd[m];
      if (c === PT_VALID || c === PT_INVALID) return false;
    }
    return true;
  }

  /** Valid pages of [start, end), counted by leaf (a block in one step). */
  validPages(start: number, end: number): number {
    let n = 0;
    const lo = Math.max(start, this.base);
    const hi = Math.min(end, this.base + this.pud.length * SZ_1G);
    for (let g = Math.floor((lo - this.base) / SZ_1G); this.base + g * SZ_1G < hi; g++) {
      const gs = this.base + g * SZ_1G;
      const a = Math.max(lo, gs);
      const b = Math.min(hi, gs + SZ_1G);
      const c1 = this.pud[g];
      if (c1 === PT_VALID) n += (b - a) / PAGE_SIZE;
      if (c1 !== PT_TABLE) continue;
      for (let m = Math.floor((a - this.base) / SZ_2M); this.base + m * SZ_2M < b; m++) {
        const ms = this.base + m * SZ_2M;
        const a2 = Math.max(a, ms);
        const b2 = Math.min(b, ms + SZ_2M);
        const c2 = this.pmd[m];
        if (c2 === PT_VALID) n += (b2 - a2) / PAGE_SIZE;
        if (c2 !== PT_TABLE) continue;
        const p1 = (b2 - this.base) / PAGE_SIZE;
        for (let p = (a2 - this.base) / PAGE_SIZE; p < p1; p++) if (this.pte[p] === PT_VALID) n++;
      }
    }
    return n;
  }

  /** Pages of [start, end) the tables map valid and Normal-cacheable, counted by leaf (a block in one step). */
  mappedCacheablePages(start: number, end: number): number {
    let n = 0;
    const lo = Math.max(start, this.base);
    const hi = Math.min(end, this.base + this.pud.length * SZ_1G);
    const pte = this.pte;
    const mtPte = this.mtPte;
    for (let g = Math.floor((lo - this.base) / SZ_1G); this.base + g * SZ_1G < hi; g++) {
      const gs = this.base + g * SZ_1G;
      const a = Math.max(lo, gs);
      const b = Math.min(hi, gs + SZ_1G);
      const c1 = this.pud[g];
      if (c1 !== PT_TABLE) {
        if (c1 === PT_VALID && this.mtPud[g] === MT_NORMAL) n += (b - a) / PAGE_SIZE;
        continue;
      }
      for (let m = Math.floor((a - this.base) / SZ_2M); this.base + m * SZ_2M < b; m++) {
        const ms = this.base + m * SZ_2M;
        const a2 = Math.max(a, ms);
        const b2 = Math.min(b, ms + SZ_2M);
        const c2 = this.pmd[m];
        if (c2 !== PT_TABLE) {
          if (c2 === PT_VALID && this.mtPmd[m] === MT_NORMAL) n += (b2 - a2) / PAGE_SIZE;
          continue;
        }
        const p1 = (b2 - this.base) / PAGE_SIZE;
        for (let p = (a2 - this.base) / PAGE_SIZE; p < p1; p++)
          if (pte[p] === PT_VALID && mtPte[p] === MT_NORMAL) n++;
      }
    }
    return n;
  }

  /** Pages of [start, end) for which cacheable() holds: mapped Normal-cacheable, or stale in the TLB. */
  cacheablePages(start: number, end: number): number {
    let n = this.mappedCacheablePages(start, end);
    if (this.#stale.length === 0) return n;
    // The stale ranges may overlap one another: walk their union within [start, end).
    const parts: [number, number][] = [];
    const st = this.#stale;
    for (let i = 0; i < st.length; i += 2) {
      const a = Math.max(st[i], start);
      const b = Math.min(st[i + 1], end);
      if (a < b) parts.push([a, b]);
    }
    parts.sort((x, y) => x[0] - y[0]);
    let cur = -1;
    for (const [a0, b] of parts) {
      const a = Math.max(a0, cur);
      if (a >= b) continue;
      n += (b - a) / PAGE_SIZE - this.mappedCacheablePages(a, b);
      cur = b;
    }
    return n;
  }

  /** Whether the TLB may still hold a translation for pa that the tables no longer have. */
  isStale(pa: number): boolean {
    const s = this.#stale;
    for (let i = 0; i < s.length; i += 2) if (pa >= s[i] && pa < s[i + 1]) return true;
    return false;
  }

  /** Whether the CPU can reach pa through the linear map at all (tables or TLB): speculation can. */
  reachable(pa: number): boolean {
    return this.lookup(pa) === PT_VALID || (this.#stale.length > 0 && this.isStale(pa));
  }

  get staleRanges(): readonly number[] {
    return this.#stale;
  }

  /** Creates mappings for [start, end) where there are none: the boot map, or memtrace's re-add. */
  create(start: number, end: number): void {
    this.#apply(start, end, "create");
  }

  /** Removes the entries of [start, end), freeing emptied tables; the TLB keeps them until flushed. */
  remove(start: number, end: number): void {
    this.#apply(start, end, "remove");
  }

  /** set_memory_valid(..., 0): clears the valid bit of existing entries (no flush). */
  invalidate(start: number, end: number): void {
    this.#apply(start, end, "invalid");
  }

  /** set_memory_valid(..., 1): sets the valid bit of existing entries. */
  restore(start: number, end: number): void {
    this.#apply(start, end, "valid");
  }

  /**
   * Rewrites the memory type of the existing entries of [start, end) in place, as pageattr.c's walk
   * does (update_range_prot(): split first, then read-modify-write each leaf; no break-before-make):
   * set_memory_device() with MT_DEVICE_nGnRnE, set_memory_normal() with MT_NORMAL. No flush. Returns
   * the number of entries changed.
   */
  setMemType(start: number, end: number, mt: number): number {
    if (!(mt === MT_NORMAL || mt === MT_DEVICE_nGnRnE)) fail(`memory type ${mt}`);
    if (mt !== MT_NORMAL && !this.retypedRanges.some(([s, e]) => s === start && e === end))
      this.retypedRanges.push([start, end]);
    const before = this.counters.attrChanges;
    this.#attrTarget = mt;
    this.#apply(start, end, "attr");
    return this.counters.attrChanges - before;
  }

  /**
   * At boot only: lays [start, end) out again with 4 KiB pages and no contiguous hint, the rest of the
   * map keeping its blocks — how map_mem() maps a region that must be page-granular (the KFENCE pool;
   * a reserved-memory region marked `ll-map`). Counts no split and leaves no stale translation: the
   * region was never mapped otherwise. Every page of the range must be mapped.
   */
  bootPageGranular(start: number, end: number): void {
    assert(
      this.validPages(start, end) === (end - start) / PAGE_SIZE,
      "a boot page-granular region must be mapped",
    );
    const opts = this.#opts;
    this.#boot = true;
    this.remove(start, end);
    this.#opts = { blocks: false, cont: false };
    this.create(start, end);
    this.#opts = opts;
    this.#boot = false;
  }

  /**
   * flush_tlb_kernel_range(): per-page TLBIs below MAX_DVM_OPS pages, else flush_tlb_all().
   * Returns the number of per-page TLBIs issued (0 for a full flush).
   */
  flushTlbKernelRange(start: number, end: number): number {
    const s = Math.floor(start / PAGE_SIZE) * PAGE_SIZE;
    const e = Math.ceil(end / PAGE_SIZE) * PAGE_SIZE;
    const pages = (e - s) / PAGE_SIZE;
    if (pages >= MAX_DVM_OPS) {
      this.flushTlbAll();
      return 0;
    }
    this.counters.flushRange++;
    this.counters.tlbiPages += pages;
    if (this.#stale.length === 0) return pages;
    this.onChange?.before(s, e);
    this.#unstale(s, e);
    this.onChange?.after(s, e);
    return pages;
  }

  /** flush_tlb_all() */
  flushTlbAll(): void {
    this.counters.flushAll++;
    if (this.#stale.length === 0) return;
    const was = this.#stale;
    const l = this.onChange;
    // Each stale range changes; disjoint pieces so nothing is counted twice.
    const pieces: number[] = [];
    const sorted: [number, number][] = [];
    for (let i = 0; i < was.length; i += 2) sorted.push([was[i], was[i + 1]]);
    sorted.sort((x, y) => x[0] - y[0]);
    for (const [a, b] of sorted) {
      const n = pieces.length;
      if (n > 0 && a <= pieces[n - 1]) pieces[n - 1] = Math.max(pieces[n - 1], b);
      else pieces.push(a, b);
    }
    if (l) for (let i = 0; i < pieces.length; i += 2) l.before(pieces[i], pieces[i + 1]);
    this.#stale = [];
    if (l) for (let i = 0; i < pieces.length; i += 2) l.after(pieces[i], pieces[i + 1]);
  }

  #addStale(s: number, e: number): void {
    const st = this.#stale;
    // Merge with an adjacent or overlapping range when possible; keeps the list short for the common case.
    for (let i = 0; i < st.length; i += 2) {
      if (s <= st[i + 1] && e >= st[i]) {
        st[i] = Math.min(st[i], s);
        st[i + 1] = Math.max(st[i + 1], e);
        return;
      }
    }
    st.push(s, e);
  }

  #unstale(s: number, e: number): void {
    const st = this.#stale;
    if (st.length === 0) return;
    const out: number[] = [];
    for (let i = 0; i < st.length; i += 2) {
      const a = st[i];
      const b = st[i + 1];
      if (b <= s || a >= e) {
        out.push(a, b);
        continue;
      }
      if (a < s) out.push(a, s);
      if (b > e) out.push(e, b);
    }
    this.#stale = out;
  }

  #leafDelta(level: 0 | 1 | 2, code: number, d: number): void {
    const c = this.counters;
    if (code === PT_VALID) {
      if (level === 0) c.valid1G += d;
      else if (level === 1) c.valid2M += d;
      else c.valid4K += d;
    } else if (code === PT_INVALID) {
      if (level === 0) c.invalid1G += d;
      else if (level === 1) c.invalid2M += d;
      else c.invalid4K += d;
    }
  }

  #apply(start: number, end: number, mode: Mode): void {
    // The message is built only on failure: every change of the linear map passes here.
    if (!(start % PAGE_SIZE === 0 && end % PAGE_SIZE === 0 && start <= end))
      fail(`direct map range ${start}..${end}`);
    if (start === end) return;
    assert(start >= this.base && end <= this.base + this.pud.length * SZ_1G, "direct map range outside DRAM");
    this.onChange?.before(start, end);
    this.#mode = mode;
    this.#liveSplit = 0;
    this.#liveAttr = 0;
    const g0 = Math.floor((start - this.base) / SZ_1G);
    const g1 = Math.ceil((end - this.base) / SZ_1G);
    for (let g = g0; g < g1; g++) {
      const gs = this.base + g * SZ_1G;
      const s = Math.max(start, gs);
      const e = Math.min(end, gs + SZ_1G);
      this.#applyPud(g, s, e, s === gs && e === gs + SZ_1G, mode);
    }
    const hook = this.onLiveChange;
    if (hook !== null && this.#liveSplit > 0)
      hook("split", this.#liveSplitStart, this.#liveSplitEnd, this.#liveSplit);
    if (hook !== null && this.#liveAttr > 0)
      hook("attr", this.#liveAttrStart, this.#liveAttrEnd, this.#liveAttr);
    this.onChange?.after(start, end);
  }

  /**
   * New code of a present or absent leaf under `mode`, or −1 for "leave it". A memory-type change
   * keeps the code and touches present leaves of another type.
   */
  #target(code: number, mt: number, mode: Mode): number {
    switch (mode) {
      case "create":
        return code === PT_NONE ? PT_VALID : -1;
      case "remove":
        return code === PT_NONE ? -1 : PT_NONE;
      case "valid":
        return code === PT_INVALID ? PT_VALID : -1;
      case "invalid":
        return code === PT_VALID ? PT_INVALID : -1;
      case "attr":
        return code === PT_NONE || mt === this.#attrTarget ? -1 : code;
    }
  }

  /** Whether the operation in progress rewrites live entries the way pageattr.c does (not hotplug's remove/create). */
  #pageattr(): boolean {
    return !this.#boot && (this.#mode === "invalid" || this.#mode === "valid" || this.#mode === "attr");
  }

  #noteLiveSplit(s: number, e: number, entries: number): void {
    if (this.#liveSplit === 0) {
      this.#liveSplitStart = s;
      this.#liveSplitEnd = e;
    }
    this.#liveSplitEnd = Math.max(this.#liveSplitEnd, e);
    this.#liveSplit += entries;
  }

  #noteLiveAttr(s: number, e: number): void {
    if (this.#liveAttr === 0) {
      this.#liveAttrStart = s;
      this.#liveAttrEnd = e;
    }
    this.#liveAttrEnd = Math.max(this.#liveAttrEnd, e);
    this.#liveAttr++;
  }

  #applyPud(g: number, s: number, e: number, full: boolean, mode: Mode): void {
    const code = this.pud[g];
    if (code !== PT_TABLE) {
      const t = this.#target(code, this.mtPud[g], mode);
      if (t < 0) return;
      const gs = this.base + g * SZ_1G;
      if (full && (t !== PT_VALID || code !== PT_NONE || this.#opts.blocks)) {
        this.#setLeaf(0, this.pud, this.mtPud, g, code, t, s, e);
        return;
      }
      // Part of a block changes (or a new mapping cannot be a block): make a table of the next level.
      if (code !== PT_NONE && !this.#boot) {
        this.counters.splits1G++;
        this.counters.splitPmds += PTRS;
        if (code === PT_VALID && this.#pageattr()) this.#noteLiveSplit(gs, gs + SZ_1G, 1);
      }
      this.pud[g] = PT_TABLE;
      this.counters.pmdTables++;
      this.#leafDelta(0, code, -1);
      // The new table's 512 entries: every block under this 1 GiB.
      this.dirty.touch(g * PTRS * PTRS, PTRS * PTRS);
      this.pmd.fill(code, g * PTRS, (g + 1) * PTRS);
      this.mtPmd.fill(code === PT_NONE ? MT_NORMAL : this.mtPud[g], g * PTRS, (g + 1) * PTRS);
      this.#leafDelta(1, code, PTRS);
    }
    const gs = this.base + g * SZ_1G;
    const m0 = g * PTRS + Math.floor((s - gs) / SZ_2M);
    const m1 = g * PTRS + Math.ceil((e - gs) / SZ_2M);
    for (let m = m0; m < m1; m++) {
      const ms = this.base + m * SZ_2M;
      const a = Math.max(s, ms);
      const b = Math.min(e, ms + SZ_2M);
      this.#applyPmd(m, a, b, a === ms && b === ms + SZ_2M, mode);
    }
    if (mode === "create") this.#markCont(this.pmd, this.contPmd, m0, m1, 1);
    if (mode === "remove") this.#freeTableIfEmpty(0, g);
  }

  #applyPmd(m: number, s: number, e: number, full: boolean, mode: Mode): void {
    // Every write to the last level goes through here, within table m (an over-approximation when the
    // entry stays a block: one stamp).
    this.dirty.touch(m * PTRS, PTRS);
    const code = this.pmd[m];
    if (code !== PT_TABLE) {
      const t = this.#target(code, this.mtPmd[m], mode);
      if (t < 0) return;
      const ms = this.base + m * SZ_2M;
      if (full && (t !== PT_VALID || code !== PT_NONE || this.#opts.blocks)) {
        this.#breakCont(this.contPmd, m, 1);
        this.#setLeaf(1, this.pmd, this.mtPmd, m, code, t, s, e);
        return;
      }
      if (code !== PT_NONE && !this.#boot) {
        this.counters.splits2M++;
        this.counters.splitPtes += PTRS;
        if (code === PT_VALID && this.#pageattr()) this.#noteLiveSplit(ms, ms + SZ_2M, 1);
      }
      this.#breakCont(this.contPmd, m, 1);
      this.pmd[m] = PT_TABLE;
      this.counters.pteTables++;
      this.#leafDelta(1, code, -1);
      // A table made from no entry: its PTEs are none and Normal already (a freed table's entries were
      // all removed, and a removed entry is reset to Normal), so nothing is written — and the PTEs of a
      // fresh table being created are set in one fill below.
      if (code !== PT_NONE) {
        this.pte.fill(code, m * PTRS, (m + 1) * PTRS);
        this.mtPte.fill(this.mtPmd[m], m * PTRS, (m + 1) * PTRS);
        this.#leafDelta(2, code, PTRS);
      } else if (mode === "create") {
        const ms0 = this.base + m * SZ_2M;
        const q0 = m * PTRS + (s - ms0) / PAGE_SIZE;
        const q1 = m * PTRS + (e - ms0) / PAGE_SIZE;
        this.pte.fill(PT_VALID, q0, q1);
        this.#leafDelta(2, PT_VALID, q1 - q0);
        this.#markCont(this.pte, this.contPte, q0, q1, 2);
        return;
      }
    }
    const ms = this.base + m * SZ_2M;
    const p0 = m * PTRS + (s - ms) / PAGE_SIZE;
    const p1 = m * PTRS + (e - ms) / PAGE_SIZE;
    if (mode === "attr") {
      this.#attrPtes(p0, p1);
      return;
    }
    const pte = this.pte;
    const boot = this.#boot;
    if ((mode === "invalid" || mode === "valid") && this.#applyUniformPtes(p0, p1, mode)) return;
    let changed = 0;
    // The leaf counts move once per table, not twice per entry (nothing reads them meanwhile).
    let dValid = 0;
    let dInvalid = 0;
    for (let p = p0; p < p1; p++) {
      const c = pte[p];
      const t = this.#target(c, 0, mode);
      if (t < 0) continue;
      if (changed === 0 || p % CONT === 0) this.#breakCont(this.contPte, p, 2);
      if (c === PT_VALID) dValid--;
      else if (c === PT_INVALID) dInvalid--;
      if (t === PT_VALID) dValid++;
      else if (t === PT_INVALID) dInvalid++;
      if (c === PT_VALID && !boot) this.#addStale(this.base + p * PAGE_SIZE, this.base + (p + 1) * PAGE_SIZE);
      if (c === PT_NONE || t === PT_NONE) this.mtPte[p] = MT_NORMAL;
      pte[p] = t;
      changed++;
    }
    this.#leafDelta(2, PT_VALID, dValid);
    this.#leafDelta(2, PT_INVALID, dInvalid);
    if (mode === "create") this.#markCont(this.pte, this.contPte, p0, p1, 2);
    if (mode === "remove") this.#freeTableIfEmpty(1, m);
  }

  /**
   * set_memory_valid() over PTEs [p0, p1) of one table that all hold the same entry (a lent chunk, as
   * it is unmapped and mapped again): what the per-entry loop of #applyPmd does, a range at a time —
   * the contiguous hints broken at the first entry and at each group start, the leaf counts moved by
   * the range, the range added to the TLB's stale set at once (the same union of pages; only union
   * questions are ever asked of it). False, with nothing done, when the entries differ.
   */
  #applyUniformPtes(p0: number, p1: number, mode: "invalid" | "valid"): boolean {
    const pte = this.pte;
    const c = pte[p0];
    for (let p = p0 + 1; p < p1; p++) if (pte[p] !== c) return false;
    const t = this.#target(c, 0, mode);
    if (t < 0) return true;
    this.#breakCont(this.contPte, p0, 2);
    for (let p = (Math.floor(p0 / CONT) + 1) * CONT; p < p1; p += CONT) this.#breakCont(this.contPte, p, 2);
    const n = p1 - p0;
    // invalid/valid only ever turn VALID into INVALID or back (#target).
    this.#leafDelta(2, c, -n);
    this.#leafDelta(2, t, n);
    if (c === PT_VALID && !this.#boot) this.#addStale(this.base + p0 * PAGE_SIZE, this.base + p1 * PAGE_SIZE);
    pte.fill(t, p0, p1);
    return true;
  }

  /** The memory-type rewrite of the PTEs [p0, p1) of one table. */
  #attrPtes(p0: number, p1: number): void {
    const pte = this.pte;
    const mt = this.mtPte;
    const target = this.#attrTarget;
    let first = true;
    for (let p = p0; p < p1; p++) {
      const c = pte[p];
      if (c === PT_NONE || mt[p] === target) continue;
      if (first || p % CONT === 0) this.#breakCont(this.contPte, p, 2);
      first = false;
      this.#retype(c, this.base + p * PAGE_SIZE, this.base + (p + 1) * PAGE_SIZE);
      mt[p] = target;
    }
  }

  /** Accounts one leaf's memory-type change: a live one leaves its old translation in the TLB. */
  #retype(code: number, s: number, e: number): void {
    this.counters.attrChanges++;
    const live = code === PT_VALID || (this.#stale.length > 0 && this.#overlapsStale(s, e));
    if (!live) return;
    this.counters.liveAttrChanges++;
    this.#noteLiveAttr(s, e);
    this.#addStale(s, e);
  }

  #setLeaf(
    level: 0 | 1,
    arr: Uint8Array,
    mts: Uint8Array,
    i: number,
    code: number,
    t: number,
    s: number,
    e: number,
  ): void {
    if (this.#mode === "attr") {
      this.#retype(code, s, e);
      mts[i] = this.#attrTarget;
      return;
    }
    this.#leafDelta(level, code, -1);
    this.#leafDelta(level, t, 1);
    if (code === PT_VALID && !this.#boot) this.#addStale(s, e);
    if (code === PT_NONE || t === PT_NONE) mts[i] = MT_NORMAL;
    arr[i] = t;
  }

  #overlapsStale(s: number, e: number): boolean {
    const st = this.#stale;
    for (let i = 0; i < st.length; i += 2) if (s < st[i + 1] && e > st[i]) return true;
    return false;
  }

  /** Drops the contiguous hint of the 16-entry group holding entry i, if it has one. */
  #breakCont(cont: Uint8Array, i: number, level: 1 | 2): void {
    const grp = Math.floor(i / CONT);
    if (cont[grp] === 0) return;
    cont[grp] = 0;
    if (!this.#boot) this.counters.contBreaks++;
    if (level === 1) this.counters.contPmdGroups--;
    else this.counters.contPteGroups--;
    // The 16 entries of a contiguous group are valid (#markCont): unfolding them changes live entries.
    if (this.#pageattr()) {
      const size = level === 1 ? SZ_2M : PAGE_SIZE;
      const gs = this.base + grp * CONT * size;
      this.#noteLiveSplit(gs, gs + CONT * size, CONT);
    }
  }

  /** Sets the contiguous hint on whole aligned groups in [i0, i1) whose 16 entries are valid leaves. */
  #markCont(arr: Uint8Array, cont: Uint8Array, i0: number, i1: number, level: 1 | 2): void {
    if (!this.#opts.cont || !this.#opts.blocks) return;
    for (let grp = Math.ceil(i0 / CONT); (grp + 1) * CONT <= i1; grp++) {
      if (cont[grp] !== 0) continue;
      let all = true;
      for (let k = grp * CONT; k < (grp + 1) * CONT; k++) {
        if (arr[k] !== PT_VALID) {
          all = false;
          break;
        }
      }
      if (!all) continue;
      cont[grp] = 1;
      if (level === 1) this.counters.contPmdGroups++;
      else this.counters.contPteGroups++;
    }
  }

  /** After a removal, frees a table all of whose entries are gone (memtrace's remove_pagetable). */
  #freeTableIfEmpty(level: 0 | 1, i: number): void {
    if (level === 0) {
      if (this.pud[i] !== PT_TABLE) return;
      for (let k = i * PTRS; k < (i + 1) * PTRS; k++) if (this.pmd[k] !== PT_NONE) return;
      this.pud[i] = PT_NONE;
      this.counters.pmdTables--;
    } else {
      if (this.pmd[i] !== PT_TABLE) return;
      for (let k = i * PTRS; k < (i + 1) * PTRS; k++) if (this.pte[k] !== PT_NONE) return;
      this.pmd[i] = PT_NONE;
      this.counters.pteTables--;
    }
  }

  /** Every leaf entry in address order, as ptdump would list it (for tests and reports). */
  *entries(): Generator<{ start: number; size: number; code: number; cont: boolean; mt: number }> {
    for (let g = 0; g < this.pud.length; g++) {
      const c1 = this.pud[g];
      if (c1 === PT_VALID || c1 === PT_INVALID)
        yield { start: this.base + g * SZ_1G, size: SZ_1G, code: c1, cont: false, mt: this.mtPud[g] };
      if (c1 !== PT_TABLE) continue;
      for (let m = g * PTRS; m < (g + 1) * PTRS; m++) {
        const c2 = this.pmd[m];
        const cont2 = this.contPmd[Math.floor(m / CONT)] === 1;
        if (c2 === PT_VALID || c2 === PT_INVALID)
          yield { start: this.base + m * SZ_2M, size: SZ_2M, code: c2, cont: cont2, mt: this.mtPmd[m] };
        if (c2 !== PT_TABLE) continue;
        for (let p = m * PTRS; p < (m + 1) * PTRS; p++) {
          const c3 = this.pte[p];
          if (c3 === PT_VALID || c3 === PT_INVALID) {
            yield {
              start: this.base + p * PAGE_SIZE,
              size: PAGE_SIZE,
              code: c3,
              cont: this.contPte[Math.floor(p / CONT)] === 1,
              mt: this.mtPte[p],
            };
          }
        }
      }
    }
  }
}
