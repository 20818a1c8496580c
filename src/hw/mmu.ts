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
 */
import { assert } from "../sim/assert.ts";
import { PAGE_SIZE, SZ_1G, SZ_2M } from "./platform.ts";

export const PT_NONE = 0;
export const PT_VALID = 1;
export const PT_INVALID = 2;
export const PT_TABLE = 3;

/** flush_tlb_kernel_range() falls back to flush_tlb_all() at MAX_DVM_OPS = PTRS_PER_PTE pages. */
export const MAX_DVM_OPS = 512;

const PTRS = 512;
const CONT = 16;

type Mode = "valid" | "invalid" | "remove" | "create";

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
  /** TLB maintenance: range flushes, full flushes, single-page TLBIs issued. */
  flushRange: number;
  flushAll: number;
  tlbiPages: number;
}

export class DirectMap {
  readonly base: number;
  readonly pud: Uint8Array;
  readonly pmd: Uint8Array;
  readonly pte: Uint8Array;
  readonly contPmd: Uint8Array;
  readonly contPte: Uint8Array;
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
    flushRange: 0,
    flushAll: 0,
    tlbiPages: 0,
  };
  /** Stale TLB ranges as flat [start, end) pairs. */
  #stale: number[] = [];
  #opts: MapOptions = { blocks: true, cont: true };

  constructor(dramBase: number, dramSize: number) {
    this.base = Math.floor(dramBase / SZ_1G) * SZ_1G;
    const n1g = Math.ceil((dramBase + dramSize - this.base) / SZ_1G);
    this.pud = new Uint8Array(n1g);
    this.pmd = new Uint8Array(n1g * PTRS);
    this.pte = new Uint8Array(n1g * PTRS * PTRS);
    this.contPmd = new Uint8Array((n1g * PTRS) / CONT);
    this.contPte = new Uint8Array((n1g * PTRS * PTRS) / CONT);
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
    this.#unstale(s, e);
    return pages;
  }

  /** flush_tlb_all() */
  flushTlbAll(): void {
    this.counters.flushAll++;
    this.#stale = [];
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
    assert(
      start % PAGE_SIZE === 0 && end % PAGE_SIZE === 0 && start <= end,
      `direct map range ${start}..${end}`,
    );
    if (start === end) return;
    assert(start >= this.base && end <= this.base + this.pud.length * SZ_1G, "direct map range outside DRAM");
    const g0 = Math.floor((start - this.base) / SZ_1G);
    const g1 = Math.ceil((end - this.base) / SZ_1G);
    for (let g = g0; g < g1; g++) {
      const gs = this.base + g * SZ_1G;
      const s = Math.max(start, gs);
      const e = Math.min(end, gs + SZ_1G);
      this.#applyPud(g, s, e, s === gs && e === gs + SZ_1G, mode);
    }
  }

  /** New code of a present or absent leaf under `mode`, or −1 for "leave it". */
  static #target(code: number, mode: Mode): number {
    switch (mode) {
      case "create":
        return code === PT_NONE ? PT_VALID : -1;
      case "remove":
        return code === PT_NONE ? -1 : PT_NONE;
      case "valid":
        return code === PT_INVALID ? PT_VALID : -1;
      case "invalid":
        return code === PT_VALID ? PT_INVALID : -1;
    }
  }

  #applyPud(g: number, s: number, e: number, full: boolean, mode: Mode): void {
    const code = this.pud[g];
    if (code !== PT_TABLE) {
      const t = DirectMap.#target(code, mode);
      if (t < 0) return;
      if (full && (t !== PT_VALID || code !== PT_NONE || this.#opts.blocks)) {
        this.#setLeaf(0, this.pud, g, code, t, s, e);
        return;
      }
      // Part of a block changes (or a new mapping cannot be a block): make a table of the next level.
      if (code !== PT_NONE) this.counters.splits1G++;
      this.pud[g] = PT_TABLE;
      this.counters.pmdTables++;
      this.#leafDelta(0, code, -1);
      this.pmd.fill(code, g * PTRS, (g + 1) * PTRS);
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
    const code = this.pmd[m];
    if (code !== PT_TABLE) {
      const t = DirectMap.#target(code, mode);
      if (t < 0) return;
      if (full && (t !== PT_VALID || code !== PT_NONE || this.#opts.blocks)) {
        this.#breakCont(this.contPmd, m, 1);
        this.#setLeaf(1, this.pmd, m, code, t, s, e);
        return;
      }
      if (code !== PT_NONE) this.counters.splits2M++;
      this.#breakCont(this.contPmd, m, 1);
      this.pmd[m] = PT_TABLE;
      this.counters.pteTables++;
      this.#leafDelta(1, code, -1);
      this.pte.fill(code, m * PTRS, (m + 1) * PTRS);
      this.#leafDelta(2, code, PTRS);
    }
    const ms = this.base + m * SZ_2M;
    const p0 = m * PTRS + (s - ms) / PAGE_SIZE;
    const p1 = m * PTRS + (e - ms) / PAGE_SIZE;
    const pte = this.pte;
    let changed = 0;
    for (let p = p0; p < p1; p++) {
      const c = pte[p];
      const t = DirectMap.#target(c, mode);
      if (t < 0) continue;
      if (changed === 0 || p % CONT === 0) this.#breakCont(this.contPte, p, 2);
      this.#leafDelta(2, c, -1);
      this.#leafDelta(2, t, 1);
      if (c === PT_VALID) this.#addStale(this.base + p * PAGE_SIZE, this.base + (p + 1) * PAGE_SIZE);
      pte[p] = t;
      changed++;
    }
    if (mode === "create") this.#markCont(this.pte, this.contPte, p0, p1, 2);
    if (mode === "remove") this.#freeTableIfEmpty(1, m);
  }

  #setLeaf(level: 0 | 1, arr: Uint8Array, i: number, code: number, t: number, s: number, e: number): void {
    this.#leafDelta(level, code, -1);
    this.#leafDelta(level, t, 1);
    if (code === PT_VALID) this.#addStale(s, e);
    arr[i] = t;
  }

  /** Drops the contiguous hint of the 16-entry group holding entry i, if it has one. */
  #breakCont(cont: Uint8Array, i: number, level: 1 | 2): void {
    const grp = Math.floor(i / CONT);
    if (cont[grp] === 0) return;
    cont[grp] = 0;
    this.counters.contBreaks++;
    if (level === 1) this.counters.contPmdGroups--;
    else this.counters.contPteGroups--;
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
  *entries(): Generator<{ start: number; size: number; code: number; cont: boolean }> {
    for (let g = 0; g < this.pud.length; g++) {
      const c1 = this.pud[g];
      if (c1 === PT_VALID || c1 === PT_INVALID)
        yield { start: this.base + g * SZ_1G, size: SZ_1G, code: c1, cont: false };
      if (c1 !== PT_TABLE) continue;
      for (let m = g * PTRS; m < (g + 1) * PTRS; m++) {
        const c2 = this.pmd[m];
        const cont2 = this.contPmd[Math.floor(m / CONT)] === 1;
        if (c2 === PT_VALID || c2 === PT_INVALID)
          yield { start: this.base + m * SZ_2M, size: SZ_2M, code: c2, cont: cont2 };
        if (c2 !== PT_TABLE) continue;
        for (let p = m * PTRS; p < (m + 1) * PTRS; p++) {
          const c3 = this.pte[p];
          if (c3 === PT_VALID || c3 === PT_INVALID) {
            yield {
              start: this.base + p * PAGE_SIZE,
              size: PAGE_SIZE,
              code: c3,
              cont: this.contPte[Math.floor(p / CONT)] === 1,
            };
          }
        }
      }
    }
  }
}
