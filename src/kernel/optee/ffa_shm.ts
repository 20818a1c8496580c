/**
 * drivers/tee/optee/ffa_abi.c (torvalds/linux v6.18), sections 1–4: how the FF-A driver names memory
 * to OP-TEE — the global-handle table (optee_shm_add/rem_ffa_handle()), the tee_param ↔
 * optee_msg_param conversion (memrefs as FMEM by global handle), shared-memory registration
 * (optee_ffa_shm_register(): FFA_MEM_SHARE; optee_ffa_shm_unregister(): OPTEE_FFA_UNREGISTER_SHM,
 * then FFA_MEM_RECLAIM) and the shm pool (optee_ffa_shm_pool_alloc_pages(): every pool shm, private
 * or not, is shared). The calls into OP-TEE, lending and the probe are in ffa_abi.ts.
 */
import { FFA_MEM_RW } from "../../abi/ffa/index.ts";
import { OPTEE_FFA_UNREGISTER_SHM } from "../../abi/optee/ffa.ts";
import {
  memParam,
  OPTEE_MSG_ATTR_TYPE_FMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  paramType,
  valueParam,
  type OpteeMsgParam,
} from "../../abi/optee/msg.ts";
import { EEXIST, EINVAL } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { FfaSendDirectData } from "../firmware/arm_ffa/driver.ts";
import { ffaMemoryReclaim, ffaMemoryShare, type FfaMemOpsArgs } from "../firmware/arm_ffa/mem_ops.ts";
import {
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_NONE,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
  teeParam,
  type TeeParam,
} from "../tee/tee_core.ts";
import { teeDynShmAllocHelper, teeDynShmFreeHelper, type TeeShm, type TeeShmPool } from "../tee/tee_shm.ts";
import { opteeFromMsgParamValue, opteeToMsgParamValue } from "./call.ts";
import { OPTEE_MSG_FMEM_INVALID_GLOBAL_ID, pr, type Optee } from "./optee.ts";

/** struct ffa_send_direct_data with data0..data4 (the rest zero). */
export function data(d0: number, d1 = 0n, d2 = 0n, d3 = 0n, d4 = 0n): FfaSendDirectData {
  return [BigInt(d0), d1, d2, d3, d4];
}

/** (u32)h and (u32)(h >> 32) */
export const lo32 = (h: bigint) => h & 0xffff_ffffn;
export const hi32 = (h: bigint) => (h >> 32n) & 0xffff_ffffn;

/** ffa_dev->ops->msg_ops->sync_send_receive() on the driver's device. */
export function* syncSendReceive(optee: Optee, d: FfaSendDirectData): Sleeps<number> {
  return yield* optee.ffa.syncSendReceive(optee.ffaDev!, d);
}

// ---- 1. The global-handle table ----

/** optee_shm_add_ffa_handle(): −EEXIST when the handle is already there (rhashtable_lookup_insert_fast()). */
export function shmAddFfaHandle(optee: Optee, shm: TeeShm, globalId: bigint): number {
  if (optee.ffaHandles.has(globalId)) return -EEXIST;
  optee.ffaHandles.set(globalId, shm);
  return 0;
}

/** optee_shm_rem_ffa_handle() */
export function shmRemFfaHandle(optee: Optee, globalId: bigint): void {
  optee.ffaHandles.delete(globalId);
}

// ---- 2. tee_param ↔ optee_msg_param ----

/** struct optee_msg_param_fmem in u[0]: offs_low (u32), offs_high (u16), internal_offs (u16). */
function fmemWord0(offs: bigint, internalOffs: number): bigint {
  return (offs & 0xffff_ffffn) | (((offs >> 32n) & 0xffffn) << 32n) | (BigInt(internalOffs & 0xffff) << 48n);
}

/**
 * optee_ffa_to_msg_param(): values as they are; memrefs (to_msg_param_ffa_mem()) as FMEM by the shm's
 * global handle, or OPTEE_MSG_FMEM_INVALID_GLOBAL_ID without a shm.
 */
export function ffaToMsgParam(_optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number {
  const out: OpteeMsgParam[] = [];
  for (const p of params) {
    if (p.attr === TEE_IOCTL_PARAM_ATTR_TYPE_NONE) out.push(valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0));
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT
    )
      out.push(opteeToMsgParamValue(p));
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT
    ) {
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
export function ffaFromMsgParam(optee: Optee, params: TeeParam[], msg: readonly OpteeMsgParam[]): number {
  for (let n = 0; n < params.length; n++) {
    const mp = msg[n];
    const attr = paramType(mp);
    if (attr === OPTEE_MSG_ATTR_TYPE_NONE) params[n] = teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE);
    else if (attr >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      opteeFromMsgParamValue(params[n], attr, mp);
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
export function* ffaShmRegister(optee: Optee, shm: TeeShm): Sleeps<number> {
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
export function* ffaShmUnregister(optee: Optee, shm: TeeShm): Sleeps<number> {
  const h = shm.secWorldId;
  shmRemFfaHandle(optee, h);
  shm.secWorldId = 0n;
  let rc = yield* syncSendReceive(optee, data(OPTEE_FFA_UNREGISTER_SHM, lo32(h), hi32(h)));
  if (rc) pr(optee, "pr_err", `Unregister SHM id 0x${h.toString(16)} rc ${rc}`);
  rc = yield* ffaMemoryReclaim(optee.ffa, h, 0);
  if (rc) pr(optee, "pr_err", `mem_reclaim: 0x${h.toString(16)} ${rc}`);
  return rc;
}

// ---- 4. The shm pool ----

/** optee_ffa_shm_pool_alloc_pages(): the pool every shm of the FF-A driver's devices comes from. */
export function ffaShmPool(optee: Optee): TeeShmPool {
  return {
    ops: {
      /** pool_ffa_op_alloc() → tee_dyn_shm_alloc_helper(shm, size, align, optee_ffa_shm_register) */
      alloc: (_pool, shm, size) => teeDynShmAllocHelper(shm, size, (s) => ffaShmRegister(optee, s)),
      /** pool_ffa_op_free() → tee_dyn_shm_free_helper(shm, optee_ffa_shm_unregister) */
      free: (_pool, shm) => teeDynShmFreeHelper(shm, (s) => ffaShmUnregister(optee, s)),
      /** pool_ffa_op_destroy_pool(): kfree(pool). */
      destroyPool() {},
    },
  };
}
