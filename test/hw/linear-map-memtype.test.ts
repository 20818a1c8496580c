import { describe, expect, it } from "vitest";
import { Machine } from "../../src/hw/machine.ts";
import {
  DirectMap,
  MT_DEVICE_nGnRnE,
  MT_NORMAL,
  PT_INVALID,
  PT_VALID,
  type LiveChange,
} from "../../src/hw/mmu.ts";
import { PAGE_SIZE, SZ_1G, SZ_2M, type PlatformDesc } from "../../src/hw/platform.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { Sim } from "../../src/sim/sim.ts";

const BASE = 0x4000_0000;

function blockMap(): { dm: DirectMap; live: [LiveChange, number, number, number][] } {
  const dm = new DirectMap(BASE, 2 * SZ_1G);
  dm.setOptions({ blocks: true, cont: true });
  dm.create(BASE, BASE + 2 * SZ_1G);
  const live: [LiveChange, number, number, number][] = [];
  dm.onLiveChange = (what, s, e, n) => live.push([what, s, e, n]);
  return { dm, live };
}

describe("the linear map's memory types (Normal / Device-nGnRnE)", () => {
  it("are Normal at boot; a Device entry translates but is not cacheable", () => {
    const { dm } = blockMap();
    expect(dm.memTypeAt(BASE + 5 * PAGE_SIZE)).toBe(MT_NORMAL);
    expect(dm.cacheable(BASE)).toBe(true);
    const pa = BASE + SZ_1G + 3 * SZ_2M;
    dm.setMemType(pa, pa + SZ_2M, MT_DEVICE_nGnRnE);
    dm.flushTlbAll();
    expect(dm.lookup(pa)).toBe(PT_VALID);
    expect(dm.memTypeAt(pa)).toBe(MT_DEVICE_nGnRnE);
    expect(dm.reachable(pa)).toBe(true);
    expect(dm.cacheable(pa)).toBe(false);
    expect(dm.cacheable(pa - PAGE_SIZE)).toBe(true);
  });

  it("changing part of a block splits it: the children inherit the block's type; the old cacheable translation stays in the TLB until flushed", () => {
    const { dm, live } = blockMap();
    const pa = BASE + 7 * PAGE_SIZE;
    expect(dm.setMemType(pa, pa + 2 * PAGE_SIZE, MT_DEVICE_nGnRnE)).toBe(2);
    expect(dm.counters).toMatchObject({ splits1G: 1, splits2M: 1, splitPmds: 512, splitPtes: 512 });
    expect(dm.memTypeAt(pa - PAGE_SIZE)).toBe(MT_NORMAL);
    expect(dm.memTypeAt(pa + PAGE_SIZE)).toBe(MT_DEVICE_nGnRnE);
    expect(dm.cacheable(pa)).toBe(true);
    expect(dm.mappedCacheable(pa)).toBe(false);
    dm.flushTlbKernelRange(pa, pa + 2 * PAGE_SIZE);
    expect(dm.cacheable(pa)).toBe(false);
    // One report per kind for the whole operation: the live splits and the live type change.
    expect(live.map(([w, , , n]) => [w, n])).toEqual([
      ["split", 2],
      ["attr", 2],
    ]);
    // Each operation reports its own span.
    const q = BASE + SZ_1G + 9 * SZ_2M;
    dm.setMemType(q, q + PAGE_SIZE, MT_DEVICE_nGnRnE);
    expect(live.slice(2)).toEqual([
      ["split", BASE + SZ_1G, BASE + 2 * SZ_1G, 2],
      ["attr", q, q + PAGE_SIZE, 1],
    ]);
  });

  it("break-before-make done right — invalidate, flush, retype, restore — is not a live change", () => {
    const d2 = new DirectMap(BASE, SZ_1G);
    d2.setOptions({ blocks: false, cont: false });
    d2.create(BASE, BASE + SZ_1G);
    const seen: LiveChange[] = [];
    d2.onLiveChange = (w) => seen.push(w);
    const pa = BASE + 64 * PAGE_SIZE;
    d2.invalidate(pa, pa + 4 * PAGE_SIZE);
    d2.flushTlbKernelRange(pa, pa + 4 * PAGE_SIZE);
    d2.setMemType(pa, pa + 4 * PAGE_SIZE, MT_DEVICE_nGnRnE);
    d2.restore(pa, pa + 4 * PAGE_SIZE);
    expect(seen).toEqual([]);
    expect(d2.counters).toMatchObject({ attrChanges: 4, liveAttrChanges: 0 });
    // Retyping an entry invalidated but not yet flushed is still live: the TLB may hold it.
    d2.invalidate(pa + SZ_2M, pa + SZ_2M + PAGE_SIZE);
    d2.setMemType(pa + SZ_2M, pa + SZ_2M + PAGE_SIZE, MT_DEVICE_nGnRnE);
    expect(seen).toEqual(["attr"]);
    expect(d2.lookup(pa + SZ_2M)).toBe(PT_INVALID);
  });

  it("removal and re-creation give Normal entries again", () => {
    const { dm } = blockMap();
    const pa = BASE + SZ_2M;
    dm.setMemType(pa, pa + SZ_2M, MT_DEVICE_nGnRnE);
    dm.remove(pa, pa + SZ_2M);
    dm.create(pa, pa + SZ_2M);
    expect(dm.memTypeAt(pa)).toBe(MT_NORMAL);
  });
});

describe("boot page-granular regions (ll-map, bootPteRegion)", () => {
  it("lay the region out in pages without splits or stale translations; the rest keeps its blocks", () => {
    const { dm, live } = blockMap();
    const s = BASE + SZ_1G + 3 * SZ_2M + 5 * PAGE_SIZE;
    const e = s + 40 * SZ_2M;
    dm.bootPageGranular(s, e);
    expect(dm.isPageMapped(s, e)).toBe(true);
    expect(dm.isPageMapped(BASE, BASE + SZ_2M)).toBe(false);
    expect(dm.validPages(BASE, BASE + 2 * SZ_1G)).toBe((2 * SZ_1G) / PAGE_SIZE);
    expect(dm.counters).toMatchObject({ splits1G: 0, splits2M: 0, contBreaks: 0, splitPtes: 0 });
    expect(dm.staleRanges).toEqual([]);
    expect(live).toEqual([]);
    // No contiguous hint inside the region: a page can change without unfolding a group.
    for (const x of dm.entries()) if (x.start >= s && x.start < e) expect(x.cont).toBe(false);
  });

  it("a machine maps an ll-map CMA area with pages at boot", () => {
    const p: PlatformDesc = {
      ...PRESETS["tzc400-board"],
      mmu: { rodataFull: false, bbml2: false, contHint: true },
      cma: [{ name: "reserved", base: 0xc000_0000, size: SZ_1G, llMap: true }],
    };
    const m = new Machine(new Sim(1), p);
    expect(m.directMap.isPageMapped(0xc000_0000, 0xc000_0000 + SZ_1G)).toBe(true);
    expect(m.directMap.isPageMapped(0x8000_0000, 0x8000_0000 + SZ_2M)).toBe(false);
  });
});

describe("break-before-make, checked by the machine as the linear map changes", () => {
  const blocks = (bbml2: boolean): PlatformDesc => ({
    ...PRESETS["tzc400-board"],
    mmu: { rodataFull: false, bbml2, contHint: true },
  });

  it("a live block split without BBML2 is a finding at the split; with BBML2 it is allowed", () => {
    for (const bbml2 of [false, true]) {
      const sim = new Sim(1);
      const m = new Machine(sim, blocks(bbml2));
      m.directMap.invalidate(0xc000_1000, 0xc000_2000);
      expect(sim.findings.count("break-before-make"), `bbml2 ${bbml2}`).toBe(bbml2 ? 0 : 1);
      if (!bbml2) {
        expect(sim.findings.details()[0].data).toMatchObject({ change: "split", address: "0xc0000000" });
      }
    }
  });

  it("hotplug's removal of a section inside a block is not reported as a pageattr split", () => {
    const sim = new Sim(1);
    const m = new Machine(sim, blocks(false));
    m.directMap.remove(0xc800_0000, 0xd000_0000);
    expect(sim.findings.count("break-before-make")).toBe(0);
  });

  it("a live memory-type change is a finding whatever the BBM level", () => {
    const sim = new Sim(1);
    const m = new Machine(sim, {
      ...blocks(true),
      mmu: { rodataFull: true, bbml2: true, bbml3: true, contHint: true },
    });
    m.directMap.setMemType(0xc000_0000, 0xc020_0000, MT_DEVICE_nGnRnE);
    expect(sim.findings.count("break-before-make")).toBe(1);
    expect(sim.findings.details()[0].message).toMatch(/memory type of 1 live linear-map entries/);
  });
});
