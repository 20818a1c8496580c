/**
 * The "system" dma-heap — drivers/dma-buf/heaps/system_heap.c.
 *
 * A buffer is built from the largest buddy blocks available, trying orders 8, 4, 0 (1 MiB, 64 KiB,
 * 4 KiB) and never going back up once a smaller order was taken (max_order = compound_order(page)).
 * Order 8 uses HIGH_ORDER_GFP (no reclaim, no warning), the others LOW_ORDER_GFP; all are
 * GFP_HIGHUSER | __GFP_ZERO, i.e. unmovable and zeroed by the page allocator through the kernel's
 * linear map. User mmap maps the pages cacheable (remap_pfn_range); release frees them to the buddy.
 */
import { ENOMEM } from "../../../abi/uapi/errno.ts";
import { TAINT_CLEAN } from "../../../hw/frames.ts";
import type { Machine } from "../../../hw/machine.ts";
import { PAGE_SIZE } from "../../../hw/platform.ts";
import { Mutex } from "../../../sim/mutex.ts";
import { sleep, type Sleeps, elapse } from "../../../sim/scheduler.ts";
import { GFP_KERNEL, type Gfp } from "../../mm/gfp.ts";
import type { Mm } from "../../mm/mm.ts";
import { remapPfnRange, type Vma } from "../../fs/mmap.ts";
import { dmaBufExport, type DmaBuf, type DmaBufList, type DmaBufOps } from "../dma_buf.ts";
import { dmaHeapAdd, type DmaHeap, type DmaHeaps } from "../dma_heap.ts";

/** orders[]: 1 MiB, 64 KiB, 4 KiB, "designed to match with the sizes often found in IOMMUs". */
export const SYSTEM_HEAP_ORDERS: readonly number[] = [8, 4, 0];

/** HIGH_ORDER_GFP: (GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_RECLAIM | __GFP_COMP. */
export const HIGH_ORDER_GFP: Gfp = {
  ...GFP_KERNEL,
  name: "HIGH_ORDER_GFP",
  canBlock: false,
  zero: true,
  noWarn: true,
};
/** LOW_ORDER_GFP: GFP_HIGHUSER | __GFP_ZERO | __GFP_COMP (unmovable, may reclaim). */
export const LOW_ORDER_GFP: Gfp = { ...GFP_KERNEL, name: "LOW_ORDER_GFP", zero: true };
const ORDER_FLAGS: readonly Gfp[] = [HIGH_ORDER_GFP, LOW_ORDER_GFP, LOW_ORDER_GFP];

/** One alloc_pages() call, ns (the same assumption as kernel/dma/mapping.ts). */
export const ALLOC_PAGES_NS = 150;
/** One __free_pages() call, ns (assumption). */
export const FREE_PAGES_NS = 100;
/** Installing one user PTE in remap_pfn_range(), ns (assumption). */
export const REMAP_PTE_NS = 20;

/** What the heap needs from the kernel: the page allocator, the machine, and db_list. */
export interface SystemHeapContext {
  readonly mm: Mm;
  readonly machine: Machine;
  readonly dmaBufs: DmaBufList;
}

/** struct system_heap_buffer: the sg table as parallel arrays of (first frame, order). */
export interface SystemHeapBuffer {
  readonly heap: DmaHeap;
  readonly len: number;
  readonly frames: Int32Array;
  readonly orders: Uint8Array;
  /** dma_buf_attach() count (attachments keep a copy of the sg table in Linux). */
  attachments: number;
  /** buffer->lock: protects the attachments. */
  readonly lock: Mutex;
}

/** alloc_largest_available(size, max_order): a block, or null when no order fits. */
function allocLargestAvailable(
  mm: Mm,
  size: number,
  maxOrder: number,
): { frame: number; order: number } | null {
  for (let i = 0; i < SYSTEM_HEAP_ORDERS.length; i++) {
    const order = SYSTEM_HEAP_ORDERS[i];
    if (size < PAGE_SIZE << order) continue;
    if (maxOrder < order) continue;
    const frame = mm.buddy.allocPages(order, ORDER_FLAGS[i]);
    if (frame < 0) continue;
    return { frame, order };
  }
  return null;
}

/** __GFP_ZERO: kernel_init_pages() clears the block through the linear map (a kernel write). */
function* zeroBlock(machine: Machine, frame: number, order: number): Sleeps {
  const n = 1 << order;
  const pa = machine.frames.paOf(frame);
  machine.access(machine.masterIndex("cpu-ns"), pa, n * PAGE_SIZE, "write", {
    kernel: true,
    taint: TAINT_CLEAN,
  });
  machine.bytes.zeroPages(machine.frames.basePfn + frame, n);
  const costNs = (n * PAGE_SIZE) / machine.costs.memsetBytesPerNs;
  if (!elapse(costNs)) yield sleep(costNs);
}

function* freeBlocks(mm: Mm, frames: ArrayLike<number>, orders: ArrayLike<number>, count: number): Sleeps {
  for (let i = 0; i < count; i++) {
    mm.buddy.freePages(frames[i], orders[i]);
    if (!elapse(FREE_PAGES_NS)) yield sleep(FREE_PAGES_NS);
  }
}

/** system_heap_dma_buf_release(): every block back to the buddy. */
function* systemHeapDmaBufRelease(dmabuf: DmaBuf): Sleeps {
  const buffer = dmabuf.priv as SystemHeapBuffer;
  const ctx = buffer.heap.priv as SystemHeapContext;
  yield* freeBlocks(ctx.mm, buffer.frames, buffer.orders, buffer.frames.length);
}

/** system_heap_mmap(): maps the buffer's pages from vm_pgoff on into the VMA. */
function* systemHeapMmap(dmabuf: DmaBuf, vma: Vma): Sleeps<number> {
  const buffer = dmabuf.priv as SystemHeapBuffer;
  let pgoff = vma.pgoff;
  let addr = vma.start;
  for (let i = 0; i < buffer.frames.length && addr < vma.end; i++) {
    const n = 1 << buffer.orders[i];
    if (pgoff >= n) {
      pgoff -= n;
      continue;
    }
    const size = Math.min((n - pgoff) * PAGE_SIZE, vma.end - addr);
    const rc = remapPfnRange(vma, addr, buffer.frames[i] + pgoff, size);
    if (rc < 0) return rc;
    addr += size;
    pgoff = 0;
  }
  const costNs = vma.pages * REMAP_PTE_NS;
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}

/**
 * begin/end_cpu_access: under buffer->lock, sync the sg tables of mapped attachments and any kernel
 * vmap. The model has neither device mappings nor vmap of heap buffers: only the lock remains.
 */
function* systemHeapCpuAccess(dmabuf: DmaBuf, _direction: number): Sleeps<number> {
  const buffer = dmabuf.priv as SystemHeapBuffer;
  yield* buffer.lock.lock();
  yield* buffer.lock.unlockPreempt();
  return 0;
}

/** system_heap_buf_ops */
export const SYSTEM_HEAP_BUF_OPS: DmaBufOps = {
  release: systemHeapDmaBufRelease,
  mmap: systemHeapMmap,
  beginCpuAccess: systemHeapCpuAccess,
  endCpuAccess: systemHeapCpuAccess,
  *attach(dmabuf) {
    const buffer = dmabuf.priv as SystemHeapBuffer;
    yield* buffer.lock.lock();
    buffer.attachments++;
    yield* buffer.lock.unlockPreempt();
    return 0;
  },
  *detach(dmabuf) {
    const buffer = dmabuf.priv as SystemHeapBuffer;
    yield* buffer.lock.lock();
    buffer.attachments--;
    yield* buffer.lock.unlockPreempt();
  },
};

/** system_heap_allocate(): the blocks, zeroed, exported as a dma-buf; −ENOMEM when the buddy runs dry. */
function* systemHeapAllocate(
  heap: DmaHeap,
  len: number,
  fdFlags: number,
  _heapFlags: bigint,
): Sleeps<DmaBuf | number> {
  const ctx = heap.priv as SystemHeapContext;
  const frames: number[] = [];
  const orders: number[] = [];
  let remaining = len;
  let maxOrder = SYSTEM_HEAP_ORDERS[0];
  while (remaining > 0) {
    if (!elapse(ALLOC_PAGES_NS)) yield sleep(ALLOC_PAGES_NS);
    const page = allocLargestAvailable(ctx.mm, remaining, maxOrder);
    if (!page) {
      yield* freeBlocks(ctx.mm, frames, orders, frames.length);
      return -ENOMEM;
    }
    frames.push(page.frame);
    orders.push(page.order);
    yield* zeroBlock(ctx.machine, page.frame, page.order);
    remaining -= PAGE_SIZE << page.order;
    maxOrder = page.order;
  }
  const buffer: SystemHeapBuffer = {
    heap,
    len,
    frames: Int32Array.from(frames),
    orders: Uint8Array.from(orders),
    attachments: 0,
    lock: new Mutex(ctx.machine.sim, `system_heap_buffer:${heap.name}`),
  };
  const dmabuf = dmaBufExport(ctx.dmaBufs, {
    expName: heap.name,
    ops: SYSTEM_HEAP_BUF_OPS,
    size: len,
    flags: fdFlags,
    priv: buffer,
  });
  if (typeof dmabuf === "number") yield* freeBlocks(ctx.mm, frames, orders, frames.length);
  return dmabuf;
}

/** system_heap_create(): registers /dev/dma_heap/system. The heap, or −errno from dma_heap_add(). */
export function systemHeapCreate(heaps: DmaHeaps, ctx: SystemHeapContext): DmaHeap | number {
  return dmaHeapAdd(heaps, { name: "system", ops: { allocate: systemHeapAllocate }, priv: ctx });
}
