/**
 * dma_buf_map_attachment() / dma_buf_unmap_attachment() — drivers/dma-buf/dma-buf.c, for exporters
 * whose ops carry map_dma_buf (DmaBufMapOps). The dma-buf framework file (dma-buf/dma_buf.ts) has no
 * map_dma_buf op yet; this is the importer's half until it moves there. The system heap (no map op
 * in the model) is mapped from its block list.
 */
import { EINVAL } from "../../abi/uapi/errno.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { DmaBufAttachment } from "../dma-buf/dma_buf.ts";
import type { SystemHeapBuffer } from "../dma-buf/heaps/system_heap.ts";
import { SYSTEM_HEAP_BUF_OPS } from "../dma-buf/heaps/system_heap.ts";
import type { DmaBufMapOps, Sg } from "./tee_heap.ts";

function hasMap(ops: unknown): ops is DmaBufMapOps {
  return typeof (ops as Partial<DmaBufMapOps>).mapDmaBuf === "function";
}

/** The pages a device sees, or −errno. */
export function* dmaBufMapAttachment(a: DmaBufAttachment, dir: number): Sleeps<Sg[] | number> {
  const ops = a.dmabuf.ops;
  if (hasMap(ops)) return yield* ops.mapDmaBuf(a, dir);
  if (ops === SYSTEM_HEAP_BUF_OPS) {
    const b = a.dmabuf.priv as SystemHeapBuffer;
    const out: Sg[] = [];
    const frames = b.frames;
    for (let i = 0; i < frames.length; i++)
      out.push({ pa: frameToPa(a, frames[i]), length: PAGE_SIZE << b.orders[i] });
    return out;
  }
  return -EINVAL;
}

function frameToPa(a: DmaBufAttachment, frame: number): number {
  const heap = (a.dmabuf.priv as SystemHeapBuffer).heap;
  const ctx = heap.priv as { machine: { frames: { paOf(f: number): number } } };
  return ctx.machine.frames.paOf(frame);
}

export function* dmaBufUnmapAttachment(a: DmaBufAttachment, dir: number): Sleeps {
  const ops = a.dmabuf.ops;
  if (hasMap(ops)) yield* ops.unmapDmaBuf(a, dir);
}
