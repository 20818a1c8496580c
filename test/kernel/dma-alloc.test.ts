/**
 * dma_alloc_pages() as __dma_direct_alloc_pages() does it (kernel/dma/direct.c): the device's coherent
 * DMA mask bounds where the pages may lie, and the buddy fallback for an order above MAX_PAGE_ORDER is
 * a WARN_ON_ONCE_GFP and NULL — what protmem.c's chunk allocation meets when CMA cannot serve it.
 */
import { describe, expect, it } from "vitest";
import { dmaAllocPages, getOrder } from "../../src/kernel/dma/mapping.ts";
import { GFP_KERNEL, withFlags } from "../../src/kernel/mm/gfp.ts";
import { makeMm, runTask } from "./mm-fixture.ts";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** 8 GiB of DRAM from 0x40000000 with the CMA area above 4 GiB (past a 32-bit mask). */
function highCma() {
  return makeMm({
    dram: { base: 0x40000000, size: 8 * GiB },
    cma: [{ name: "reserved", base: 0x140000000, size: 256 * MiB }],
  });
}

describe("dma_alloc_pages and the DMA mask", () => {
  it("with a 64-bit mask takes the chunk from CMA, wherever it lies", () => {
    const { sim, mm } = highCma();
    const buf = runTask(sim, () => dmaAllocPages(mm, 2 * MiB, GFP_KERNEL, null, 64))!;
    expect(buf.cma).not.toBeNull();
    expect(buf.pa).toBeGreaterThanOrEqual(0x140000000);
  });

  it("with a 32-bit mask gives CMA pages above 4 GiB back and takes the buddy's from ZONE_DMA", () => {
    const { sim, mm } = highCma();
    const cmaFree = mm.defaultCma!.availableCount;
    const buf = runTask(sim, () => dmaAllocPages(mm, 2 * MiB, GFP_KERNEL, null, 32))!;
    expect(buf.cma).toBeNull();
    expect(buf.pa + buf.size - 1).toBeLessThanOrEqual(0xffffffff);
    expect(mm.defaultCma!.availableCount).toBe(cmaFree);
    expect(sim.findings.count("kernel-warn")).toBe(0);
  });

  it("falls back to the buddy above MAX_PAGE_ORDER: WARN_ON_ONCE_GFP, once, and NULL", () => {
    const { sim, mm } = highCma();
    const big = 64 * MiB; // order 14 > MAX_PAGE_ORDER
    expect(runTask(sim, () => dmaAllocPages(mm, big, GFP_KERNEL, null, 32))).toBeNull();
    expect(runTask(sim, () => dmaAllocPages(mm, big, GFP_KERNEL, null, 32))).toBeNull();
    const warns = sim.findings.details().filter((f) => f.id === "kernel-warn");
    expect(warns).toHaveLength(1);
    expect(warns[0].message).toMatch(/WARN_ON_ONCE_GFP\(order > MAX_PAGE_ORDER\): order 14 > 10/);
  });

  it("__GFP_NOWARN keeps the order WARN quiet", () => {
    const { sim, mm } = highCma();
    const gfp = withFlags(GFP_KERNEL, { noWarn: true });
    expect(runTask(sim, () => dmaAllocPages(mm, 64 * MiB, gfp, null, 32))).toBeNull();
    expect(sim.findings.count("kernel-warn")).toBe(0);
  });
});

describe("get_order", () => {
  it("counts orders past 2 GiB as the kernel's 64-bit arithmetic does (no 32-bit shift wrap)", () => {
    expect(getOrder(4096)).toBe(0);
    expect(getOrder(4097)).toBe(1);
    expect(getOrder(2 ** 30)).toBe(18);
    expect(getOrder(2 ** 31)).toBe(19);
    expect(getOrder(2 ** 31 + 1)).toBe(20);
    expect(getOrder(2 ** 34)).toBe(22);
  });
});
