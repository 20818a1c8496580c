import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  DirectMap,
  MAX_DVM_OPS,
  MT_DEVICE_nGnRnE,
  PT_INVALID,
  PT_NONE,
  PT_TABLE,
  PT_VALID,
  type MapOptions,
} from "../../src/hw/mmu.ts";
import { PAGE_SIZE, SZ_1G, SZ_2M } from "../../src/hw/platform.ts";
import { Snapshot } from "../../src/sim/snapshot.ts";

const PTRS = 512;
const CONT = 16;
const PAGES_1G = SZ_1G / PAGE_SIZE;

interface Layout {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** no-map holes [base, base + size), never in the boot map. */
  readonly holes: readonly { base: number; size: number }[];
}

const LAYOUTS: readonly Layout[] = [
  { name: "3 GiB at 0x40000000", base: 0x4000_0000, size: 3 * SZ_1G, holes: [] },
  {
    name: "2.5 GiB at 0x90000000 (not 1 GiB aligned) with no-map holes",
    base: 0x9000_0000,
    size: 0xa000_0000,
    holes: [
      { base: 0x9e0c_3000, size: 37 * PAGE_SIZE },
      { base: 0xfc00_0000, size: 64 * 0x10_0000 },
    ],
  },
];

const OPTION_SETS: readonly MapOptions[] = [
  { blocks: true, cont: true },
  { blocks: false, cont: false },
];

/** Boots a direct map the way Machine does: all of DRAM but the no-map holes. */
function boot(l: Layout, opts: MapOptions): DirectMap {
  const dm = new DirectMap(l.base, l.size);
  dm.setOptions(opts);
  let cursor = l.base;
  for (const h of [...l.holes].sort((a, b) => a.base - b.base)) {
    if (h.base > cursor) dm.create(cursor, h.base);
    cursor = Math.max(cursor, h.base + h.size);
  }
  if (cursor < l.base + l.size) dm.create(cursor, l.base + l.size);
  return dm;
}

/** The reference: one byte per page of the table's span (PT_*), and which pages the TLB may hold stale. */
class RefMap {
  readonly state: Uint8Array;
  readonly stale: Uint8Array;
  constructor(
    readonly base: number,
    pages: number,
  ) {
    this.state = new Uint8Array(pages);
    this.stale = new Uint8Array(pages);
  }
  static boot(l: Layout, dm: DirectMap): RefMap {
    const ref = new RefMap(dm.base, dm.pud.length * PAGES_1G);
    ref.state.fill(PT_VALID, ref.page(l.base), ref.page(l.base + l.size));
    for (const h of l.holes) ref.state.fill(PT_NONE, ref.page(h.base), ref.page(h.base + h.size));
    return ref;
  }
  page(pa: number): number {
    return (pa - this.base) / PAGE_SIZE;
  }
  pa(page: number): number {
    return this.base + page * PAGE_SIZE;
  }
  apply(kind: OpKind, p0: number, p1: number): void {
    const s = this.state;
    for (let p = p0; p < p1; p++) {
      const c = s[p];
      if (kind === "invalidate" && c === PT_VALID) s[p] = PT_INVALID;
      else if (kind === "restore" && c === PT_INVALID) s[p] = PT_VALID;
      else if (kind === "create" && c === PT_NONE) s[p] = PT_VALID;
      else if (kind === "remove") s[p] = PT_NONE;
      if (c === PT_VALID && s[p] !== PT_VALID) this.stale[p] = 1;
    }
    if (kind === "flush") {
      if (p1 - p0 >= MAX_DVM_OPS) this.stale.fill(0);
      else this.stale.fill(0, p0, p1);
    }
  }
  reachable(p: number): boolean {
    return this.state[p] === PT_VALID || this.stale[p] === 1;
  }
}

type OpKind = "invalidate" | "restore" | "remove" | "create" | "flush";

interface Op {
  readonly kind: OpKind;
  /** Page frame number of the start before alignment, as a fraction of DRAM. */
  readonly at: number;
  readonly alignPages: number;
  readonly pages: number;
  readonly sampleSeed: number;
}

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.oneof(
    { arbitrary: fc.constant<OpKind>("invalidate"), weight: 3 },
    { arbitrary: fc.constant<OpKind>("restore"), weight: 3 },
    { arbitrary: fc.constant<OpKind>("remove"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("create"), weight: 1 },
    { arbitrary: fc.constant<OpKind>("flush"), weight: 1 },
  ),
  at: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
  alignPages: fc.constantFrom(1, 1, 16, PTRS, PAGES_1G),
  pages: fc.oneof(
    { arbitrary: fc.integer({ min: 1, max: 700 }), weight: 4 },
    { arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => n * CONT), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 6 }).map((n) => n * PTRS), weight: 2 },
    { arbitrary: fc.integer({ min: 1, max: 2 }).map((n) => n * PAGES_1G), weight: 1 },
  ),
  sampleSeed: fc.integer({ min: 1, max: 0x7fff_ffff }),
});

/** The op's page range [p0, p1) in reference pages, clamped to DRAM. */
function rangeOf(l: Layout, ref: RefMap, op: Op): [number, number] {
  const first = ref.page(l.base);
  const end = ref.page(l.base + l.size);
  const absFirst = l.base / PAGE_SIZE;
  const absPfn = absFirst + Math.floor(op.at * (end - first));
  const aligned = Math.max(absFirst, Math.floor(absPfn / op.alignPages) * op.alignPages);
  const p0 = aligned - ref.base / PAGE_SIZE;
  return [p0, Math.min(end, p0 + op.pages)];
}

function applyOp(dm: DirectMap, ref: RefMap, op: Op, p0: number, p1: number): void {
  const s = ref.pa(p0);
  const e = ref.pa(p1);
  if (op.kind === "invalidate") dm.invalidate(s, e);
  else if (op.kind === "restore") dm.restore(s, e);
  else if (op.kind === "remove") dm.remove(s, e);
  else if (op.kind === "create") dm.create(s, e);
  else expect(dm.flushTlbKernelRange(s, e)).toBe(p1 - p0 >= MAX_DVM_OPS ? 0 : p1 - p0);
  ref.apply(op.kind, p0, p1);
}

function expectPage(dm: DirectMap, ref: RefMap, p: number): void {
  const pa = ref.pa(p);
  if (dm.lookup(pa) !== ref.state[p]) {
    expect.fail(`lookup(0x${pa.toString(16)}) = ${dm.lookup(pa)}, reference ${ref.state[p]}`);
  }
  if (dm.reachable(pa) !== ref.reachable(p)) {
    expect.fail(`reachable(0x${pa.toString(16)}) = ${dm.reachable(pa)}, reference ${ref.reachable(p)}`);
  }
}

/** (d): every contiguous group is 16 aligned VALID leaves of one size under table entries. */
function expectContGroups(dm: DirectMap): void {
  for (let grp = 0; grp < dm.contPmd.length; grp++) {
    if (dm.contPmd[grp] === 0) continue;
    const m0 = grp * CONT;
    if (dm.pud[Math.floor(m0 / PTRS)] !== PT_TABLE) expect.fail(`contPmd group ${grp} is not under a table`);
    for (let m = m0; m < m0 + CONT; m++)
      if (dm.pmd[m] !== PT_VALID) expect.fail(`contPmd group ${grp}: entry ${m} is ${dm.pmd[m]}`);
  }
  for (let grp = 0; grp < dm.contPte.length; grp++) {
    if (dm.contPte[grp] === 0) continue;
    const p0 = grp * CONT;
    const m = Math.floor(p0 / PTRS);
    if (dm.pud[Math.floor(m / PTRS)] !== PT_TABLE || dm.pmd[m] !== PT_TABLE) {
      expect.fail(`contPte group ${grp} is not under tables`);
    }
    for (let p = p0; p < p0 + CONT; p++)
      if (dm.pte[p] !== PT_VALID) expect.fail(`contPte group ${grp}: entry ${p} is ${dm.pte[p]}`);
  }
}

/** (a) on every page, (b) entries() against the reference, (c) counters against a recount. */
function expectWholeMap(dm: DirectMap, ref: RefMap): void {
  for (let p = 0; p < ref.state.length; p++) expectPage(dm, ref, p);
  const covered = new Uint8Array(ref.state.length);
  const seen = new Uint8Array(ref.state.length);
  const recount = { valid1G: 0, valid2M: 0, valid4K: 0, invalid1G: 0, invalid2M: 0, invalid4K: 0 };
  let validBytes = 0;
  for (const e of dm.entries()) {
    const p0 = ref.page(e.start);
    const n = e.size / PAGE_SIZE;
    if (e.start % e.size !== 0) expect.fail(`entry at 0x${e.start.toString(16)} is not size aligned`);
    for (let p = p0; p < p0 + n; p++) if (seen[p] !== 0) expect.fail(`page ${p} listed twice`);
    seen.fill(1, p0, p0 + n);
    covered.fill(e.code, p0, p0 + n);
    if (e.code === PT_VALID) validBytes += e.size;
    const key = `${e.code === PT_VALID ? "valid" : "invalid"}${e.size === SZ_1G ? "1G" : e.size === SZ_2M ? "2M" : "4K"}`;
    recount[key as keyof typeof recount]++;
  }
  let refValid = 0;
  for (let p = 0; p < ref.state.length; p++) {
    if (ref.state[p] === PT_VALID) refValid++;
    if (covered[p] !== ref.state[p])
      expect.fail(`entries() says ${covered[p]} at page ${p}, reference ${ref.state[p]}`);
  }
  expect(validBytes).toBe(refValid * PAGE_SIZE);
  const c = dm.counters;
  expect({
    valid1G: c.valid1G,
    valid2M: c.valid2M,
    valid4K: c.valid4K,
    invalid1G: c.invalid1G,
    invalid2M: c.invalid2M,
    invalid4K: c.invalid4K,
  }).toEqual(recount);
  let pmdTables = 0;
  let pteTables = 0;
  const hasEntry = (arr: Uint8Array, i: number) =>
    arr.subarray(i * PTRS, (i + 1) * PTRS).some((c) => c !== PT_NONE);
  for (let g = 0; g < dm.pud.length; g++) {
    const isTable = dm.pud[g] === PT_TABLE;
    if (isTable) pmdTables++;
    // Removal frees a table whose entries are all gone; nothing else empties one.
    if (isTable && !hasEntry(dm.pmd, g)) expect.fail(`pmd table ${g} is empty but not freed`);
    for (let m = g * PTRS; m < (g + 1) * PTRS; m++) {
      if (dm.pmd[m] !== PT_TABLE) continue;
      if (!isTable) expect.fail(`pmd ${m} is a table under a non-table pud`);
      if (!hasEntry(dm.pte, m)) expect.fail(`pte table ${m} is empty but not freed`);
      pteTables++;
    }
  }
  expect(c.pmdTables).toBe(pmdTables);
  expect(c.pteTables).toBe(pteTables);
  expect(c.contPmdGroups).toBe(dm.contPmd.reduce((a, b) => a + b, 0));
  expect(c.contPteGroups).toBe(dm.contPte.reduce((a, b) => a + b, 0));
  expectContGroups(dm);
}

describe("DirectMap against a per-page reference model", () => {
  for (const l of LAYOUTS) {
    for (const opts of OPTION_SETS) {
      it(`random invalidate/restore/remove/create/flush sequences keep lookup, entries, counters and cont hints exact (${l.name}, blocks ${opts.blocks}, cont ${opts.cont})`, () => {
        fc.assert(
          fc.property(fc.array(opArb, { minLength: 1, maxLength: 20 }), (ops) => {
            const dm = boot(l, opts);
            const ref = RefMap.boot(l, dm);
            for (const op of ops) {
              const [p0, p1] = rangeOf(l, ref, op);
              if (p1 <= p0) continue;
              applyOp(dm, ref, op, p0, p1);
              for (let p = p0; p < p1; p++) expectPage(dm, ref, p);
              let x = op.sampleSeed;
              for (let k = 0; k < 64; k++) {
                x = (Math.imul(x, 1103515245) + 12345) >>> 0;
                expectPage(dm, ref, x % ref.state.length);
              }
              expectContGroups(dm);
            }
            expectWholeMap(dm, ref);
          }),
          { numRuns: opts.blocks ? 60 : 20 },
        );
      });
    }
  }
});

describe("DirectMap's dirty tracking (sim/dirty.ts)", () => {
  // Small (each check is O(DRAM)), with holes that leave 2 MiB regions mapped by pages and groups.
  const small: Layout = {
    name: "1 GiB at 0x40000000 with no-map holes",
    base: 0x4000_0000,
    size: SZ_1G,
    holes: [
      { base: 0x4e0c_3000, size: 37 * PAGE_SIZE },
      { base: 0x7c00_0000, size: 64 * 0x10_0000 },
    ],
  };
  const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => {
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return a.length === b.length;
  };
  for (const opts of OPTION_SETS) {
    it(`every write to the last level is in a touched table, and a restore puts back the boot map (blocks ${opts.blocks}, cont ${opts.cont})`, () => {
      fc.assert(
        fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), (ops) => {
          const dm = boot(small, opts);
          const ref = RefMap.boot(small, dm);
          const snap = Snapshot.take(dm);
          const atBoot = dm.dirty.arrays.map((a) => a.slice());
          for (const op of ops) {
            const [p0, p1] = rangeOf(small, ref, op);
            if (p1 <= p0) continue;
            applyOp(dm, ref, op, p0, p1);
            // Memory-type rewrites too (set_memory_device()/_normal()): the last level's mtPte.
            if (op.sampleSeed % 3 === 0)
              dm.setMemType(small.base + p0 * PAGE_SIZE, small.base + p1 * PAGE_SIZE, op.sampleSeed % 2);
            expect(snap.untouchedWrites()).toEqual([]);
          }
          snap.restore();
          expect(dm.dirty.arrays.every((a, k) => same(a, atBoot[k]))).toBe(true);
        }),
        { numRuns: 25 },
      );
    });
  }

  it("covers both table levels under the top one, and a boot with holes writes pte and contPte", () => {
    const dm = boot(small, { blocks: true, cont: true });
    expect(dm.dirty.arrays).toEqual([dm.pmd, dm.pte, dm.contPmd, dm.contPte, dm.mtPmd, dm.mtPte]);
    expect(dm.contPte.some((v) => v !== 0)).toBe(true);
    const snap = Snapshot.take(dm);
    // A page beside the first hole: mapped by a 4 KiB entry in a table (mtPte, contPte change).
    const pa = 0x4e0c_3000 - 16 * PAGE_SIZE;
    dm.setMemType(pa, pa + 16 * PAGE_SIZE, MT_DEVICE_nGnRnE);
    expect(dm.mtPte[(pa - small.base) / PAGE_SIZE]).toBe(MT_DEVICE_nGnRnE);
    expect(snap.untouchedWrites()).toEqual([]);
  });
});

describe("DirectMap examples", () => {
  const base = 0x4000_0000;

  it("boot with blocks maps 1 GiB blocks where DRAM is 1 GiB aligned", () => {
    const dm = boot({ name: "", base, size: 4 * SZ_1G, holes: [] }, { blocks: true, cont: true });
    expect(dm.counters).toMatchObject({ valid1G: 4, valid2M: 0, valid4K: 0, pmdTables: 0, pteTables: 0 });
    expect([...dm.entries()].map((e) => [e.start, e.size])).toEqual(
      [0, 1, 2, 3].map((g) => [base + g * SZ_1G, SZ_1G]),
    );
  });

  it("boot with blocks maps 2 MiB blocks with contiguous hints where DRAM starts inside a 1 GiB region", () => {
    const dm = boot(
      { name: "", base: 0x9000_0000, size: 0xa000_0000, holes: [] },
      { blocks: true, cont: true },
    );
    // [0x90000000, 0xc0000000) and [0x100000000, 0x130000000): 384 2 MiB blocks each, 24 groups of 16.
    expect(dm.counters).toMatchObject({
      valid1G: 1,
      valid2M: 768,
      valid4K: 0,
      contPmdGroups: 48,
      pmdTables: 2,
    });
    expect(dm.lookup(0x8fff_f000)).toBe(PT_NONE);
    expect(dm.lookup(0x9000_0000)).toBe(PT_VALID);
  });

  it("boot without blocks (rodata=full) maps every page with a 4 KiB entry and no contiguous hint", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: false, cont: false });
    expect(dm.counters).toMatchObject({
      valid1G: 0,
      valid2M: 0,
      valid4K: PAGES_1G,
      pteTables: PTRS,
      contPteGroups: 0,
    });
  });

  it("invalidating one page inside a 1 GiB block splits it down to pages and leaves the rest valid", () => {
    const dm = boot({ name: "", base, size: 4 * SZ_1G, holes: [] }, { blocks: true, cont: true });
    const pa = base + SZ_1G + 5 * SZ_2M + 7 * PAGE_SIZE;
    dm.invalidate(pa, pa + PAGE_SIZE);
    expect(dm.counters).toMatchObject({
      splits1G: 1,
      splits2M: 1,
      valid1G: 3,
      valid2M: PTRS - 1,
      valid4K: PTRS - 1,
      invalid4K: 1,
      pmdTables: 1,
      pteTables: 1,
    });
    expect(dm.lookup(pa)).toBe(PT_INVALID);
    for (const other of [pa - PAGE_SIZE, pa + PAGE_SIZE, base + SZ_1G, base + 2 * SZ_1G - PAGE_SIZE, base]) {
      expect(dm.lookup(other)).toBe(PT_VALID);
    }
  });

  it("changing one page in the middle of a contiguous 64 KiB group drops that group's hint only", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: true, cont: true });
    // Remove and re-create a partial 2 MiB range: it comes back as pages, in contiguous groups of 16.
    const start = base + SZ_2M + 5 * PAGE_SIZE;
    dm.remove(start, start + 100 * PAGE_SIZE);
    dm.create(start, start + 100 * PAGE_SIZE);
    const groups = dm.counters.contPteGroups;
    expect(groups).toBeGreaterThan(2);
    const g = Math.ceil((start - base) / PAGE_SIZE / CONT) + 1;
    dm.invalidate(base + (g * CONT + 7) * PAGE_SIZE, base + (g * CONT + 8) * PAGE_SIZE);
    expect(dm.contPte[g]).toBe(0);
    expect(dm.contPte[g - 1]).toBe(1);
    expect(dm.contPte[g + 1]).toBe(1);
    expect(dm.counters).toMatchObject({ contPteGroups: groups - 1, contBreaks: 1 });
  });

  it("removing every page of a table frees the table", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: false, cont: false });
    dm.remove(base + SZ_2M, base + 2 * SZ_2M);
    expect(dm.pmd[1]).toBe(PT_NONE);
    expect(dm.counters.pteTables).toBe(PTRS - 1);
  });

  it("restoring the page keeps the split: nothing merges back", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: true, cont: true });
    dm.invalidate(base, base + PAGE_SIZE);
    dm.restore(base, base + PAGE_SIZE);
    expect(dm.counters).toMatchObject({
      valid1G: 0,
      valid2M: PTRS - 1,
      valid4K: PTRS,
      invalid4K: 0,
      splits1G: 1,
    });
  });

  it("flush_tlb_kernel_range below 512 pages issues one TLBI per page", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: false, cont: false });
    expect(dm.flushTlbKernelRange(base, base + (MAX_DVM_OPS - 1) * PAGE_SIZE)).toBe(MAX_DVM_OPS - 1);
    expect(dm.counters).toMatchObject({ flushRange: 1, tlbiPages: MAX_DVM_OPS - 1, flushAll: 0 });
  });

  it("flush_tlb_kernel_range of 512 pages or more falls back to a full flush (MAX_DVM_OPS)", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: false, cont: false });
    dm.invalidate(base + SZ_2M * 100, base + SZ_2M * 100 + PAGE_SIZE);
    expect(dm.flushTlbKernelRange(base, base + MAX_DVM_OPS * PAGE_SIZE)).toBe(0);
    expect(dm.counters).toMatchObject({ flushRange: 0, tlbiPages: 0, flushAll: 1 });
    // A full flush drops stale translations outside the range too.
    expect(dm.reachable(base + SZ_2M * 100)).toBe(false);
  });

  it("invalidated pages stay reachable through the TLB until a flush covers them", () => {
    const dm = boot({ name: "", base, size: SZ_1G, holes: [] }, { blocks: true, cont: true });
    const pa = base + 3 * SZ_2M;
    dm.invalidate(pa, pa + 4 * PAGE_SIZE);
    for (let k = 0; k < 4; k++) {
      expect(dm.isValid(pa + k * PAGE_SIZE)).toBe(false);
      expect(dm.reachable(pa + k * PAGE_SIZE)).toBe(true);
    }
    dm.flushTlbKernelRange(pa + 8 * PAGE_SIZE, pa + 16 * PAGE_SIZE);
    expect(dm.reachable(pa)).toBe(true);
    dm.flushTlbKernelRange(pa, pa + 2 * PAGE_SIZE);
    expect([0, 1, 2, 3].map((k) => dm.reachable(pa + k * PAGE_SIZE))).toEqual([false, false, true, true]);
    dm.flushTlbKernelRange(pa, pa + 4 * PAGE_SIZE);
    expect(dm.staleRanges).toEqual([]);
  });

  it("removing a whole 1 GiB block leaves no entry and its translation stale until flushed", () => {
    const dm = boot({ name: "", base, size: 2 * SZ_1G, holes: [] }, { blocks: true, cont: true });
    dm.remove(base, base + SZ_1G);
    expect(dm.lookup(base)).toBe(PT_NONE);
    expect(dm.reachable(base + SZ_1G - PAGE_SIZE)).toBe(true);
    expect(dm.counters).toMatchObject({ valid1G: 1, splits1G: 0 });
    dm.flushTlbAll();
    expect(dm.reachable(base)).toBe(false);
  });
});
