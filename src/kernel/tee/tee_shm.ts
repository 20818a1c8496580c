/**
 * struct tee_shm and what this model needs of drivers/tee/tee_shm.c: tee_shm_alloc_dma_mem() (a
 * dma_alloc_pages() buffer the TEE can be given, TEE_SHM_DMA_MEM), tee_shm_register_fd() (a tee_shm
 * over a dma-buf of a TEE heap, TEE_SHM_DMA_BUF, holding a dma-buf reference), tee_shm_get_fd() and
 * the tee_shm file (mmap of a registered dma-buf is refused), tee_shm_put() → tee_shm_release().
 *
 * The refcount is a sim refcount_t; tee_shm_put() takes teedev->mutex around the final decrement and
 * the IDR removal, as upstream does. The other kinds of tee_shm (pool, user-registered) are not modelled.
 */
import { EINVAL, ENOMEM } from "../../abi/uapi/errno.ts";
import { O_RDWR } from "../../abi/uapi/fcntl.ts";
import { Refcount } from "../../sim/refcount.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { dmaAllocPages, dmaFreePages, type DmaPages } from "../dma/mapping.ts";
import { dmaBufGet, dmaBufPut, type DmaBuf } from "../dma-buf/dma_buf.ts";
import type { FilesStruct } from "../fs/fdtable.ts";
import { allocFilePseudo, type File, type FileOperations } from "../fs/file.ts";
import { reject, type TaskStruct } from "../fs/task.ts";
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

let nextShmSerial = 0;

/** struct tee_shm, with the tails of struct tee_shm_dma_mem and struct tee_shm_dmabuf_ref. */
export class TeeShm {
  readonly serial = ++nextShmSerial;
  readonly refcount: Refcount;
  id = -1;
  flags: number;
  paddr = 0;
  size = 0;
  /** The secure world's ID: the FF-A global handle once lent or shared. */
  secWorldId = 0n;
  /** tee_shm_dma_mem: the pages dma_alloc_pages() gave. */
  dmaMem: DmaPages | null = null;
  /** tee_shm_dmabuf_ref: the dma-buf, its offset in the parent, and the parent (dynamic pools). */
  dmabuf: DmaBuf | null = null;
  offset = 0;
  parentShm: TeeShm | null = null;

  constructor(
    readonly ctx: TeeContext,
    flags: number,
  ) {
    this.flags = flags;
    this.refcount = new Refcount(ctx.teedev.sim, `tee_shm#${this.serial}`, 1);
  }
}

/**
 * tee_shm_alloc_dma_mem(ctx, page_count): dma_alloc_pages() on the TEE device. Any failure is
 * −ENOMEM (−EINVAL when the device is going away).
 */
export function* teeShmAllocDmaMem(ctx: TeeContext, pageCount: number): Sleeps<TeeShm | number> {
  const teedev = ctx.teedev;
  if (!teeDeviceGet(teedev)) return -EINVAL;
  const pages = yield* dmaAllocPages(teedev.kernel.mm, pageCount * 4096, GFP_KERNEL, null);
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
    if (shm.dmabuf) yield* dmaBufPut(shm.dmabuf);
    shm.dmabuf = null;
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
  if (locked) teedev.mutex.unlock();
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
      if (locked) teedev.mutex.unlock();
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
