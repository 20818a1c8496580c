/**
 * The OP-TEE driver over FF-A — drivers/tee/optee/ffa_abi.c: probe (API version, OS version,
 * capabilities, the shared argument page, /dev/tee0 and /dev/teepriv0, the driver's own context, the
 * protected-memory pool), yielding calls with an argument, and lending / reclaiming protected memory
 * (optee_ffa_lend_protmem(), optee_ffa_reclaim_protmem(); linux-kernel.md §1.8).
 *
 * Transport: FFA_MSG_SEND_DIRECT_REQ_64 to OP-TEE's endpoint, found with FFA_PARTITION_INFO_GET by
 * OP-TEE's UUID 486178e0-e7f8-11e3-bc5e-0002a5d5c51b (the driver's ffa_device_id table).
 */
import {
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_RELEASE_PROTMEM,
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
} from "../../abi/optee/msg.ts";
import { TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { FFA_MEM_RW } from "../../abi/ffa/index.ts";
import { EINVAL, EIO, ENODEV } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { bootDrain, type ArmFfaDriver, type FfaSendDirectData } from "../firmware/arm_ffa/driver.ts";
import {
  ffaMemoryLend,
  ffaMemoryReclaim,
  ffaMemoryShare,
  type FfaMemOpsArgs,
} from "../firmware/arm_ffa/mem_ops.ts";
import type { Initcall, Kernel } from "../kernel.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import { TEE_DMA_HEAP_SECURE_VIDEO_PLAY, teeDeviceRegisterDmaHeap } from "../tee/tee_heap.ts";
import type { TeeShm } from "../tee/tee_shm.ts";
import { msgArg, Optee, opteeCallMsg, opteeRegisterDevices, type OpteeOps } from "./optee.ts";
import { opteeProtmemAllocDynPool } from "./protmem.ts";

/** OP-TEE's UUID as the four little-endian words FFA_PARTITION_INFO_GET takes (uuid_to_words()). */
/** What the driver reads of the run's policy (scenario/policies.ts Policy): the pool kind. */
export interface ProtmemPolicy {
  readonly pool: string;
}

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

function data(d0: number, d1 = 0n, d2 = 0n, d3 = 0n, d4 = 0n): FfaSendDirectData {
  return [BigInt(d0), d1, d2, d3, d4];
}

const lo32 = (h: bigint) => h & 0xffff_ffffn;
const hi32 = (h: bigint) => (h >> 32n) & 0xffff_ffffn;

/** optee_ffa_yielding_call() for OPTEE_FFA_YIELDING_CALL_WITH_ARG: 0, or −errno. RPCs are not modelled. */
function* ffaDoCallWithArg(optee: Optee, offs: number): Sleeps<number> {
  const h = optee.argPage.handle;
  const d = data(OPTEE_FFA_YIELDING_CALL_WITH_ARG, lo32(h), hi32(h), BigInt(offs));
  const rc = yield* optee.ffa.msgSendDirectReq(optee.endpointId, false, d);
  if (rc) return rc;
  if (d[0] !== 0n) return -EIO; // TEEC_ERROR_BUSY (no free thread) would wait upstream; not modelled
  if (d[1] !== BigInt(OPTEE_FFA_YIELDING_CALL_RETURN_DONE)) return -EIO; // an RPC: not modelled
  return 0;
}

/** do_call_lend_protmem(): OPTEE_MSG_CMD_ASSIGN_PROTMEM {a = cookie, b = use case}. */
function* doCallLendProtmem(optee: Optee, cookie: bigint, useCase: number): Sleeps<number> {
  const back = yield* opteeCallMsg(
    optee,
    msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, useCase)]),
  );
  if (typeof back === "number") return back;
  if (back.ret !== TEE_SUCCESS) return -EINVAL;
  return 0;
}

/** optee_ffa_lend_protmem() */
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
    attrs: memAttrs.map((a) => ({ receiver: a & 0xffff, attrs: a >>> 16 })),
    sg: [{ pa: protmem.paddr, length: protmem.size }],
    gHandle: 0n,
  };
  let rc = yield* ffaMemoryLend(optee.ffa, args);
  if (rc) return rc;
  rc = yield* doCallLendProtmem(optee, args.gHandle, useCase);
  if (rc) {
    yield* ffaMemoryReclaim(optee.ffa, args.gHandle, 0);
    return rc;
  }
  // optee_shm_add_ffa_handle(): cannot fail in the model (an rhashtable insert of a unique handle).
  optee.ffaHandles.set(args.gHandle, protmem);
  protmem.secWorldId = args.gHandle;
  return 0;
}

/** optee_ffa_reclaim_protmem(): RELEASE_PROTMEM, then FFA_MEM_RECLAIM; errors are only printed. */
function* ffaReclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number> {
  const h = protmem.secWorldId;
  optee.ffaHandles.delete(h);
  protmem.secWorldId = 0n;
  let rc = yield* optee.ffa.msgSendDirectReq(
    optee.endpointId,
    false,
    data(OPTEE_FFA_RELEASE_PROTMEM, lo32(h), hi32(h)),
  );
  const trace = optee.kernel.sim.trace;
  if (rc && trace.listening)
    trace.emit("kernel", "pr_err", { msg: `Release SHM id 0x${h.toString(16)} rc ${rc}` });
  rc = yield* ffaMemoryReclaim(optee.ffa, h, 0);
  if (rc && trace.listening)
    trace.emit("kernel", "pr_err", { msg: `mem_reclaim: 0x${h.toString(16)} ${rc}` });
  return rc;
}

export const OPTEE_FFA_OPS: OpteeOps = {
  doCallWithArg: ffaDoCallWithArg,
  lendProtmem: ffaLendProtmem,
  reclaimProtmem: ffaReclaimProtmem,
};

function prInfo(kernel: Kernel, msg: string): void {
  if (kernel.sim.trace.listening) kernel.sim.trace.emit("kernel", "pr_info", { msg });
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

/** optee_ffa_probe(): the driver instance, or −errno (the kernel then has no /dev/tee0). */
export function* opteeFfaProbe(
  kernel: Kernel,
  ffa: ArmFfaDriver,
  policy: ProtmemPolicy,
): Sleeps<Optee | number> {
  const parts = yield* ffa.partitionInfoGet(OPTEE_FFA_UUID_WORDS);
  if (typeof parts === "number") return parts;
  if (parts.length === 0) return -ENODEV;
  const ep = parts[0].id;
  // optee_ffa_api_is_compatible()
  let d = data(OPTEE_FFA_GET_API_VERSION);
  let rc = yield* ffa.msgSendDirectReq(ep, false, d);
  if (rc) return rc;
  if (d[0] !== BigInt(OPTEE_FFA_VERSION_MAJOR) || d[1] < BigInt(OPTEE_FFA_VERSION_MINOR)) {
    prInfo(kernel, `Incompatible OP-TEE API version ${d[0]}.${d[1]}`);
    return -EINVAL;
  }
  d = data(OPTEE_FFA_GET_OS_VERSION);
  rc = yield* ffa.msgSendDirectReq(ep, false, d);
  if (rc) return rc;
  const osVersion = { major: Number(d[0]), minor: Number(d[1]), build: Number(d[2]) };
  // optee_ffa_exchange_caps()
  d = data(OPTEE_FFA_EXCHANGE_CAPABILITIES);
  rc = yield* ffa.msgSendDirectReq(ep, false, d);
  if (rc) return rc;
  if (d[0] !== 0n) {
    prInfo(kernel, `Unexpected exchange error ${d[0]}`);
    return -EINVAL;
  }
  // The shared argument page (contract): alloc_pages(GFP_KERNEL, 0), FFA_MEM_SHARE RW to OP-TEE.
  const frame = kernel.mm.buddy.allocPages(0, GFP_KERNEL);
  if (frame < 0) return -12;
  const pa = kernel.machine.frames.paOf(frame);
  const share: FfaMemOpsArgs = {
    useTxbuf: true,
    tag: 0n,
    flags: 0,
    attrs: [{ receiver: ep, attrs: FFA_MEM_RW }],
    sg: [{ pa, length: 4096 }],
    gHandle: 0n,
  };
  rc = yield* ffaMemoryShare(ffa, share);
  if (rc) {
    kernel.mm.buddy.freePages(frame, 0);
    return rc;
  }
  const optee = new Optee(kernel, ffa, ep, { frame, pa, handle: share.gHandle }, OPTEE_FFA_OPS);
  optee.osVersion = osVersion;
  optee.rpcParamCount = Number(d[1] & 0xffn);
  optee.secCaps = Number(d[2] & 0xffff_ffffn);
  const devRc = yield* opteeRegisterDevices(optee);
  if (devRc) return devRc;
  rc = yield* ffaProtmemPoolInit(optee, optee.secCaps, policy);
  if (rc) prInfo(kernel, "Protected memory service not available");
  return optee;
}

/** The OP-TEE driver's initcall (module_init after the arm_ffa bus): probes if the bus has a driver. */
export function opteeFfaInitcall(policy: ProtmemPolicy): Initcall {
  return function optee_ffa_init(kernel: Kernel): number {
    if (!kernel.armFfa) return -ENODEV;
    const r = bootDrain(opteeFfaProbe(kernel, kernel.armFfa, policy));
    if (typeof r === "number") return r;
    kernel.optee = r;
    return 0;
  };
}
