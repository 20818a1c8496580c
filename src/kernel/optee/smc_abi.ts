/**
 * The OP-TEE driver over OP-TEE's own SMC ABI (no FF-A) — drivers/tee/optee/smc_abi.c (torvalds/linux
 * v6.18; linux-kernel.md §1.9, optee.md §2.1–2.3): optee_smc_do_call_with_arg(), the protected-memory
 * ops plugged into `optee_ops` (.lend_protmem = optee_smc_lend_protmem, .reclaim_protmem =
 * optee_smc_reclaim_protmem), optee_protmem_pool_init(), optee_probe() and optee_smc_remove().
 * Parameters, shm registration and the shm pool are in smc_shm.ts.
 *
 * Messages come from call.c's arg cache like the FF-A driver's: with OPTEE_SMC_SEC_CAP_DYNAMIC_SHM the
 * cache is OPTEE_SHM_ARG_SHARED when OP-TEE reports OPTEE_SMC_SEC_CAP_RPC_ARG, else
 * OPTEE_SHM_ARG_ALLOC_PRIV (a private, unregistered page a message). optee_smc_do_call_with_arg(ctx,
 * shm, offs): with an RPC parameter count the message's RPC arg must fit in the shm; a registered
 * (dynamic) shm with an RPC arg is passed by reference (OPTEE_SMC_CALL_WITH_REGD_ARG, a1/a2 the shm
 * pointer, a3 the offset), otherwise by physical address (tee_shm_get_pa()) with
 * OPTEE_SMC_CALL_WITH_RPC_ARG or OPTEE_SMC_CALL_WITH_ARG. Nothing is held across the SMC.
 *
 * optee_protmem_pool_init(): static first — OPTEE_SMC_GET_PROTMEM_CONFIG (fast call) → optee_set_dma_mask()
 * → tee_protmem_static_pool_alloc(start, size) — when OP-TEE reports OPTEE_SMC_SEC_CAP_PROTMEM; if that
 * fails and OP-TEE reports OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM, optee_protmem_alloc_dyn_pool(); then
 * tee_device_register_dma_heap(TEE_DMA_HEAP_SECURE_VIDEO_PLAY). A failure only prints "Protected memory
 * service not available". Then optee_enumerate_devices(PTA_CMD_GET_DEVICES), as the probe does.
 *
 * MODEL CHOICES:
 * - OPTEE_SMC_CALLS_UID / CALLS_REVISION / GET_OS_REVISION, OPTEE_SMC_DISABLE_SHM_CACHE /
 *   ENABLE_SHM_CACHE (probe and remove) and the reserved-shm pool (OPTEE_SMC_GET_SHM_CONFIG, for an
 *   OP-TEE without dynamic shared memory) are not modelled; neither is the secure world's answer to
 *   them (secure/optee/smc_boot.ts).
 * - devm_memremap(start, size, MEMREMAP_WC) of the static carveout is not modelled: a write-combine
 *   mapping is not cacheable, so it neither fills speculatively nor holds dirty lines, and the model's
 *   kernel never touches the carveout through it.
 * - OPTEE_SMC_RETURN_ETHREAD_LIMIT (wait for a thread) and RPCs are not modelled: they give −EIO.
 */
import {
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_RECLAIM_PROTMEM,
  memParam,
  optee_msg_get_arg_size,
  valueParam,
  msgArg,
} from "../../abi/optee/msg.ts";
import {
  optee_smc_std_call_val,
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
  OPTEE_SMC_RETURN_ETHREAD_LIMIT,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
  OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM,
  OPTEE_SMC_SEC_CAP_DYNAMIC_SHM,
  OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM,
  OPTEE_SMC_SEC_CAP_PROTMEM,
} from "../../abi/optee/smc.ts";
import { TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EINVAL, EIO } from "../../abi/uapi/errno.ts";
import {
  TEE_GEN_CAP_GP,
  TEE_GEN_CAP_MEMREF_NULL,
  TEE_GEN_CAP_REG_MEM,
  TEE_IMPL_ID_OPTEE,
  TEE_OPTEE_CAP_TZ,
} from "../../abi/uapi/tee.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { bootDrain, type ArmFfaDriver } from "../firmware/arm_ffa/driver.ts";
import { moduleLoaded, type Initcall, type Kernel, type KModule } from "../kernel.ts";
import { TEE_DESC_PRIVILEGED, type TeeDesc } from "../tee/tee_core.ts";
import {
  TEE_DMA_HEAP_SECURE_VIDEO_PLAY,
  teeDeviceRegisterDmaHeap,
  type TeeProtmemPool,
} from "../tee/tee_heap.ts";
import { teeProtmemStaticPoolAlloc } from "../tee/tee_protmem_static.ts";
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
import { opteeOpen, opteeRegisterDevices, opteeRelease, opteeRemoveCommon, opteeSetDmaMask } from "./core.ts";
import { opteeEnumerateDevices } from "./device.ts";
import type { ProtmemPolicy } from "./protmem_lend.ts";
import {
  Optee,
  OPTEE_SHM_ARG_ALLOC_PRIV,
  OPTEE_SHM_ARG_SHARED,
  pr,
  PTA_CMD_GET_DEVICES,
  type OpteeOps,
} from "./optee.ts";
import { opteeProtmemAllocDynPool } from "./protmem.ts";
import {
  shmPtr,
  smcFromMsgParam,
  smcShmPool,
  smcToMsgParam,
  teeShmGetPa,
  teeShmIsDynamic,
} from "./smc_shm.ts";

/** optee_smc.h: OPTEE_SMC_SEC_CAP_MEMREF_NULL BIT(4), OPTEE_SMC_SEC_CAP_RPC_ARG BIT(6). */
export const OPTEE_SMC_SEC_CAP_MEMREF_NULL = 1 << 4;
export const OPTEE_SMC_SEC_CAP_RPC_ARG = 1 << 6;
/** optee_smc.h: OPTEE_SMC_CALL_WITH_RPC_ARG (function 18), OPTEE_SMC_CALL_WITH_REGD_ARG (19). */
export const OPTEE_SMC_CALL_WITH_RPC_ARG = optee_smc_std_call_val(18);
export const OPTEE_SMC_CALL_WITH_REGD_ARG = optee_smc_std_call_val(19);

/**
 * struct optee has an FF-A driver pointer only for ffa_abi.c; the SMC ABI never uses it. Touching one
 * of its fields is a bug of the model. Symbol keys answer undefined: what looks at any object (the
 * snapshot walk's Object.prototype.toString, reading Symbol.toStringTag) must see an empty one.
 */
const NO_FFA = new Proxy(
  {},
  {
    get(_t, key) {
      if (typeof key === "symbol") return undefined;
      throw new Error(`the OP-TEE SMC ABI driver has no FF-A transport (used .${key})`);
    },
  },
) as ArmFfaDriver;

/** reg_pair_from_64(): the upper 32 bits in the first register, the lower in the second. */
export function regPairFrom64(v: number | bigint): [bigint, bigint] {
  const b = BigInt(v);
  return [(b >> 32n) & 0xffff_ffffn, b & 0xffff_ffffn];
}

/** optee->smc.invoke_fn(): an SMC from the normal world through the conduit. */
function* invokeFn(kernel: Kernel, ...a: (number | bigint)[]): Sleeps<SmcRegs> {
  return yield* kernel.machine.smc.smc(smcRegs(...a), "ns");
}

/** OPTEE_SMC_RETURN_IS_RPC(): 0xFFFF0000-prefixed return codes other than UNKNOWN_FUNCTION. */
function isRpc(a0: number): boolean {
  return a0 !== OPTEE_SMC_RETURN_UNKNOWN_FUNCTION && (a0 & 0xffff_0000) >>> 0 === 0xffff_0000;
}

/** optee_smc_do_call_with_arg(ctx, shm, offs, system_thread): res.a0 (0 = OK), −errno, or −EIO (see header). */
function* smcDoCallWithArg(optee: Optee, shm: TeeShm, offs: number): Sleeps<number> {
  let rpcArg = false;
  if (optee.rpcParamCount) {
    if (offs >= shm.size) return -EINVAL; // tee_shm_get_va(shm, offs)
    const numParams = new DataView(teeShmRead(shm, offs + 28, 4).buffer).getUint32(0, true);
    if (offs + optee_msg_get_arg_size(numParams) >= shm.size) return -EINVAL; // the RPC arg's va
    rpcArg = true;
  }
  let regs: (number | bigint)[];
  if (rpcArg && teeShmIsDynamic(shm)) {
    const [hi, lo] = regPairFrom64(shmPtr(shm));
    regs = [OPTEE_SMC_CALL_WITH_REGD_ARG, hi, lo, offs];
  } else {
    const parg = teeShmGetPa(shm, offs);
    if (parg < 0) return parg;
    const [hi, lo] = regPairFrom64(parg);
    regs = [rpcArg ? OPTEE_SMC_CALL_WITH_RPC_ARG : OPTEE_SMC_CALL_WITH_ARG, hi, lo];
  }
  const res = yield* invokeFn(optee.kernel, ...regs);
  const a0 = Number(res[0] & 0xffff_ffffn);
  if (a0 === OPTEE_SMC_RETURN_ETHREAD_LIMIT || isRpc(a0)) return -EIO;
  return a0;
}

/** optee_smc_lend_protmem(): LEND_PROTMEM {VALUE_INPUT use case; TMEM_INPUT pa, size, shm_ref = protmem}. */
function* smcLendProtmem(
  optee: Optee,
  protmem: TeeShm,
  _memAttrs: readonly number[],
  useCase: number,
): Sleeps<number> {
  const ctx = optee.ctx!;
  const slot = yield* opteeGetMsgArg(ctx, 2);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(
    slot,
    msgArg(OPTEE_MSG_CMD_LEND_PROTMEM, [
      valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, useCase),
      memParam(OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, protmem.paddr, protmem.size, shmPtr(protmem)),
    ]),
  );
  let rc = yield* opteeDoCallWithArg(optee, slot);
  if (!rc && opteeMsgArgRead(slot).ret !== TEE_SUCCESS) rc = -EINVAL;
  if (!rc) protmem.secWorldId = shmPtr(protmem);
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/** optee_smc_reclaim_protmem(): RECLAIM_PROTMEM {RMEM_INPUT shm_ref = protmem}. */
function* smcReclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number> {
  const ctx = optee.ctx!;
  const slot = yield* opteeGetMsgArg(ctx, 1);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(
    slot,
    msgArg(OPTEE_MSG_CMD_RECLAIM_PROTMEM, [memParam(OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, 0, 0, shmPtr(protmem))]),
  );
  let rc = yield* opteeDoCallWithArg(optee, slot);
  if (!rc && opteeMsgArgRead(slot).ret !== TEE_SUCCESS) rc = -EINVAL;
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/** optee_ops (smc_abi.c) */
export const OPTEE_SMC_OPS: OpteeOps = {
  doCallWithArg: smcDoCallWithArg,
  toMsgParam: smcToMsgParam,
  fromMsgParam: smcFromMsgParam,
  lendProtmem: smcLendProtmem,
  reclaimProtmem: smcReclaimProtmem,
};

/**
 * optee_clnt_desc / optee_supp_desc: optee_get_version() (GP, REG_MEM with DYNAMIC_SHM, MEMREF_NULL
 * with OPTEE_SMC_SEC_CAP_MEMREF_NULL), optee_smc_open(), optee_release() (supp: optee_release_supp()).
 */
function smcDesc(name: string, flags: number, secCaps: number, owner: KModule | null): TeeDesc {
  const genCaps =
    TEE_GEN_CAP_GP |
    (secCaps & OPTEE_SMC_SEC_CAP_DYNAMIC_SHM ? TEE_GEN_CAP_REG_MEM : 0) |
    (secCaps & OPTEE_SMC_SEC_CAP_MEMREF_NULL ? TEE_GEN_CAP_MEMREF_NULL : 0);
  return {
    name,
    flags,
    owner,
    ops: {
      getVersion: () => ({ impl_id: TEE_IMPL_ID_OPTEE, impl_caps: TEE_OPTEE_CAP_TZ, gen_caps: genCaps }),
      open: opteeOpen,
      release: opteeRelease,
      ...(flags & TEE_DESC_PRIVILEGED
        ? {}
        : { openSession: opteeOpenSession, closeSession: opteeCloseSession, invokeFunc: opteeInvokeFunc }),
    },
  };
}

/** static_protmem_pool_init(): the carveout pool, or −errno. */
function* staticProtmemPoolInit(optee: Optee): Sleeps<TeeProtmemPool | number> {
  const res = yield* invokeFn(optee.kernel, OPTEE_SMC_GET_PROTMEM_CONFIG, 0, 0, 0, 0, 0, 0, 0);
  if (Number(res[0] & 0xffff_ffffn) !== OPTEE_SMC_RETURN_OK) return -EINVAL;
  const rc = opteeSetDmaMask(optee, Number(res[3]));
  if (rc) return rc;
  // devm_memremap(start, size, MEMREMAP_WC): not modelled (see the header).
  return teeProtmemStaticPoolAlloc(optee.kernel.machine, Number(res[1]), Number(res[2]));
}

/** optee_protmem_pool_init() (smc_abi.c): static first, then dynamic. */
function* smcProtmemPoolInit(optee: Optee, policy: ProtmemPolicy): Sleeps<number> {
  const protm = (optee.secCaps & OPTEE_SMC_SEC_CAP_PROTMEM) !== 0;
  const dynProtm = (optee.secCaps & OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM) !== 0;
  if (!protm && !dynProtm) return 0;
  let pool: TeeProtmemPool | number = -EINVAL;
  if (protm) pool = yield* staticProtmemPoolInit(optee);
  if (dynProtm && typeof pool === "number") {
    // Only the upstream dynamic pool is built so far (as in ffa_abi.ts).
    pool =
      policy.pool === "dynamic"
        ? yield* opteeProtmemAllocDynPool(optee, TEE_DMA_HEAP_SECURE_VIDEO_PLAY)
        : -EINVAL;
  }
  if (typeof pool === "number") return pool;
  const rc = yield* teeDeviceRegisterDmaHeap(optee.teedev!, TEE_DMA_HEAP_SECURE_VIDEO_PLAY, pool);
  if (rc) yield* pool.ops.destroyPool(pool);
  else {
    optee.protmemPool = pool;
    optee.protmemPools.push(pool);
  }
  return rc;
}

/** optee_probe() (smc_abi.c), as far as modelled: the driver instance, or −errno. */
export function* opteeSmcProbe(kernel: Kernel, policy: ProtmemPolicy): Sleeps<Optee | number> {
  // optee_msg_exchange_capabilities(): a1 = OPTEE_SMC_NSEC_CAP_UNIPROCESSOR only on UP kernels (not ours).
  const res = yield* invokeFn(kernel, OPTEE_SMC_EXCHANGE_CAPABILITIES, 0);
  if (Number(res[0] & 0xffff_ffffn) !== OPTEE_SMC_RETURN_OK) {
    pr(kernel, "pr_warn", "capabilities mismatch");
    return -EINVAL;
  }
  const secCaps = Number(res[1] & 0xffff_ffffn);
  const rpcParamCount = secCaps & OPTEE_SMC_SEC_CAP_RPC_ARG ? Number(res[3] & 0xffn) : 0;
  if (!(secCaps & OPTEE_SMC_SEC_CAP_DYNAMIC_SHM)) {
    // optee_config_shm_memremap() (HAVE_RESERVED_SHM): not modelled.
    pr(
      kernel,
      "pr_err",
      secCaps & OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM
        ? "reserved shared memory pool is not modelled"
        : "dynamic shared memory is disabled",
    );
    return -EINVAL;
  }
  const argCacheFlags = secCaps & OPTEE_SMC_SEC_CAP_RPC_ARG ? OPTEE_SHM_ARG_SHARED : OPTEE_SHM_ARG_ALLOC_PRIV;
  const owner = kernel.modules.get("optee") ?? null;
  const optee = new Optee(kernel, NO_FFA, 0, OPTEE_SMC_OPS);
  optee.pool = smcShmPool(optee, smcDoCallWithArg);
  optee.secCaps = secCaps;
  optee.rpcParamCount = rpcParamCount;
  opteeShmArgCacheInit(optee, argCacheFlags);
  const devRc = yield* opteeRegisterDevices(
    optee,
    smcDesc("optee-clnt", 0, secCaps, owner),
    smcDesc("optee-supp", TEE_DESC_PRIVILEGED, secCaps, owner),
  );
  if (devRc) return devRc;
  // optee_notif_init(); no OPTEE_SMC_SEC_CAP_ASYNC_NOTIF from the model's OP-TEE.
  if (yield* smcProtmemPoolInit(optee, policy))
    pr(kernel, "pr_info", "Protected memory service not available");
  pr(kernel, "pr_info", "dynamic shared memory is enabled");
  const rc = yield* opteeEnumerateDevices(optee, PTA_CMD_GET_DEVICES);
  if (rc) return rc;
  pr(kernel, "pr_info", "initialized driver");
  return optee;
}

/** optee_smc_remove(): (the shm cache is not modelled), optee_smc_notif_uninit_irq(), optee_remove_common(). */
export function* opteeSmcRemove(optee: Optee): Sleeps {
  yield* opteeRemoveCommon(optee);
}

/**
 * The OP-TEE driver's module_init for a DT node with method "smc" (optee_core_init() →
 * optee_smc_abi_register() → platform_driver_register() → optee_probe()); the module's exit
 * (optee_smc_abi_unregister() → platform_driver_unregister()) removes the device's driver.
 */
export function opteeSmcInitcall(policy: ProtmemPolicy): Initcall {
  return function optee_smc_init(kernel: Kernel): number {
    // eslint-disable-next-line no-restricted-syntax -- made once, at the module's init, part of the booted system
    moduleLoaded(kernel, "optee", function* (k) {
      const optee = k.optee;
      if (!optee) return;
      yield* opteeSmcRemove(optee);
      k.optee = undefined;
    });
    const r = bootDrain(opteeSmcProbe(kernel, policy));
    if (typeof r === "number") return r;
    kernel.optee = r;
    return 0;
  };
}
