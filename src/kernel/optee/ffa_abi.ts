/**
 * The OP-TEE driver over FF-A — drivers/tee/optee/ffa_abi.c (torvalds/linux v6.18), sections 5–6: the
 * calls into OP-TEE (optee_ffa_yielding_call(), optee_ffa_do_call_with_arg()), lending and reclaiming
 * protected memory (optee_ffa_lend_protmem(), optee_ffa_reclaim_protmem(); linux-kernel.md §1.8), the
 * driver's initialization (optee_ffa_probe()) and removal (optee_ffa_remove()). Sections 1–4 (handle
 * table, parameters, shm registration, shm pool) are in ffa_shm.ts.
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
 * optee_ffa_remove(): the notification ID back (notify_relinquish) when one was bound, then
 * optee_remove_common() (core.ts), then the handle table and struct optee go. It runs when the module
 * goes: optee_core_exit() → optee_ffa_abi_unregister() → ffa_unregister() → driver_unregister(), which
 * unbinds every device the driver bound (device_release_driver() → ffa_device_remove() → .remove).
 *
 * Not modelled: RPCs from OP-TEE (OPTEE_FFA_YIELDING_CALL_RETURN_RPC_CMD) and waiting for a free
 * thread on TEEC_ERROR_BUSY (optee_cq_wait_for_completion()) — both end the call with −EIO here; no
 * command the model's OP-TEE runs needs either.
 */
import { FFA_MEM_RECLAIM_CLEAR } from "../../abi/ffa/index.ts";
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
  OPTEE_FFA_VERSION_MAJOR,
  OPTEE_FFA_VERSION_MINOR,
  OPTEE_FFA_YIELDING_CALL_RETURN_DONE,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
} from "../../abi/optee/ffa.ts";
import {
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  valueParam,
  msgArg,
} from "../../abi/optee/msg.ts";
import { TEE_ERROR_BUSY, TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EACCES, EINVAL, EIO, ENODEV } from "../../abi/uapi/errno.ts";
import {
  TEE_GEN_CAP_GP,
  TEE_GEN_CAP_MEMREF_NULL,
  TEE_GEN_CAP_REG_MEM,
  TEE_IMPL_ID_OPTEE,
  TEE_OPTEE_CAP_TZ,
} from "../../abi/uapi/tee.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { ffaDriverRegister, type FfaDevice, type FfaDriver } from "../firmware/arm_ffa/bus.ts";
import { bootDrain, type ArmFfaDriver, type FfaSendDirectData } from "../firmware/arm_ffa/driver.ts";
import { ffaMemoryLend, ffaMemoryReclaim, type FfaMemOpsArgs } from "../firmware/arm_ffa/mem_ops.ts";
import { ffaNotifyRelinquish, ffaNotifyRequest } from "../firmware/arm_ffa/notif.ts";
import { moduleLoaded, type Initcall, type Kernel, type KModule } from "../kernel.ts";
import { TEE_DESC_PRIVILEGED, type TeeDesc } from "../tee/tee_core.ts";
import {
  TEE_DMA_HEAP_SECURE_VIDEO_PLAY,
  TEE_DMA_HEAP_TRUSTED_UI,
  teeDeviceRegisterDmaHeap,
} from "../tee/tee_heap.ts";
import { teeShmRead, type TeeShm } from "../tee/tee_shm.ts";
import {
  opteeCloseSession,
  opteeDoCallWithArg,
  opteeFreeMsgArg,
  opteeGetMsgArg,
  opteeInvokeFunc,
  opteeMsgArgRead,
  opteeMsgArgWrite,
  opteeOpenSession,
  opteeShmArgCacheInit,
} from "./call.ts";
import { opteeRegisterDevices, opteeRelease, opteeRemoveCommon, opteeOpen } from "./core.ts";
import { opteeEnumerateDevices } from "./device.ts";
import {
  data,
  ffaFromMsgParam,
  ffaShmPool,
  ffaToMsgParam,
  hi32,
  lo32,
  shmAddFfaHandle,
  shmRemFfaHandle,
  syncSendReceive,
} from "./ffa_shm.ts";
import { Optee, OPTEE_SHM_ARG_SHARED, pr, PTA_CMD_GET_DEVICES, type OpteeOps } from "./optee.ts";
import type { ProtmemPolicy } from "./protmem_lend.ts";
import { opteeProtmemPoolForPolicy } from "./protmem_pools.ts";

export type { ProtmemPolicy };

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

// ---- 5. Calls into OP-TEE ----

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
function* ffaDoCallWithArg(optee: Optee, shm: TeeShm, offs: number): Sleeps<number> {
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

/**
 * do_call_lend_protmem(): OPTEE_MSG_CMD_ASSIGN_PROTMEM {a = cookie, b = use case} in a message from
 * optee_get_msg_arg(); a result other than TEEC_SUCCESS is −EINVAL.
 */
function* doCallLendProtmem(optee: Optee, cookie: bigint, useCase: number): Sleeps<number> {
  const ctx = optee.ctx!;
  const slot = yield* opteeGetMsgArg(ctx, 1);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(
    slot,
    msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, useCase)]),
  );
  let rc = yield* opteeDoCallWithArg(optee, slot);
  if (!rc && opteeMsgArgRead(slot).ret !== TEE_SUCCESS) rc = -EINVAL;
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/**
 * The FFA_MEM_RECLAIM flags for protected memory under the run's policy (upstream: 0, and no caller of
 * memory_reclaim() passes anything else). `scrub: ffa-clear` asks the SPMC to zero the memory before
 * the normal world has it back: FFA_MEM_RECLAIM_CLEAR, w3 bit 0 (reference/ffa.md §1, §5.6; Linux has
 * no name for it: ffa_memory_reclaim(g_handle, flags) puts `flags` in a3 as it is). The secure world
 * writes decoded frames while the memory is lent, so the reclaim's clear is the one that keeps secrets
 * from coming back. The lend's FFA_MEM_CLEAR ("zero before retrieval", into the descriptor's flags by
 * ffa_setup_and_transmit()) would zero the memory before anything secret is in it: it keeps nothing
 * from Linux, costs a memset of every chunk at the SPMC, and is not set.
 */
export function protmemReclaimFlags(policy: ProtmemPolicy): number {
  return policy.scrub === "ffa-clear" ? FFA_MEM_RECLAIM_CLEAR : 0;
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
  // err_reclaim: flags 0 as upstream whatever the policy — no buffer was ever allocated from it, so
  // nothing secret is in it, and an SPMC that refuses the clear flag would leave the chunk lent under
  // a kernel that takes it back (protmem_lend.ts remaps it after a failed lend).
  const refused = yield* ffaMemoryReclaim(optee.ffa, args.gHandle, 0);
  // Upstream ignores this reclaim's result. The policy pools keep the handle of memory it left lent.
  if (refused && optee.protmemKeepRefusedLend) protmem.secWorldId = args.gHandle;
  return rc;
}

/**
 * optee_ffa_reclaim_protmem(): OPTEE_FFA_RELEASE_PROTMEM, then FFA_MEM_RECLAIM (with the policy's
 * flags, protmemReclaimFlags()); errors are only printed, and the reclaim's is returned.
 */
function* ffaReclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number> {
  const h = protmem.secWorldId;
  shmRemFfaHandle(optee, h);
  protmem.secWorldId = 0n;
  let rc = yield* syncSendReceive(optee, data(OPTEE_FFA_RELEASE_PROTMEM, lo32(h), hi32(h)));
  if (rc) pr(optee, "pr_err", `Release SHM id 0x${h.toString(16)} rc ${rc}`);
  rc = yield* ffaMemoryReclaim(optee.ffa, h, optee.protmemReclaimFlags);
  if (rc) pr(optee, "pr_err", `mem_reclaim: 0x${h.toString(16)} ${rc}`);
  return rc;
}

/** optee_ffa_ops */
export const OPTEE_FFA_OPS: OpteeOps = {
  doCallWithArg: ffaDoCallWithArg,
  toMsgParam: ffaToMsgParam,
  fromMsgParam: ffaFromMsgParam,
  lendProtmem: ffaLendProtmem,
  reclaimProtmem: ffaReclaimProtmem,
};

// ---- 6. Driver initialization ----

/**
 * optee_ffa_clnt_desc / optee_ffa_supp_desc: optee_ffa_get_version() (GP | REG_MEM | MEMREF_NULL),
 * optee_ffa_open() (optee_open(ctx, true)), optee_release() (supp: optee_release_supp(), whose
 * supplicant part is not modelled); the client device has the session ops. Owner: the module.
 */
function ffaDesc(name: string, flags: number, owner: KModule | null): TeeDesc {
  return {
    name,
    flags,
    owner,
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
  // Upstream: optee_protmem_alloc_dyn_pool(); the run's policy may ask for another pool (protmem_pools.ts).
  const pool = yield* opteeProtmemPoolForPolicy(optee, TEE_DMA_HEAP_SECURE_VIDEO_PLAY, policy);
  if (typeof pool === "number") return pool;
  const rc = yield* teeDeviceRegisterDmaHeap(optee.teedev!, TEE_DMA_HEAP_SECURE_VIDEO_PLAY, pool);
  if (rc) {
    yield* pool.ops.destroyPool(pool);
    return rc;
  }
  optee.protmemPool = pool;
  optee.protmemPools.push(pool);
  // Upstream registers the secure-video heap only ("only secure video is supported by now"). A policy's
  // own lending pool (our choice) also serves every other use case OP-TEE configures, so a trusted-UI
  // client finds its heap; a use case OP-TEE refuses simply has no heap, as upstream.
  if (policy.pool === "growable" || policy.pool === "per-buffer") {
    const ui = yield* opteeProtmemPoolForPolicy(optee, TEE_DMA_HEAP_TRUSTED_UI, policy);
    if (typeof ui !== "number") {
      if (yield* teeDeviceRegisterDmaHeap(optee.teedev!, TEE_DMA_HEAP_TRUSTED_UI, ui))
        yield* ui.ops.destroyPool(ui);
      else optee.protmemPools.push(ui);
    }
  }
  return 0;
}

/** optee_ffa_probe(ffa_dev): the driver instance, or −errno (the device then stays unbound). */
export function* opteeFfaProbe(
  kernel: Kernel,
  dev: FfaDevice,
  policy: ProtmemPolicy,
): Sleeps<Optee | number> {
  const owner = kernel.modules.get("optee") ?? null;
  const optee = new Optee(kernel, dev.drv, dev.vmId, OPTEE_FFA_OPS);
  optee.ffaDev = dev;
  optee.protmemReclaimFlags = protmemReclaimFlags(policy);
  optee.protmemKeepRefusedLend = policy.pool !== "dynamic";
  if (!(yield* ffaApiIsCompatible(optee, dev))) return -EINVAL;
  if (!(yield* ffaExchangeCaps(optee, dev))) return -EINVAL;
  const argCacheFlags = optee.secCaps & OPTEE_FFA_SEC_CAP_ARG_OFFSET ? OPTEE_SHM_ARG_SHARED : 0;
  optee.pool = ffaShmPool(optee);
  // tee_device_alloc() ×2, tee_device_register() ×2, the handle table, optee_shm_arg_cache_init(),
  // ffa_dev_set_drvdata(), teedev_open().
  opteeShmArgCacheInit(optee, argCacheFlags);
  dev.driverData = optee;
  const devRc = yield* opteeRegisterDevices(
    optee,
    ffaDesc("optee-ffa-clnt", 0, owner),
    ffaDesc("optee-ffa-supp", TEE_DESC_PRIVILEGED, owner),
  );
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
 * optee_ffa_remove(ffa_dev): notify_relinquish() of the bottom half's ID if one is bound, then
 * optee_remove_common(); mutex_destroy(), rhashtable_free_and_destroy(global_ids), kfree(optee).
 */
export function* opteeFfaRemove(dev: FfaDevice): Sleeps {
  const optee = dev.driverData as Optee;
  if (optee.bottomHalfValue !== 0xffff_ffff)
    yield* ffaNotifyRelinquish(dev.drv, dev.vmId, optee.bottomHalfValue);
  yield* opteeRemoveCommon(optee);
  optee.ffaHandles.clear();
}

/**
 * optee_ffa_abi_unregister() → ffa_unregister(&optee_ffa_driver) → driver_unregister(): every device
 * this driver bound is unbound in turn — device_release_driver() → ffa_device_remove() → .remove, and
 * the device's drvdata is cleared (bus.c's driver side; bus.ts models registration only).
 */
function* opteeFfaAbiUnregister(kernel: Kernel, ffa: ArmFfaDriver): Sleeps {
  for (const dev of ffa.devices) {
    if (!(dev.driverData instanceof Optee)) continue;
    const optee = dev.driverData;
    yield* opteeFfaRemove(dev);
    dev.driverData = null;
    if (kernel.optee === optee) kernel.optee = undefined;
  }
}

/**
 * The OP-TEE driver's module_init (optee_core_init() → optee_ffa_abi_register() → ffa_register()):
 * the module "optee" is loaded (its exit, optee_core_exit(), unregisters the driver again), then the
 * FF-A bus matches its UUID and probes the device. Without the arm_ffa driver there is no device.
 */
export function opteeFfaInitcall(policy: ProtmemPolicy): Initcall {
  return function optee_ffa_init(kernel: Kernel): number {
    const ffa: ArmFfaDriver | undefined = kernel.armFfa;
    if (!ffa) return -ENODEV;
    moduleLoaded(kernel, "optee", (k) => opteeFfaAbiUnregister(k, ffa));
    const driver: FfaDriver = {
      name: "optee",
      idTable: [OPTEE_FFA_UUID_WORDS],
      // eslint-disable-next-line no-restricted-syntax -- made once, at the driver's registration, part of the booted system
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
