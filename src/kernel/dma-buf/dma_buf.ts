/**
 * dma-buf: buffers shared between drivers and user space — drivers/dma-buf/dma-buf.c.
 *
 * dma_buf_export() wraps an exporter's buffer (ops + priv) in a struct dma_buf backed by a pseudo
 * file ("dmabuf"); the file's f_count is the buffer's reference count: every fd (dma_buf_fd()), every
 * user mapping and every kernel reference (get_dma_buf(), dma_buf_get()) holds one, and the last
 * fput() releases the buffer through the exporter's ->release. db_list (the debugfs list of live
 * buffers) is `DmaBufList.live`, so a test can ask whether any buffer leaked.
 *
 * Not modelled: dma_resv fences and poll, vmap, sync files (DMA_BUF_IOCTL_EXPORT/IMPORT_SYNC_FILE
 * answer −ENOTTY, as in a kernel without CONFIG_SYNC_FILE), dynamic importers (pin/move_notify).
 * dma_buf_export() does not require map_dma_buf/unmap_dma_buf: no device imports buffers here yet.
 */
import { EBADF, EFAULT, EINVAL, ENOTTY } from "../../abi/uapi/errno.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_NAME_LEN,
  DMA_BUF_SET_NAME_A,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_SIZE,
  DMA_BUF_SYNC_VALID_FLAGS_MASK,
  DMA_BUF_SYNC_WRITE,
  decodeDmaBufSync,
} from "../../abi/uapi/dma_buf.ts";
import { O_ACCMODE, O_NONBLOCK } from "../../abi/uapi/fcntl.ts";
import { ioctlHex } from "../../abi/uapi/ioctl.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { fail } from "../../sim/assert.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import {
  allocFilePseudo,
  fput,
  getFile,
  type File,
  type FileOperations,
  type FileTable,
} from "../fs/file.ts";
import type { FilesStruct } from "../fs/fdtable.ts";
import type { Vma } from "../fs/mmap.ts";
import { reject, type TaskStruct } from "../fs/task.ts";
import { copyFromUser, type UserPtr } from "../fs/uaccess.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** enum dma_data_direction — include/linux/dma-direction.h. */
export const DMA_BIDIRECTIONAL = 0;
export const DMA_TO_DEVICE = 1;
export const DMA_FROM_DEVICE = 2;

/** struct dma_buf_attachment: a device attached to the buffer. */
export interface DmaBufAttachment {
  readonly dmabuf: DmaBuf;
  /** The importing device, by bus-master name ("video-decoder", "display"). */
  readonly dev: string;
  priv: unknown;
}

/** struct dma_buf_ops: what the exporter provides. Results are 0 or −errno. */
export interface DmaBufOps {
  /** The last reference went: free the backing storage. */
  release(dmabuf: DmaBuf): Sleeps<void>;
  /** Map the buffer into a user VMA (remap_pfn_range); without it, mmap is −EINVAL. */
  mmap?(dmabuf: DmaBuf, vma: Vma): Sleeps<number>;
  beginCpuAccess?(dmabuf: DmaBuf, direction: number): Sleeps<number>;
  endCpuAccess?(dmabuf: DmaBuf, direction: number): Sleeps<number>;
  attach?(dmabuf: DmaBuf, attachment: DmaBufAttachment): Sleeps<number>;
  detach?(dmabuf: DmaBuf, attachment: DmaBufAttachment): Sleeps<void>;
}

/** struct dma_buf_export_info */
export interface DmaBufExportInfo {
  /** exp_name: the exporter ("system", "protected,secure-video"). */
  readonly expName: string;
  readonly ops: DmaBufOps;
  /** Bytes; a multiple of PAGE_SIZE for heap buffers. */
  readonly size: number;
  /** Open flags of the buffer's file (O_ACCMODE, O_CLOEXEC, O_NONBLOCK). */
  readonly flags: number;
  readonly priv: unknown;
}

/** db_list and the counters a report or a leak check reads. */
export class DmaBufList implements Snapshottable {
  readonly live = new Set<DmaBuf>();
  exported = 0;
  released = 0;
  #nextIno = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextIno = saved.nextIno as number;
    }
    return { nextIno: this.#nextIno };
  }

  constructor(
    readonly sim: Sim,
    readonly files: FileTable,
  ) {}

  /** The dmabuf inode number: unique per buffer (dma_buf_getfile()'s atomic counter). */
  nextIno(): number {
    return ++this.#nextIno;
  }

  /** Bytes held by live buffers. */
  liveBytes(): number {
    let n = 0;
    for (const b of this.live) n += b.size;
    return n;
  }
}

export class DmaBuf {
  readonly ino: number;
  readonly size: number;
  readonly expName: string;
  readonly ops: DmaBufOps;
  readonly priv: unknown;
  /** The buffer's file; its f_count is the buffer's reference count. */
  readonly file: File;
  readonly attachments = new Set<DmaBufAttachment>();
  /** DMA_BUF_SET_NAME */
  name: string | null = null;

  constructor(
    readonly list: DmaBufList,
    exp: DmaBufExportInfo,
  ) {
    this.ino = list.nextIno();
    this.size = exp.size;
    this.expName = exp.expName;
    this.ops = exp.ops;
    this.priv = exp.priv;
    this.file = allocFilePseudo(list.files, "dmabuf", DMA_BUF_FOPS, exp.flags, this);
    // dma_buf_getfile(): f_flags keep only the access mode and O_NONBLOCK.
    this.file.fFlags = exp.flags & (O_ACCMODE | O_NONBLOCK);
  }

  /** file_count(dmabuf->file): references held (fds, mappings, kernel). */
  get refs(): number {
    return this.file.fCount.read();
  }
}

/** dma_buf_export(): a new buffer holding one file reference, or −EINVAL (WARN) for bad export info. */
export function dmaBufExport(list: DmaBufList, exp: DmaBufExportInfo): DmaBuf | number {
  if (!exp.priv || !exp.ops || !exp.ops.release) {
    list.sim.kernelWarn("WARN", "dma_buf_export: !exp_info->priv || !exp_info->ops || !ops->release");
    return -EINVAL;
  }
  const b = new DmaBuf(list, exp);
  list.live.add(b);
  list.exported++;
  if (list.sim.trace.listening)
    list.sim.trace.emit("kernel", "dma_buf_export", { ino: b.ino, exp_name: b.expName, size: b.size });
  return b;
}

/** dma_buf_fd(dmabuf, flags): installs the buffer's file reference in a new descriptor; fd or −errno. */
export function dmaBufFd(dmabuf: DmaBuf, flags: number, files: FilesStruct): number {
  const fd = files.getUnusedFdFlags(flags);
  if (fd < 0) return fd;
  files.fdInstall(fd, dmabuf.file);
  return fd;
}

/** is_dma_buf_file() */
export function isDmaBufFile(file: File): boolean {
  return file.fOp === DMA_BUF_FOPS;
}

/** dma_buf_get(fd): the buffer with a reference taken, −EBADF, or −EINVAL for a file that is not one. */
export function dmaBufGet(files: FilesStruct, fd: number): DmaBuf | number {
  const file = files.lookup(fd);
  if (!file) return -EBADF;
  if (!isDmaBufFile(file)) return -EINVAL;
  getFile(file);
  return file.privateData as DmaBuf;
}

/** get_dma_buf(): one more kernel reference. */
export function getDmaBuf(dmabuf: DmaBuf): void {
  getFile(dmabuf.file);
}

/** dma_buf_put(): drops a reference; the last one releases the buffer. */
export function* dmaBufPut(dmabuf: DmaBuf): Sleeps {
  yield* fput(dmabuf.file);
}

/** dma_buf_attach(): adds a device to the buffer's attachments; the attachment or −errno. */
export function* dmaBufAttach(dmabuf: DmaBuf, dev: string): Sleeps<DmaBufAttachment | number> {
  const a: DmaBufAttachment = { dmabuf, dev, priv: null };
  if (dmabuf.ops.attach) {
    const rc = yield* dmabuf.ops.attach(dmabuf, a);
    if (rc < 0) return rc;
  }
  dmabuf.attachments.add(a);
  return a;
}

/** dma_buf_detach() */
export function* dmaBufDetach(dmabuf: DmaBuf, a: DmaBufAttachment): Sleeps {
  if (!dmabuf.attachments.delete(a)) fail(`dma_buf_detach of an attachment not on ${dmabuf.ino}`);
  if (dmabuf.ops.detach) yield* dmabuf.ops.detach(dmabuf, a);
}

/** dma_buf_begin_cpu_access(): the exporter's hook if it has one, else nothing to do. */
export function* dmaBufBeginCpuAccess(dmabuf: DmaBuf, direction: number): Sleeps<number> {
  return dmabuf.ops.beginCpuAccess ? yield* dmabuf.ops.beginCpuAccess(dmabuf, direction) : 0;
}

/** dma_buf_end_cpu_access() */
export function* dmaBufEndCpuAccess(dmabuf: DmaBuf, direction: number): Sleeps<number> {
  return dmabuf.ops.endCpuAccess ? yield* dmabuf.ops.endCpuAccess(dmabuf, direction) : 0;
}

/** dma_buf_ioctl(): DMA_BUF_IOCTL_SYNC and DMA_BUF_SET_NAME; anything else is −ENOTTY. */
function* dmaBufIoctl(file: File, cmd: number, arg: UserPtr, current: TaskStruct): Sleeps<number> {
  const dmabuf = file.privateData as DmaBuf;
  switch (cmd) {
    case DMA_BUF_IOCTL_SYNC: {
      const k = new Uint8Array(DMA_BUF_SYNC_SIZE);
      if (copyFromUser(k, arg, DMA_BUF_SYNC_SIZE) !== 0)
        return reject(current, EFAULT, "uaccess", "struct dma_buf_sync not readable");
      const flags = decodeDmaBufSync(k).flags;
      if ((flags & ~DMA_BUF_SYNC_VALID_FLAGS_MASK) !== 0n)
        return reject(
          current,
          EINVAL,
          "dma-buf-sync-flags",
          `flags 0x${flags.toString(16)} outside the mask`,
        );
      const rw = flags & DMA_BUF_SYNC_RW;
      if (rw === 0n) return reject(current, EINVAL, "dma-buf-sync-rw", "neither SYNC_READ nor SYNC_WRITE");
      const dir =
        rw === DMA_BUF_SYNC_READ
          ? DMA_FROM_DEVICE
          : rw === DMA_BUF_SYNC_WRITE
            ? DMA_TO_DEVICE
            : DMA_BIDIRECTIONAL;
      return (flags & DMA_BUF_SYNC_END) !== 0n
        ? yield* dmaBufEndCpuAccess(dmabuf, dir)
        : yield* dmaBufBeginCpuAccess(dmabuf, dir);
    }
    case DMA_BUF_SET_NAME_A:
    case DMA_BUF_SET_NAME_B: {
      // strndup_user(arg, DMA_BUF_NAME_LEN): the model's user pointer is the name's bytes.
      const k = new Uint8Array(DMA_BUF_NAME_LEN);
      const short = copyFromUser(k, arg, DMA_BUF_NAME_LEN);
      const end = k.indexOf(0);
      if (end < 0 && short === 0)
        return reject(current, EINVAL, "dma-buf-name-len", "name not NUL-terminated in 32 bytes");
      if (end < 0) return reject(current, EFAULT, "uaccess", "name not readable");
      dmabuf.name = new TextDecoder().decode(k.subarray(0, end));
      return 0;
    }
    default:
      return reject(current, ENOTTY, "dma-buf-ioctl-unknown", `dma-buf has no ioctl ${ioctlHex(cmd)}`);
  }
}

/** dma_buf_mmap_internal(): −EINVAL without exporter mmap or past the buffer's end. */
function* dmaBufMmapInternal(file: File, vma: Vma, current: TaskStruct): Sleeps<number> {
  const dmabuf = file.privateData as DmaBuf;
  if (!dmabuf.ops.mmap)
    return reject(current, EINVAL, "dma-buf-no-mmap", `exporter ${dmabuf.expName} has no mmap`);
  if (vma.pgoff + vma.pages > Math.floor(dmabuf.size / PAGE_SIZE))
    return reject(
      current,
      EINVAL,
      "dma-buf-mmap-range",
      `pages ${vma.pgoff}+${vma.pages} past ${dmabuf.size} bytes`,
    );
  return yield* dmabuf.ops.mmap(dmabuf, vma);
}

/** dma_buf_file_release() + dma_buf_release(): off db_list, then the exporter's ->release. */
function* dmaBufRelease(_inode: unknown, file: File): Sleeps {
  const dmabuf = file.privateData as DmaBuf;
  const list = dmabuf.list;
  if (!list.live.delete(dmabuf)) fail(`dma_buf ${dmabuf.ino} released twice`);
  if (dmabuf.attachments.size > 0)
    list.sim.kernelWarn(
      "WARN",
      `dma_buf_release: ${dmabuf.attachments.size} attachments left (WARN_ON(!list_empty(&dmabuf->attachments)))`,
    );
  yield* dmabuf.ops.release(dmabuf);
  list.released++;
  if (list.sim.trace.listening)
    list.sim.trace.emit("kernel", "dma_buf_release", {
      ino: dmabuf.ino,
      exp_name: dmabuf.expName,
      size: dmabuf.size,
    });
}

/** dma_buf_fops */
export const DMA_BUF_FOPS: FileOperations = {
  name: "dmabuf",
  unlockedIoctl: dmaBufIoctl,
  mmap: dmaBufMmapInternal,
  release: dmaBufRelease,
};
