/**
 * The OP-TEE driver over OP-TEE's own SMC ABI (no FF-A) — drivers/tee/optee/smc_abi.c (linux-kernel.md
 * §1.9, optee.md §2.1–2.3): probe (OPTEE_SMC_EXCHANGE_CAPABILITIES, the message page, /dev/tee0 and
 * /dev/teepriv0, the driver's own context, optee_protmem_pool_init()), optee_smc_do_call_with_arg()
 * and the protected-memory ops plugged into `optee_ops` (.lend_protmem = optee_smc_lend_protmem,
 * .reclaim_protmem = optee_smc_reclaim_protmem), which protmem.c's dynamic pool calls.
 *
 * optee_protmem_pool_init(): static first — OPTEE_SMC_GET_PROTMEM_CONFIG (fast call) → optee_set_dma_mask()
 * → tee_protmem_static_pool_alloc(start, size) — when OP-TEE reports OPTEE_SMC_SEC_CAP_PROTMEM; if that
 * fails and OP-TEE reports OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM, optee_protmem_alloc_dyn_pool(); then
 * tee_device_register_dma_heap(TEE_DMA_HEAP_SECURE_VIDEO_PLAY). A failure only prints "Protected memory
 * service not available".
 *
 * MODEL CHOICES:
 * - The message page: one 4 KiB page from alloc_pages(GFP_KERNEL, 0) at probe, the optee_msg_arg at
 *   offset 0, written by the kernel (cpu-ns, kernel mapping) — the same contract as the FF-A driver
 *   (optee.ts). Upstream takes it from the driver's shm pool; its PA goes in a1/a2 either way.
 * - devm_memremap(start, size, MEMREMAP_WC) of the static carveout is not modelled: a write-combine
 *   mapping is not cacheable, so it neither fills speculatively nor holds dirty lines, and the model's
 *   kernel never touches the carveout through it.
 * - OPTEE_SMC_CALLS_UID / CALLS_REVISION / GET_OS_REVISION and the shm pool set-up are not modelled.
 * - The lend cookie (upstream `(u_long)protmem`, a kernel pointer) is a kernel-pointer-like value made
 *   from the chunk's PA: unique per live chunk, deterministic.
 * - OPTEE_SMC_RETURN_ETHREAD_LIMIT (wait for a thread) and RPCs are not modelled: they give −EIO.
 */
import {
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_RECLAIM_PROTMEM,
  memParam,
  valueParam,
} from "../../abi/optee/msg.ts";
import {
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
  OPTEE_SMC_RETURN_ETHREAD_LIMIT,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM,
  OPTEE_SMC_SEC_CAP_DYNAMIC_SHM,
  OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM,
  OPTEE_SMC_SEC_CAP_PROTMEM,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
} from "../../abi/optee/smc.ts";
import { TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EINVAL, EIO, ENOMEM } from "../../abi/uapi/errno.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { bootDrain, type ArmFfaDriver } from "../firmware/arm_ffa/driver.ts";
import type { Initcall, Kernel } from "../kernel.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import {
  TEE_DMA_HEAP_SECURE_VIDEO_PLAY,
  teeDeviceRegisterDmaHeap,
  type TeeProtmemPool,
} from "../tee/tee_heap.ts";
import { teeProtmemStaticPoolAlloc } from "../tee/tee_protmem_static.ts";
import type { TeeShm } from "../tee/tee_shm.ts";
import type { ProtmemPolicy } from "./ffa_abi.ts";
import {
  msgArg,
  Optee,
  opteeCallMsg,
  opteeRegisterDevices,
  opteeSetDmaMask,
  type OpteeOps,
} from "./optee.ts";
import { opteeProtmemAllocDynPool } from "./protmem.ts";

/**
 * struct optee has an FF-A driver pointer only for ffa_abi.c; the SMC ABI never uses it. Touching it
 * is a bug of the model.
 */
const NO_FFA = new Proxy(
  {},
  {
    get(_t, key) {
      throw new Error(`the OP-TEE SMC ABI driver has no FF-A transport (used .${String(key)})`);
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

/**
 * optee_smc_do_call_with_arg() without an RPC arg: OPTEE_SMC_CALL_WITH_ARG, a1/a2 = the message's PA.
 * Returns res.a0 as upstream does (0 = OPTEE_SMC_RETURN_OK), or −EIO for what is not modelled.
 */
function* smcDoCallWithArg(optee: Optee, offs: number): Sleeps<number> {
  const [hi, lo] = regPairFrom64(optee.argPage.pa + offs);
  const res = yield* invokeFn(optee.kernel, OPTEE_SMC_CALL_WITH_ARG, hi, lo);
  const a0 = Number(res[0] & 0xffff_ffffn);
  if (a0 === OPTEE_SMC_RETURN_ETHREAD_LIMIT || isRpc(a0)) return -EIO;
  return a0;
}

/** The cookie Linux passes as shm_ref for a lent chunk (see the header). */
export function protmemCookie(protmem: TeeShm): bigint {
  return 0xffff_0000_0000_0000n | BigInt(protmem.paddr);
}

/** optee_smc_lend_protmem(): mem_attrs are ignored over SMC. */
function* smcLendProtmem(
  optee: Optee,
  protmem: TeeShm,
  _memAttrs: readonly number[],
  useCase: number,
): Sleeps<number> {
  const cookie = protmemCookie(protmem);
  const back = yield* opteeCallMsg(
    optee,
    msgArg(OPTEE_MSG_CMD_LEND_PROTMEM, [
      valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, useCase),
      memParam(OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, protmem.paddr, protmem.size, cookie),
    ]),
  );
  if (typeof back === "number") return back;
  if (back.ret !== TEE_SUCCESS) return -EINVAL;
  protmem.secWorldId = cookie;
  return 0;
}

/** optee_smc_reclaim_protmem() */
function* smcReclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number> {
  const back = yield* opteeCallMsg(
    optee,
    msgArg(OPTEE_MSG_CMD_RECLAIM_PROTMEM, [
      memParam(OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, 0, 0, protmemCookie(protmem)),
    ]),
  );
  if (typeof back === "number") return back;
  return back.ret !== TEE_SUCCESS ? -EINVAL : 0;
}

export const OPTEE_SMC_OPS: OpteeOps = {
  doCallWithArg: smcDoCallWithArg,
  lendProtmem: smcLendProtmem,
  reclaimProtmem: smcReclaimProtmem,
};

function prInfo(kernel: Kernel, msg: string): void {
  if (kernel.sim.trace.listening) kernel.sim.trace.emit("kernel", "pr_info", { msg });
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
  if (rc) pool.ops.destroyPool(pool);
  else optee.protmemPool = pool;
  return rc;
}

/** optee_probe() (smc_abi.c), as far as modelled: the driver instance, or −errno. */
export function* opteeSmcProbe(kernel: Kernel, policy: ProtmemPolicy): Sleeps<Optee | number> {
  // optee_msg_exchange_capabilities(): a1 = OPTEE_SMC_NSEC_CAP_UNIPROCESSOR only on UP kernels (not ours).
  const res = yield* invokeFn(kernel, OPTEE_SMC_EXCHANGE_CAPABILITIES, 0);
  if (Number(res[0] & 0xffff_ffffn) !== OPTEE_SMC_RETURN_OK) {
    prInfo(kernel, "optee: capabilities mismatch");
    return -EINVAL;
  }
  const secCaps = Number(res[1] & 0xffff_ffffn);
  if (!(secCaps & (OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM))) {
    prInfo(kernel, "optee: dynamic shared memory is disabled");
    return -EINVAL;
  }
  const frame = kernel.mm.buddy.allocPages(0, GFP_KERNEL);
  if (frame < 0) return -ENOMEM;
  const pa = kernel.machine.frames.paOf(frame);
  const optee = new Optee(kernel, NO_FFA, 0, { frame, pa, handle: 0n }, OPTEE_SMC_OPS);
  optee.secCaps = secCaps;
  optee.rpcParamCount = Number(res[3] & 0xffn);
  const devRc = yield* opteeRegisterDevices(optee);
  if (devRc) return devRc;
  if (yield* smcProtmemPoolInit(optee, policy)) prInfo(kernel, "Protected memory service not available");
  return optee;
}

/** The OP-TEE driver's initcall for a DT node with method "smc" (optee_driver_init → optee_probe). */
export function opteeSmcInitcall(policy: ProtmemPolicy): Initcall {
  return function optee_smc_init(kernel: Kernel): number {
    const r = bootDrain(opteeSmcProbe(kernel, policy));
    if (typeof r === "number") return r;
    kernel.optee = r;
    return 0;
  };
}
