/**
 * Protected buffers as a media client holds them: DMA_HEAP_IOCTL_ALLOC on an open heap (the struct
 * dma_heap_allocation_data a real client passes, O_RDWR | O_CLOEXEC), and the importing drivers' side
 * — a V4L2 decoder queuing the buffer or DRM importing it with PRIME takes a reference (dma_buf_get()),
 * attaches and maps it once, keeps the mapping while the buffer is in use, and unmaps, detaches and
 * drops it when the buffer goes (the same kernel calls the `device` step makes, once per buffer and
 * device instead of once per DMA). A frame's DMA is then one range access per scatterlist entry.
 */
import {
  decodeDmaHeapAllocationData,
  DMA_HEAP_IOCTL_ALLOC,
  encodeDmaHeapAllocationData,
} from "../../abi/uapi/dma_heap.ts";
import { errnoName } from "../../abi/uapi/errno.ts";
import { O_CLOEXEC, O_RDWR } from "../../abi/uapi/fcntl.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import {
  dmaBufAttach,
  dmaBufDetach,
  dmaBufPut,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  getDmaBuf,
  isDmaBufFile,
  type DmaBuf,
  type DmaBufAttachment,
} from "../../kernel/dma-buf/dma_buf.ts";
import { dmaBufMapAttachment, dmaBufUnmapAttachment } from "../../kernel/tee/dma_buf_map.ts";
import type { Sg } from "../../kernel/tee/tee_heap.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Process } from "../process.ts";
import { lastRejection, sysIoctl } from "../syscalls.ts";
import type { DeviceDma, WorkloadMetrics } from "./env.ts";

/** DMA_HEAP_IOCTL_ALLOC: the new dma-buf fd, or −errno. */
export function* heapAllocFd(p: Process, heapFd: number, len: number): Sleeps<number> {
  const arg = encodeDmaHeapAllocationData({
    len: BigInt(len),
    fd: 0,
    fd_flags: O_RDWR | O_CLOEXEC,
    heap_flags: 0n,
  });
  const rc = yield* sysIoctl(p, heapFd, DMA_HEAP_IOCTL_ALLOC, arg);
  return rc < 0 ? rc : decodeDmaHeapAllocationData(arg).fd;
}

/** Allocates one buffer, timing it into `m`: the fd, or −errno (counted as a failure with its reason). */
export function* timedAlloc(
  p: Process,
  heapFd: number,
  len: number,
  m: WorkloadMetrics,
  firstOfSession: boolean,
): Sleeps<number> {
  const sim = p.kernel.sim;
  const t0 = sim.now;
  const fd = yield* heapAllocFd(p, heapFd, len);
  if (fd >= 0) m.alloc(sim.now - t0, firstOfSession);
  else {
    const why = lastRejection(p);
    m.fail(errnoName(fd), why ? `${why.detail} [${why.rule}]` : "DMA_HEAP_IOCTL_ALLOC failed");
  }
  return fd;
}

/** One device's import of one buffer: its reference, attachment and mapped pages. */
export interface Import {
  readonly dmabuf: DmaBuf;
  readonly attachment: DmaBufAttachment;
  readonly sgl: readonly Sg[];
  readonly dir: number;
}

/**
 * The driver of `dev` imports the process's dma-buf `fd` (dma_buf_get, attach, map_attachment): the
 * import, or a string saying why not. `writes`: the device writes the buffer (DMA_FROM_DEVICE).
 */
export function* importBuffer(p: Process, fd: number, dev: string, writes: boolean): Sleeps<Import | string> {
  const file = p.task.files.lookup(fd);
  if (!file || !isDmaBufFile(file)) return `fd ${fd} of ${p.name} is not a dma-buf`;
  const dmabuf = file.privateData as DmaBuf;
  getDmaBuf(dmabuf);
  const a = yield* dmaBufAttach(dmabuf, dev);
  if (typeof a === "number") {
    yield* dmaBufPut(dmabuf);
    return `dma_buf_attach failed: ${errnoName(a)}`;
  }
  const dir = writes ? DMA_FROM_DEVICE : DMA_TO_DEVICE;
  const sgl = yield* dmaBufMapAttachment(a, dir);
  if (typeof sgl === "number") {
    yield* dmaBufDetach(dmabuf, a);
    yield* dmaBufPut(dmabuf);
    return `dma_buf_map_attachment failed: ${errnoName(sgl)}`;
  }
  return { dmabuf, attachment: a, sgl, dir };
}

/** The driver lets the buffer go: unmap, detach, dma_buf_put(). */
export function* releaseImport(im: Import): Sleeps {
  yield* dmaBufUnmapAttachment(im.attachment, im.dir);
  yield* dmaBufDetach(im.dmabuf, im.attachment);
  yield* dmaBufPut(im.dmabuf);
}

/** The device's DMA over the first `length` bytes of an imported buffer: ACCESS_OK or the fault code. */
export function* dmaOver(dma: DeviceDma, dev: string, im: Import, length: number): Sleeps<number> {
  let left = length;
  for (const sg of im.sgl) {
    if (left <= 0) break;
    const n = Math.min(sg.length, left);
    const code = yield* dma(dev, sg.pa, n);
    if (code !== ACCESS_OK) return code;
    left -= n;
  }
  return ACCESS_OK;
}
