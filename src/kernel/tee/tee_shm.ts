/**
 * struct tee_shm and what this model needs of drivers/tee/tee_shm.c (torvalds/linux v6.18):
 * - tee_shm_alloc_kernel_buf() / tee_shm_alloc_priv_buf() → shm_alloc_helper(): a TEE_SHM_POOL shm
 *   from the device's pool (teedev->pool->ops->alloc); the OP-TEE FF-A pool's alloc is
 *   tee_dyn_shm_alloc_helper(): alloc_pages_exact(GFP_KERNEL | __GFP_ZERO), then the driver's
 *   shm_register (FFA_MEM_SHARE); tee_shm_free() = tee_shm_put(), whose release gives it back
 *   through pool->ops->free → tee_dyn_shm_free_helper() (the driver's shm_unregister, then the pages);
 * - tee_shm_alloc_dma_mem() (a dma_alloc_pages() buffer the TEE can be given, TEE_SHM_DMA_MEM);
 * - tee_shm_register_fd() (a tee_shm over a dma-buf of a TEE heap, TEE_SHM_DMA_BUF, holding a dma-buf
 *   reference), tee_shm_get_fd() and the tee_shm file (mmap of a registered dma-buf is refused);
 * - tee_shm_put() → tee_shm_release().
 *
 * The refcount is a sim refcount_t; tee_shm_put() takes teedev->mutex around the final decrement and
 * the IDR removal, as upstream does. User-registered shms (tee_shm_register_user_buf()) and
 * tee_shm_alloc_user_buf() are not modelled. alloc_pages_exact()'s trimming of the block's tail
 * (make_alloc_exact()) is not modelled: the block is kept whole (every shm here is one page).
 */
import { EINVAL, ENOMEM } from "../../abi/uapi/errno.ts";
import { O_RDWR } from "../../abi/uapi/fcntl.ts";
import { Refcount } from "../../sim/refcount.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { dmaAllocPages, dmaFreePages, type DmaPages } from "../dma/mapping.ts";
import { dmaBufGet, dmaBufPut, type DmaBuf } from "../dma-buf/dma_buf.ts";
import type { FilesStruct } from "../fs/fdtable.ts";
import { allocFilePseudo, type File, type FileOperations } from "../fs/file.ts";
import { reject, type TaskStruct } from "../fs/task.ts";
import { noteBootPagesFreed } from "../kernel.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import {
  teedevCtxGet,
  teedevCtxPut,
  teeDeviceGet,
  teeDevicePut,
  lockMaybeBoot,
  type TeeContext,
  type TeeDevice,
} from "./tee_core.ts";
import { teeHeapUpdateFromDmaBuf } from "./tee_heap.ts";

/** TEE_SHM_* flags — include/linux/tee_core.h. */
export const TEE_SHM_DYNAMIC = 1 << 0;
export const TEE_SHM_USER_MAPPED = 1 << 1;
export const TEE_SHM_POOL = 1 << 2;
export const TEE_SHM_PRIV = 1 << 3;
export const TEE_SHM_DMA_BUF = 1 << 4;
export const TEE_SHM_DMA_MEM = 1 << 5;

/** struct tee_shm, with the tails of struct tee_shm_dma_mem and struct tee_shm_dmabuf_ref. */
export class TeeShm {
  /** Numbers the device's shms in allocation order (names, and smc_shm.ts's pointer values). */
  readonly serial: number;
  readonly refcount: Refcount;
  id = -1;
  flags: number;
  paddr = 0;
  size = 0;
  /** The secure world's ID: the FF-A global handle once lent or shared. */
  secWorldId = 0n;
  /** tee_shm_dma_mem: the pages dma_alloc_pages() gave. */
  dmaMem: DmaPages | null = null;
  /** shm->pages of a pool shm: the first frame and the order of the block alloc_pages_exact() took. */
  pagesFrame = -1;
  pagesOrder = 0;
  /** The page state of a block taken while the kernel booted (quiesce-clean's baseline), else −1. */
  bootPagesState = -1;
  numPages = 0;
  /** tee_shm_dmabuf_ref: the dma-buf, its offset in the parent, and the parent (dynamic pools). */
  dmabuf: DmaBuf | null = null;
  offset = 0;
  parentShm: TeeShm | null = null;

  constructor(
    readonly ctx: TeeContext,
    flags: number,
  ) {
    this.flags = flags;
    this.serial = ++ctx.teedev.shmSerial;
    this.refcount = new Refcount(ctx.teedev.sim, `tee_shm#${this.serial}`, 1);
  }
}

/** struct tee_shm_pool_ops: alloc(pool, shm, size, align), free(pool, shm), destroy_pool(pool). */
export interface TeeShmPoolOps {
  alloc(pool: TeeShmPool, shm: TeeShm, size: number, align: number): Sleeps<number>;
  free(pool: TeeShmPool, shm: TeeShm): Sleeps;
  destroyPool?(pool: TeeShmPool): void;
}

/** struct tee_shm_pool */
export interface TeeShmPool {
  readonly ops: TeeShmPoolOps;
}

/** tee_shm_pool_free(): "There must be no remaining shared memory allocated from this pool". */
export function teeShmPoolFree(pool: TeeShmPool): void {
  pool.ops.destroyPool?.(pool);
}

/**
 * shm_alloc_helper(ctx, size, align, flags, id): the device's pool allocates; −EINVAL when the device
 * is going away or has no pool ("teedev has been detached from driver"), else the pool's errno.
 */
function* shmAllocHelper(
  ctx: TeeContext,
  size: number,
  align: number,
  flags: number,
  id: number,
): Sleeps<TeeShm | number> {
  const teedev = ctx.teedev;
  if (!teeDeviceGet(teedev)) return -EINVAL;
  if (!teedev.pool) {
    teeDevicePut(teedev);
    return -EINVAL;
  }
  const shm = new TeeShm(ctx, flags);
  shm.id = id;
  const rc = yield* teedev.pool.ops.alloc(teedev.pool, shm, size, align);
  if (rc) {
    teeDevicePut(teedev);
    return rc;
  }
  teedevCtxGet(ctx);
  return shm;
}

/** tee_shm_alloc_kernel_buf(ctx, size): TEE_SHM_DYNAMIC | TEE_SHM_POOL, page aligned, registered. */
export function* teeShmAllocKernelBuf(ctx: TeeContext, size: number): Sleeps<TeeShm | number> {
  return yield* shmAllocHelper(ctx, size, 4096, TEE_SHM_DYNAMIC | TEE_SHM_POOL, -1);
}

/**
 * tee_shm_alloc_priv_buf(ctx, size): TEE_SHM_PRIV | TEE_SHM_POOL, aligned to 2 * sizeof(long). "might
 * not be registered in secure world in case the driver supports passing memory not registered in
 * advance" — the FF-A driver's pool shares it all the same (optee_ffa_shm_register()).
 */
export function* teeShmAllocPrivBuf(ctx: TeeContext, size: number): Sleeps<TeeShm | number> {
  return yield* shmAllocHelper(ctx, size, 16, TEE_SHM_PRIV | TEE_SHM_POOL, -1);
}

/** tee_shm_free() */
export function* teeShmFree(shm: TeeShm): Sleeps {
  yield* teeShmPut(shm);
}

/**
 * tee_dyn_shm_alloc_helper(shm, size, align, shm_register): roundup(size, PAGE_SIZE) of zeroed pages
 * (alloc_pages_exact(GFP_KERNEL | __GFP_ZERO)), then shm_register(ctx, shm, pages, nr_pages, kaddr)
 * when given; its failure frees the pages and is returned.
 */
export function* teeDynShmAllocHelper(
  shm: TeeShm,
  size: number,
  shmRegister: ((shm: TeeShm) => Sleeps<number>) | null,
): Sleeps<number> {
  const machine = shm.ctx.teedev.machine;
  const nrPages = Math.max(1, Math.ceil(size / 4096));
  const order = Math.ceil(Math.log2(nrPages));
  const mm = shm.ctx.teedev.kernel.mm;
  const frame = mm.buddy.allocPages(order, GFP_KERNEL);
  if (frame < 0) return -ENOMEM;
  shm.pagesFrame = frame;
  shm.pagesOrder = order;
  if (shm.ctx.teedev.kernel.booting) shm.bootPagesState = machine.frames.state[frame];
  shm.paddr = machine.frames.paOf(frame);
  shm.size = nrPages * 4096;
  shm.numPages = nrPages;
  const costNs = machine.zeroPages(shm.paddr, shm.size); // __GFP_ZERO
  if (!elapse(costNs)) yield sleep(costNs);
  if (shmRegister) {
    const rc = yield* shmRegister(shm);
    if (rc) {
      mm.buddy.freePages(frame, order);
      shm.pagesFrame = -1;
      return rc;
    }
  }
  return 0;
}

/** tee_dyn_shm_free_helper(shm, shm_unregister): unregister (when given), then free_pages_exact(). */
export function* teeDynShmFreeHelper(
  shm: TeeShm,
  shmUnregister: ((shm: TeeShm) => Sleeps<number>) | null,
): Sleeps {
  if (shmUnregister) yield* shmUnregister(shm);
  const kernel = shm.ctx.teedev.kernel;
  if (shm.pagesFrame >= 0) {
    kernel.mm.buddy.freePages(shm.pagesFrame, shm.pagesOrder);
    // Taken while booting, freed after: the boot state's memory given back (quiesce-clean).
    if (shm.bootPagesState >= 0 && !kernel.booting)
      noteBootPagesFreed(kernel.mm, shm.bootPagesState, 1 << shm.pagesOrder);
  }
  shm.pagesFrame = -1;
}

/** The cpu-ns master index (the kernel's accesses to shm memory through its linear map). */
function cpuNs(shm: TeeShm): number {
  return shm.ctx.teedev.machine.masterIndex("cpu-ns");
}

/** A kernel store into the shm at `offs` (through tee_shm_get_va()); the machine's access code. */
export function teeShmWrite(shm: TeeShm, offs: number, bytes: Uint8Array): number {
  if (offs < 0 || offs + bytes.length > shm.size) return -EINVAL;
  return shm.ctx.teedev.machine.writeBytes(cpuNs(shm), shm.paddr + offs, bytes, { kernel: true });
}

/** A kernel load from the shm at `offs`. */
export function teeShmRead(shm: TeeShm, offs: number, length: number): Uint8Array {
  return shm.ctx.teedev.machine.readBytes(cpuNs(shm), shm.paddr + offs, length, { kernel: true }).bytes;
}

/**
 * tee_shm_alloc_dma_mem(ctx, page_count): dma_alloc_pages() on the TEE device. Any failure is
 * −ENOMEM (−EINVAL when the device is going away).
 */
export function* teeShmAllocDmaMem(
  ctx: TeeContext,
  pageCount: number,
  /** The policies' pools only: a CMA alignment (log2 pages) the chunk must have (mapping.ts). */
  minAlignOrder = 0,
): Sleeps<TeeShm | number> {
  const teedev = ctx.teedev;
  if (!teeDeviceGet(teedev)) return -EINVAL;
  const pages = yield* dmaAllocPages(
    teedev.kernel.mm,
    pageCount * 4096,
    GFP_KERNEL,
    null,
    teedev.dmaMaskBits,
    minAlignOrder,
  );
  if (!pages) {
    teeDevicePut(teedev);
    return -ENOMEM;
  }
  const shm = new TeeShm(ctx, TEE_SHM_DMA_MEM);
  shm.paddr = pages.pa;
  shm.dmaMem = pages;
  shm.size = pageCount * 4096;
  teedevCtxGet(ctx);
  return shm;
}

/** tee_shm_release(): frees what the kind of shm holds, then drops the context and device. */
function* teeShmRelease(teedev: TeeDevice, shm: TeeShm): Sleeps {
  if (shm.flags & TEE_SHM_DMA_MEM) {
    if (shm.dmaMem) dmaFreePages(teedev.kernel.mm, shm.dmaMem);
    shm.dmaMem = null;
  } else if (shm.flags & TEE_SHM_DMA_BUF) {
    // Planted bug `close-keeps-dmabuf` (sim/mutations.ts); correct: the reference dma_buf_get() took goes.
    if (shm.dmabuf && !teedev.sim.mutations["close-keeps-dmabuf"]) yield* dmaBufPut(shm.dmabuf);
    shm.dmabuf = null;
  } else if (shm.flags & TEE_SHM_POOL) {
    if (teedev.pool) yield* teedev.pool.ops.free(teedev.pool, shm);
  }
  teedev.shmsLive.delete(shm);
  yield* teedevCtxPut(shm.ctx);
  teeDevicePut(teedev);
}

/** tee_shm_put(): the last reference leaves the IDR under teedev->mutex, then is released. */
export function* teeShmPut(shm: TeeShm): Sleeps {
  const teedev = shm.ctx.teedev;
  let doRelease = false;
  const locked = yield* lockMaybeBoot(teedev.sim, teedev.mutex);
  if (shm.refcount.decAndTest()) {
    if (shm.id >= 0) teedev.idr.delete(shm.id);
    doRelease = true;
  }
  if (locked) yield* teedev.mutex.unlockPreempt();
  if (doRelease) yield* teeShmRelease(teedev, shm);
}

/** tee_shm_register_fd(ctx, fd): a TEE_SHM_DMA_BUF shm with an id, or −errno. */
export function* teeShmRegisterFd(ctx: TeeContext, files: FilesStruct, fd: number): Sleeps<TeeShm | number> {
  const teedev = ctx.teedev;
  if (!teeDeviceGet(teedev)) return -EINVAL;
  teedevCtxGet(ctx);
  const shm = new TeeShm(ctx, TEE_SHM_DMA_BUF);
  let rc: number;
  const dmabuf = dmaBufGet(files, fd);
  if (typeof dmabuf === "number") rc = dmabuf;
  else {
    shm.dmabuf = dmabuf;
    const r = teeHeapUpdateFromDmaBuf(teedev, dmabuf, shm);
    rc = typeof r === "number" ? r : 0;
    if (typeof r !== "number") {
      shm.offset = r.offset;
      shm.parentShm = r.parentShm;
      const locked = yield* lockMaybeBoot(teedev.sim, teedev.mutex);
      shm.id = teedev.idrAlloc(shm);
      if (locked) yield* teedev.mutex.unlockPreempt();
      if (shm.id >= 0) {
        teedev.shmsLive.add(shm);
        return shm;
      }
      rc = shm.id;
    }
    yield* dmaBufPut(dmabuf);
  }
  yield* teedevCtxPut(ctx);
  teeDevicePut(teedev);
  return rc;
}

/** tee_shm_fop_release(): the file's reference goes. */
function* teeShmFopRelease(_inode: unknown, file: File): Sleeps {
  yield* teeShmPut(file.privateData as TeeShm);
}

/** tee_shm_fop_mmap(): user-mapped and registered dma-buf shms are refused. */
// eslint-disable-next-line require-yield
function* teeShmFopMmap(file: File, _vma: unknown, current: TaskStruct): Sleeps<number> {
  const shm = file.privateData as TeeShm;
  if (shm.flags & TEE_SHM_USER_MAPPED)
    return reject(
      current,
      EINVAL,
      "tee-shm-user-mapped",
      "refuse sharing memory provided by the application",
    );
  if (shm.flags & TEE_SHM_DMA_BUF)
    return reject(
      current,
      EINVAL,
      "tee-shm-dma-buf-mmap",
      "refuse sharing registered DMA-bufs with the application",
    );
  return reject(current, EINVAL, "tee-shm-mmap-not-modelled", "pool shm mmap is not modelled");
}

export const TEE_SHM_FOPS: FileOperations = {
  name: "tee_shm",
  release: teeShmFopRelease,
  mmap: teeShmFopMmap,
};

/** tee_shm_get_fd(): a new O_RDWR fd holding one more reference, or −errno. */
export function* teeShmGetFd(shm: TeeShm, files: FilesStruct): Sleeps<number> {
  if (shm.id < 0) return -EINVAL;
  shm.refcount.inc();
  const fd = files.getUnusedFdFlags(O_RDWR);
  if (fd < 0) {
    yield* teeShmPut(shm);
    return fd;
  }
  const file = allocFilePseudo(shm.ctx.teedev.kernel.vfs.files, "tee_shm", TEE_SHM_FOPS, O_RDWR, shm);
  files.fdInstall(fd, file);
  return fd;
}
