/**
 * The OP-TEE driver over FF-A — drivers/tee/optee/ffa_abi.c (torvalds/linux v6.18): the global-handle
 * table (optee_shm_add/rem_ffa_handle()), the tee_param ↔ optee_msg_param conversion (FMEM by global
 * handle), shared memory registration (optee_ffa_shm_register(): FFA_MEM_SHARE; unregister:
 * OPTEE_FFA_UNREGISTER_SHM, then FFA_MEM_RECLAIM), the shm pool of alloc_pages(), yielding calls
 * (optee_ffa_yielding_call(), optee_ffa_do_call_with_arg()), lending and reclaiming protected memory
 * (optee_ffa_lend_protmem(), optee_ffa_reclaim_protmem(); linux-kernel.md §1.8) and the probe.
 *
 * Every direct request goes through ffa_dev->ops->msg_ops->sync_send_receive() on the device the FF-A
 * bus bound, after msg_ops->mode_32bit_set(ffa_dev) in optee_ffa_api_is_compatible(): they are all
 * FFA_MSG_SEND_DIRECT_REQ_32.
 *
 * optee_ffa_probe(), in order: GET_API_VERSION, GET_OS_VERSION, EXCHANGE_CAPABILITIES (direct requests);
 * the shm pool, /dev/tee0 and /dev/teepriv0, the arg cache (OPTEE_SHM_ARG_SHARED when OP-TEE reports
 * OPTEE_FFA_SEC_CAP_ARG_OFFSET), the driver's context; asynchronous notifications when OP-TEE reports
 * them; optee_ffa_protmem_pool_init() when it reports OPTEE_FFA_SEC_CAP_PROTMEM (get_protmem_config()
 * twice: the first message allocates and shares the arg cache's page, the second shares, then
 * unregisters and reclaims, the attribute buffer); optee_enumerate_devices(PTA_CMD_GET_DEVICES).
 * No FF-A call of its own finds OP-TEE: the bus matched the device by UUID (bus.ts).
 *
 * Not modelled: RPCs from OP-TEE (OPTEE_FFA_YIELDING_CALL_RETURN_RPC_CMD) and waiting for a free
 * thread on TEEC_ERROR_BUSY (optee_cq_wait_for_completion()) — both end the call with −EIO here; no
 * command the model's OP-TEE runs needs either.
 */
import { FFA_MEM_RW } from "../../abi/ffa/index.ts";
import {
  OPTEE_FFA_ENABLE_ASYNC_NOTIF,
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE,
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_SEC_CAP_ARG_OFFSET,
  OPTEE_FFA_SEC_CAP_ASYNC_NOTIF,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_VERSION_MAJOR,
  OPTEE_FFA_VERSION_MINOR,
  OPTEE_FFA_YIELDING_CALL_RETURN_DONE,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
} from "../../abi/optee/ffa.ts";
import {
  OPTEE_MSG_ATTR_TYPE_FMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  memParam,
  paramType,
  valueParam,
  type OpteeMsgParam,
} from "../../abi/optee/msg.ts";
import { TEE_ERROR_BUSY, TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EACCES, EEXIST, EINVAL, EIO, ENODEV } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { ffaDriverRegister, type FfaDevice, type FfaDriver } from "../firmware/arm_ffa/bus.ts";
import { bootDrain, type ArmFfaDriver, type FfaSendDirectData } from "../firmware/arm_ffa/driver.ts";
import {
  ffaMemoryLend,
  ffaMemoryReclaim,
  ffaMemoryShare,
  type FfaMemOpsArgs,
} from "../firmware/arm_ffa/mem_ops.ts";
import { ffaNotifyRelinquish, ffaNotifyRequest } from "../firmware/arm_ffa/notif.ts";
import type { Initcall, Kernel } from "../kernel.ts";
import {
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_NONE,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
  teeParam,
  type TeeParam,
} from "../tee/tee_core.ts";
import { TEE_DMA_HEAP_SECURE_VIDEO_PLAY, teeDeviceRegisterDmaHeap } from "../tee/tee_heap.ts";
import {
  teeDynShmAllocHelper,
  teeDynShmFreeHelper,
  teeShmRead,
  type TeeShm,
  type TeeShmPool,
} from "../tee/tee_shm.ts";
import {
  msgArg,
  Optee,
  OPTEE_MSG_FMEM_INVALID_GLOBAL_ID,
  OPTEE_SHM_ARG_SHARED,
  opteeDoCallWithArg,
  opteeEnumerateDevices,
  opteeFreeMsgArg,
  opteeGetMsgArg,
  opteeMsgArgRead,
  opteeMsgArgWrite,
  opteeRegisterDevices,
  opteeShmArgCacheInit,
  PTA_CMD_GET_DEVICES,
  type OpteeArgPage,
  type OpteeOps,
} from "./optee.ts";
import { opteeProtmemAllocDynPool } from "./protmem.ts";

/** What the driver reads of the run's policy (scenario/policies.ts Policy): the pool kind. */
export interface ProtmemPolicy {
  readonly pool: string;
}

/** OP-TEE's UUID 486178e0-e7f8-11e3-bc5e-0002a5d5c51b as FF-A's four words (optee_ffa_device_id[]). */
export const OPTEE_FFA_UUID_WORDS: readonly [number, number, number, number] = uuidWords(
  "486178e0-e7f8-11e3-bc5e-0002a5d5c51b",
);

export function uuidWords(uuid: string): [number, number, number, number] {
  const hex = uuid.replace(/-/g, "");
  const bytes = Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
  const word = (i: number) =>
    (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
  return [word(0), word(4), word(8), word(12)];
}

/**
 * The FF-A driver takes its messages from the arg cache (call.c), in pages it allocates and shares
 * when it needs them: it has no fixed argument page (the SMC ABI model's). Touching it is a model bug.
 */
const NO_ARG_PAGE = new Proxy(
  {},
  {
    get(_t, key) {
      throw new Error(`the OP-TEE FF-A driver has no fixed arg page (used .${String(key)})`);
    },
  },
) as OpteeArgPage;

/** struct ffa_send_direct_data with data0..data4 (the rest zero). */
function data(d0: number, d1 = 0n, d2 = 0n, d3 = 0n, d4 = 0n): FfaSendDirectData {
  return [BigInt(d0), d1, d2, d3, d4];
}

/** (u32)h and (u32)(h >> 32) */
const lo32 = (h: bigint) => h & 0xffff_ffffn;
const hi32 = (h: bigint) => (h >> 32n) & 0xffff_ffffn;

function pr(optee: Optee, level: "pr_info" | "pr_err", msg: string): void {
  const trace = optee.kernel.sim.trace;
  if (trace.listening) trace.emit("kernel", level, { msg: `optee: ${msg}` });
}

/** sync_send_receive() on the driver's device. */
function* syncSendReceive(optee: Optee, d: FfaSendDirectData): Sleeps<number> {
  return yield* optee.ffa.syncSendReceive(optee.ffaDev!, d);
}

// ---- 1. The global-handle table ----

/** optee_shm_add_ffa_handle(): −EEXIST when the handle is already there (rhashtable_lookup_insert_fast()). */
function shmAddFfaHandle(optee: Optee, shm: TeeShm, globalId: bigint): number {
  if (optee.ffaHandles.has(globalId)) return -EEXIST;
  optee.ffaHandles.set(globalId, shm);
  return 0;
}

/** optee_shm_rem_ffa_handle() */
function shmRemFfaHandle(optee: Optee, globalId: bigint): void {
  optee.ffaHandles.delete(globalId);
}

// ---- 2. tee_param ↔ optee_msg_param ----

/** struct optee_msg_param_fmem in u[0]: offs_low (u32), offs_high (u16), internal_offs (u16). */
function fmemWord0(offs: bigint, internalOffs: number): bigint {
  return (offs & 0xffff_ffffn) | (((offs >> 32n) & 0xffffn) << 32n) | (BigInt(internalOffs & 0xffff) << 48n);
}

/** optee_ffa_to_msg_param(): values as they are, memrefs as FMEM by the shm's global handle. */
function ffaToMsgParam(_optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number {
  const out: OpteeMsgParam[] = [];
  for (const p of params) {
    if (p.attr === TEE_IOCTL_PARAM_ATTR_TYPE_NONE) out.push(valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0));
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT
    )
      out.push(
        valueParam(
          OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
          p.a,
          p.b,
          p.c,
        ),
      );
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT
    ) {
      // to_msg_param_ffa_mem()
      const attr = OPTEE_MSG_ATTR_TYPE_FMEM_INPUT + p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
      if (p.shm) {
        if (p.shmOffs >> 48n) return -EINVAL; // "Check that the entire offset could be stored."
        out.push(memParam(attr, fmemWord0(p.shmOffs, p.shm.offset), p.size, p.shm.secWorldId));
      } else out.push(memParam(attr, 0, p.size, OPTEE_MSG_FMEM_INVALID_GLOBAL_ID));
    } else return -EINVAL;
  }
  return out;
}

/** optee_ffa_from_msg_param(): values back; an FMEM's shm found by its global handle (none: no offset). */
function ffaFromMsgParam(optee: Optee, params: TeeParam[], msg: readonly OpteeMsgParam[]): number {
  for (let n = 0; n < params.length; n++) {
    const mp = msg[n];
    const attr = paramType(mp);
    if (attr === OPTEE_MSG_ATTR_TYPE_NONE) params[n] = teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE);
    else if (attr >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      const p = params[n];
      p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + attr - OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
      p.a = mp.u[0];
      p.b = mp.u[1];
      p.c = mp.u[2];
    } else if (attr >= OPTEE_MSG_ATTR_TYPE_FMEM_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_FMEM_INOUT) {
      // from_msg_param_ffa_mem()
      const p = params[n];
      p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + attr - OPTEE_MSG_ATTR_TYPE_FMEM_INPUT;
      p.size = mp.u[1];
      const shm =
        mp.u[2] !== OPTEE_MSG_FMEM_INVALID_GLOBAL_ID ? (optee.ffaHandles.get(mp.u[2]) ?? null) : null;
      p.shm = shm;
      p.shmOffs = shm ? (mp.u[0] & 0xffff_ffffn) | (((mp.u[0] >> 32n) & 0xffffn) << 32n) : 0n;
    } else return -EINVAL;
  }
  return 0;
}

// ---- 3. Shared memory registration ----

/**
 * optee_ffa_shm_register(): the shm's pages (one physically contiguous run: one sg entry) shared with
 * OP-TEE's endpoint, FFA_MEM_RW, through the TX buffer; the handle goes in the table and sec_world_id.
 * optee_check_mem_type() passes for kernel addresses.
 */
function* ffaShmRegister(optee: Optee, shm: TeeShm): Sleeps<number> {
  const args: FfaMemOpsArgs = {
    useTxbuf: true,
    tag: 0n,
    flags: 0,
    attrs: [{ receiver: optee.ffaDev!.vmId, attrs: FFA_MEM_RW }],
    sg: [{ pa: shm.paddr, length: shm.numPages * 4096 }],
    gHandle: 0n,
  };
  let rc = yield* ffaMemoryShare(optee.ffa, args);
  if (rc) return rc;
  rc = shmAddFfaHandle(optee, shm, args.gHandle);
  if (rc) {
    yield* ffaMemoryReclaim(optee.ffa, args.gHandle, 0);
    return rc;
  }
  shm.secWorldId = args.gHandle;
  return 0;
}

/**
 * optee_ffa_shm_unregister(): the handle leaves the table, OPTEE_FFA_UNREGISTER_SHM (w4/w5 = the
 * handle), then FFA_MEM_RECLAIM; errors are only printed.
 */
function* ffaShmUnregister(optee: Optee, shm: TeeShm): Sleeps<number> {
  const h = shm.secWorldId;
  shmRemFfaHandle(optee, h);
  shm.secWorldId = 0n;
  let rc = yield* syncSendReceive(optee, data(OPTEE_FFA_UNREGISTER_SHM, lo32(h), hi32(h)));
  if (rc) pr(optee, "pr_err", `Unregister SHM id 0x${h.toString(16)} rc ${rc}`);
  rc = yield* ffaMemoryReclaim(optee.ffa, h, 0);
  if (rc) pr(optee, "pr_err", `mem_reclaim: 0x${h.toString(16)} ${rc}`);
  return rc;
}

// ---- 4. The shm pool (optee_ffa_shm_pool_alloc_pages()) ----

function ffaShmPool(optee: Optee): TeeShmPool {
  return {
    ops: {
      /** pool_ffa_op_alloc() → tee_dyn_shm_alloc_helper(shm, size, align, optee_ffa_shm_register) */
      *alloc(_pool, shm, size) {
        return yield* teeDynShmAllocHelper(shm, size, (s) => ffaShmRegister(optee, s));
      },
      /** pool_ffa_op_free() → tee_dyn_shm_free_helper(shm, optee_ffa_shm_unregister) */
      *free(_pool, shm) {
        yield* teeDynShmFreeHelper(shm, (s) => ffaShmUnregister(optee, s));
      },
    },
  };
}

// ---- 5. Yielding calls ----

/**
 * optee_ffa_yielding_call(): sync_send_receive; w3 TEEC_SUCCESS with w4 RETURN_DONE ends it; any
 * other w3 is −EIO (TEEC_ERROR_BUSY would wait for a free thread upstream: not modelled); an RPC is not
 * modelled (−EIO).
 */
function* ffaYieldingCall(optee: Optee, d: FfaSendDirectData): Sleeps<number> {
  const rc = yield* syncSendReceive(optee, d);
  if (rc) return rc;
  const w3 = Number(d[0] & 0xffff_ffffn);
  if (w3 === TEE_ERROR_BUSY) {
    pr(optee, "pr_err", "TEEC_ERROR_BUSY: waiting for a secure-world thread is not modelled");
    return -EIO;
  }
  if (w3 !== TEE_SUCCESS) return -EIO;
  if (d[1] === BigInt(OPTEE_FFA_YIELDING_CALL_RETURN_DONE)) return 0;
  pr(optee, "pr_err", `RPC ${d[1]} from OP-TEE is not modelled`);
  return -EIO;
}

/**
 * optee_ffa_do_call_with_arg(ctx, shm, offs, system_thread): the shm must start on a page (offset 0);
 * the message and its RPC arg must lie inside it; then OPTEE_FFA_YIELDING_CALL_WITH_ARG with w4/w5 the
 * shm's global handle and w6 the offset.
 */
function* ffaDoCallWithShm(optee: Optee, shm: TeeShm, offs: number): Sleeps<number> {
  if (shm.offset) return -EINVAL;
  if (offs >= shm.size) return -EINVAL;
  const header = teeShmRead(shm, offs, 32);
  const numParams = new DataView(header.buffer, header.byteOffset).getUint32(28, true);
  if (offs + 32 + 32 * numParams >= shm.size) return -EINVAL; // tee_shm_get_va(shm, offs + rpc_arg_offs)
  const h = shm.secWorldId;
  return yield* ffaYieldingCall(
    optee,
    data(OPTEE_FFA_YIELDING_CALL_WITH_ARG, lo32(h), hi32(h), BigInt(offs)),
  );
}

/** The FF-A driver has no fixed arg page (see NO_ARG_PAGE). */
// eslint-disable-next-line require-yield
function* ffaNoFixedPage(): Sleeps<number> {
  throw new Error("the OP-TEE FF-A driver calls with a message from the arg cache");
}

/**
 * do_call_lend_protmem(): OPTEE_MSG_CMD_ASSIGN_PROTMEM {a = cookie, b = use case} in a message from
 * optee_get_msg_arg(); a result other than TEEC_SUCCESS is −EINVAL.
 */
function* doCallLendProtmem(optee: Optee, cookie: bigint, useCase: number): Sleeps<number> {
  const ctx = optee.ctx!;
  const slot = yield* opteeGetMsgArg(ctx, 1);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(
    optee,
    slot,
    msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, useCase)]),
  );
  let rc = yield* opteeDoCallWithArg(optee, slot);
  if (!rc && opteeMsgArgRead(optee, slot).ret !== TEE_SUCCESS) rc = -EINVAL;
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/**
 * optee_ffa_lend_protmem(): FFA_MEM_LEND (use_txbuf, tag = use case, one receiver per memory attribute:
 * receiver = attr & U16_MAX, attrs = attr >> 16, one sg entry), then ASSIGN_PROTMEM; its failure
 * reclaims; a handle already in the table sends OPTEE_FFA_RELEASE_PROTMEM and reclaims.
 */
function* ffaLendProtmem(
  optee: Optee,
  protmem: TeeShm,
  memAttrs: readonly number[],
  useCase: number,
): Sleeps<number> {
  const args: FfaMemOpsArgs = {
    useTxbuf: true,
    tag: BigInt(useCase),
    flags: 0,
    attrs: memAttrs.map((a) => ({ receiver: a & 0xffff, attrs: (a >>> 16) & 0xff })),
    sg: [{ pa: protmem.paddr, length: protmem.size }],
    gHandle: 0n,
  };
  let rc = yield* ffaMemoryLend(optee.ffa, args);
  if (rc) return rc;
  rc = yield* doCallLendProtmem(optee, args.gHandle, useCase);
  if (!rc) {
    rc = shmAddFfaHandle(optee, protmem, args.gHandle);
    if (!rc) {
      protmem.secWorldId = args.gHandle;
      return 0;
    }
    // err_unreg:
    yield* syncSendReceive(optee, data(OPTEE_FFA_RELEASE_PROTMEM, lo32(args.gHandle), hi32(args.gHandle)));
  }
  // err_reclaim:
  yield* ffaMemoryReclaim(optee.ffa, args.gHandle, 0);
  return rc;
}

/** optee_ffa_reclaim_protmem(): OPTEE_FFA_RELEASE_PROTMEM, then FFA_MEM_RECLAIM; errors are only printed. */
function* ffaReclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number> {
  const h = protmem.secWorldId;
  shmRemFfaHandle(optee, h);
  protmem.secWorldId = 0n;
  let rc = yield* syncSendReceive(optee, data(OPTEE_FFA_RELEASE_PROTMEM, lo32(h), hi32(h)));
  if (rc) pr(optee, "pr_err", `Release SHM id 0x${h.toString(16)} rc ${rc}`);
  rc = yield* ffaMemoryReclaim(optee.ffa, h, 0);
  if (rc) pr(optee, "pr_err", `mem_reclaim: 0x${h.toString(16)} ${rc}`);
  return rc;
}

/** optee_ffa_ops */
export const OPTEE_FFA_OPS: OpteeOps = {
  doCallWithArg: ffaNoFixedPage,
  doCallWithShm: ffaDoCallWithShm,
  toMsgParam: ffaToMsgParam,
  fromMsgParam: ffaFromMsgParam,
  lendProtmem: ffaLendProtmem,
  reclaimProtmem: ffaReclaimProtmem,
};

// ---- 6. Driver initialization ----

/**
 * optee_ffa_api_is_compatible(): mode_32bit_set(ffa_dev), then GET_API_VERSION (major must be
 * OPTEE_FFA_VERSION_MAJOR, minor at least OPTEE_FFA_VERSION_MINOR) and GET_OS_VERSION.
 */
function* ffaApiIsCompatible(optee: Optee, dev: FfaDevice): Sleeps<boolean> {
  dev.drv.mode32BitSet(dev);
  let d = data(OPTEE_FFA_GET_API_VERSION);
  let rc = yield* dev.drv.syncSendReceive(dev, d);
  if (rc) {
    pr(optee, "pr_err", `Unexpected error ${rc}`);
    return false;
  }
  if (d[0] !== BigInt(OPTEE_FFA_VERSION_MAJOR) || d[1] < BigInt(OPTEE_FFA_VERSION_MINOR)) {
    pr(optee, "pr_err", `Incompatible OP-TEE API version ${d[0]}.${d[1]}`);
    return false;
  }
  d = data(OPTEE_FFA_GET_OS_VERSION);
  rc = yield* dev.drv.syncSendReceive(dev, d);
  if (rc) {
    pr(optee, "pr_err", `Unexpected error ${rc}`);
    return false;
  }
  optee.osVersion = { major: Number(d[0]), minor: Number(d[1]), build: Number(d[2]) };
  pr(
    optee,
    "pr_info",
    d[2] ? `revision ${d[0]}.${d[1]} (${d[2].toString(16).padStart(8, "0")})` : `revision ${d[0]}.${d[1]}`,
  );
  return true;
}

/** optee_ffa_exchange_caps(): w3 must be 0; rpc_param_count = (u8)w4, sec_caps = w5, max notif = w6. */
function* ffaExchangeCaps(optee: Optee, dev: FfaDevice): Sleeps<boolean> {
  const d = data(OPTEE_FFA_EXCHANGE_CAPABILITIES);
  const rc = yield* dev.drv.syncSendReceive(dev, d);
  if (rc) {
    pr(optee, "pr_err", `Unexpected error ${rc}`);
    return false;
  }
  if (d[0]) {
    pr(optee, "pr_err", `Unexpected exchange error ${d[0]}`);
    return false;
  }
  optee.rpcParamCount = Number(d[1] & 0xffn);
  optee.secCaps = Number(d[2] & 0xffff_ffffn);
  return true;
}

/**
 * optee_ffa_async_notif_init(): a notification ID for the bottom half (ffa notify_request, trying the
 * next ID while the SPMC says −EACCES), then OPTEE_FFA_ENABLE_ASYNC_NOTIF; a failure gives the ID
 * back. With notifications off in the FF-A driver the first request is −EOPNOTSUPP.
 */
function* ffaAsyncNotifInit(optee: Optee, dev: FfaDevice): Sleeps<number> {
  let notifId = 0;
  for (;;) {
    const rc = yield* ffaNotifyRequest(dev.drv, dev.vmId, false, notifId);
    if (!rc) break;
    if (rc !== -EACCES) return rc;
    notifId++;
    if (notifId >= OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE) return rc;
  }
  optee.bottomHalfValue = notifId;
  const d = data(OPTEE_FFA_ENABLE_ASYNC_NOTIF, BigInt(notifId));
  let rc = yield* syncSendReceive(optee, d);
  if (!rc) rc = Number(d[0] & 0xffff_ffffn) | 0;
  if (rc < 0) {
    yield* ffaNotifyRelinquish(dev.drv, dev.vmId, notifId);
    optee.bottomHalfValue = 0xffff_ffff;
  }
  return rc < 0 ? rc : 0;
}

/** optee_ffa_protmem_pool_init(): the secure-video heap when OP-TEE has the PROTMEM capability. */
function* ffaProtmemPoolInit(optee: Optee, secCaps: number, policy: ProtmemPolicy): Sleeps<number> {
  if (!(secCaps & OPTEE_FFA_SEC_CAP_PROTMEM)) return 0;
  if (policy.pool !== "dynamic") return -EINVAL; // only the upstream dynamic pool is built so far
  const pool = yield* opteeProtmemAllocDynPool(optee, TEE_DMA_HEAP_SECURE_VIDEO_PLAY);
  if (typeof pool === "number") return pool;
  const rc = yield* teeDeviceRegisterDmaHeap(optee.teedev!, TEE_DMA_HEAP_SECURE_VIDEO_PLAY, pool);
  if (rc) pool.ops.destroyPool(pool);
  else optee.protmemPool = pool;
  return rc;
}

/** optee_ffa_probe(ffa_dev): the driver instance, or −errno (the device then stays unbound). */
export function* opteeFfaProbe(
  kernel: Kernel,
  dev: FfaDevice,
  policy: ProtmemPolicy,
): Sleeps<Optee | number> {
  const ffa = dev.drv;
  const optee = new Optee(kernel, ffa, dev.vmId, NO_ARG_PAGE, OPTEE_FFA_OPS);
  optee.ffaDev = dev;
  if (!(yield* ffaApiIsCompatible(optee, dev))) return -EINVAL;
  if (!(yield* ffaExchangeCaps(optee, dev))) return -EINVAL;
  const argCacheFlags = optee.secCaps & OPTEE_FFA_SEC_CAP_ARG_OFFSET ? OPTEE_SHM_ARG_SHARED : 0;
  optee.pool = ffaShmPool(optee);
  // tee_device_alloc() ×2, tee_device_register() ×2, the handle table, optee_shm_arg_cache_init(),
  // ffa_dev_set_drvdata(), teedev_open().
  opteeShmArgCacheInit(optee, argCacheFlags);
  dev.driverData = optee;
  const devRc = yield* opteeRegisterDevices(optee);
  if (devRc) {
    dev.driverData = null;
    return devRc;
  }
  // optee_notif_init(): no FF-A call.
  if (optee.secCaps & OPTEE_FFA_SEC_CAP_ASYNC_NOTIF) {
    const rc = yield* ffaAsyncNotifInit(optee, dev);
    if (rc < 0) pr(optee, "pr_err", `Failed to initialize async notifications: ${rc}`);
  }
  if (yield* ffaProtmemPoolInit(optee, optee.secCaps, policy))
    pr(optee, "pr_info", "Protected memory service not available");
  const rc = yield* opteeEnumerateDevices(optee, PTA_CMD_GET_DEVICES);
  if (rc) {
    dev.driverData = null;
    return rc;
  }
  pr(optee, "pr_info", "initialized driver");
  return optee;
}

/**
 * The OP-TEE driver's initcall (optee_core_init() → optee_ffa_abi_register() → ffa_register()): the
 * FF-A bus matches its UUID and probes the device. Without the arm_ffa driver there is no device.
 */
export function opteeFfaInitcall(policy: ProtmemPolicy): Initcall {
  return function optee_ffa_init(kernel: Kernel): number {
    const ffa: ArmFfaDriver | undefined = kernel.armFfa;
    if (!ffa) return -ENODEV;
    const driver: FfaDriver = {
      name: "optee",
      idTable: [OPTEE_FFA_UUID_WORDS],
      *probe(dev) {
        const r = yield* opteeFfaProbe(kernel, dev, policy);
        if (typeof r === "number") return r;
        kernel.optee = r;
        return 0;
      },
    };
    // driver_register() succeeds whether or not a device probed (a failed probe is only logged).
    bootDrain(ffaDriverRegister(ffa, driver));
    return 0;
  };
}
