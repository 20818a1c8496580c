/**
 * OP-TEE's FF-A direct requests — core/arch/arm/kernel/thread_spmc.c (OP-TEE 4.9.0)
 * optee_lsp_handle_direct_request() → handle_blocking_call() / handle_yielding_call(); ids from
 * core/arch/arm/include/optee_ffa.h (optee.md §2.1, §2.4). Both FFA_MSG_SEND_DIRECT_REQ_32 (what Linux sends:
 * ffa_abi.c sets mode_32bit) and _64 are taken; the request's w3..w7 are data0..data4, read as 32-bit
 * values (the handlers take uint32_t arguments); the answer is FFA_MSG_SEND_DIRECT_RESP of the request's
 * width (get_direct_resp_fid()) with sender and receiver swapped, w4..w7 zero where unused.
 * - GET_API_VERSION → w3 = 1, w4 = 0. GET_OS_VERSION → 4.9, build id 0 (TEE_IMPL_GIT_SHA1 >> 32).
 * - EXCHANGE_CAPABILITIES → w3 = 0, w4 = THREAD_RPC_MAX_NUM_PARAMS (4), w5 = OPTEE_FFA_SEC_CAP_ARG_OFFSET
 *   | OPTEE_FFA_SEC_CAP_RPMB_PROBE (CFG_RPMB_ANNOUNCE_PROBE_CAP ?= y) | OPTEE_FFA_SEC_CAP_PROTMEM
 *   (CFG_CORE_DYN_PROTMEM=y). OPTEE_FFA_SEC_CAP_ASYNC_NOTIF needs spmc_notif_is_ready (SEL1: the
 *   platform's thread_spmc_set_async_notif_intid(); S-EL2: spmc_init() sets it when
 *   FFA_FEATURES(FFA_NOTIFICATION_SET) succeeds): not reported here. Right at S-EL1 (our SPMC answers
 *   FFA_FEATURES for the schedule-receiver interrupt NOT_SUPPORTED, i.e. not ready); a known departure
 *   under Hafnium, whose model answers FFA_NOTIFICATION_SET's FFA_FEATURES with FFA_SUCCESS: OP-TEE 4.9
 *   there would report ASYNC_NOTIF and take ENABLE_ASYNC_NOTIF (value < 64 → TEE_SUCCESS).
 * - UNREGISTER_SHM / RELEASE_PROTMEM (w4/w5 handle) → handle_unregister_shm(): 0 on TEE_SUCCESS or
 *   TEE_ERROR_ITEM_NOT_FOUND, FFA_BUSY on TEE_ERROR_BUSY, FFA_INVALID_PARAMETERS otherwise.
 * - ENABLE_ASYNC_NOTIF → spmc_enable_async_notif(): TEE_ERROR_NOT_IMPLEMENTED (notifications not ready).
 * - any other blocking id → w3 = TEE_ERROR_BAD_PARAMETERS ("Unhandled blocking service ID"); so is a
 *   64-bit request whose x3 has upper bits set (the switch is on the uint64_t a3), yielding bit clear.
 * - a yielding id: OPTEE_FFA_YIELDING_CALL_WITH_ARG (w4/w5 handle of the arg's shared memory, w6
 *   offset) → yielding_call_with_arg() → tee_entry_std() (traced: `yielding-call` with the command);
 *   its result in w3, w4..w7 = 0 (w4 = OPTEE_FFA_YIELDING_CALL_RETURN_DONE) — thread_std_smc_entry().
 *   An unknown handle, or an arg (with the RPC arg after it) outside the memory, is
 *   TEE_ERROR_BAD_PARAMETERS. Another yielding id ends in
 *   __thread_std_smc_entry()'s FFA_DENIED; OPTEE_FFA_YIELDING_CALL_RESUME finds no suspended thread
 *   (no RPC is modelled) and answers TEE_ERROR_BAD_PARAMETERS.
 * OP-TEE never answers FFA_YIELD or FFA_INTERRUPT here: its threads run a call to its end.
 */
import { injectedResult } from "./faults.ts";
import {
  FFA_BUSY,
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MSG_SEND_DIRECT_REQ_64,
} from "../../abi/ffa/index.ts";
import {
  decodeMsgArg,
  encodeMsgArg,
  OPTEE_FFA_ENABLE_ASYNC_NOTIF,
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_SEC_CAP_ARG_OFFSET,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  OPTEE_FFA_SEC_CAP_RPMB_PROBE,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_VERSION_MAJOR,
  OPTEE_FFA_VERSION_MINOR,
  OPTEE_FFA_YIELDING_CALL_BIT,
  OPTEE_FFA_YIELDING_CALL_RESUME,
  OPTEE_FFA_YIELDING_CALL_RETURN_DONE,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_ARG_HEADER_SIZE,
  optee_msg_get_arg_size,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_SUCCESS,
} from "../../abi/optee/index.ts";
import { directRespFid, swapSrcDst, type PartitionHandler } from "../../firmware/spmc/partitions.ts";
import { handleFrom, w } from "../../firmware/spmc/regs.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { teeEntryStdCall } from "./entry_std.ts";
import { mobjContiguous, mobjPa, type MobjRef } from "./mobj.ts";
import type { OpteeSecure } from "./optee.ts";
import { TEE_ERROR_BUSY, TEE_ERROR_ITEM_NOT_FOUND } from "../../abi/optee/tee_result.ts";

/** OP-TEE 4.9 (the first release with dynamic protected memory, optee.md §0). */
export const OPTEE_OS_VERSION = { major: 4, minor: 9, buildId: 0 } as const;
/** THREAD_RPC_MAX_NUM_PARAMS — core/include/kernel/thread.h. */
export const THREAD_RPC_MAX_NUM_PARAMS = 4;
/** OPTEE_MSG_MAX_NUM_PARAMS is not bounded by the header; ours: what one page can hold. */
const MAX_NUM_PARAMS = 127;
/** handle_blocking_call()'s sec_caps for this build (see the header). */
export const OPTEE_SEC_CAPS =
  OPTEE_FFA_SEC_CAP_ARG_OFFSET | OPTEE_FFA_SEC_CAP_RPMB_PROBE | OPTEE_FFA_SEC_CAP_PROTMEM;

/** The handler SPMCs deliver OP-TEE's direct requests to. */
export function opteeDirectRequestHandler(os: OpteeSecure): PartitionHandler {
  // eslint-disable-next-line no-restricted-syntax -- made once, when OP-TEE boots, part of the booted system
  return function* (request: SmcRegs): Sleeps<SmcRegs> {
    os.counters.directRequests++;
    const out = yield* dispatch(os, request);
    const data = out.map((v) => BigInt(v >>> 0));
    return smcRegs(directRespFid(w(request, 0)), swapSrcDst(w(request, 1)), 0, ...data);
  };
}

/** w3..w7 of the answer: handle_yielding_call() for a yielding id, handle_blocking_call() otherwise. */
function* dispatch(os: OpteeSecure, req: SmcRegs): Sleeps<number[]> {
  const id = w(req, 3);
  // ARM64 struct thread_smc_1_2_regs holds uint64_t a0..a17 (thread_arch.h): handle_blocking_call()'s
  // `switch (args->a3)` and handle_yielding_call()'s `args->a3 == OPTEE_FFA_YIELDING_CALL_RESUME` compare
  // all 64 bits, while the yielding test `args->a3 & BIT32(OPTEE_FFA_YIELDING_CALL_BIT)` and
  // thread_alloc_and_run()'s uint32_t arguments see the low word. Only a 64-bit request carries upper
  // halves (a 32-bit one passes W registers: SMCCC, the upper halves are not the caller's to set).
  const high = w(req, 0) === FFA_MSG_SEND_DIRECT_REQ_64 && req[3] >> 32n !== 0n;
  if (id & (1 << OPTEE_FFA_YIELDING_CALL_BIT)) {
    if (id === OPTEE_FFA_YIELDING_CALL_RESUME && !high) return [TEE_ERROR_BAD_PARAMETERS];
    // thread_alloc_and_run() → __thread_std_smc_entry(w1, w3, w4, w5, w6, w7), each a uint32_t
    if (id === OPTEE_FFA_YIELDING_CALL_WITH_ARG)
      return [
        yield* yieldingCallWithArg(os, handleFrom(req, 4), w(req, 6)),
        OPTEE_FFA_YIELDING_CALL_RETURN_DONE,
      ];
    return [FFA_DENIED, OPTEE_FFA_YIELDING_CALL_RETURN_DONE];
  }
  if (high) {
    os.trace("direct-request-unknown", { x3: "0x" + req[3].toString(16) });
    return [TEE_ERROR_BAD_PARAMETERS];
  }
  switch (id) {
    case OPTEE_FFA_GET_API_VERSION:
      return [OPTEE_FFA_VERSION_MAJOR, OPTEE_FFA_VERSION_MINOR];
    case OPTEE_FFA_GET_OS_VERSION:
      return [OPTEE_OS_VERSION.major, OPTEE_OS_VERSION.minor, OPTEE_OS_VERSION.buildId];
    case OPTEE_FFA_EXCHANGE_CAPABILITIES:
      return [0, THREAD_RPC_MAX_NUM_PARAMS, OPTEE_SEC_CAPS];
    case OPTEE_FFA_UNREGISTER_SHM:
    case OPTEE_FFA_RELEASE_PROTMEM:
      return [yield* unregister(os, handleFrom(req, 4), id === OPTEE_FFA_RELEASE_PROTMEM)];
    case OPTEE_FFA_ENABLE_ASYNC_NOTIF:
      // spmc_enable_async_notif(): "Asynchronous notifications are not ready"
      return [TEE_ERROR_NOT_IMPLEMENTED];
    default:
      os.trace("direct-request-unknown", { w3: "0x" + id.toString(16) });
      return [TEE_ERROR_BAD_PARAMETERS];
  }
}

/**
 * How long the TA of a `RELEASE_PROTMEM` fault keeps the buffer after the release it made BUSY, ns:
 * the invoke in flight (two 60 fps frames' decode, 33 ms; assumption).
 */
export const FAULT_TA_HOLD_NS = 33_000_000;

/**
 * CFG_TEE_CORE_DEBUG — mk/config.mk `?= y` in OP-TEE 4.9.0: assertions are on (NDEBUG is defined only
 * when it is n), so a failed assert() ends in _assert_break() → panic().
 */
export const CFG_TEE_CORE_DEBUG = true;
/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID — core/include/optee_msg.h. */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;

/**
 * OP-TEE's panic(): the core logs and spins for good; the direct request never returns. The model stops
 * the machine there (machine.hung), as Hafnium's panic() does (firmware/hafnium/hafnium.ts).
 */
function opteePanic(os: OpteeSecure, why: string): void {
  const msg = `OP-TEE panic: ${why}`;
  if (os.machine.hung === null) os.machine.hung = msg;
  os.sim.sched.stop(msg);
  if (os.sim.trace.listening) os.sim.trace.emit("secure", "panic", { why });
}

/** handle_unregister_shm(): TEE_Result → the u32 FF-A code in w3. */
function* unregister(os: OpteeSecure, cookie: bigint, protmem: boolean): Sleeps<number> {
  // mobj_ffa_unregister_by_cookie() starts with assert(cookie != OPTEE_MSG_FMEM_INVALID_GLOBAL_ID) in
  // both builds (mobj_ffa.c, OP-TEE 4.9.0): nothing before it checks the normal world's w4/w5, so this
  // cookie panics a default (CFG_TEE_CORE_DEBUG=y) OP-TEE; without assertions it is simply not found.
  if (cookie === OPTEE_MSG_FMEM_INVALID_GLOBAL_ID && CFG_TEE_CORE_DEBUG) {
    opteePanic(
      os,
      "assertion 'cookie != OPTEE_MSG_FMEM_INVALID_GLOBAL_ID' failed in mobj_ffa_unregister_by_cookie()",
    );
    return FFA_INVALID_PARAMETERS;
  }
  // Fault `optee: {cmd: RELEASE_PROTMEM}` (faults.ts): a TA holds the buffer (mobj_ffa_get_by_cookie(),
  // as an FMEM parameter of an invoke still in flight) when the release comes, so the release meets a
  // real reference — BUSY — and the SPMC then refuses the reclaim for the same reason. The invoke ends
  // FAULT_TA_HOLD_NS later and puts its reference: a release asked again after that succeeds.
  if (protmem && injectedResult(os.sim, "RELEASE_PROTMEM") !== null) {
    const held = os.getProtmem(cookie);
    if (held) {
      os.faultHeld.push(held);
      os.sim.sched.spawn(`optee/ta-invoke:${cookie.toString(16)}`, () => taInvokeHolding(os, held));
    }
  }
  const rc = yield* os.mobjs.unregisterByCookie(cookie, (m) => os.scrubBeforeGiveBack(m));
  os.trace(protmem ? "release-protmem" : "unregister-shm", { cookie: "0x" + cookie.toString(16), rc });
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

/** The TA invoke of fault `optee: {cmd: RELEASE_PROTMEM}` (unregister()): holds `held` for FAULT_TA_HOLD_NS. */
function* taInvokeHolding(os: OpteeSecure, held: MobjRef): Sleeps {
  if (!elapse(FAULT_TA_HOLD_NS)) yield sleep(FAULT_TA_HOLD_NS);
  os.faultHeld.splice(os.faultHeld.indexOf(held), 1);
  held.put();
}

/**
 * yielding_call_with_arg(cookie, offset): mobj_ffa_get_by_cookie(); the arg header, its num_params
 * (at most OPTEE_MSG_MAX_NUM_PARAMS) and the RPC arg after it (OPTEE_MSG_GET_ARG_SIZE(
 * THREAD_RPC_MAX_NUM_PARAMS) bytes) must lie in the memory; then tee_entry_std(), whose arg is written
 * back; mobj_put() on every path. The TEE_Result goes in w3.
 */
function* yieldingCallWithArg(os: OpteeSecure, cookie: bigint, offset: number): Sleeps<number> {
  const m = yield* os.mobjs.getByCookie(cookie, 0);
  if (!m) {
    os.trace("yielding-call-unknown-cookie", { cookie: "0x" + cookie.toString(16) });
    return TEE_ERROR_BAD_PARAMETERS;
  }
  const res = yield* runArg(os, m, offset);
  m.put();
  return res;
}

/** The part of yielding_call_with_arg() between mobj_inc_map() and mobj_dec_map(). */
function* runArg(os: OpteeSecure, m: MobjRef, offset: number): Sleeps<number> {
  const header = readArg(os, m, offset, OPTEE_MSG_ARG_HEADER_SIZE);
  if (!header) return TEE_ERROR_BAD_PARAMETERS;
  const numParams = new DataView(header.buffer, header.byteOffset).getUint32(28, true);
  if (numParams > MAX_NUM_PARAMS) return TEE_ERROR_BAD_PARAMETERS;
  const size = optee_msg_get_arg_size(numParams);
  // thr->rpc_arg = mobj_get_va(mobj, offset + sz, sz_rpc)
  if (!readArg(os, m, offset + size, optee_msg_get_arg_size(THREAD_RPC_MAX_NUM_PARAMS)))
    return TEE_ERROR_BAD_PARAMETERS;
  const bytes = readArg(os, m, offset, size);
  const d = bytes ? decodeMsgArg(bytes) : null;
  if (!d?.ok) return TEE_ERROR_BAD_PARAMETERS;
  os.counters.yieldingCalls++;
  os.trace("yielding-call", { cmd: d.arg.cmd, cookie: "0x" + m.cookie.toString(16), offset });
  const r = yield* teeEntryStdCall(os, d.arg);
  // tee_entry_std() works on the arg in shared memory: what it changed is written back (an unknown
  // command changes nothing), and its TEE_Result is the call's.
  if (r.arg !== d.arg) {
    const encoded = encodeMsgArg(r.arg);
    if (encoded.length !== size) throw new Error("tee_entry_std() changed num_params");
    if (os.writeShared(mobjPa(m, offset)!, encoded) !== ACCESS_OK) return TEE_ERROR_BAD_PARAMETERS;
  }
  return r.res;
}

/** mobj_get_va(mobj, offset, size) + a copy (the model maps by PA: the arg must not cross a gap). */
function readArg(os: OpteeSecure, m: MobjRef, offset: number, size: number): Uint8Array | null {
  if (m.kind !== "shm" || !mobjContiguous(m, offset, size)) return null;
  const r = os.readShared(mobjPa(m, offset)!, size);
  return r.code === ACCESS_OK ? r.bytes : null;
}
