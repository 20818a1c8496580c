import { describe, expect, it } from "vitest";
import { ACCESS_OK } from "../../src/hw/machine.ts";
import { cleanInvalidateToPoc, unmapForLend } from "../../src/kernel/mm/unmap.ts";
import { runTask } from "./mm-fixture.ts";
import { bootUnmap, CMA_BASE, MiB, PAGE, protectForDecoder } from "./unmap-fixture.ts";

const PA = CMA_BASE + 16 * MiB;
const SIZE = 2 * MiB;

/** A kernel memset of `pages` pages from PA, as dma_alloc_pages() zeroes through the linear map. */
function dirty(b: ReturnType<typeof bootUnmap>, pages: number): void {
  expect(b.machine.access(b.cpu, PA, pages * PAGE, "write", { kernel: true })).toBe(ACCESS_OK);
  expect(b.machine.caches.dirtyIn(b.machine.frames.indexOf(PA), SIZE / PAGE)).toBe(pages);
}

describe("cleanInvalidateToPoc(): dcache_clean_inval_poc() before the firewall closes", () => {
  it("leaves no dirty line in the range, charges lines and write-back, and no-dirty-lend stays quiet", () => {
    const b = bootUnmap();
    const m = b.machine;
    dirty(b, 8);
    const t0 = b.sim.now;
    runTask(b.sim, () => cleanInvalidateToPoc(b.mm, PA, SIZE));
    expect(m.caches.dirtyIn(m.frames.indexOf(PA), SIZE / PAGE)).toBe(0);
    expect(m.maintenance).toEqual({
      cleanInvalOps: 1,
      bytesCleaned: SIZE,
      dirtyPagesWrittenBack: 8,
      bytesZeroed: 0,
    });
    expect(m.stats.writebacks).toBe(8);
    const c = m.costs;
    const ns = (SIZE / 64) * c.cacheLineMaintNs + (8 * PAGE) / c.dirtyWritebackBytesPerNs;
    // Virtual time is whole nanoseconds.
    expect(Math.abs(b.sim.now - t0 - ns)).toBeLessThanOrEqual(1);
    expect(protectForDecoder(m, PA, SIZE)).toBe(0);
    expect(b.count("no-dirty-lend")).toBe(0);
  });

  it("without it, the same lend reports no-dirty-lend", () => {
    const b = bootUnmap();
    dirty(b, 8);
    expect(protectForDecoder(b.machine, PA, SIZE)).toBe(0);
    expect(b.count("no-dirty-lend")).toBe(1);
  });

  it("a write-back into memory already protected goes through the checkpoint: the firewall denies it", () => {
    const b = bootUnmap();
    dirty(b, 2);
    expect(protectForDecoder(b.machine, PA, SIZE)).toBe(0);
    const before = b.count("no-speculation-hazard");
    runTask(b.sim, () => cleanInvalidateToPoc(b.mm, PA, SIZE));
    expect(b.machine.stats.deniedWritebacks).toBe(2);
    expect(b.count("no-speculation-hazard") - before).toBe(2);
  });

  it("cleaning a range already unmapped faults like any access through the linear map: an oops", () => {
    const b = bootUnmap();
    dirty(b, 1);
    expect(runTask(b.sim, () => unmapForLend(b.mm, "pte", PA, SIZE))).toBe(0);
    b.sim.sched.spawn("clean", () => cleanInvalidateToPoc(b.mm, PA, SIZE));
    b.sim.sched.run();
    const warn = b.sim.findings.details().find((f) => f.id === "kernel-warn");
    expect(warn?.message).toMatch(/Unable to handle kernel paging request/);
    expect(b.machine.maintenance.cleanInvalOps).toBe(0);
  });
});
