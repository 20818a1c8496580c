/**
 * dma_alloc_pages() / dma_free_pages() for a device without an IOMMU — kernel/dma/mapping.c,
 * kernel/dma/direct.c, kernel/dma/contiguous.c (linux-kernel.md §3.2).
 *
 * Multi-page requests from a task that may sleep go to CMA (the device's area, else the default one),
 * aligned to min(get_order(size), CONFIG_CMA_ALIGNMENT); single pages, and requests CMA cannot serve,
 * come from the buddy allocator. The buffer is zeroed through the kernel's cacheable linear map, which
 * leaves dirty lines behind (hardware.md §4.3): the model makes that write through the access checkpoint.
 */
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { TAINT_CLEAN } from "../../hw/frames.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { cmaAlloc, cmaRelease, type Cma } from "../mm/cma.ts";
import { GFP_KERNEL, ZONE_DMA, ZONE_DMA_LIMIT, type Gfp } from "../mm/gfp.ts";
import type { Mm } from "../mm/mm.ts";

/** CONFIG_CMA_ALIGNMENT default. */
export const CONFIG_CMA_ALIGNMENT = 8;

/** A DMA buffer as dma_alloc_pages() returns it: its first frame and how it was obtained. */
export interface DmaPages {
  readonly frame: number;
  readonly pa: number;
  readonly size: number;
  /** Pages actually taken: PAGE_ALIGN(size) from CMA, 2^order from the buddy. */
  readonly pages: number;
  readonly cma: Cma | null;
}

/** get_order(size): in 64-bit arithmetic as the kernel's unsigned long (a 32-bit `<<` wraps at 2 GiB). */
export function getOrder(size: number): number {
  let o = 0;
  while (PAGE_SIZE * 2 ** o < size) o++;
  return o;
}

/** DMA_BIT_MASK(bits) as the highest reachable byte address. */
function dmaLimit(maskBits: number): number {
  return maskBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** maskBits - 1;
}

/**
 * dma_alloc_pages(dev, size, &dma_handle, dir, gfp) → dma_direct_alloc_pages() →
 * __dma_direct_alloc_pages() (kernel/dma/direct.c): the buffer, or null. The device's coherent DMA
 * mask (`maskBits`, e.g. OP-TEE's PA width through optee_set_dma_mask()) bounds where the pages may
 * lie: dma_direct_optimal_gfp_mask() picks ZONE_DMA for a mask of 32 bits or less; CMA pages outside
 * the mask go back (dma_coherent_ok() fails → dma_free_contiguous()); buddy pages outside it go back
 * and the allocation retries from ZONE_DMA. The buddy fallback asks for get_order(size) pages: above
 * MAX_PAGE_ORDER that is a WARN_ON_ONCE_GFP and NULL (page_alloc.ts).
 */
export function* dmaAllocPages(
  mm: Mm,
  size: number,
  gfp: Gfp = GFP_KERNEL,
  devCma: Cma | null = null,
  maskBits = 64,
  /**
   * Not in Linux's dma_alloc_pages(): a CMA alignment (log2 pages) at least this large, for the
   * `linear-remove` policy's section-aligned chunks (memtrace takes them with alloc_contig_pages()).
   */
  minAlignOrder = 0,
): Sleeps<DmaPages | null> {
  const machine: Machine = mm.machine;
  size = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE; // __dma_alloc_pages(): PAGE_ALIGN(size)
  const count = size / PAGE_SIZE;
  const limit = dmaLimit(maskBits);
  const coherentOk = (f: number, bytes: number) => machine.frames.paOf(f) + bytes - 1 <= limit;
  if (limit < ZONE_DMA_LIMIT && gfp.highestZone > ZONE_DMA)
    gfp = { ...gfp, name: `${gfp.name}|GFP_DMA`, highestZone: ZONE_DMA };
  let frame = -1;
  let cma: Cma | null = null;
  // dma_alloc_contiguous(): only for blocking callers, and never for a single page without a device area.
  const area = devCma ?? mm.defaultCma;
  if (gfp.canBlock && area && (devCma !== null || size > PAGE_SIZE)) {
    const align = Math.max(Math.min(getOrder(size), CONFIG_CMA_ALIGNMENT), minAlignOrder);
    frame = yield* cmaAlloc(mm, area, count, align, gfp.noWarn);
    if (frame >= 0 && !coherentOk(frame, size)) {
      cmaRelease(mm, area, frame, count);
      frame = -1;
    }
    if (frame >= 0) cma = area;
  }
  let pages = count;
  if (frame < 0) {
    const order = getOrder(size);
    pages = 1 << order;
    for (;;) {
      frame = mm.buddy.allocPages(order, gfp);
      if (!elapse(150)) yield sleep(150);
      if (frame < 0 || coherentOk(frame, pages * PAGE_SIZE)) break;
      mm.buddy.freePages(frame, order);
      frame = -1;
      if (gfp.highestZone === ZONE_DMA) break;
      gfp = { ...gfp, name: `${gfp.name}|GFP_DMA`, highestZone: ZONE_DMA };
    }
    if (frame < 0) return null;
  }
  const pa = machine.frames.paOf(frame);
  // memset(page_address(page), 0, size): the kernel writes zeros through its linear map. The write
  // lands when the memset ends, so the cache holds the last cache-full of it dirty at return.
  const costNs = (pages * PAGE_SIZE) / machine.costs.memsetBytesPerNs;
  if (!elapse(costNs)) yield sleep(costNs);
  const code = machine.access(machine.masterIndex("cpu-ns"), pa, pages * PAGE_SIZE, "write", {
    kernel: true,
    taint: TAINT_CLEAN,
  });
  if (code !== ACCESS_OK) {
    // A fault in the kernel's own memset is an oops (die() from __do_kernel_fault()): the task dies
    // where it stands, holding whatever it holds (sim/oops.ts), as the cache-maintenance fault does.
    mm.sim.oops(
      "dma_alloc_pages",
      `Unable to handle kernel access at 0x${pa.toString(16)} in dma_alloc_pages() memset`,
      { address: `0x${pa.toString(16)}` },
    );
  }
  machine.bytes.zeroPages(machine.frames.basePfn + frame, pages);
  return { frame, pa, size, pages, cma };
}

/** dma_free_pages(): back to CMA if it came from there (cma_release), else to the buddy. */
export function dmaFreePages(mm: Mm, buf: DmaPages): void {
  // dma_free_contiguous(): cma_release() for pages of the area (it WARNs and frees nothing on a bad
  // release); the buddy only for pages that are not the area's.
  if (buf.cma && buf.cma.contains(buf.frame, buf.pages)) {
    cmaRelease(mm, buf.cma, buf.frame, buf.pages);
    return;
  }
  mm.buddy.freePages(buf.frame, getOrder(buf.size));
}
