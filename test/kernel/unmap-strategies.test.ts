import { describe, expect, it } from "vitest";
import { ACCESS_OK, FAULT_DENIED, FAULT_UNMAPPED } from "../../src/hw/machine.ts";
import { MT_DEVICE_nGnRnE, MT_NORMAL, PT_INVALID, PT_NONE, PT_VALID } from "../../src/hw/mmu.ts";
import { SZ_2M } from "../../src/hw/platform.ts";
import { SECTION_SIZE } from "../../src/kernel/mm/direct_map.ts";
import {
  bootPteRegion,
  remapAfterReclaim,
  UNMAP_KINDS,
  unmapForLend,
  unmapSupport,
  type UnmapKind,
} from "../../src/kernel/mm/unmap.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { runTask } from "./mm-fixture.ts";
import {
  bootUnmap,
  CMA_BASE,
  CMA_SIZE,
  MiB,
  PAGE,
  protectForDecoder,
  runSpeculation,
  translationRuns,
  unmapPlatform,
  type UnmapPlatform,
} from "./unmap-fixture.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";

const boot = bootUnmap;

function lend(b: ReturnType<typeof boot>, kind: UnmapKind, pa: number, size: number): number {
  return runTask(b.sim, () => unmapForLend(b.mm, kind, pa, size));
}
function reclaim(b: ReturnType<typeof boot>, kind: UnmapKind, pa: number, size: number): number {
  return runTask(b.sim, () => remapAfterReclaim(b.mm, kind, pa, size));
}

/** A platform description for unmapSupport() alone. */
function desc(p: UnmapPlatform): PlatformDesc {
  return { ...PRESETS["tzc400-board"], ...unmapPlatform(p) } as PlatformDesc;
}

describe("unmapSupport(): which platforms can run which strategy, and why not", () => {
  it("the presets (rodata=full, no BBML2, no hypervisor) run every strategy but `hypervisor`", () => {
    for (const name of ["qemu-virt", "tzc400-board", "fvp-rme"]) {
      const p = PRESETS[name];
      for (const k of UNMAP_KINDS) {
        const why = unmapSupport(p, k);
        if (k === "hypervisor") expect(why, `${name} ${k}`).toMatch(/^`hypervisor` needs an EL2 hypervisor/);
        else expect(why, `${name} ${k}`).toBeNull();
      }
    }
  });

  it("`pte` is refused without rodata_full, BBML2 or not, naming the platform", () => {
    for (const bbml2 of [false, true]) {
      const why = unmapSupport(desc({ mmu: { rodataFull: false, bbml2 }, name: "tzc400-board" }), "pte");
      expect(why).toMatch(/^`pte` needs rodata_full on tzc400-board: .*can_set_direct_map\(\)/);
    }
  });

  it("`lend-pool` wants its region last-level mapped or BBML3: rodata=full with BBML2 keeps blocks and is refused", () => {
    expect(unmapSupport(desc({ mmu: { bbml2: true } }), "lend-pool")).toMatch(
      /^`lend-pool` needs its region last-level mapped .* or BBML3 on small-tzc: can_set_direct_map_range\(\)/,
    );
    expect(unmapSupport(desc({ mmu: { bbml2: true }, llMap: true }), "lend-pool")).toBeNull();
    expect(unmapSupport(desc({ mmu: { rodataFull: false }, llMap: true }), "lend-pool")).toBeNull();
    expect(unmapSupport(desc({ mmu: { rodataFull: false, bbml3: true } }), "lend-pool")).toBeNull();
  });

  it("`device-remap` wants a page-mapped area or BBML2/BBML3 splitting", () => {
    expect(unmapSupport(desc({ mmu: { rodataFull: false } }), "device-remap")).toMatch(
      /^`device-remap` needs the CMA area page-mapped .*set_memory_device\(\)/,
    );
    expect(unmapSupport(desc({ mmu: { rodataFull: false, bbml2: true } }), "device-remap")).toBeNull();
    expect(unmapSupport(desc({ mmu: { rodataFull: false }, llMap: true }), "device-remap")).toBeNull();
  });

  it("`linear-remove` wants a section-aligned CMA area; `boot-pte-region` runs anywhere; `hypervisor` wants pkvm", () => {
    const odd = {
      ...desc({}),
      cma: [{ name: "reserved", base: CMA_BASE + 4 * MiB, size: CMA_SIZE - 4 * MiB }],
    };
    expect(unmapSupport(odd, "linear-remove")).toMatch(
      /^`linear-remove` needs a CMA area aligned to 128 MiB/,
    );
    expect(unmapSupport(desc({ mmu: { rodataFull: false } }), "boot-pte-region")).toBeNull();
    expect(unmapSupport(desc({ hypervisor: "pkvm" }), "hypervisor")).toBeNull();
  });

  it("an unsupported strategy is EOPNOTSUPP at run time and changes nothing", () => {
    const b = boot({ mmu: { rodataFull: false } });
    const before = translationRuns(b.machine);
    expect(lend(b, "pte", CMA_BASE, 16 * PAGE)).toBe(-95);
    expect(translationRuns(b.machine)).toEqual(before);
  });
});

const CHUNK = 4 * MiB;
const PA = CMA_BASE + 8 * MiB;

describe("`pte`: set_direct_map_invalid_noflush() + flush_tlb_kernel_range(), as secretmem", () => {
  it("on rodata=full: no split, the TLB flushed, the kernel faults on the range and the firewall finds no hazard", () => {
    const b = boot();
    const { machine: m, sim, count, cpu } = b;
    const c = m.directMap.counters;
    const t0 = sim.now;
    expect(lend(b, "pte", PA, CHUNK)).toBe(0);
    expect(c.splits1G + c.splits2M + c.contBreaks).toBe(0);
    expect(m.directMap.lookup(PA)).toBe(PT_INVALID);
    expect(m.directMap.lookup(PA + CHUNK - PAGE)).toBe(PT_INVALID);
    expect(m.directMap.lookup(PA + CHUNK)).toBe(PT_VALID);
    // 1024 pages ≥ MAX_DVM_OPS: flush_tlb_all().
    expect(c.flushAll).toBe(1);
    expect(m.directMap.staleRanges).toEqual([]);
    expect(sim.now - t0).toBe((CHUNK / PAGE) * 5 + m.costs.tlbFlushAllNs);
    expect(m.access(cpu, PA + PAGE, 8, "read", { kernel: true })).toBe(FAULT_UNMAPPED);
    expect(protectForDecoder(m, PA, CHUNK)).toBe(0);
    expect(count("no-speculation-hazard") + count("no-stale-tlb") + count("break-before-make")).toBe(0);
  });

  it("a small range is flushed page by page; the remap needs no flush (invalid → valid) and maps it again", () => {
    const b = boot();
    const m = b.machine;
    const c = m.directMap.counters;
    expect(lend(b, "pte", PA, 16 * PAGE)).toBe(0);
    expect(c).toMatchObject({ flushRange: 1, tlbiPages: 16, flushAll: 0 });
    expect(reclaim(b, "pte", PA, 16 * PAGE)).toBe(0);
    expect(c).toMatchObject({ flushRange: 1, flushAll: 0 });
    expect(m.directMap.lookup(PA)).toBe(PT_VALID);
    expect(m.access(b.cpu, PA, 8, "read", { kernel: true })).toBe(ACCESS_OK);
  });

  it("with BBML2 the linear map has blocks: the first lend inside one splits it (cost and lost TLB reach counted), no BBM finding", () => {
    const b = boot({ mmu: { bbml2: true } });
    const m = b.machine;
    const c = m.directMap.counters;
    expect(c.valid4K).toBe(0);
    const t0 = b.sim.now;
    expect(lend(b, "pte", PA + 64 * 1024, 16 * PAGE)).toBe(0);
    expect(c.splits2M).toBe(1);
    expect(c.splitPtes).toBe(512);
    expect(b.sim.now - t0).toBeGreaterThanOrEqual(m.costs.blockSplitNs + 16 * m.costs.tlbiPageNs);
    expect(b.count("break-before-make")).toBe(0);
    expect(reclaim(b, "pte", PA + 64 * 1024, 16 * PAGE)).toBe(0);
    // Nothing merges back: the 2 MiB block stays 512 pages.
    expect(c.valid4K).toBe(512);
  });
});

describe("`lend-pool`: Google's lend_pool.c, as written", () => {
  it("clears the valid bits page by page and flushes nothing: the TLB still translates, and the firewall reports no-stale-tlb", () => {
    const b = boot();
    const m = b.machine;
    const c = m.directMap.counters;
    expect(lend(b, "lend-pool", PA, CHUNK)).toBe(0);
    expect(m.directMap.lookup(PA)).toBe(PT_INVALID);
    expect(c.flushRange + c.flushAll).toBe(0);
    expect(m.directMap.staleRanges).toEqual([PA, PA + CHUNK]);
    // Speculation can still use the stale translation.
    expect(m.cacheableInNormalWorld(m.frames.indexOf(PA))).toBe(true);
    expect(protectForDecoder(m, PA, CHUNK)).toBe(0);
    expect(b.count("no-stale-tlb")).toBe(1);
    expect(b.sim.findings.details().find((f) => f.id === "no-stale-tlb")?.data).toMatchObject({
      pages: CHUNK / PAGE,
      address: `0x${PA.toString(16)}`,
    });
    expect(b.count("no-speculation-hazard")).toBe(1);
  });

  it("restores only what it is given after the reclaim, without a flush; a flush before the firewall would have been quiet", () => {
    const b = boot();
    const m = b.machine;
    expect(lend(b, "lend-pool", PA, CHUNK)).toBe(0);
    m.directMap.flushTlbAll();
    expect(protectForDecoder(m, PA, CHUNK)).toBe(0);
    expect(b.count("no-stale-tlb")).toBe(0);
    expect(b.count("no-speculation-hazard")).toBe(0);
    const flushes = m.directMap.counters.flushAll;
    expect(reclaim(b, "lend-pool", PA, CHUNK)).toBe(0);
    expect(m.directMap.lookup(PA)).toBe(PT_VALID);
    expect(m.directMap.counters.flushAll).toBe(flushes);
  });

  it("outside the pool's region ffa_prepare_lend() is ENODEV and unmaps nothing", () => {
    const b = boot();
    expect(lend(b, "lend-pool", CMA_BASE - CHUNK, CHUNK)).toBe(-19);
    expect(b.machine.directMap.lookup(CMA_BASE - CHUNK)).toBe(PT_VALID);
  });

  it("an ll-map region on a block-mapped kernel is pages from boot: no split at lend", () => {
    const b = boot({ mmu: { rodataFull: false }, llMap: true });
    const m = b.machine;
    expect(m.directMap.isPageMapped(CMA_BASE, CMA_BASE + CMA_SIZE)).toBe(true);
    expect(m.directMap.isPageMapped(CMA_BASE - SZ_2M, CMA_BASE)).toBe(false);
    expect(lend(b, "lend-pool", PA, CHUNK)).toBe(0);
    const c = m.directMap.counters;
    expect(c.splits1G + c.splits2M + c.contBreaks).toBe(0);
    expect(b.count("break-before-make")).toBe(0);
  });

  it("with BBML3 a block-mapped region is split on demand, which BBML3 allows", () => {
    const b = boot({ mmu: { bbml3: true } });
    const m = b.machine;
    expect(m.directMap.isPageMapped(PA, PA + CHUNK)).toBe(false);
    expect(lend(b, "lend-pool", PA + PAGE, PAGE)).toBe(0);
    expect(m.directMap.counters.splits2M).toBe(1);
    expect(b.count("break-before-make")).toBe(0);
  });
});

describe("`device-remap`: Tegra VPR v3's set_memory_device() / set_memory_normal()", () => {
  it("rewrites the memory type of live entries in place — a break-before-make finding at the change — then flushes", () => {
    const b = boot();
    const m = b.machine;
    const dm = m.directMap;
    expect(lend(b, "device-remap", PA, CHUNK)).toBe(0);
    expect(dm.lookup(PA)).toBe(PT_VALID);
    expect(dm.memTypeAt(PA)).toBe(MT_DEVICE_nGnRnE);
    expect(dm.memTypeAt(PA + CHUNK)).toBe(MT_NORMAL);
    expect(b.count("break-before-make")).toBe(1);
    const f = b.sim.findings.details().find((x) => x.id === "break-before-make");
    expect(f?.data).toMatchObject({ change: "attr", entries: CHUNK / PAGE, address: `0x${PA.toString(16)}` });
    expect(dm.counters).toMatchObject({
      attrChanges: CHUNK / PAGE,
      liveAttrChanges: CHUNK / PAGE,
      flushAll: 1,
    });
    expect(dm.staleRanges).toEqual([]);
    expect(m.cacheableInNormalWorld(m.frames.indexOf(PA))).toBe(false);
    expect(protectForDecoder(m, PA, CHUNK)).toBe(0);
    expect(b.count("no-speculation-hazard") + b.count("no-stale-tlb")).toBe(0);
    // The Device alias still translates: a kernel access reaches the firewall, which denies it.
    expect(m.access(b.cpu, PA, 8, "read", { kernel: true })).toBe(FAULT_DENIED);
    expect(reclaim(b, "device-remap", PA, CHUNK)).toBe(0);
    expect(dm.memTypeAt(PA)).toBe(MT_NORMAL);
    expect(b.count("break-before-make")).toBe(2);
    expect(m.cacheableInNormalWorld(m.frames.indexOf(PA))).toBe(true);
  });

  it("stops speculative fills: protected Device-mapped memory sees none, protected Normal memory sees them denied", () => {
    const hazards = (kind: UnmapKind) => {
      const b = boot({ specFillsPerMs: 200 });
      const big = 128 * MiB;
      expect(lend(b, kind, CMA_BASE, big)).toBe(0);
      expect(protectForDecoder(b.machine, CMA_BASE, big)).toBe(0);
      const before = b.count("no-speculation-hazard");
      runSpeculation(b.sim, b.machine, 5_000_000);
      return { fills: b.machine.stats.specFills, denied: b.count("no-speculation-hazard") - before };
    };
    const none = hazards("none");
    const device = hazards("device-remap");
    expect(none.denied).toBeGreaterThan(50);
    expect(device.denied).toBe(0);
    expect(device.fills).toBeGreaterThan(0);
  });

  it("with BBML2 the blocks under the chunk split first (allowed), the type change is still a finding", () => {
    const b = boot({ mmu: { bbml2: true } });
    expect(lend(b, "device-remap", PA + PAGE, 4 * PAGE)).toBe(0);
    const c = b.machine.directMap.counters;
    expect(c.splits2M).toBe(1);
    expect(b.count("break-before-make")).toBe(1);
    expect(b.sim.findings.details()[0].data).toMatchObject({ change: "attr", entries: 4 });
  });
});

describe("`linear-remove`: memtrace's arch_remove_linear_mapping() of whole sections", () => {
  it("an unaligned chunk is EINVAL and changes nothing", () => {
    const b = boot();
    const before = translationRuns(b.machine);
    expect(lend(b, "linear-remove", CMA_BASE + 2 * MiB, SECTION_SIZE)).toBe(-22);
    expect(lend(b, "linear-remove", CMA_BASE, CHUNK)).toBe(-22);
    expect(translationRuns(b.machine)).toEqual(before);
  });

  it("a section leaves the linear map (TLB flushed) and comes back at reclaim", () => {
    const b = boot();
    const dm = b.machine.directMap;
    expect(lend(b, "linear-remove", CMA_BASE, SECTION_SIZE)).toBe(0);
    expect(dm.lookup(CMA_BASE)).toBe(PT_NONE);
    expect(dm.reachable(CMA_BASE + SECTION_SIZE - PAGE)).toBe(false);
    expect(dm.lookup(CMA_BASE + SECTION_SIZE)).toBe(PT_VALID);
    expect(reclaim(b, "linear-remove", CMA_BASE, SECTION_SIZE)).toBe(0);
    expect(dm.lookup(CMA_BASE)).toBe(PT_VALID);
  });
});

describe("`boot-pte-region`: the CMA area mapped with pages from boot", () => {
  it("never splits at lend, even on a block-mapped kernel without BBML2", () => {
    const b = boot({ mmu: { rodataFull: false } });
    const m = b.machine;
    const dm = m.directMap;
    expect(dm.isPageMapped(CMA_BASE, CMA_BASE + CMA_SIZE)).toBe(false);
    bootPteRegion(m, CMA_BASE, CMA_SIZE);
    expect(dm.isPageMapped(CMA_BASE, CMA_BASE + CMA_SIZE)).toBe(true);
    // The rest keeps its blocks; set-up at boot is not a split.
    expect(dm.lookup(CMA_BASE - SZ_2M)).toBe(PT_VALID);
    expect(dm.isPageMapped(CMA_BASE - SZ_2M, CMA_BASE)).toBe(false);
    expect(dm.counters).toMatchObject({ splits1G: 0, splits2M: 0, contBreaks: 0, splitPtes: 0 });
    expect(dm.staleRanges).toEqual([]);
    expect(lend(b, "boot-pte-region", PA + PAGE, 3 * PAGE)).toBe(0);
    expect(dm.counters).toMatchObject({
      splits1G: 0,
      splits2M: 0,
      contBreaks: 0,
      flushRange: 1,
      tlbiPages: 3,
    });
    expect(dm.lookup(PA + PAGE)).toBe(PT_INVALID);
    expect(b.count("break-before-make")).toBe(0);
    expect(reclaim(b, "boot-pte-region", PA + PAGE, 3 * PAGE)).toBe(0);
    expect(dm.lookup(PA + PAGE)).toBe(PT_VALID);
  });

  it("a range outside the page-mapped region is EINVAL, not a split", () => {
    const b = boot({ mmu: { rodataFull: false } });
    bootPteRegion(b.machine, CMA_BASE, CMA_SIZE);
    expect(lend(b, "boot-pte-region", CMA_BASE - SZ_2M, PAGE)).toBe(-22);
    expect(b.machine.directMap.counters.splits2M).toBe(0);
  });
});

describe("`hypervisor`: the host stage-2 loses the pages", () => {
  it("the kernel's linear-map entry stays valid but a CPU access faults and speculation cannot fill; devices are not the host", () => {
    const b = boot({ hypervisor: "pkvm" });
    const m = b.machine;
    const t0 = b.sim.now;
    expect(lend(b, "hypervisor", PA, CHUNK)).toBe(0);
    const c = m.costs;
    expect(b.sim.now - t0).toBe(c.hypercallNs + (CHUNK / PAGE) * c.stage2PageNs + c.stage2TlbFlushNs);
    expect(m.directMap.lookup(PA)).toBe(PT_VALID);
    expect(m.stage2!.counters).toMatchObject({ hypercalls: 1, pagesUnmapped: CHUNK / PAGE, tlbFlushes: 1 });
    expect(m.access(b.cpu, PA + 8, 8, "read", { kernel: true })).toBe(FAULT_DENIED);
    expect(m.lastFault?.why).toMatch(/host stage-2/);
    expect(m.cacheableInNormalWorld(m.frames.indexOf(PA))).toBe(false);
    expect(m.access(b.cpu, PA, 64, "fill")).toBe(ACCESS_OK);
    expect(m.access(m.masterIndex("gpu"), PA, 64, "read")).toBe(ACCESS_OK);
    expect(protectForDecoder(m, PA, CHUNK)).toBe(0);
    expect(b.count("no-speculation-hazard") + b.count("no-stale-tlb")).toBe(0);
    expect(reclaim(b, "hypervisor", PA, CHUNK)).toBe(0);
    expect(m.stage2!.holeCount).toBe(0);
    expect(m.cacheableInNormalWorld(m.frames.indexOf(PA))).toBe(true);
  });
});
