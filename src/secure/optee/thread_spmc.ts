/**
 * OP-TEE's FF-A direct requests — core/arch/arm/kernel/thread_spmc.c handle_blocking_call() and
 * handle_yielding_call() → yielding_call_with_arg(); ids from core/include/optee_ffa.h (optee.md §2.1,
 * §2.4). The request's w3..w7 are data0..data4; the answer is FFA_MSG_SEND_DIRECT_RESP of the
 * request's width with sender and receiver swapped.
 * - GET_API_VERSION → w3 = 1, w4 = 0. GET_OS_VERSION → 4.9, build id 0.
 * - EXCHANGE_CAPABILITIES → w3 = 0, w4 = THREAD_RPC_MAX_NUM_PARAMS (4), w5 = OPTEE_FFA_SEC_CAP_PROTMEM
 *   (CFG_CORE_DYN_PROTMEM=y).
 * - UNREGISTER_SHM / RELEASE_PROTMEM (w4/w5 handle) → handle_unregister_shm(): 0 on success or
 *   ITEM_NOT_FOUND, FFA_BUSY when in use, FFA_INVALID_PARAMETERS otherwise.
 * - YIELDING_CALL_WITH_ARG (w4/w5 handle of the arg's shared memory, w6 offset) → the optee_msg_arg is
 *   read from shared memory, run by tee_entry_std(), written back; w3 = 0 (TEEC_SUCCESS), w4 =
 *   OPTEE_FFA_YIELDING_CALL_RETURN_DONE. An unknown handle or an arg outside the memory answers w3 =
 *   TEE_ERROR_BAD_PARAMETERS (ours: the status Linux's optee_ffa_yielding_call() reads as -EIO).
 * - anything else → w3 = FFA_NOT_SUPPORTED.
 * RPCs (OPTEE_FFA_YIELDING_CALL_RETURN_RPC_CMD) are not modelled: no command here needs one.
 */
import { FFA_BUSY, FFA_INVALID_PARAMETERS, FFA_NOT_SUPPORTED } from "../../abi/ffa/index.ts";
import {
  decodeMsgArg,
  encodeMsgArg,
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_VERSION_MAJOR,
  OPTEE_FFA_VERSION_MINOR,
  OPTEE_FFA_YIELDING_CALL_RETURN_DONE,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_ARG_HEADER_SIZE,
  optee_msg_get_arg_size,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_SUCCESS,
} from "../../abi/optee/index.ts";
import { directRespFid, swapSrcDst, type PartitionHandler } from "../../firmware/spmc/partitions.ts";
import { handleFrom, w } from "../../firmware/spmc/regs.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { teeEntryStd } from "./entry_std.ts";
import { mobjContiguous, mobjPa, type MobjRef } from "./mobj.ts";
import type { OpteeSecure } from "./optee.ts";
import { TEE_ERROR_BUSY, TEE_ERROR_ITEM_NOT_FOUND } from "./plat_protmem.ts";

/** OP-TEE 4.9 (the first release with dynamic protected memory, optee.md §0). */
export const OPTEE_OS_VERSION = { major: 4, minor: 9, buildId: 0 } as const;
/** THREAD_RPC_MAX_NUM_PARAMS — core/include/kernel/thread.h. */
export const THREAD_RPC_MAX_NUM_PARAMS = 4;
/** OPTEE_MSG_MAX_NUM_PARAMS is not bounded by the header; ours: what one page can hold. */
const MAX_NUM_PARAMS = 127;

/** The handler SPMCs deliver OP-TEE's direct requests to. */
export function opteeDirectRequestHandler(os: OpteeSecure): PartitionHandler {
  return function* (request: SmcRegs): Sleeps<SmcRegs> {
    os.counters.directRequests++;
    const out = yield* dispatch(os, request);
    const data = out.map((v) => BigInt(v >>> 0));
    return smcRegs(directRespFid(w(request, 0)), swapSrcDst(w(request, 1)), 0, ...data);
  };
}

/** w3..w7 of the answer. */
function* dispatch(os: OpteeSecure, req: SmcRegs): Sleeps<number[]> {
  const id = w(req, 3);
  switch (id) {
    case OPTEE_FFA_GET_API_VERSION:
      return [OPTEE_FFA_VERSION_MAJOR, OPTEE_FFA_VERSION_MINOR];
    case OPTEE_FFA_GET_OS_VERSION:
      return [OPTEE_OS_VERSION.major, OPTEE_OS_VERSION.minor, OPTEE_OS_VERSION.buildId];
    case OPTEE_FFA_EXCHANGE_CAPABILITIES:
      return [0, THREAD_RPC_MAX_NUM_PARAMS, OPTEE_FFA_SEC_CAP_PROTMEM];
    case OPTEE_FFA_UNREGISTER_SHM:
    case OPTEE_FFA_RELEASE_PROTMEM:
      return [yield* unregister(os, handleFrom(req, 4), id === OPTEE_FFA_RELEASE_PROTMEM)];
    case OPTEE_FFA_YIELDING_CALL_WITH_ARG:
      return yield* yieldingCallWithArg(os, handleFrom(req, 4), w(req, 6));
    default:
      os.trace("direct-request-unknown", { w3: "0x" + id.toString(16) });
      return [FFA_NOT_SUPPORTED];
  }
}

/** handle_unregister_shm(): TEE_Result → the u32 FF-A code in w3. */
function* unregister(os: OpteeSecure, cookie: bigint, protmem: boolean): Sleeps<number> {
  const rc = yield* os.mobjs.unregisterByCookie(cookie, (m) => os.scrubBeforeGiveBack(m));
  os.trace(protmem ? "release-protmem" : "unregister-shm", { cookie: cookie.toString(16), rc });
  if (!protmem) os.counters.unregisters++;
  if (rc === TEE_SUCCESS || rc === TEE_ERROR_ITEM_NOT_FOUND) {
    if (protmem) os.counters.releases++;
    return 0;
  }
  if (rc === TEE_ERROR_BUSY) {
    if (protmem) os.counters.releaseBusy++;
    return FFA_BUSY;
  }
  return FFA_INVALID_PARAMETERS;
}

/** yielding_call_with_arg(cookie, offset) → tee_entry_std(). */
function* yieldingCallWithArg(os: OpteeSecure, cookie: bigint, offset: number): Sleeps<number[]> {
  const m = yield* os.mobjs.getByCookie(cookie, 0);
  if (!m) {
    os.trace("yielding-call-unknown-cookie", { cookie: cookie.toString(16) });
    return [TEE_ERROR_BAD_PARAMETERS];
  }
  try {
    const header = readArg(os, m, offset, OPTEE_MSG_ARG_HEADER_SIZE);
    if (!header) return [TEE_ERROR_BAD_PARAMETERS];
    const numParams = new DataView(header.buffer, header.byteOffset).getUint32(28, true);
    if (numParams > MAX_NUM_PARAMS) return [TEE_ERROR_BAD_PARAMETERS];
    const size = optee_msg_get_arg_size(numParams);
    const bytes = readArg(os, m, offset, size);
    const d = bytes ? decodeMsgArg(bytes) : null;
    if (!d?.ok) return [TEE_ERROR_BAD_PARAMETERS];
    os.counters.yieldingCalls++;
    const result = yield* teeEntryStd(os, d.arg);
    const encoded = encodeMsgArg(result);
    if (encoded.length !== size) throw new Error("tee_entry_std() changed num_params");
    if (os.writeShared(mobjPa(m, offset)!, encoded) !== ACCESS_OK) return [TEE_ERROR_BAD_PARAMETERS];
    return [TEE_SUCCESS, OPTEE_FFA_YIELDING_CALL_RETURN_DONE];
  } finally {
    m.put();
  }
}

/** mobj_get_va(mobj, offset, size) + a copy (the model maps by PA: the arg must not cross a gap). */
function readArg(os: OpteeSecure, m: MobjRef, offset: number, size: number): Uint8Array | null {
  if (m.kind !== "shm" || !mobjContiguous(m, offset, size)) return null;
  const r = os.readShared(mobjPa(m, offset)!, size);
  return r.code === ACCESS_OK ? r.bytes : null;
}
