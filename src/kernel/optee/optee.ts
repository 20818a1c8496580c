/**
 * struct optee and the ABI-independent part of the OP-TEE driver (torvalds/linux v6.18): the driver
 * ops (optee_ops), the message-argument cache of drivers/tee/optee/call.c (optee_get_msg_arg() /
 * optee_free_msg_arg(), optee_shm_arg_cache), the sessions of call.c (optee_open_session(),
 * optee_invoke_func(), optee_close_session()), optee_open() / optee_release() of core.c, the device
 * enumeration of device.c (optee_enumerate_devices()) and optee_set_dma_mask().
 *
 * The argument cache, as call.c does it: entries are SHM_ENTRY_SIZE (one page) shms from
 * tee_shm_alloc_kernel_buf() (tee_shm_alloc_priv_buf() with OPTEE_SHM_ARG_ALLOC_PRIV), made when no
 * entry has a free slot — so the first message allocates and shares (over FF-A: FFA_MEM_SHARE) the
 * first page, and entries stay until the driver goes; OPTEE_SHM_ARG_SHARED (OP-TEE reported
 * OPTEE_FFA_SEC_CAP_ARG_OFFSET) packs SHM_ENTRY_SIZE / optee_msg_arg_size() slots into a page, else one.
 * optee->shm_arg_cache.mutex is held to pick (or allocate) a slot and to give it back, never across
 * the call into the secure world.
 *
 * The SMC ABI driver (smc_abi.ts) keeps its own fixed page (its MODEL CHOICES): an Optee whose ops have
 * no doCallWithShm gets that page as its only slot, under `argLock` from optee_get_msg_arg() to
 * optee_free_msg_arg().
 */
import {
  decodeMsgArg,
  encodeMsgArg,
  memParam,
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_FMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
  optee_msg_get_arg_size,
  paramType,
  valueParam,
  type OpteeMsgArg,
  type OpteeMsgParam,
} from "../../abi/optee/msg.ts";
import {
  TEE_ERROR_COMMUNICATION,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_COMMS,
} from "../../abi/optee/tee_result.ts";
import { EINVAL } from "../../abi/uapi/errno.ts";
import {
  TEE_GEN_CAP_GP,
  TEE_GEN_CAP_MEMREF_NULL,
  TEE_GEN_CAP_REG_MEM,
  TEE_IMPL_ID_OPTEE,
  TEE_OPTEE_CAP_TZ,
} from "../../abi/uapi/tee.ts";
import { Mutex } from "../../sim/mutex.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { FfaDevice } from "../firmware/arm_ffa/bus.ts";
import type { ArmFfaDriver } from "../firmware/arm_ffa/driver.ts";
import type { Kernel } from "../kernel.ts";
import {
  lockMaybeBoot,
  TEE_DESC_PRIVILEGED,
  TEE_IOCTL_LOGIN_PUBLIC,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_NONE,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
  teeClientCloseContext,
  teeClientCloseSession,
  teeClientInvokeFunc,
  teeClientOpenContext,
  teeClientOpenSession,
  teeDeviceRegister,
  teedevOpen,
  teeParam,
  type TeeContext,
  type TeeDesc,
  type TeeDevice,
  type TeeInvokeArg,
  type TeeOpenSessionArg,
  type TeeParam,
} from "../tee/tee_core.ts";
import type { TeeProtmemPool } from "../tee/tee_heap.ts";
import {
  teeShmAllocKernelBuf,
  teeShmAllocPrivBuf,
  teeShmFree,
  teeShmRead,
  teeShmWrite,
  type TeeShm,
  type TeeShmPool,
} from "../tee/tee_shm.ts";

/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID: a memref without a buffer. */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;
/** call.c: MAX_ARG_PARAM_COUNT, SHM_ENTRY_SIZE, MAX_ARG_COUNT_PER_ENTRY. */
export const MAX_ARG_PARAM_COUNT = 6;
export const SHM_ENTRY_SIZE = 4096;
const MAX_ARG_COUNT_PER_ENTRY = Math.floor(SHM_ENTRY_SIZE / optee_msg_get_arg_size(MAX_ARG_PARAM_COUNT));
/** optee_private.h: optee_shm_arg_cache flags. */
export const OPTEE_SHM_ARG_ALLOC_PRIV = 1 << 0;
export const OPTEE_SHM_ARG_SHARED = 1 << 1;
/** OPTEE_DEFAULT_MAX_NOTIF_VALUE — optee_private.h. */
export const OPTEE_DEFAULT_MAX_NOTIF_VALUE = 255;
/** PTA_CMD_GET_DEVICES — optee_private.h. */
export const PTA_CMD_GET_DEVICES = 0;
/** The device enumeration pseudo TA: 7011a688-ddde-4053-a5a9-7b3c4ddf13b8 (device.c). */
export const DEVICE_ENUM_PTA_UUID = uuidBytes("7011a688-ddde-4053-a5a9-7b3c4ddf13b8");

/** The 16 bytes of a uuid_t, in string order. */
export function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "");
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** struct optee_ops, as far as modelled. */
export interface OpteeOps {
  /** The SMC ABI model's do_call_with_arg(): the message in its fixed arg page at `offs` (smc_abi.ts). */
  doCallWithArg(optee: Optee, offs: number): Sleeps<number>;
  lendProtmem(optee: Optee, protmem: TeeShm, memAttrs: readonly number[], useCase: number): Sleeps<number>;
  reclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number>;
  /** do_call_with_arg(ctx, shm, offs, system_thread) on a message from the arg cache (ffa_abi.ts). */
  doCallWithShm?(optee: Optee, shm: TeeShm, offs: number): Sleeps<number>;
  /** to_msg_param(optee, msg_params, num_params, params): the message parameters, or −EINVAL. */
  toMsgParam?(optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number;
  /** from_msg_param(optee, params, num_params, msg_params): 0 or −EINVAL. */
  fromMsgParam?(optee: Optee, params: TeeParam[], msgParams: readonly OpteeMsgParam[]): number;
}

/** The SMC ABI model's fixed argument page: its frame, physical address and (unused) handle. */
export interface OpteeArgPage {
  readonly frame: number;
  readonly pa: number;
  handle: bigint;
}

/** struct optee_shm_arg_entry: one cached page and the bitmap of its slots in use. */
export interface OpteeShmArgEntry {
  readonly shm: TeeShm;
  map: number;
}

/** optee->shm_arg_cache */
export interface OpteeShmArgCache {
  readonly mutex: Mutex;
  /** shm_args: list_add() puts a new entry first. */
  readonly entries: OpteeShmArgEntry[];
  flags: number;
}

/** struct optee_context_data: the sessions opened through a context. */
export interface OpteeContextData {
  readonly sessions: Set<number>;
}

/** struct optee */
export class Optee {
  teedev: TeeDevice | null = null;
  suppTeedev: TeeDevice | null = null;
  ctx: TeeContext | null = null;
  secCaps = 0;
  rpcParamCount = 0;
  osVersion = { major: 0, minor: 0, build: 0 };
  /** optee->pool: the shm pool the devices allocate from (FF-A: pages shared on allocation). */
  pool: TeeShmPool | null = null;
  /** optee->ffa.ffa_dev: the FF-A device the driver bound (FF-A ABI only). */
  ffaDev: FfaDevice | null = null;
  /** optee->ffa.bottom_half_value (U32_MAX: no asynchronous notifications). */
  bottomHalfValue = 0xffff_ffff;
  /** optee->ffa.global_ids: shms the secure world knows by FF-A handle. */
  readonly ffaHandles = new Map<bigint, TeeShm>();
  /** The SMC ABI's fixed arg page lock (see the header). */
  readonly argLock: Mutex;
  readonly shmArgCache: OpteeShmArgCache;
  /** The protected-memory pool registered for the secure-video heap, if any. */
  protmemPool: TeeProtmemPool | null = null;
  /** Devices optee_enumerate_devices() registered on the TEE bus ("optee-ta-<uuid>"). */
  readonly taDevices: string[] = [];

  constructor(
    readonly kernel: Kernel,
    readonly ffa: ArmFfaDriver,
    /** ffa_dev->vm_id: OP-TEE's endpoint. */
    readonly endpointId: number,
    readonly argPage: OpteeArgPage,
    readonly ops: OpteeOps,
  ) {
    this.argLock = new Mutex(kernel.sim, "optee:arg_page");
    this.shmArgCache = { mutex: new Mutex(kernel.sim, "optee:shm_arg_cache"), entries: [], flags: 0 };
  }
}

/** tee_get_drvdata(ctx->teedev) */
function opteeOf(ctx: TeeContext): Optee {
  return ctx.teedev.driverData as Optee;
}

/** optee_shm_arg_cache_init() */
export function opteeShmArgCacheInit(optee: Optee, flags: number): void {
  optee.shmArgCache.flags = flags;
}

/** optee_msg_arg_size(rpc_param_count): a message of MAX_ARG_PARAM_COUNT params plus the RPC arg. */
export function opteeMsgArgSize(rpcParamCount: number): number {
  let sz = optee_msg_get_arg_size(MAX_ARG_PARAM_COUNT);
  if (rpcParamCount) sz += optee_msg_get_arg_size(rpcParamCount);
  return sz;
}

/** Whether the SMC ABI's fixed page was locked by its optee_get_msg_arg() (not at boot). */
const fixedPageLocked = new WeakMap<Optee, boolean>();

/** What optee_get_msg_arg() hands back: the entry, its shm, the offset, and where the message is. */
export interface OpteeMsgSlot {
  readonly entry: OpteeShmArgEntry | null;
  readonly shm: TeeShm | null;
  readonly offs: number;
  readonly pa: number;
  readonly numParams: number;
}

/**
 * optee_get_msg_arg(ctx, num_params): a zeroed message slot (memset(ma, 0, sz); num_params set), or
 * −errno: −EINVAL above MAX_ARG_PARAM_COUNT, or the allocation's error. The cache mutex is held while
 * looking for a slot and while allocating a new entry (whose shm_register is FFA_MEM_SHARE).
 */
export function* opteeGetMsgArg(ctx: TeeContext, numParams: number): Sleeps<OpteeMsgSlot | number> {
  const optee = opteeOf(ctx);
  if (!optee.ops.doCallWithShm) {
    // The SMC ABI model's fixed page (see the header).
    const locked = yield* lockMaybeBoot(optee.kernel.sim, optee.argLock);
    fixedPageLocked.set(optee, locked);
    return { entry: null, shm: null, offs: 0, pa: optee.argPage.pa, numParams };
  }
  const cache = optee.shmArgCache;
  const sz = opteeMsgArgSize(optee.rpcParamCount);
  if (numParams > MAX_ARG_PARAM_COUNT) return -EINVAL;
  const argsPerEntry = cache.flags & OPTEE_SHM_ARG_SHARED ? Math.floor(SHM_ENTRY_SIZE / sz) : 1;
  const locked = yield* lockMaybeBoot(optee.kernel.sim, cache.mutex);
  let entry: OpteeShmArgEntry | null = null;
  let bit = -1;
  for (const e of cache.entries) {
    const b = findFirstZeroBit(e.map, MAX_ARG_COUNT_PER_ENTRY);
    if (b < argsPerEntry) {
      entry = e;
      bit = b;
      break;
    }
  }
  let res: OpteeMsgSlot | number;
  if (!entry) {
    const shm =
      cache.flags & OPTEE_SHM_ARG_ALLOC_PRIV
        ? yield* teeShmAllocPrivBuf(ctx, SHM_ENTRY_SIZE)
        : yield* teeShmAllocKernelBuf(ctx, SHM_ENTRY_SIZE);
    if (typeof shm !== "number") {
      entry = { shm, map: 0 };
      cache.entries.unshift(entry);
      bit = 0;
    }
    res = typeof shm === "number" ? shm : 0;
  } else res = 0;
  if (entry) {
    const offs = bit * sz;
    if (offs >= entry.shm.size)
      res = -EINVAL; // tee_shm_get_va()
    else {
      entry.map |= 1 << bit;
      teeShmWrite(entry.shm, offs, new Uint8Array(sz)); // memset(ma, 0, sz)
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, numParams, true);
      teeShmWrite(entry.shm, offs + 28, header); // ma->num_params
      res = { entry, shm: entry.shm, offs, pa: entry.shm.paddr + offs, numParams };
    }
  }
  if (locked) yield* cache.mutex.unlockPreempt();
  return res;
}

function findFirstZeroBit(map: number, size: number): number {
  for (let b = 0; b < size; b++) if (!(map & (1 << b))) return b;
  return size;
}

/** optee_free_msg_arg(ctx, entry, offs): the slot's bit is cleared under the cache mutex. */
export function* opteeFreeMsgArg(ctx: TeeContext, slot: OpteeMsgSlot): Sleeps {
  const optee = opteeOf(ctx);
  if (!slot.entry) {
    if (fixedPageLocked.get(optee)) yield* optee.argLock.unlockPreempt();
    fixedPageLocked.delete(optee);
    return;
  }
  const sz = opteeMsgArgSize(optee.rpcParamCount);
  if (slot.offs > SHM_ENTRY_SIZE || slot.offs % sz) {
    prErr(optee, `Invalid offs ${slot.offs}`);
    return;
  }
  const bit = slot.offs / sz;
  const cache = optee.shmArgCache;
  const locked = yield* lockMaybeBoot(optee.kernel.sim, cache.mutex);
  if (!(slot.entry.map & (1 << bit))) prErr(optee, `Bit pos ${bit} is already free`);
  slot.entry.map &= ~(1 << bit);
  if (locked) yield* cache.mutex.unlockPreempt();
}

/** Writes the message (its header fields and params) into the slot, as the caller's stores do. */
export function opteeMsgArgWrite(optee: Optee, slot: OpteeMsgSlot, arg: OpteeMsgArg): number {
  if (arg.params.length !== slot.numParams)
    throw new Error("message params differ from the slot's num_params");
  const bytes = encodeMsgArg(arg);
  if (slot.shm) return teeShmWrite(slot.shm, slot.offs, bytes);
  const cpuNs = optee.kernel.machine.masterIndex("cpu-ns");
  return optee.kernel.machine.writeBytes(cpuNs, slot.pa, bytes, { kernel: true });
}

/** Reads the message back as the kernel does after the call: header and its own num_params params. */
export function opteeMsgArgRead(optee: Optee, slot: OpteeMsgSlot): OpteeMsgArg {
  const size = optee_msg_get_arg_size(slot.numParams);
  let bytes: Uint8Array;
  if (slot.shm) bytes = teeShmRead(slot.shm, slot.offs, size);
  else {
    const cpuNs = optee.kernel.machine.masterIndex("cpu-ns");
    bytes = optee.kernel.machine.readBytes(cpuNs, slot.pa, size, { kernel: true }).bytes;
  }
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(28, slot.numParams, true);
  const d = decodeMsgArg(copy);
  if (!d.ok) throw new Error(`optee_msg_arg unreadable: ${d.why}`);
  return d.arg;
}

/** optee->ops->do_call_with_arg(ctx, shm, offs, false) for the slot. */
export function* opteeDoCallWithArg(optee: Optee, slot: OpteeMsgSlot): Sleeps<number> {
  if (optee.ops.doCallWithShm && slot.shm) return yield* optee.ops.doCallWithShm(optee, slot.shm, slot.offs);
  return yield* optee.ops.doCallWithArg(optee, slot.offs);
}

/** optee->ops->to_msg_param(); without one (the SMC ABI model), FMEM by global handle, as before. */
export function opteeToMsgParam(optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number {
  if (optee.ops.toMsgParam) return optee.ops.toMsgParam(optee, params);
  return params.map((p) => {
    if (p.attr === TEE_IOCTL_PARAM_ATTR_TYPE_NONE) return valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0);
    if (p.attr < TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT)
      return valueParam(
        OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
        p.a,
        p.b,
        p.c,
      );
    const attr = OPTEE_MSG_ATTR_TYPE_FMEM_INPUT + p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
    return memParam(attr, 0, p.size, p.shm ? p.shm.secWorldId : OPTEE_MSG_FMEM_INVALID_GLOBAL_ID);
  });
}

/** optee->ops->from_msg_param(); without one, values and memref sizes as before. */
export function opteeFromMsgParam(optee: Optee, params: TeeParam[], msg: readonly OpteeMsgParam[]): number {
  if (optee.ops.fromMsgParam) return optee.ops.fromMsgParam(optee, params, msg);
  msg.forEach((mp, i) => {
    const t = paramType(mp);
    if (t >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && t <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      params[i].a = mp.u[0];
      params[i].b = mp.u[1];
      params[i].c = mp.u[2];
    } else if (t >= OPTEE_MSG_ATTR_TYPE_FMEM_INPUT && t <= OPTEE_MSG_ATTR_TYPE_FMEM_INOUT) {
      params[i].size = mp.u[1];
    }
  });
  return 0;
}

/**
 * One message round trip for the SMC ABI driver (smc_abi.ts): optee_get_msg_arg(), the message written,
 * the call, the message read back, optee_free_msg_arg(). −errno from the transport, else the message
 * as the secure world left it.
 */
export function* opteeCallMsg(optee: Optee, arg: OpteeMsgArg): Sleeps<OpteeMsgArg | number> {
  const ctx = optee.ctx!;
  const slot = yield* opteeGetMsgArg(ctx, arg.params.length);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(optee, slot, arg);
  const rc = yield* opteeDoCallWithArg(optee, slot);
  const back = rc ? rc : opteeMsgArgRead(optee, slot);
  yield* opteeFreeMsgArg(ctx, slot);
  return back;
}

/** A message for `cmd` with these params (header fields zero, as optee_get_msg_arg() leaves them). */
export function msgArg(cmd: number, params: OpteeMsgArg["params"]): OpteeMsgArg {
  return { cmd, func: 0, session: 0, cancel_id: 0, pad: 0, ret: 0, ret_origin: 0, params };
}

function prErr(optee: Optee, msg: string): void {
  if (optee.kernel.sim.trace.listening)
    optee.kernel.sim.trace.emit("kernel", "pr_err", { msg: `optee: ${msg}` });
}

/** optee_set_dma_mask(): DMA_BIT_MASK(min(64, pa_width)) on the TEE device. */
export function opteeSetDmaMask(optee: Optee, paWidth: number): number {
  if (optee.teedev) optee.teedev.dmaMaskBits = Math.min(64, paWidth);
  return 0;
}

// ---- Sessions (call.c) and contexts (core.c) ----

/** optee_open(ctx, cap_memref_null): the context's session list (supplicant checks not modelled). */
// eslint-disable-next-line require-yield
function* opteeOpen(ctx: TeeContext): Sleeps<number> {
  const data: OpteeContextData = { sessions: new Set() };
  ctx.data = data;
  return 0;
}

/** optee_release() → optee_release_helper(ctx, optee_close_session_helper): every open session is closed. */
function* opteeRelease(ctx: TeeContext): Sleeps {
  const data = ctx.data as OpteeContextData | null;
  if (!data) return;
  for (const session of [...data.sessions]) yield* opteeCloseSessionHelper(ctx, session);
  data.sessions.clear();
  ctx.data = null;
}

/** The 16 bytes of a UUID as the two u64 of a value parameter (memcpy(&params[0].u.value, uuid, 16)). */
function uuidValue(uuid: Uint8Array): [bigint, bigint] {
  const d = new DataView(uuid.buffer, uuid.byteOffset, 16);
  return [d.getBigUint64(0, true), d.getBigUint64(8, true)];
}

/**
 * optee_open_session(): OPTEE_MSG_CMD_OPEN_SESSION with the two meta params (the TA's UUID; the
 * client's login and UUID — nil for TEE_IOCTL_LOGIN_PUBLIC) before the caller's. A transport failure
 * becomes TEEC_ERROR_COMMUNICATION from TEEC_ORIGIN_COMMS in arg.ret.
 */
function* opteeOpenSession(ctx: TeeContext, arg: TeeOpenSessionArg, params: TeeParam[]): Sleeps<number> {
  const optee = opteeOf(ctx);
  const slot = yield* opteeGetMsgArg(ctx, params.length + 2);
  if (typeof slot === "number") return slot;
  const [a, b] = uuidValue(arg.uuid);
  const meta = BigInt(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META);
  const tail = opteeToMsgParam(optee, params);
  let rc = 0;
  if (typeof tail === "number") rc = tail;
  else {
    const msg: OpteeMsgArg = {
      ...msgArg(OPTEE_MSG_CMD_OPEN_SESSION, [
        { attr: meta, u: [a, b, 0n] },
        // export_uuid(params[1].u.octets, nil client UUID) after value.c = clnt_login.
        { attr: meta, u: [0n, 0n, BigInt(arg.clntLogin)] },
        ...tail,
      ]),
      cancel_id: arg.cancelId,
    };
    opteeMsgArgWrite(optee, slot, msg);
    const callRc = yield* opteeDoCallWithArg(optee, slot);
    const back = opteeMsgArgRead(optee, slot);
    const ret = callRc ? TEE_ERROR_COMMUNICATION : back.ret;
    const origin = callRc ? TEEC_ORIGIN_COMMS : back.ret_origin;
    if (ret === TEE_SUCCESS) (ctx.data as OpteeContextData).sessions.add(back.session);
    if (opteeFromMsgParam(optee, params, back.params.slice(2))) {
      arg.ret = TEE_ERROR_COMMUNICATION;
      arg.retOrigin = TEEC_ORIGIN_COMMS;
      yield* opteeCloseSession(ctx, back.session);
    } else {
      arg.session = back.session;
      arg.ret = ret;
      arg.retOrigin = origin;
    }
  }
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/** optee_close_session_helper(): OPTEE_MSG_CMD_CLOSE_SESSION; the call's result is not looked at. */
function* opteeCloseSessionHelper(ctx: TeeContext, session: number): Sleeps<number> {
  const optee = opteeOf(ctx);
  const slot = yield* opteeGetMsgArg(ctx, 0);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(optee, slot, { ...msgArg(OPTEE_MSG_CMD_CLOSE_SESSION, []), session });
  yield* opteeDoCallWithArg(optee, slot);
  yield* opteeFreeMsgArg(ctx, slot);
  return 0;
}

/** optee_close_session(): −EINVAL for a session this context did not open. */
function* opteeCloseSession(ctx: TeeContext, session: number): Sleeps<number> {
  const data = ctx.data as OpteeContextData;
  if (!data.sessions.delete(session)) return -EINVAL;
  return yield* opteeCloseSessionHelper(ctx, session);
}

/** optee_invoke_func(): OPTEE_MSG_CMD_INVOKE_COMMAND on an open session. */
function* opteeInvokeFunc(ctx: TeeContext, arg: TeeInvokeArg, params: TeeParam[]): Sleeps<number> {
  const optee = opteeOf(ctx);
  if (!(ctx.data as OpteeContextData).sessions.has(arg.session)) return -EINVAL;
  const slot = yield* opteeGetMsgArg(ctx, params.length);
  if (typeof slot === "number") return slot;
  const mp = opteeToMsgParam(optee, params);
  let rc = 0;
  if (typeof mp === "number") rc = mp;
  else {
    const msg: OpteeMsgArg = {
      ...msgArg(OPTEE_MSG_CMD_INVOKE_COMMAND, mp),
      func: arg.func,
      session: arg.session,
      cancel_id: arg.cancelId,
    };
    opteeMsgArgWrite(optee, slot, msg);
    const callRc = yield* opteeDoCallWithArg(optee, slot);
    const back = opteeMsgArgRead(optee, slot);
    let ret = callRc ? TEE_ERROR_COMMUNICATION : back.ret;
    let origin = callRc ? TEEC_ORIGIN_COMMS : back.ret_origin;
    if (opteeFromMsgParam(optee, params, back.params)) {
      ret = TEE_ERROR_COMMUNICATION;
      origin = TEEC_ORIGIN_COMMS;
    }
    arg.ret = ret;
    arg.retOrigin = origin;
  }
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

// ---- Device enumeration (device.c) ----

/** get_devices(): PTA_CMD_GET_DEVICES with one MEMREF_OUTPUT; 0 with the size, or −EINVAL. */
function* getDevices(
  optee: Optee,
  ctx: TeeContext,
  session: number,
  deviceShm: TeeShm | null,
  shmSize: { value: number },
  func: number,
): Sleeps<number> {
  const inv: TeeInvokeArg = { func, session, cancelId: 0, ret: 0, retOrigin: 0 };
  const params = [
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, { shm: deviceShm, size: BigInt(shmSize.value) }),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
  ];
  const ret = yield* teeClientInvokeFunc(ctx, inv, params);
  if (ret < 0 || (inv.ret !== TEE_SUCCESS && inv.ret !== TEE_ERROR_SHORT_BUFFER)) {
    prErr(optee, `PTA_CMD_GET_DEVICES invoke function err: ${(inv.ret >>> 0).toString(16)}`);
    return -EINVAL;
  }
  shmSize.value = Number(params[0].size);
  return 0;
}

/** The UUID of a 16-byte device entry, in the "optee-ta-%pUb" form. */
function uuidString(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * optee_enumerate_devices(func) → __optee_enumerate_devices(): a context on the first OP-TEE device,
 * a session with the device enumeration pseudo TA (its absence — any failure to open — is not an
 * error: 0), PTA_CMD_GET_DEVICES for the size, a kernel buffer and a second call for the UUIDs, one
 * "optee-ta-<uuid>" device each, then the buffer, the session and the context go.
 */
export function* opteeEnumerateDevices(optee: Optee, func: number): Sleeps<number> {
  const ctx = yield* teeClientOpenContext(optee.kernel, (v) => v.impl_id === TEE_IMPL_ID_OPTEE);
  if (typeof ctx === "number") return ctx;
  const sess: TeeOpenSessionArg = {
    uuid: DEVICE_ENUM_PTA_UUID,
    clntLogin: TEE_IOCTL_LOGIN_PUBLIC,
    cancelId: 0,
    session: 0,
    ret: 0,
    retOrigin: 0,
  };
  let rc = yield* teeClientOpenSession(ctx, sess, []);
  if (rc < 0 || sess.ret !== TEE_SUCCESS) {
    // "Device enumeration pseudo TA not found"
    yield* teeClientCloseContext(ctx);
    return 0;
  }
  const shmSize = { value: 0 };
  rc = yield* getDevices(optee, ctx, sess.session, null, shmSize, func);
  if (rc >= 0 && shmSize.value) {
    const deviceShm = yield* teeShmAllocKernelBuf(ctx, shmSize.value);
    if (typeof deviceShm === "number") rc = deviceShm;
    else {
      rc = yield* getDevices(optee, ctx, sess.session, deviceShm, shmSize, func);
      if (rc >= 0) {
        const bytes = teeShmRead(deviceShm, 0, shmSize.value);
        for (let i = 0; i + 16 <= bytes.length; i += 16)
          optee.taDevices.push(`optee-ta-${uuidString(bytes.subarray(i, i + 16))}`);
      }
      yield* teeShmFree(deviceShm);
    }
  }
  yield* teeClientCloseSession(ctx, sess.session);
  yield* teeClientCloseContext(ctx);
  return rc;
}

// ---- Devices ----

/** optee_ffa_get_version() and the client/supplicant ops (optee_ffa_clnt_ops, optee_ffa_supp_ops). */
export function opteeFfaDesc(name: string, flags: number): TeeDesc {
  return {
    name,
    flags,
    ops: {
      getVersion: () => ({
        impl_id: TEE_IMPL_ID_OPTEE,
        impl_caps: TEE_OPTEE_CAP_TZ,
        gen_caps: TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM | TEE_GEN_CAP_MEMREF_NULL,
      }),
      open: opteeOpen,
      release: opteeRelease,
      ...(flags & TEE_DESC_PRIVILEGED
        ? {}
        : { openSession: opteeOpenSession, closeSession: opteeCloseSession, invokeFunc: opteeInvokeFunc }),
    },
  };
}

/**
 * The part of optee_probe() both ABIs share: the client device (/dev/tee0), the supplicant's
 * privileged device, both on optee->pool, and the driver's own context. 0 or −errno.
 */
export function* opteeRegisterDevices(optee: Optee): Sleeps<number> {
  const teedev = teeDeviceRegister(optee.kernel, opteeFfaDesc("optee-clnt", 0), optee, optee.pool);
  if (typeof teedev === "number") return teedev;
  optee.teedev = teedev;
  const supp = teeDeviceRegister(
    optee.kernel,
    opteeFfaDesc("optee-supp", TEE_DESC_PRIVILEGED),
    optee,
    optee.pool,
  );
  if (typeof supp !== "number") optee.suppTeedev = supp;
  const ctx = yield* teedevOpen(teedev);
  if (typeof ctx === "number") return ctx;
  optee.ctx = ctx;
  return 0;
}
