/**
 * struct optee and what the OP-TEE driver's files share — drivers/tee/optee/optee_private.h
 * (torvalds/linux v6.18): struct optee, struct optee_ops (the ABI-specific entry points: FF-A in
 * ffa_abi.ts, OP-TEE's own SMC ABI in smc_abi.ts), the argument cache's types (call.c runs it:
 * call.ts), struct optee_context_data, and the constants the files share. The functions live in the
 * files of the real driver: call.ts (call.c), core.ts (core.c), device.ts (device.c), protmem.ts
 * (protmem.c), ffa_abi.ts + ffa_shm.ts (ffa_abi.c), smc_abi.ts + smc_shm.ts (smc_abi.c).
 */
import type { OpteeMsgParam } from "../../abi/optee/msg.ts";
import { Mutex } from "../../sim/mutex.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { FfaDevice } from "../firmware/arm_ffa/bus.ts";
import type { ArmFfaDriver } from "../firmware/arm_ffa/driver.ts";
import type { Kernel } from "../kernel.ts";
import type { TeeContext, TeeDevice, TeeParam } from "../tee/tee_core.ts";
import type { TeeProtmemPool } from "../tee/tee_heap.ts";
import type { TeeShm, TeeShmPool } from "../tee/tee_shm.ts";

/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID — optee_msg.h: a memref without a buffer. */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;
/** optee_private.h: optee_shm_arg_cache flags. */
export const OPTEE_SHM_ARG_ALLOC_PRIV = 1 << 0;
export const OPTEE_SHM_ARG_SHARED = 1 << 1;
/** OPTEE_DEFAULT_MAX_NOTIF_VALUE — optee_private.h. */
export const OPTEE_DEFAULT_MAX_NOTIF_VALUE = 255;
/** PTA_CMD_GET_DEVICES / _SUPP / _RPMB — optee_private.h (the device PTA's commands). */
export const PTA_CMD_GET_DEVICES = 0;
export const PTA_CMD_GET_DEVICES_SUPP = 1;
export const PTA_CMD_GET_DEVICES_RPMB = 2;

/** The 16 bytes of a uuid_t, in string order (export_uuid()). */
export function uuidBytes(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "");
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** struct optee_ops */
export interface OpteeOps {
  /** do_call_with_arg(ctx, shm, offs, system_thread): the message at `offs` in `shm`; 0 or −errno / a0. */
  doCallWithArg(optee: Optee, shm: TeeShm, offs: number): Sleeps<number>;
  /** to_msg_param(optee, msg_params, num_params, params): the message parameters, or −errno. */
  toMsgParam(optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number;
  /** from_msg_param(optee, params, num_params, msg_params): 0 or −errno. */
  fromMsgParam(optee: Optee, params: TeeParam[], msgParams: readonly OpteeMsgParam[]): number;
  lendProtmem(optee: Optee, protmem: TeeShm, memAttrs: readonly number[], useCase: number): Sleeps<number>;
  reclaimProtmem(optee: Optee, protmem: TeeShm): Sleeps<number>;
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

/** struct optee_session: what the context's sess_list holds. */
export interface OpteeSession {
  readonly sessionId: number;
}

/** struct optee_context_data: the sessions opened through a context (ctxdata->mutex not modelled). */
export interface OpteeContextData {
  readonly sessList: OpteeSession[];
}

/** struct optee */
export class Optee {
  teedev: TeeDevice | null = null;
  suppTeedev: TeeDevice | null = null;
  ctx: TeeContext | null = null;
  secCaps = 0;
  rpcParamCount = 0;
  osVersion = { major: 0, minor: 0, build: 0 };
  /** optee->pool: the shm pool the devices allocate from. */
  pool: TeeShmPool | null = null;
  /** optee->ffa.ffa_dev: the FF-A device the driver bound (FF-A ABI only). */
  ffaDev: FfaDevice | null = null;
  /** optee->ffa.bottom_half_value (U32_MAX: no asynchronous notifications). */
  bottomHalfValue = 0xffff_ffff;
  /** optee->ffa.global_ids: shms the secure world knows by FF-A handle. */
  readonly ffaHandles = new Map<bigint, TeeShm>();
  readonly shmArgCache: OpteeShmArgCache;
  /** The protected-memory pool registered for the secure-video heap, if any. */
  protmemPool: TeeProtmemPool | null = null;
  /** Every protected-memory pool registered as a heap (the secure-video one first). */
  readonly protmemPools: TeeProtmemPool[] = [];
  /**
   * The flags FFA_MEM_RECLAIM carries for protected memory (FF-A driver only): 0 upstream; the run's
   * policy `scrub: ffa-clear` sets FFA_MEM_RECLAIM_CLEAR (ffa_abi.ts protmemReclaimFlags()).
   */
  protmemReclaimFlags = 0;
  /**
   * A failed lend whose own FFA_MEM_RECLAIM (err_reclaim) the SPMC refused leaves protmem->sec_world_id
   * set, so the pool knows the memory is still lent (policy pools: growable, per-buffer, static; our
   * design). Upstream (false) ignores that reclaim's result, and protmem.c then frees memory the secure
   * world still owns.
   */
  protmemKeepRefusedLend = false;
  /** Devices optee_enumerate_devices() registered on the TEE bus ("optee-ta-<uuid>"). */
  readonly taDevices: string[] = [];

  constructor(
    readonly kernel: Kernel,
    /** The arm_ffa driver (ffa_abi.c only; the SMC ABI driver has none). */
    readonly ffa: ArmFfaDriver,
    /** ffa_dev->vm_id: OP-TEE's endpoint (0 over the SMC ABI). */
    readonly endpointId: number,
    readonly ops: OpteeOps,
  ) {
    this.shmArgCache = { mutex: new Mutex(kernel.sim, "optee:shm_arg_cache"), entries: [], flags: 0 };
  }
}

/** tee_get_drvdata(ctx->teedev) */
export function opteeOf(ctx: TeeContext): Optee {
  return ctx.teedev.driverData as Optee;
}

/** pr_info() / pr_err() with the driver's pr_fmt ("optee: "). */
export function pr(optee: Optee | Kernel, level: "pr_info" | "pr_err" | "pr_warn", msg: string): void {
  const trace = ("kernel" in optee ? optee.kernel : optee).sim.trace;
  if (trace.listening) trace.emit("kernel", level, { msg: `optee: ${msg}` });
}
