/**
 * The dma-heap framework — drivers/dma-buf/dma-heap.c.
 *
 * dma_heap_add() registers a heap as the character device /dev/dma_heap/<name> (one of
 * NUM_HEAP_MINORS minors); opening it gives a file whose only ioctl is DMA_HEAP_IOCTL_ALLOC.
 * dma_heap_ioctl() dispatches on _IOC_NR alone (the type byte is never checked, a number past the
 * command table is −EINVAL) and copies the user's struct with the user's size: `in_size` bytes in,
 * zero-filled up to the kernel's struct size, `out_size` bytes back out — so older (shorter) and
 * newer (longer) struct layouts both work. Heaps cannot be removed.
 */
import { EBUSY, EFAULT, EINVAL, ENOTTY } from "../../abi/uapi/errno.ts";
import {
  DMA_HEAP_ALLOCATION_DATA_OFFSETS,
  DMA_HEAP_IOCTL_ALLOC,
  DMA_HEAP_VALID_FD_FLAGS,
  DMA_HEAP_VALID_HEAP_FLAGS,
  decodeDmaHeapAllocationData,
} from "../../abi/uapi/dma_heap.ts";
import { _IOC_NR, _IOC_SIZE, IOC_IN, IOC_OUT, ioctlHex } from "../../abi/uapi/ioctl.ts";
import { putUnalignedLe32 } from "../../abi/unaligned.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import type { File, FileOperations, Inode } from "../fs/file.ts";
import { reject, type TaskStruct } from "../fs/task.ts";
import { copyFromUser, copyToUser, type UserPtr } from "../fs/uaccess.ts";
import type { Vfs } from "../fs/vfs.ts";
import { dmaBufFd, dmaBufPut, type DmaBuf } from "./dma_buf.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** NUM_HEAP_MINORS: the most heaps a system can have. */
export const NUM_HEAP_MINORS = 128;

/** Where heaps appear: dma_heap_devnode() → "dma_heap/%s" under /dev. */
export const DMA_HEAP_DIR = "/dev/dma_heap";

/** struct dma_heap_ops */
export interface DmaHeapOps {
  /**
   * ->allocate(heap, len, fd_flags, heap_flags): a new dma-buf, or −errno. `len` is already
   * PAGE_ALIGNed and non-zero. The call may sleep.
   */
  allocate(heap: DmaHeap, len: number, fdFlags: number, heapFlags: bigint): Sleeps<DmaBuf | number>;
}

/** struct dma_heap_export_info */
export interface DmaHeapExportInfo {
  readonly name: string;
  readonly ops: DmaHeapOps;
  readonly priv: unknown;
}

/** struct dma_heap */
export class DmaHeap {
  /** Buffers allocated through this heap so far, and allocation failures. */
  allocations = 0;
  failures = 0;

  constructor(
    readonly name: string,
    readonly ops: DmaHeapOps,
    readonly priv: unknown,
    readonly minor: number,
  ) {}

  get path(): string {
    return `${DMA_HEAP_DIR}/${this.name}`;
  }
}

/** dma_heap_get_drvdata() */
export function dmaHeapGetDrvdata<T>(heap: DmaHeap): T {
  return heap.priv as T;
}

/** dma_heap_get_name() */
export function dmaHeapGetName(heap: DmaHeap): string {
  return heap.name;
}

/** heap_list and the dma_heap_minors xarray. */
export class DmaHeaps implements Snapshottable {
  readonly list: DmaHeap[] = [];
  readonly #minors: (DmaHeap | null)[] = new Array<DmaHeap | null>(NUM_HEAP_MINORS).fill(null);

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { minors: this.#minors };
  }

  constructor(
    readonly sim: Sim,
    readonly vfs: Vfs,
  ) {}

  byName(name: string): DmaHeap | null {
    return this.list.find((h) => h.name === name) ?? null;
  }

  /** xa_alloc() in [0, NUM_HEAP_MINORS): the lowest free minor, or −EBUSY. */
  allocMinor(heap: DmaHeap | null): number {
    const m = this.#minors.indexOf(null);
    if (m < 0) return -EBUSY;
    this.#minors[m] = heap;
    return m;
  }

  setMinor(m: number, heap: DmaHeap | null): void {
    this.#minors[m] = heap;
  }
}

/**
 * dma_heap_add(): a registered heap, or −errno: −EINVAL without a name or an allocate op, −EBUSY
 * when all NUM_HEAP_MINORS minors are taken, −EEXIST when the name is taken (device_create() fails
 * on the duplicate device name before the list's own uniqueness check, which would say −EINVAL).
 */
export function dmaHeapAdd(heaps: DmaHeaps, exp: DmaHeapExportInfo): DmaHeap | number {
  const pr = (msg: string): void => {
    if (heaps.sim.trace.listening) heaps.sim.trace.emit("kernel", "pr_err", { msg });
  };
  if (!exp.name) {
    pr("dma_heap: Cannot add heap without a name");
    return -EINVAL;
  }
  if (!exp.ops || !exp.ops.allocate) {
    pr("dma_heap: Cannot add heap with invalid ops struct");
    return -EINVAL;
  }
  const minor = heaps.allocMinor(null);
  if (minor < 0) {
    pr("dma_heap: Unable to get minor number for heap");
    return minor;
  }
  const heap = new DmaHeap(exp.name, exp.ops, exp.priv, minor);
  const node = heaps.vfs.registerDevice(heap.path, DMA_HEAP_FOPS, heap);
  if (typeof node === "number") {
    pr("dma_heap: Unable to create device");
    heaps.setMinor(minor, null);
    return node;
  }
  heaps.setMinor(minor, heap);
  heaps.list.unshift(heap); // list_add(): newest first
  return heap;
}

/** dma_heap_open(): the file's private_data is the heap. It never sleeps; ->open may in other drivers. */
// eslint-disable-next-line require-yield
function* dmaHeapOpen(inode: Inode, file: File, _current: TaskStruct): Sleeps<number> {
  file.privateData = inode.iPrivate as DmaHeap;
  return 0;
}

/** dma_heap_buffer_alloc(): PAGE_ALIGN(len), allocate, install the fd. fd or −errno. */
function* dmaHeapBufferAlloc(
  current: TaskStruct,
  heap: DmaHeap,
  len: bigint,
  fdFlags: number,
  heapFlags: bigint,
): Sleeps<number> {
  // PAGE_ALIGN on a size_t: wraps to 0 near 2^64.
  const aligned = BigInt.asUintN(64, (len + BigInt(PAGE_SIZE - 1)) & ~BigInt(PAGE_SIZE - 1));
  if (aligned === 0n) return reject(current, EINVAL, "dma-heap-len-zero", `len ${len} page-aligns to 0`);
  const r = yield* heap.ops.allocate(heap, Number(aligned), fdFlags, heapFlags);
  if (typeof r === "number") {
    heap.failures++;
    return reject(current, -r, "dma-heap-allocate", `heap ${heap.name} could not allocate ${aligned} bytes`);
  }
  heap.allocations++;
  const fd = dmaBufFd(r, fdFlags, current.files);
  if (fd < 0) {
    yield* dmaBufPut(r); // "just return, as put will call release and that will free"
    return reject(current, -fd, "fd-table-full", `RLIMIT_NOFILE is ${current.files.rlimitNofile}`);
  }
  return fd;
}

/** dma_heap_ioctl_allocate(): checks the struct's fields, allocates, writes the fd back. */
function* dmaHeapIoctlAllocate(current: TaskStruct, file: File, kdata: Uint8Array): Sleeps<number> {
  const heap = file.privateData as DmaHeap;
  const d = decodeDmaHeapAllocationData(kdata);
  if (d.fd !== 0) return reject(current, EINVAL, "dma-heap-fd-nonzero", `fd field is ${d.fd}, must be 0`);
  if ((d.fd_flags & ~DMA_HEAP_VALID_FD_FLAGS) !== 0)
    return reject(
      current,
      EINVAL,
      "dma-heap-fd-flags",
      `fd_flags 0x${(d.fd_flags >>> 0).toString(16)} outside DMA_HEAP_VALID_FD_FLAGS (O_CLOEXEC|O_ACCMODE)`,
    );
  if ((d.heap_flags & ~DMA_HEAP_VALID_HEAP_FLAGS) !== 0n)
    return reject(
      current,
      EINVAL,
      "dma-heap-heap-flags",
      `heap_flags 0x${d.heap_flags.toString(16)} outside DMA_HEAP_VALID_HEAP_FLAGS (none)`,
    );
  const fd = yield* dmaHeapBufferAlloc(current, heap, d.len, d.fd_flags, d.heap_flags);
  if (fd < 0) return fd;
  putUnalignedLe32(fd, kdata, DMA_HEAP_ALLOCATION_DATA_OFFSETS.fd);
  return 0;
}

/** dma_heap_ioctl_cmds[] */
const DMA_HEAP_IOCTL_CMDS: readonly number[] = [DMA_HEAP_IOCTL_ALLOC];

/** dma_heap_ioctl() */
function* dmaHeapIoctl(file: File, ucmd: number, arg: UserPtr, current: TaskStruct): Sleeps<number> {
  const nr = _IOC_NR(ucmd);
  if (nr >= DMA_HEAP_IOCTL_CMDS.length)
    return reject(
      current,
      EINVAL,
      "dma-heap-ioctl-nr",
      `ioctl ${ioctlHex(ucmd)}: nr ${nr} is past the command table`,
    );
  const kcmd = DMA_HEAP_IOCTL_CMDS[nr];
  const drvSize = _IOC_SIZE(kcmd);
  let outSize = _IOC_SIZE(ucmd);
  let inSize = outSize;
  if ((ucmd & kcmd & IOC_IN) === 0) inSize = 0;
  if ((ucmd & kcmd & IOC_OUT) === 0) outSize = 0;
  const ksize = Math.max(inSize, outSize, drvSize);
  // kdata is zeroed: "zero out any difference between the kernel/user structure size".
  const kdata = new Uint8Array(ksize);
  if (copyFromUser(kdata, arg, inSize) !== 0)
    return reject(current, EFAULT, "uaccess", `ioctl ${ioctlHex(ucmd)}: cannot read ${inSize} bytes`);
  kdata.fill(0, inSize);
  let ret: number;
  switch (kcmd) {
    case DMA_HEAP_IOCTL_ALLOC:
      ret = yield* dmaHeapIoctlAllocate(current, file, kdata);
      break;
    default:
      return reject(current, ENOTTY, "dma-heap-ioctl-kcmd", `no handler for ${ioctlHex(kcmd)}`);
  }
  if (copyToUser(arg, kdata, outSize) !== 0)
    ret = reject(current, EFAULT, "uaccess", `ioctl ${ioctlHex(ucmd)}: cannot write ${outSize} bytes back`);
  return ret;
}

/** dma_heap_fops */
export const DMA_HEAP_FOPS: FileOperations = {
  name: "dma_heap",
  open: dmaHeapOpen,
  unlockedIoctl: dmaHeapIoctl,
};
