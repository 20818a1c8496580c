import { describe, expect, it } from "vitest";
import { EBUSY } from "../../src/abi/uapi/errno.ts";
import { TAINT_CLEAN, TAINT_NS_DATA } from "../../src/hw/frames.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";
import { dmaAllocPages, dmaFreePages } from "../../src/kernel/dma/mapping.ts";
import { allocContigRange } from "../../src/kernel/mm/alloc_contig.ts";
import { cmaAlloc, cmaRelease } from "../../src/kernel/mm/cma.ts";
import { GFP_HIGHUSER_MOVABLE, MIGRATE_CMA, PS_CONTIG, PS_MOVABLE } from "../../src/kernel/mm/gfp.ts";
import type { Mm } from "../../src/kernel/mm/mm.ts";
import { PAGEBLOCK_ORDER } from "../../src/kernel/mm/page_alloc.ts";
import { allocUserPage, pinLongterm, pinPage, unpinPage } from "../../src/kernel/mm/page_users.ts";
import { ftraceText } from "../../src/report/ftrace.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";
import { makeMm, runTask } from "./mm-fixture.ts";

/** Takes specific free pages of the CMA area and makes them movable user pages (a fixture, as take_page_off_buddy). */
function populate(mm: Mm, frames: number[], data = true): void {
  const m = mm.machine;
  for (const i of frames) {
    expect(mm.buddy.takeOffBuddy(i, i + 1)).toBe(true);
    m.frames.state[i] = PS_MOVABLE;
    if (data) {
      m.frames.taint[i] = TAINT_NS_DATA;
      m.bytes.write(m.frames.paOf(i), new TextEncoder().encode(`page ${i}`));
    }
  }
}

describe("alloc_contig_range", () => {
  it("migrates the movable pages out of the range, keeping their content and taint", () => {
    const { sim, mm, machine } = makeMm();
    const cma = mm.cmaAreas[0];
    const victims = [cma.base + 3, cma.base + 100, cma.base + 511];
    populate(mm, victims);
    const stats = { migrated: 0, failed: 0, busyFrame: -1 };
    const rc = runTask(sim, () => allocContigRange(mm, cma.base, cma.base + 1024, stats));
    expect(rc).toBe(0);
    expect(stats.migrated).toBe(3);
    for (let i = cma.base; i < cma.base + 1024; i++) expect(machine.frames.state[i]).toBe(PS_CONTIG);
    // Each page's content now lives in exactly one movable page outside the range, with its taint.
    const texts = new Set<string>();
    for (let i = 0; i < machine.frames.count; i++) {
      if (machine.frames.state[i] !== PS_MOVABLE) continue;
      expect(i < cma.base || i >= cma.base + 1024).toBe(true);
      expect(machine.frames.taint[i]).toBe(TAINT_NS_DATA);
      texts.add(new TextDecoder().decode(machine.bytes.read(machine.frames.paOf(i), 8)).replace(/\0+$/, ""));
    }
    expect(texts).toEqual(new Set(victims.map((v) => `page ${v}`.slice(0, 8))));
    // Isolation is undone.
    expect(mm.buddy.pageblockMt[cma.base >> PAGEBLOCK_ORDER]).toBe(MIGRATE_CMA);
    expect(mm.conservation().ok).toBe(true);
  });

  it("a pinned page makes it fail with -EBUSY and takes nothing", () => {
    const { sim, mm, machine } = makeMm();
    const cma = mm.cmaAreas[0];
    populate(mm, [cma.base + 10]);
    pinPage(mm, cma.base + 10);
    const stats = { migrated: 0, failed: 0, busyFrame: -1 };
    const rc = runTask(sim, () => allocContigRange(mm, cma.base, cma.base + 512, stats));
    expect(rc).toBe(-EBUSY);
    expect(stats.busyFrame).toBe(cma.base + 10);
    expect(machine.frames.state[cma.base]).not.toBe(PS_CONTIG);
    expect(mm.buddy.pageblockMt[cma.base >> PAGEBLOCK_ORDER]).toBe(MIGRATE_CMA);
    expect(mm.conservation().ok).toBe(true);
    unpinPage(mm, cma.base + 10);
    expect(runTask(sim, () => allocContigRange(mm, cma.base, cma.base + 512))).toBe(0);
  });

  it("pages on the per-cpu list are drained before the range is checked", () => {
    const { sim, mm } = makeMm();
    const cma = mm.cmaAreas[0];
    const p = mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE);
    mm.buddy.freePages(p, 0);
    expect(mm.buddy.pcpCount).toBeGreaterThan(0);
    const start = p - (p % 512);
    expect(runTask(sim, () => allocContigRange(mm, start, start + 512))).toBe(0);
    expect(mm.buddy.pcpCount).toBe(0);
    void cma;
  });
});

describe("cma_alloc", () => {
  it("retries past a pinned page at the next aligned window, then succeeds, with the tracepoints in order", () => {
    const { sim, mm } = makeMm();
    const cma = mm.cmaAreas[0];
    const events: TraceEvent[] = [];
    sim.trace.subscribe((e) => events.push(e));
    populate(mm, [cma.base + 5]);
    pinPage(mm, cma.base + 5);
    // 256 pages aligned to 256 pages (order 8): the first window [0, 256) holds the pin.
    const frame = runTask(sim, () => cmaAlloc(mm, cma, 256, 8));
    expect(frame).toBe(cma.base + 256);
    expect(cma.busyRetries).toBe(1);
    const cmaEvents = events.filter((e) => e.name.startsWith("cma_"));
    expect(cmaEvents.map((e) => e.name)).toEqual([
      "cma_alloc_start",
      "cma_alloc_busy_retry",
      "cma_alloc_finish",
    ]);
    const basePfn = mm.machine.frames.basePfn + cma.base;
    expect(cmaEvents[0].args).toEqual({
      name: "reserved",
      request_count: 256,
      available_count: 16384,
      total_count: 16384,
      align: 8,
    });
    expect(cmaEvents[1].args).toMatchObject({ name: "reserved", pfn: basePfn, count: 256, align: 8 });
    expect(cmaEvents[2].args).toMatchObject({
      name: "reserved",
      pfn: basePfn + 256,
      count: 256,
      align: 8,
      errorno: 0,
    });
    expect(cma.availableCount).toBe(16384 - 256);

    expect(cmaRelease(mm, cma, frame, 256)).toBe(true);
    const rel = events.filter((e) => e.name === "cma_release");
    expect(rel[0].args).toMatchObject({ name: "reserved", pfn: basePfn + 256, count: 256 });
    expect(cma.availableCount).toBe(16384);
    expect(mm.conservation().ok).toBe(true);

    // The ftrace text has the kernel's exact formats.
    const text = ftraceText(events.filter((e) => e.name.startsWith("cma_")));
    const lines = text.split("\n").filter((l) => !l.startsWith("#") && l !== "");
    expect(lines[0]).toMatch(
      /^ {12}test-1 {7}\[000\] \.\.\.\.\. {5}0\.\d{6}: cma_alloc_start: name=reserved request_count=256 available_count=16384 total_count=16384 align=8$/,
    );
    expect(lines[1]).toMatch(
      /cma_alloc_busy_retry: name=reserved pfn=0x48000 page=[0-9a-f]{16} count=256 align=8$/,
    );
    expect(lines[2]).toMatch(
      /cma_alloc_finish: name=reserved pfn=0x48100 page=[0-9a-f]{16} count=256 align=8 errorno=0$/,
    );
    expect(lines[3]).toMatch(/cma_release: name=reserved pfn=0x48100 page=[0-9a-f]{16} count=256$/);
  });

  it("fails with -ENOMEM when the request is larger than what is available", () => {
    const { sim, mm } = makeMm();
    const cma = mm.cmaAreas[0];
    const events: TraceEvent[] = [];
    sim.trace.subscribe((e) => events.push(e));
    expect(runTask(sim, () => cmaAlloc(mm, cma, cma.count + 1, 0))).toBe(-1);
    expect(events.find((e) => e.name === "cma_alloc_finish")?.args).toMatchObject({ pfn: 0, errorno: -12 });
  });

  it("a release of pages that are not the area's returns false", () => {
    const { mm } = makeMm();
    expect(cmaRelease(mm, mm.cmaAreas[0], 0, 1)).toBe(false);
  });

  it("a long-term pin moves a page out of CMA first, so CMA can still take the range", () => {
    const { sim, mm } = makeMm();
    const cma = mm.cmaAreas[0];
    populate(mm, [cma.base + 7]);
    const pinned = pinLongterm(mm, cma.base + 7);
    expect(pinned < cma.base || pinned >= cma.base + cma.count).toBe(true);
    expect(runTask(sim, () => cmaAlloc(mm, cma, 512, 9))).toBe(cma.base);
  });
});

describe("dma_alloc_pages", () => {
  it("takes multi-page buffers from CMA and zeroes them through the linear map", () => {
    const { sim, mm, machine } = makeMm({
      caches: { specFillsPerMs: 0, sizeBytes: 1 << 20, deniedFill: "ignored", deniedWriteback: "ignored" },
    });
    const cma = mm.cmaAreas[0];
    const size = 1024 * 1024;
    const buf = runTask(sim, () => dmaAllocPages(mm, size));
    expect(buf).not.toBeNull();
    expect(buf!.cma).toBe(cma);
    expect(buf!.pages).toBe(256);
    const i = buf!.frame;
    expect(machine.frames.taint[i]).toBe(TAINT_CLEAN);
    // The memset leaves dirty lines in the CPU's cache for the buffer.
    expect(machine.caches.dirtyIn(i, 256)).toBe(256);
    dmaFreePages(mm, buf!);
    expect(cma.availableCount).toBe(cma.count);
    expect(mm.conservation().ok).toBe(true);
  });

  it("takes a single page from the buddy allocator, not CMA", () => {
    const { sim, mm } = makeMm();
    const buf = runTask(sim, () => dmaAllocPages(mm, PAGE_SIZE));
    expect(buf!.cma).toBeNull();
    dmaFreePages(mm, buf!);
    expect(mm.conservation().ok).toBe(true);
  });

  it("falls back to the buddy allocator when CMA cannot serve", () => {
    const { sim, mm } = makeMm({ cma: [] });
    const buf = runTask(sim, () => dmaAllocPages(mm, 64 * 1024));
    expect(buf!.cma).toBeNull();
    expect(buf!.pages).toBe(16);
  });
});

describe("user pages", () => {
  it("a user page fault writes normal-world data", () => {
    const { mm, machine } = makeMm();
    const i = allocUserPage(mm);
    expect(machine.frames.state[i]).toBe(PS_MOVABLE);
    expect(machine.frames.taint[i]).toBe(TAINT_NS_DATA);
  });
});
