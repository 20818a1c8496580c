/**
 * The protected dma-heaps — drivers/tee/tee_heap.c (linux-kernel.md §1.3): one heap per use case
 * ("protected,secure-video", "protected,trusted-ui", "protected,secure-video-record"), registered by a
 * TEE driver with a struct tee_protmem_pool behind it; buffers are dma-bufs whose pages only devices
 * get (attach + map_dma_buf with DMA_ATTR_SKIP_CPU_SYNC): no mmap, no CPU access, no vmap.
 *
 * dma_buf_ops in this model has no map_dma_buf; the heap's ops carry it as an extension
 * (DmaBufMapOps), and dma_buf_map.ts calls it for importers.
 */
import { EBUSY, EEXIST, EINVAL } from "../../abi/uapi/errno.ts";
import { Mutex } from "../../sim/mutex.ts";
import { Refcount } from "../../sim/refcount.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { dmaBufExport, type DmaBuf, type DmaBufAttachment, type DmaBufOps } from "../dma-buf/dma_buf.ts";
import { dmaHeapAdd, type DmaHeap } from "../dma-buf/dma_heap.ts";
import { lockMaybeBoot, teeDeviceGet, teeDevicePut, teeSubsysOf, type TeeDevice } from "./tee_core.ts";
import type { ProtmemLedger } from "./protmem_ledger.ts";
import type { TeeShm } from "./tee_shm.ts";

/** enum tee_dma_heap_id */
export const TEE_DMA_HEAP_SECURE_VIDEO_PLAY = 1;
export const TEE_DMA_HEAP_TRUSTED_UI = 2;
export const TEE_DMA_HEAP_SECURE_VIDEO_RECORD = 3;

/** heap_id_2_name() */
export function heapId2Name(id: number): string | null {
  switch (id) {
    case TEE_DMA_HEAP_SECURE_VIDEO_PLAY:
      return "protected,secure-video";
    case TEE_DMA_HEAP_TRUSTED_UI:
      return "protected,trusted-ui";
    case TEE_DMA_HEAP_SECURE_VIDEO_RECORD:
      return "protected,secure-video-record";
    default:
      return null;
  }
}

/** One scatterlist entry (sg_phys(), sg->length). */
export interface Sg {
  readonly pa: number;
  readonly length: number;
}
/** struct sg_table */
export interface SgTable {
  sgl: Sg[];
}

/** struct tee_protmem_pool_ops */
export interface TeeProtmemPoolOps {
  alloc(pool: TeeProtmemPool, sgt: SgTable, size: number, offs: { value: number }): Sleeps<number>;
  free(pool: TeeProtmemPool, sgt: SgTable): Sleeps<void>;
  updateShm(
    pool: TeeProtmemPool,
    sgt: SgTable,
    offs: number,
    shm: TeeShm,
    parent: { shm: TeeShm | null },
  ): number;
  /** destroy_pool: called from tee_heap_release() under h->mu, so it may sleep (a pool with lent chunks reclaims them). */
  destroyPool(pool: TeeProtmemPool): Sleeps<void>;
  /**
   * Not in the kernel's ops: the pool's own count of live buffers (protmem.c's refcount, …), which
   * invariant `pool-consistency` compares with the buffers alive at quiescent points. Absent: the
   * pool keeps no count. Null: none now (a static pool's gen_pool is gone).
   */
  ownCount?(pool: TeeProtmemPool): number | null;
}
/** struct tee_protmem_pool, with the bookkeeping of invariant `pool-consistency` (protmem_ledger.ts). */
export interface TeeProtmemPool {
  readonly ops: TeeProtmemPoolOps;
  readonly ledger: ProtmemLedger;
}

/** The pool's own count, for the ledger (null: it keeps none). */
export function poolOwnCount(pool: TeeProtmemPool): number | null {
  return pool.ops.ownCount ? pool.ops.ownCount(pool) : null;
}

/** struct tee_dma_heap */
export class TeeDmaHeap {
  heap: DmaHeap | null = null;
  readonly kref: Refcount;
  pool: TeeProtmemPool | null;
  teedev: TeeDevice | null;
  shuttingDown = false;
  /** Protects pool, teedev, shutting_down. */
  readonly mu: Mutex;
  readonly sim: TeeDevice["sim"];
  constructor(
    readonly id: number,
    teedev: TeeDevice,
    pool: TeeProtmemPool,
  ) {
    this.sim = teedev.sim;
    this.teedev = teedev;
    this.pool = pool;
    this.kref = new Refcount(teedev.sim, `tee_dma_heap:${id}`, 1);
    this.mu = new Mutex(teedev.sim, `tee_dma_heap:${heapId2Name(id)}`);
  }
}

/** struct tee_heap_buffer */
export interface TeeHeapBuffer {
  readonly heap: TeeDmaHeap;
  readonly size: number;
  offs: number;
  readonly table: SgTable;
}

/** struct tee_heap_attachment: a copy of the sg table per device. */
export interface TeeHeapAttachment {
  readonly table: SgTable;
  readonly dev: string;
  mapped: boolean;
}

/** dma_buf_ops with map_dma_buf/unmap_dma_buf (see the header). */
export interface DmaBufMapOps extends DmaBufOps {
  mapDmaBuf(a: DmaBufAttachment, dir: number): Sleeps<Sg[] | number>;
  unmapDmaBuf(a: DmaBufAttachment, dir: number): Sleeps<void>;
}

/** tee_heap_release(): the last reference to the heap's registration. */
function* teeHeapRelease(h: TeeDmaHeap): Sleeps {
  if (h.pool) yield* h.pool.ops.destroyPool(h.pool);
  if (h.teedev) teeDevicePut(h.teedev);
  h.pool = null;
  h.teedev = null;
}

/** put_tee_heap() */
function* putTeeHeap(h: TeeDmaHeap): Sleeps {
  if (h.kref.decAndTest()) yield* teeHeapRelease(h);
}

/** tee_heap_buf_free(): the dma-buf's release. */
function* teeHeapBufFree(dmabuf: DmaBuf): Sleeps {
  const buf = dmabuf.priv as TeeHeapBuffer;
  const pool = buf.heap.pool!;
  pool.ledger.enter();
  pool.ledger.bufferDead(buf.table.sgl);
  yield* pool.ops.free(pool, buf.table);
  pool.ledger.leave(poolOwnCount(pool));
  const locked = yield* lockMaybeBoot(buf.heap.sim, buf.heap.mu);
  yield* putTeeHeap(buf.heap);
  if (locked) yield* buf.heap.mu.unlockPreempt();
}

export const TEE_HEAP_BUF_OPS: DmaBufMapOps = {
  release: teeHeapBufFree,
  // eslint-disable-next-line require-yield
  *attach(dmabuf, a) {
    const buf = dmabuf.priv as TeeHeapBuffer;
    const att: TeeHeapAttachment = {
      table: { sgl: buf.table.sgl.map((s) => ({ ...s })) },
      dev: a.dev,
      mapped: false,
    };
    a.priv = att;
    return 0;
  },
  // eslint-disable-next-line require-yield
  *detach(_dmabuf, a) {
    a.priv = null;
  },
  /** dma_map_sgtable(dev, &a->table, dir, DMA_ATTR_SKIP_CPU_SYNC): no IOMMU, dma address = pa. */
  // eslint-disable-next-line require-yield
  *mapDmaBuf(a, _dir) {
    const att = a.priv as TeeHeapAttachment;
    att.mapped = true;
    return att.table.sgl;
  },
  // eslint-disable-next-line require-yield
  *unmapDmaBuf(a, _dir) {
    (a.priv as TeeHeapAttachment).mapped = false;
  },
};

/** tee_dma_heap_alloc() */
function* teeDmaHeapAlloc(
  heap: DmaHeap,
  len: number,
  fdFlags: number,
  _heapFlags: bigint,
): Sleeps<DmaBuf | number> {
  const h = heap.priv as TeeDmaHeap;
  let teedev: TeeDevice | null = null;
  let pool: TeeProtmemPool | null = null;
  const locked = yield* lockMaybeBoot(h.sim, h.mu);
  if (h.teedev) {
    teedev = h.teedev;
    pool = h.pool;
    h.kref.inc();
  }
  if (locked) yield* h.mu.unlockPreempt();
  if (!teedev || !pool) return -EINVAL;
  const buf: TeeHeapBuffer = { heap: h, size: len, offs: 0, table: { sgl: [] } };
  const offs = { value: 0 };
  pool.ledger.enter();
  let dmabuf: DmaBuf | number = yield* pool.ops.alloc(pool, buf.table, len, offs);
  if (dmabuf === 0) {
    pool.ledger.bufferLive(buf.table.sgl);
    buf.offs = offs.value;
    dmabuf = dmaBufExport(teedev.kernel.dmaBufs, {
      expName: heap.name,
      ops: TEE_HEAP_BUF_OPS,
      size: len,
      flags: fdFlags,
      priv: buf,
    });
    if (typeof dmabuf !== "number") {
      pool.ledger.leave(poolOwnCount(pool));
      return dmabuf;
    }
    pool.ledger.bufferDead(buf.table.sgl);
    yield* pool.ops.free(pool, buf.table); // err_protmem_free
  }
  pool.ledger.leave(poolOwnCount(pool));
  // err: the heap reference goes under h->mu, as on the release path.
  const relock = yield* lockMaybeBoot(h.sim, h.mu);
  yield* putTeeHeap(h);
  if (relock) yield* h.mu.unlockPreempt();
  return dmabuf;
}

/** alloc_dma_heap(): a new tee_dma_heap and its dma-heap; 0 or −errno. */
function allocDmaHeap(teedev: TeeDevice, id: number, pool: TeeProtmemPool): number {
  const sub = teeSubsysOf(teedev.kernel);
  const name = heapId2Name(id);
  if (!name) return -EINVAL;
  if (sub.heaps.has(id)) return -EEXIST;
  const h = new TeeDmaHeap(id, teedev, pool);
  const heap = dmaHeapAdd(teedev.kernel.dmaHeaps, { name, ops: { allocate: teeDmaHeapAlloc }, priv: h });
  if (typeof heap === "number") return heap;
  h.heap = heap;
  sub.heaps.set(id, h);
  return 0;
}

/** tee_device_register_dma_heap(teedev, id, pool): 0 or −errno (−EBUSY when the heap has a device). */
export function* teeDeviceRegisterDmaHeap(
  teedev: TeeDevice,
  id: number,
  pool: TeeProtmemPool,
): Sleeps<number> {
  if (!teeDeviceGet(teedev)) return -EINVAL;
  const h = teeSubsysOf(teedev.kernel).heaps.get(id);
  let rc: number;
  if (h) {
    const locked = yield* lockMaybeBoot(teedev.sim, h.mu);
    if (h.teedev) rc = -EBUSY;
    else {
      h.kref.set(1);
      h.shuttingDown = false;
      h.teedev = teedev;
      h.pool = pool;
      rc = 0;
    }
    if (locked) yield* h.mu.unlockPreempt();
  } else rc = allocDmaHeap(teedev, id, pool);
  if (rc) {
    teeDevicePut(teedev);
    if (teedev.sim.trace.listening)
      teedev.sim.trace.emit("kernel", "dev_err", {
        msg: `can't register DMA heap id ${id} (${heapId2Name(id)})`,
      });
  }
  return rc;
}

/** tee_device_put_all_dma_heaps(teedev) */
export function* teeDevicePutAllDmaHeaps(teedev: TeeDevice): Sleeps {
  for (const h of teeSubsysOf(teedev.kernel).heaps.values()) {
    const locked = yield* lockMaybeBoot(teedev.sim, h.mu);
    if (h.teedev === teedev && !h.shuttingDown) {
      h.shuttingDown = true;
      yield* putTeeHeap(h);
    }
    if (locked) yield* h.mu.unlockPreempt();
  }
}

/**
 * tee_heap_update_from_dma_buf(): −EINVAL unless the dma-buf is from a TEE heap of this device;
 * sets shm->size and lets the pool fill in the physical address or name the parent shm.
 */
export function teeHeapUpdateFromDmaBuf(
  teedev: TeeDevice,
  dmabuf: DmaBuf,
  shm: TeeShm,
): { offset: number; parentShm: TeeShm | null } | number {
  if (dmabuf.ops !== TEE_HEAP_BUF_OPS) return -EINVAL;
  const buf = dmabuf.priv as TeeHeapBuffer;
  if (buf.heap.teedev !== teedev) return -EINVAL;
  shm.size = buf.size;
  const pool = buf.heap.pool!;
  const parent = { shm: null as TeeShm | null };
  const rc = pool.ops.updateShm(pool, buf.table, buf.offs, shm, parent);
  if (rc) return rc;
  return { offset: parent.shm ? buf.offs : 0, parentShm: parent.shm };
}
