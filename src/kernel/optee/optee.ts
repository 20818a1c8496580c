/**
 * struct optee and the pieces of drivers/tee/optee/{core.c,call.c} this model needs: the driver ops
 * (do_call_with_arg, lend_protmem, reclaim_protmem), the message argument in its shared page
 * (optee_get_msg_arg()/optee_free_msg_arg() with the arg cache's mutex), and optee_set_dma_mask().
 *
 * MODEL CHOICE (the contract with the secure side): one 4 KiB arg page, allocated and shared with
 * FFA_MEM_SHARE at probe; the optee_msg_arg sits at offset 0, and an output buffer a command needs
 * (GET_PROTMEM_CONFIG's attribute list) at OPTEE_ARG_PAGE_BUF_OFFSET in the same page. Upstream
 * allocates argument pages from its shm pool and the buffer with tee_shm_alloc_priv_buf().
 */
import { decodeMsgArg, encodeMsgArg, optee_msg_get_arg_size, type OpteeMsgArg } from "../../abi/optee/msg.ts";
import {
  TEE_GEN_CAP_GP,
  TEE_GEN_CAP_MEMREF_NULL,
  TEE_GEN_CAP_REG_MEM,
  TEE_IMPL_ID_OPTEE,
  TEE_OPTEE_CAP_TZ,
} from "../../abi/uapi/tee.ts";
import { Mutex } from "../../sim/mutex.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { ArmFfaDriver } from "../firmware/arm_ffa/driver.ts";
import type { Kernel } from "../kernel.ts";
import {
  lockMaybeBoot,
  TEE_DESC_PRIVILEGED,
  teeDeviceRegister,
  teedevOpen,
  type TeeContext,
  type TeeDesc,
  type TeeDevice,
} from "../tee/tee_core.ts";
import type { TeeProtmemPool } from "../tee/tee_heap.ts";
import type { TeeShm } from "../tee/tee_shm.ts";

/** Where GET_PROTMEM_CONFIG's output buffer is in the arg page (contract). */
export const OPTEE_ARG_PAGE_BUF_OFFSET = 0x800;
/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID: a memref without a buffer. */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;

/** struct optee_ops, as far as modelled. */
export interface OpteeOps {
  /** do_call_with_arg(ctx, shm, offs, system_thread): the arg page's message at `offs`. */
  doCallWithArg(optee: Optee, offs: number): Sleeps<number>;
  lendProtmem(optee: Optee, protmem: TeeShm, memAttrs: readonly number[], useCase: number): Sleeps<number>;
  reclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number>;
}

/** The shared argument page: its frame, physical address and FF-A global handle. */
export interface OpteeArgPage {
  readonly frame: number;
  readonly pa: number;
  handle: bigint;
}

/** struct optee (FF-A flavour) */
export class Optee {
  teedev: TeeDevice | null = null;
  suppTeedev: TeeDevice | null = null;
  ctx: TeeContext | null = null;
  secCaps = 0;
  rpcParamCount = 0;
  osVersion = { major: 0, minor: 0, build: 0 };
  /** optee->ffa.global_ids: shms the secure world knows by FF-A handle. */
  readonly ffaHandles = new Map<bigint, TeeShm>();
  /** optee->shm_arg_cache.mutex: one caller at a time uses the arg page. */
  readonly argLock: Mutex;
  /** The protected-memory pool registered for the secure-video heap, if any. */
  protmemPool: TeeProtmemPool | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly ffa: ArmFfaDriver,
    /** ffa_dev->vm_id: OP-TEE's endpoint. */
    readonly endpointId: number,
    readonly argPage: OpteeArgPage,
    readonly ops: OpteeOps,
  ) {
    this.argLock = new Mutex(kernel.sim, "optee:shm_arg_cache");
  }
}

/** The cpu-ns master index for kernel accesses to the arg page. */
function cpuNs(optee: Optee): number {
  return optee.kernel.machine.masterIndex("cpu-ns");
}

/** Writes bytes into the arg page as the kernel. */
export function argPageWrite(optee: Optee, offset: number, bytes: Uint8Array): number {
  return optee.kernel.machine.writeBytes(cpuNs(optee), optee.argPage.pa + offset, bytes, { kernel: true });
}

/** Reads bytes from the arg page as the kernel. */
export function argPageRead(optee: Optee, offset: number, length: number): Uint8Array {
  return optee.kernel.machine.readBytes(cpuNs(optee), optee.argPage.pa + offset, length, { kernel: true })
    .bytes;
}

/**
 * One message round trip: takes the arg cache lock (optee_get_msg_arg), writes `arg` at offset 0,
 * calls, reads the message back (optee_free_msg_arg releases the lock). −errno from the transport,
 * else the message as the secure world left it.
 */
export function* opteeCallMsg(optee: Optee, arg: OpteeMsgArg): Sleeps<OpteeMsgArg | number> {
  const locked = yield* lockMaybeBoot(optee.kernel.sim, optee.argLock);
  try {
    argPageWrite(optee, 0, encodeMsgArg(arg));
    const rc = yield* optee.ops.doCallWithArg(optee, 0);
    if (rc) return rc;
    const back = decodeMsgArg(argPageRead(optee, 0, optee_msg_get_arg_size(arg.params.length)));
    if (!back.ok) return -22;
    return back.arg;
  } finally {
    if (locked) optee.argLock.unlock();
  }
}

/** An empty message for `cmd` with these params (optee_get_msg_arg() zeroes it). */
export function msgArg(cmd: number, params: OpteeMsgArg["params"]): OpteeMsgArg {
  return { cmd, func: 0, session: 0, cancel_id: 0, pad: 0, ret: 0, ret_origin: 0, params };
}

/** optee_set_dma_mask(): DMA_BIT_MASK(min(64, pa_width)) on the TEE device. */
export function opteeSetDmaMask(optee: Optee, paWidth: number): number {
  if (optee.teedev) optee.teedev.dmaMaskBits = Math.min(64, paWidth);
  return 0;
}

/** optee_ffa_get_version() */
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
    },
  };
}

/**
 * The part of optee_probe() both ABIs share: the client device (/dev/tee0), the supplicant's
 * privileged device, and the driver's own context. 0 or −errno.
 */
export function* opteeRegisterDevices(optee: Optee): Sleeps<number> {
  const teedev = teeDeviceRegister(optee.kernel, opteeFfaDesc("optee-clnt", 0), optee);
  if (typeof teedev === "number") return teedev;
  optee.teedev = teedev;
  const supp = teeDeviceRegister(optee.kernel, opteeFfaDesc("optee-supp", TEE_DESC_PRIVILEGED), optee);
  if (typeof supp !== "number") optee.suppTeedev = supp;
  const ctx = yield* teedevOpen(teedev);
  if (typeof ctx === "number") return ctx;
  optee.ctx = ctx;
  return 0;
}
