/**
 * The TEE subsystem core — drivers/tee/tee_core.c, include/linux/tee_core.h, include/linux/tee_drv.h:
 * struct tee_device (the /dev/teeN node, its mutex, shm IDR and shm pool, num_users), struct
 * tee_context (one per open), struct tee_param, the file operations of /dev/teeN and tee_ioctl(); the
 * in-kernel client API (tee_client_*()) is in tee_client.ts. Requests: TEE_IOC_VERSION and
 * TEE_IOC_SHM_REGISTER_FD are modelled; any
 * request tee_ioctl() does not know is −EINVAL (linux-kernel.md §6). The session and shm-alloc
 * requests exist upstream but are not modelled: they answer −EINVAL with a rule saying so.
 */
import { EFAULT, EINVAL, ENXIO } from "../../abi/uapi/errno.ts";
import {
  decodeShmRegisterFdData,
  encodeShmRegisterFdData,
  encodeTeeVersionData,
  TEE_GEN_CAP_PRIVILEGED,
  TEE_IOC_SHM_REGISTER_FD,
  TEE_IOC_VERSION,
  TEE_IOCTL_SHM_REGISTER_FD_DATA_SIZE,
  TEE_IOCTL_VERSION_DATA_SIZE,
  type TeeIoctlVersionData,
} from "../../abi/uapi/tee.ts";
import { ioctlHex } from "../../abi/uapi/ioctl.ts";
import type { Machine } from "../../hw/machine.ts";
import { Mutex } from "../../sim/mutex.ts";
import { Refcount } from "../../sim/refcount.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import { Completion } from "../../sim/waitqueue.ts";
import type { File, FileOperations, Inode } from "../fs/file.ts";
import { reject, type TaskStruct } from "../fs/task.ts";
import { copyFromUser, copyToUser, type UserPtr } from "../fs/uaccess.ts";
import { modulePut, tryModuleGet, type Kernel, type KModule } from "../kernel.ts";
import { teeShmGetFd, teeShmPut, teeShmRegisterFd, type TeeShm, type TeeShmPool } from "./tee_shm.ts";
import { teeDevicePutAllDmaHeaps, type TeeDmaHeap } from "./tee_heap.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** TEE_DESC_PRIVILEGED: the supplicant's device (/dev/teeprivN). */
export const TEE_DESC_PRIVILEGED = 0x1;
/** TEE_NUM_DEVICES: minors, half for clients and half for privileged devices. */
export const TEE_NUM_DEVICES = 32;

/** mutex_lock() from a task; nothing at boot, when initcalls run alone. True when taken. */
export function* lockMaybeBoot(sim: Sim, m: Mutex): Sleeps<boolean> {
  if (sim.sched.current === null) return false;
  yield* m.lock();
  return true;
}

/** TEE_IOCTL_PARAM_ATTR_TYPE_* — include/uapi/linux/tee.h. */
export const TEE_IOCTL_PARAM_ATTR_TYPE_NONE = 0;
export const TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT = 1;
export const TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT = 2;
export const TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT = 3;
export const TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT = 5;
export const TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT = 6;
export const TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT = 7;
/** TEE_IOCTL_LOGIN_PUBLIC — include/uapi/linux/tee.h. */
export const TEE_IOCTL_LOGIN_PUBLIC = 0;

/**
 * struct tee_param: `attr` and the union, both members kept (u.value {a, b, c}; u.memref {shm_offs,
 * size, shm}).
 */
export interface TeeParam {
  attr: number;
  a: bigint;
  b: bigint;
  c: bigint;
  shm: TeeShm | null;
  shmOffs: bigint;
  size: bigint;
}

/** A zeroed struct tee_param of type `attr`, with the given fields. */
export function teeParam(attr: number, init: Partial<Omit<TeeParam, "attr">> = {}): TeeParam {
  return { attr, a: 0n, b: 0n, c: 0n, shm: null, shmOffs: 0n, size: 0n, ...init };
}

/** struct tee_ioctl_open_session_arg, as far as modelled (the in-kernel client's). */
export interface TeeOpenSessionArg {
  /** The TA's UUID as the 16 bytes of uuid_t. */
  readonly uuid: Uint8Array;
  readonly clntLogin: number;
  cancelId: number;
  session: number;
  ret: number;
  retOrigin: number;
}

/** struct tee_ioctl_invoke_arg, as far as modelled. */
export interface TeeInvokeArg {
  readonly func: number;
  readonly session: number;
  cancelId: number;
  ret: number;
  retOrigin: number;
}

/** struct tee_driver_ops, as far as modelled. */
export interface TeeDriverOps {
  getVersion(teedev: TeeDevice): TeeIoctlVersionData;
  open?(ctx: TeeContext): Sleeps<number>;
  /** close_context: called when the device file is closed, even with references to the context left. */
  closeContext?(ctx: TeeContext): Sleeps<void>;
  release?(ctx: TeeContext): Sleeps<void>;
  openSession?(ctx: TeeContext, arg: TeeOpenSessionArg, params: TeeParam[]): Sleeps<number>;
  closeSession?(ctx: TeeContext, session: number): Sleeps<number>;
  invokeFunc?(ctx: TeeContext, arg: TeeInvokeArg, params: TeeParam[]): Sleeps<number>;
}

/** struct tee_desc */
export interface TeeDesc {
  readonly name: string;
  readonly ops: TeeDriverOps;
  readonly flags: number;
  /** The module providing the driver (THIS_MODULE); null or absent: built in. */
  readonly owner?: KModule | null;
}

/** The TEE subsystem's per-kernel state: devices by minor and the tee_dma_heap xarray. */
export class TeeSubsys {
  readonly devices: (TeeDevice | null)[] = new Array<TeeDevice | null>(TEE_NUM_DEVICES).fill(null);
  /** DEFINE_XARRAY_ALLOC(tee_dma_heap), by enum tee_dma_heap_id. */
  readonly heaps = new Map<number, TeeDmaHeap>();
  constructor(readonly kernel: Kernel) {}
}

/** The kernel's TEE subsystem, created on first use (tee_init()). */
export function teeSubsysOf(kernel: Kernel): TeeSubsys {
  if (!kernel.tee) kernel.tee = new TeeSubsys(kernel);
  return kernel.tee;
}

/** struct tee_device */
export class TeeDevice implements Snapshottable {
  readonly mutex: Mutex;
  /** IDR of registered shms: ids from 1. */
  readonly idr = new Map<number, TeeShm>();
  #nextId = 1;
  /** The last TeeShm serial handed out (per device, so every boot numbers its shms alike). */
  shmSerial = 0;
  /** num_users: 1 from tee_device_alloc(), plus opens, contexts, shms and heaps that hold the device. */
  numUsers = 1;
  /** c_no_users: completed when the last user goes (after tee_device_unregister()'s own put). */
  readonly cNoUsers: Completion;
  /** Set to NULL by the last tee_device_put(): no new users. */
  desc: TeeDesc | null;
  /** cdev.owner = teedesc->owner: the module an open of the node holds. */
  readonly owner: KModule | null;
  /** TEE_DEVICE_FLAG_REGISTERED: the node exists (cdev_device_add()). */
  registered = false;
  /** dma mask bits (dma_coerce_mask_and_coherent()). */
  dmaMaskBits = 32;
  /** teedev->pool: the driver's shm pool (tee_device_alloc()), or null. */
  pool: TeeShmPool | null = null;
  /** Every live shm, for leak checks. */
  readonly shmsLive = new Set<TeeShm>();
  path = "";

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextId = saved.nextId as number;
    }
    return { nextId: this.#nextId };
  }

  constructor(
    readonly kernel: Kernel,
    desc: TeeDesc,
    readonly id: number,
    readonly driverData: unknown,
  ) {
    this.desc = desc;
    this.owner = desc.owner ?? null;
    this.mutex = new Mutex(kernel.sim, `teedev:${desc.name}`);
    this.cNoUsers = new Completion(kernel.sim, `teedev:${desc.name}:c_no_users`);
  }

  get sim(): Sim {
    return this.kernel.sim;
  }
  get machine(): Machine {
    return this.kernel.machine;
  }

  /** idr_alloc(&teedev->idr, shm, 1, 0): the lowest free id ≥ 1. */
  idrAlloc(shm: TeeShm): number {
    let id = 1;
    while (this.idr.has(id)) id++;
    this.#nextId = Math.max(this.#nextId, id + 1);
    this.idr.set(id, shm);
    return id;
  }
}

/** struct tee_context: one per open of /dev/teeN (and one the driver keeps for itself). */
export class TeeContext {
  readonly refcount: Refcount;
  data: unknown = null;
  releasing = false;
  /** teedev->desc->ops as the context was opened (the release may come after desc is NULLed). */
  readonly ops: TeeDriverOps;
  constructor(readonly teedev: TeeDevice) {
    this.refcount = new Refcount(teedev.sim, `tee_context:${teedev.desc?.name ?? "?"}`, 1);
    this.ops = teedev.desc!.ops;
  }
}

/**
 * tee_device_get(): false once the last user has gone (desc NULL). teedev->mutex orders num_users
 * upstream; the model's updates are atomic between scheduling points.
 */
export function teeDeviceGet(teedev: TeeDevice): boolean {
  if (!teedev.desc) return false;
  teedev.numUsers++;
  return true;
}

/** tee_device_put(): WARN_ON(!teedev->desc); the last user NULLs desc and completes c_no_users. */
export function teeDevicePut(teedev: TeeDevice): void {
  if (!teedev.desc) {
    teedev.sim.kernelWarn("WARN", `WARN_ON(!teedev->desc) in tee_device_put() of ${teedev.path}`);
    return;
  }
  teedev.numUsers--;
  if (!teedev.numUsers) {
    teedev.desc = null;
    teedev.cNoUsers.complete();
  }
}

/** teedev_ctx_get() */
export function teedevCtxGet(ctx: TeeContext): void {
  if (ctx.releasing) return;
  ctx.refcount.inc();
}

/** teedev_ctx_put(): the last reference releases the context (teedev_ctx_release(): desc->ops->release()). */
export function* teedevCtxPut(ctx: TeeContext): Sleeps {
  if (ctx.releasing) return;
  if (!ctx.refcount.decAndTest()) return;
  ctx.releasing = true;
  if (ctx.ops.release) yield* ctx.ops.release(ctx);
}

/** teedev_close_context(): the driver's close_context, then the context's and the device's reference. */
export function* teedevCloseContext(ctx: TeeContext): Sleeps {
  const teedev = ctx.teedev;
  if (teedev.desc?.ops.closeContext) yield* teedev.desc.ops.closeContext(ctx);
  yield* teedevCtxPut(ctx);
  teeDevicePut(teedev);
}

/** teedev_open(): a context holding the device, or −errno. */
export function* teedevOpen(teedev: TeeDevice): Sleeps<TeeContext | number> {
  if (!teeDeviceGet(teedev)) return -EINVAL;
  const ctx = new TeeContext(teedev);
  if (teedev.desc?.ops.open) {
    const rc = yield* teedev.desc.ops.open(ctx);
    if (rc < 0) {
      teeDevicePut(teedev);
      return rc;
    }
  }
  return ctx;
}

/** tee_device_alloc(desc, dev, pool, driver_data) + tee_device_register(): /dev/teeN (or /dev/teeprivN). */
export function teeDeviceRegister(
  kernel: Kernel,
  desc: TeeDesc,
  driverData: unknown,
  pool: TeeShmPool | null = null,
): TeeDevice | number {
  const sub = teeSubsysOf(kernel);
  const priv = (desc.flags & TEE_DESC_PRIVILEGED) !== 0;
  const base = priv ? TEE_NUM_DEVICES / 2 : 0;
  let id = -1;
  for (let i = base; i < base + TEE_NUM_DEVICES / 2; i++)
    if (!sub.devices[i]) {
      id = i;
      break;
    }
  if (id < 0) return -12; // -ENOMEM: "no free minor"
  const teedev = new TeeDevice(kernel, desc, id, driverData);
  teedev.pool = pool;
  teedev.path = priv ? `/dev/teepriv${id - base}` : `/dev/tee${id}`;
  const node = kernel.vfs.registerDevice(teedev.path, TEE_FOPS, teedev);
  if (typeof node === "number") return node;
  teedev.registered = true;
  sub.devices[id] = teedev;
  return teedev;
}

/**
 * tee_device_unregister(teedev): tee_device_put_all_dma_heaps() (a heap whose last reference this is
 * destroys its pool and puts the device), the node goes (cdev_device_del()), tee_device_put() of the
 * reference tee_device_alloc() gave, then wait_for_completion(&teedev->c_no_users) — sleeping until
 * every context, shm and heap holding the device has let go; then teedev->pool = NULL and
 * put_device() (tee_release_device(): the minor is free again). NULL is a no-op.
 */
export function* teeDeviceUnregister(teedev: TeeDevice | null): Sleeps {
  if (!teedev) return;
  yield* teeDevicePutAllDmaHeaps(teedev);
  if (teedev.registered) {
    teedev.kernel.vfs.unregisterDevice(teedev.path);
    teedev.registered = false;
  }
  teeDevicePut(teedev);
  yield* teedev.cNoUsers.wait();
  teedev.pool = null;
  const sub = teeSubsysOf(teedev.kernel);
  if (sub.devices[teedev.id] === teedev) sub.devices[teedev.id] = null;
}

/**
 * chrdev_open() → cdev_get(): try_module_get(cdev->owner) (−ENXIO when the module is going), then
 * tee_open() → teedev_open(); a failed open gives the module reference back (cdev_put()).
 */
function* teeOpen(inode: Inode, file: File, _current: TaskStruct): Sleeps<number> {
  const teedev = inode.iPrivate as TeeDevice;
  if (!tryModuleGet(teedev.owner)) return -ENXIO;
  const ctx = yield* teedevOpen(teedev);
  if (typeof ctx === "number") {
    modulePut(teedev.sim, teedev.owner);
    return ctx;
  }
  file.privateData = ctx;
  return 0;
}

/** tee_release() → teedev_close_context(); then __fput()'s cdev_put(): module_put(cdev->owner). */
function* teeRelease(_inode: Inode, file: File): Sleeps {
  const ctx = file.privateData as TeeContext;
  const teedev = ctx.teedev;
  yield* teedevCloseContext(ctx);
  modulePut(teedev.sim, teedev.owner);
}

/** tee_ioctl_version() */
// eslint-disable-next-line require-yield
function* teeIoctlVersion(ctx: TeeContext, arg: UserPtr, current: TaskStruct): Sleeps<number> {
  const desc = ctx.teedev.desc!;
  const v = desc.ops.getVersion(ctx.teedev);
  const out = {
    ...v,
    gen_caps: desc.flags & TEE_DESC_PRIVILEGED ? v.gen_caps | TEE_GEN_CAP_PRIVILEGED : v.gen_caps,
  };
  if (copyToUser(arg, encodeTeeVersionData(out), TEE_IOCTL_VERSION_DATA_SIZE) !== 0)
    return reject(current, EFAULT, "uaccess", "struct tee_ioctl_version_data not writable");
  return 0;
}

/** tee_ioctl_shm_register_fd(): flags must be 0; any failure to register is −EINVAL. */
function* teeIoctlShmRegisterFd(ctx: TeeContext, arg: UserPtr, current: TaskStruct): Sleeps<number> {
  const k = new Uint8Array(TEE_IOCTL_SHM_REGISTER_FD_DATA_SIZE);
  if (copyFromUser(k, arg, k.length) !== 0)
    return reject(current, EFAULT, "uaccess", "struct tee_ioctl_shm_register_fd_data not readable");
  const data = decodeShmRegisterFdData(k);
  if (data.flags !== 0)
    return reject(
      current,
      EINVAL,
      "tee-register-fd-flags",
      `flags 0x${data.flags.toString(16)}: no input flags are supported`,
    );
  const fd = data.fd >= -0x80000000n && data.fd <= 0x7fffffffn ? Number(data.fd) : -1;
  const shm = yield* teeShmRegisterFd(ctx, current.files, fd);
  if (typeof shm === "number")
    return reject(
      current,
      EINVAL,
      "tee-register-fd",
      `fd ${data.fd} is not a dma-buf of a TEE heap of this device (${shm})`,
    );
  let ret: number;
  const out = encodeShmRegisterFdData({ fd: data.fd, size: BigInt(shm.size), flags: shm.flags, id: shm.id });
  if (copyToUser(arg, out, out.length) !== 0)
    ret = reject(current, EFAULT, "uaccess", "struct tee_ioctl_shm_register_fd_data not writable");
  else ret = yield* teeShmGetFd(shm, current.files);
  yield* teeShmPut(shm);
  return ret;
}

/** tee_ioctl(): the requests this model knows; everything else −EINVAL. */
function* teeIoctl(file: File, cmd: number, arg: UserPtr, current: TaskStruct): Sleeps<number> {
  const ctx = file.privateData as TeeContext;
  switch (cmd >>> 0) {
    case TEE_IOC_VERSION:
      return yield* teeIoctlVersion(ctx, arg, current);
    case TEE_IOC_SHM_REGISTER_FD:
      return yield* teeIoctlShmRegisterFd(ctx, arg, current);
    default:
      return reject(
        current,
        EINVAL,
        "tee-ioctl-unknown",
        `tee has no ioctl ${ioctlHex(cmd)} (or it is not modelled)`,
      );
  }
}

/** tee_fops */
export const TEE_FOPS: FileOperations = {
  name: "tee",
  open: teeOpen,
  release: teeRelease,
  unlockedIoctl: teeIoctl,
};
