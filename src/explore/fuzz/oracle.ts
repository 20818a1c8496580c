/**
 * What the fuzzer holds every answer and every state to.
 *
 * replyProblem(): the reply is one the FF-A specification defines for that call (DEN0077A v1.2 §13,
 * the memory-management ABIs; reference/ffa.md §1, §2): a memory send answers FFA_SUCCESS (handle in
 * w2/w3) or FFA_MEM_FRAG_RX, a retrieve FFA_MEM_RETRIEVE_RESP, a FRAG_RX FFA_MEM_FRAG_TX, the others
 * FFA_SUCCESS; any of them FFA_ERROR with a defined code in w2 and w1, w3..w7 zero (Hafnium's
 * ffa_error(), OP-TEE's spmc_set_args()), and for the memory ABIs only the codes their interfaces list
 * (NOT_SUPPORTED, INVALID_PARAMETERS, NO_MEMORY, BUSY, DENIED, ABORTED — never INTERRUPTED, RETRY,
 * NO_DATA or NOT_READY). FFA_VERSION answers a version (bit 31 clear) or NOT_SUPPORTED in w0. The
 * other interfaces answer FFA_SUCCESS or an error their own table lists (ERRORS_OF: FFA_FEATURES and
 * FFA_ID_GET only NOT_SUPPORTED, FFA_PARTITION_INFO_GET(_REGS), FFA_RXTX_MAP/UNMAP, FFA_RX_RELEASE).
 *
 * opteeReplyProblem(): a direct request to OP-TEE (0x8001) carrying one of its own messages
 * (OPTEE_FFA_* in w3, core/arch/arm/include/optee_ffa.h) is answered by OP-TEE with what optee_os
 * 4.9.0 core/arch/arm/kernel/thread_spmc.c can answer it (see OPTEE_RESULTS); opteeChangesNothing() says
 * which answers must leave OP-TEE's and the SPMC's state as it was.
 *
 * consistencyProblem(): the `ffa-consistency` invariant (check/invariants.ts), checked over the whole
 * table and every frame rather than only the pages a change touched: share states agree with page
 * ownership, both in the SPMC's own page records and in the machine (frame owner, granule PAS), handles
 * are unique and released, borrower bookkeeping is coherent.
 */
import {
  FFA_ABORTED,
  FFA_BUSY,
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_DONATE_32,
  FFA_MEM_DONATE_64,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_REQ_64,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_NO_MEMORY,
  FFA_NOT_SUPPORTED,
  FFA_FEATURES_32,
  FFA_ID_GET_32,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_MSG_SEND_DIRECT_RESP_64,
  FFA_NO_DATA,
  FFA_NOTIFICATION_BIND_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_NOTIFICATION_GET_32,
  FFA_NOTIFICATION_INFO_GET_32,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_NOTIFICATION_SET_32,
  FFA_NOTIFICATION_UNBIND_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_RETRY,
  FFA_RX_RELEASE_32,
  FFA_RXTX_MAP_32,
  FFA_RXTX_MAP_64,
  FFA_RXTX_UNMAP_32,
  FFA_SUCCESS_32,
  FFA_SUCCESS_64,
  FFA_VERSION_32,
  ffaErrorName,
} from "../../abi/ffa/index.ts";
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
  OPTEE_FFA_SEC_CAP_RPMB_PROBE,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_VERSION_MAJOR,
  OPTEE_FFA_VERSION_MINOR,
  OPTEE_FFA_YIELDING_CALL_BIT,
  OPTEE_FFA_YIELDING_CALL_RESUME,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_OUT_OF_MEMORY,
  TEE_SUCCESS,
  teeResultName,
} from "../../abi/optee/index.ts";
import { FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { OWNER_SECURE } from "../../hw/frames.ts";
import { GPT_GPI_SECURE } from "../../hw/gpt.ts";
import { HafniumSpmc } from "../../firmware/hafnium/hafnium.ts";
import { allConstituents } from "../../firmware/hafnium/send_complete.ts";
import { lentRanges } from "../../firmware/optee_sel1/mobj_ffa.ts";
import { OpteeSel1Spmc } from "../../firmware/optee_sel1/optee_sel1.ts";
import { FFA_NWD_ID, isSecureId } from "../../firmware/spmc/endpoint.ts";
import { MM_MODE_INVALID, MM_MODE_SHARED, MM_MODE_UNOWNED } from "../../firmware/spmc/page_state.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import type { FuzzRig } from "./rig.ts";

const PAGE = 4096;
const w = (r: SmcRegs, i: number) => Number(r[i] & 0xffff_ffffn);

/** The error codes the memory-management interfaces define (DEN0077A v1.2 §13). */
const MEM_ERRORS = new Set([
  FFA_NOT_SUPPORTED,
  FFA_INVALID_PARAMETERS,
  FFA_NO_MEMORY,
  FFA_BUSY,
  FFA_DENIED,
  FFA_ABORTED,
]);
/** FFA_RX_RELEASE: DENIED (the caller does not own its RX buffer) or NOT_SUPPORTED. */
const RX_RELEASE_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_DENIED]);
/** FFA_RXTX_MAP: INVALID_PARAMETERS, DENIED, NO_MEMORY, NOT_SUPPORTED. */
const RXTX_MAP_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_INVALID_PARAMETERS, FFA_DENIED, FFA_NO_MEMORY]);
/** FFA_RXTX_UNMAP: INVALID_PARAMETERS, NOT_SUPPORTED. */
const RXTX_UNMAP_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_INVALID_PARAMETERS]);
/** FFA_FEATURES and FFA_ID_GET: NOT_SUPPORTED only. */
const NOT_SUPPORTED_ONLY = new Set([FFA_NOT_SUPPORTED]);
/**
 * FFA_PARTITION_INFO_GET: INVALID_PARAMETERS (unknown UUID), BUSY (RX not free), NO_MEMORY, DENIED,
 * NOT_SUPPORTED; and ABORTED, which Hafnium answers when its copy into RX faults (memcpy_trapped()).
 */
const PARTITION_INFO_ERRORS = new Set([
  FFA_NOT_SUPPORTED,
  FFA_INVALID_PARAMETERS,
  FFA_NO_MEMORY,
  FFA_BUSY,
  FFA_DENIED,
  FFA_ABORTED,
]);
/** FFA_PARTITION_INFO_GET_REGS: INVALID_PARAMETERS, RETRY (the tag), NOT_SUPPORTED. */
const PARTITION_INFO_REGS_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_INVALID_PARAMETERS, FFA_RETRY]);

/** The notification interfaces (DEN0077A v1.2 §13.10-13.16): what each may answer. */
const NOTIF_BITMAP_CREATE_ERRORS = new Set([
  FFA_NOT_SUPPORTED,
  FFA_INVALID_PARAMETERS,
  FFA_NO_MEMORY,
  FFA_DENIED,
]);
const NOTIF_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_INVALID_PARAMETERS, FFA_DENIED]);
/**
 * FFA_NOTIFICATION_INFO_GET: NO_DATA (nothing pending) or NOT_SUPPORTED; and INVALID_PARAMETERS, which
 * OP-TEE answers for a non-zero MBZ register (its handler checks w1..w7, as its other notification
 * handlers do).
 */
const NOTIF_INFO_GET_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_NO_DATA, FFA_INVALID_PARAMETERS]);

/** FFA_MSG_SEND_DIRECT_REQ: INVALID_PARAMETERS, BUSY, DENIED, NOT_SUPPORTED. */
const DIRECT_REQ_ERRORS = new Set([FFA_NOT_SUPPORTED, FFA_INVALID_PARAMETERS, FFA_BUSY, FFA_DENIED]);

/** The error codes each interface outside memory management defines; the memory ABIs take MEM_ERRORS. */
const ERRORS_OF = new Map<number, ReadonlySet<number>>([
  [FFA_MSG_SEND_DIRECT_REQ_32, DIRECT_REQ_ERRORS],
  [FFA_MSG_SEND_DIRECT_REQ_64, DIRECT_REQ_ERRORS],
  [FFA_NOTIFICATION_BITMAP_CREATE_32, NOTIF_BITMAP_CREATE_ERRORS],
  [FFA_NOTIFICATION_BITMAP_DESTROY_32, NOTIF_ERRORS],
  [FFA_NOTIFICATION_BIND_32, NOTIF_ERRORS],
  [FFA_NOTIFICATION_UNBIND_32, NOTIF_ERRORS],
  [FFA_NOTIFICATION_SET_32, NOTIF_ERRORS],
  [FFA_NOTIFICATION_GET_32, NOTIF_ERRORS],
  [FFA_NOTIFICATION_INFO_GET_32, NOTIF_INFO_GET_ERRORS],
  [FFA_NOTIFICATION_INFO_GET_64, NOTIF_INFO_GET_ERRORS],
  [FFA_RX_RELEASE_32, RX_RELEASE_ERRORS],
  [FFA_RXTX_MAP_32, RXTX_MAP_ERRORS],
  [FFA_RXTX_MAP_64, RXTX_MAP_ERRORS],
  [FFA_RXTX_UNMAP_32, RXTX_UNMAP_ERRORS],
  [FFA_FEATURES_32, NOT_SUPPORTED_ONLY],
  [FFA_ID_GET_32, NOT_SUPPORTED_ONLY],
  [FFA_PARTITION_INFO_GET_32, PARTITION_INFO_ERRORS],
  [FFA_PARTITION_INFO_GET_REGS_64, PARTITION_INFO_REGS_ERRORS],
]);

/** The memory sends: DONATE, LEND, SHARE (one that fits its first fragment completes in the call). */
export const MEM_SENDS: ReadonlySet<number> = new Set([
  FFA_MEM_DONATE_32,
  FFA_MEM_DONATE_64,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
]);

/** The FFA_ERROR code of a reply (signed), or null when the reply is not FFA_ERROR. */
export function errorCode(r: SmcRegs): number | null {
  return w(r, 0) === FFA_ERROR_32 ? w(r, 2) | 0 : null;
}

/** Why a reply is not one the specification allows for call `fid`, or null. */
export function replyProblem(fid: number, r: SmcRegs): string | null {
  const w0 = w(r, 0);
  if (fid === FFA_VERSION_32) {
    if (w0 === 0xffff_ffff || w0 >>> 31 === 0) return null;
    return `FFA_VERSION answered 0x${w0.toString(16)}: neither a version nor NOT_SUPPORTED`;
  }
  if (w0 === FFA_ERROR_32) {
    const code = w(r, 2) | 0;
    const allowed = ERRORS_OF.get(fid) ?? MEM_ERRORS;
    if (!allowed.has(code))
      return `FFA_ERROR ${ffaErrorName(code) ?? code} is not an error this interface defines`;
    if (r[1] !== 0n) return "FFA_ERROR with w1 not zero";
    for (let i = 3; i < 8; i++) if (r[i] !== 0n) return `FFA_ERROR with x${i} not zero`;
    return null;
  }
  const ok =
    MEM_SENDS.has(fid) || fid === FFA_MEM_FRAG_TX_32
      ? w0 === FFA_SUCCESS_32 || w0 === FFA_SUCCESS_64 || w0 === FFA_MEM_FRAG_RX_32
      : fid === FFA_MEM_RETRIEVE_REQ_32 || fid === FFA_MEM_RETRIEVE_REQ_64
        ? w0 === FFA_MEM_RETRIEVE_RESP_32
        : fid === FFA_MEM_FRAG_RX_32
          ? w0 === FFA_MEM_FRAG_TX_32
          : fid === FFA_MSG_SEND_DIRECT_REQ_32
            ? w0 === FFA_MSG_SEND_DIRECT_RESP_32
            : fid === FFA_MSG_SEND_DIRECT_REQ_64
              ? w0 === FFA_MSG_SEND_DIRECT_RESP_64
              : w0 === FFA_SUCCESS_32 || w0 === FFA_SUCCESS_64;
  if (!ok) return `answered function 0x${w0.toString(16)}, which this call does not return`;
  if (w0 === FFA_MEM_RETRIEVE_RESP_32 && (w(r, 2) === 0 || w(r, 2) > w(r, 1)))
    return `MEM_RETRIEVE_RESP fragment length ${w(r, 2)} of total ${w(r, 1)}`;
  if (w0 === FFA_MEM_FRAG_TX_32 && w(r, 3) === 0) return "MEM_FRAG_TX of an empty fragment";
  return null;
}

// ---- OP-TEE's own messages ----

/** The OP-TEE release rstmem models (reference/optee.md §0): CFG_OPTEE_REVISION_MAJOR / _MINOR. */
const OPTEE_REVISION = [4, 9] as const;
/** THREAD_RPC_MAX_NUM_PARAMS — optee_os core/include/kernel/thread.h. */
const RPC_MAX_NUM_PARAMS = 4;
/** The capability bits optee_ffa.h defines (w5 of EXCHANGE_CAPABILITIES); ARG_OFFSET is always set. */
const SEC_CAPS_DEFINED =
  OPTEE_FFA_SEC_CAP_ARG_OFFSET |
  OPTEE_FFA_SEC_CAP_ASYNC_NOTIF |
  OPTEE_FFA_SEC_CAP_RPMB_PROBE |
  OPTEE_FFA_SEC_CAP_PROTMEM;
const u32 = (v: number) => v >>> 0;

/**
 * What OP-TEE 4.9.0 may put in w3, per message (core/arch/arm/kernel/thread_spmc.c):
 * - handle_unregister_shm() (UNREGISTER_SHM, RELEASE_PROTMEM): 0 for TEE_SUCCESS or
 *   TEE_ERROR_ITEM_NOT_FOUND, FFA_BUSY for TEE_ERROR_BUSY, FFA_INVALID_PARAMETERS otherwise;
 * - spmc_enable_async_notif(): TEE_SUCCESS, TEE_ERROR_NOT_IMPLEMENTED (notifications not ready),
 *   TEE_ERROR_BAD_PARAMETERS (value >= OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE, or no bitmap for the VM);
 * - a yielding call: handle_yielding_call() answers TEE_ERROR_BUSY when thread_alloc_and_run() finds
 *   no free thread, TEE_ERROR_BAD_PARAMETERS for a RESUME that finds no suspended thread; a thread run
 *   ends in thread_std_smc_entry() with __thread_std_smc_entry()'s value: FFA_DENIED for an ID other
 *   than WITH_ARG, else yielding_call_with_arg()'s — TEE_ERROR_BAD_PARAMETERS (unknown cookie, the arg
 *   or the RPC arg outside the memory, too many params), mobj_inc_map()'s error
 *   (TEE_ERROR_OUT_OF_MEMORY), or tee_entry_std()'s (TEE_SUCCESS, TEE_ERROR_BAD_PARAMETERS,
 *   TEE_ERROR_NOT_IMPLEMENTED for an unknown command);
 * - any other blocking ID (or a 64-bit x3 with its upper half set): TEE_ERROR_BAD_PARAMETERS
 *   ("Unhandled blocking service ID").
 */
const UNREGISTER_RESULTS = new Set([0, u32(FFA_BUSY), u32(FFA_INVALID_PARAMETERS)]);
const ASYNC_NOTIF_RESULTS = new Set([TEE_SUCCESS, TEE_ERROR_NOT_IMPLEMENTED, TEE_ERROR_BAD_PARAMETERS]);
const WITH_ARG_RESULTS = new Set([
  TEE_SUCCESS,
  TEE_ERROR_BUSY,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_OUT_OF_MEMORY,
]);
const OTHER_YIELDING_RESULTS = new Set([u32(FFA_DENIED), TEE_ERROR_BUSY]);

/** OP-TEE's message in a direct request: its function ID as OP-TEE's switch sees it (-1: none it handles). */
function opteeMessage(x: SmcRegs): { id: number; yielding: boolean } {
  const id = w(x, 3);
  const yielding = (id & (1 << OPTEE_FFA_YIELDING_CALL_BIT)) !== 0;
  // ARM64 thread_smc_1_2_regs: a3 is a uint64_t, compared whole by the blocking switch and the RESUME
  // test; only a 64-bit request carries an upper half.
  const high = w(x, 0) === FFA_MSG_SEND_DIRECT_REQ_64 && x[3] >> 32n !== 0n;
  if (high && (!yielding || id === OPTEE_FFA_YIELDING_CALL_RESUME))
    return { id: yielding ? 0x8000_00ff : -1, yielding };
  return { id, yielding };
}

/** Whether a call is a direct request to OP-TEE's ID (its message goes to OP-TEE's own handler). */
export function isOpteeRequest(fid: number, x: SmcRegs): boolean {
  return (
    (fid === FFA_MSG_SEND_DIRECT_REQ_32 || fid === FFA_MSG_SEND_DIRECT_REQ_64) &&
    (w(x, 1) & 0xffff) === FFA_OPTEE_ID
  );
}

/** Why OP-TEE's direct response `r` to request `x` is not one optee_os 4.9.0 gives, or null. */
export function opteeReplyProblem(x: SmcRegs, r: SmcRegs): string | null {
  // spmc_set_args(args, fid, src_dst, 0, w3, w4, w5) builds the whole register set (the rest zero);
  // thread_std_smc_entry() zeroes x4..x7. Each value is a uint32_t.
  if (r[2] !== 0n) return `OP-TEE answered w2 0x${r[2].toString(16)}, not 0`;
  for (let i = 3; i < 8; i++) if (r[i] >> 32n !== 0n) return `OP-TEE answered x${i} with an upper half`;
  if (r[6] !== 0n || r[7] !== 0n) return "OP-TEE answered w6/w7 not zero";
  const { id, yielding } = opteeMessage(x);
  const w3 = w(r, 3);
  const w4 = w(r, 4);
  const w5 = w(r, 5);
  const res = (ok: boolean, what: string) =>
    ok
      ? null
      : `OP-TEE answered ${what} with w3..w5 0x${w3.toString(16)} 0x${w4.toString(16)} 0x${w5.toString(16)}`;
  if (yielding) {
    if (w4 !== 0 || w5 !== 0) return res(false, "a yielding call");
    if (id === OPTEE_FFA_YIELDING_CALL_RESUME)
      return res(w3 === TEE_ERROR_BAD_PARAMETERS, "YIELDING_CALL_RESUME (no suspended thread)");
    if (id === OPTEE_FFA_YIELDING_CALL_WITH_ARG)
      return res(WITH_ARG_RESULTS.has(w3), "YIELDING_CALL_WITH_ARG");
    return res(OTHER_YIELDING_RESULTS.has(w3), `yielding call 0x${id.toString(16)}`);
  }
  switch (id) {
    case OPTEE_FFA_GET_API_VERSION:
      return res(
        w3 === OPTEE_FFA_VERSION_MAJOR && w4 === OPTEE_FFA_VERSION_MINOR && w5 === 0,
        "GET_API_VERSION",
      );
    case OPTEE_FFA_GET_OS_VERSION:
      // w5: TEE_IMPL_GIT_SHA1 >> 32, the build's.
      return res(w3 === OPTEE_REVISION[0] && w4 === OPTEE_REVISION[1], "GET_OS_VERSION");
    case OPTEE_FFA_EXCHANGE_CAPABILITIES:
      return res(
        w3 === 0 &&
          w4 === RPC_MAX_NUM_PARAMS &&
          (w5 & ~SEC_CAPS_DEFINED) === 0 &&
          (w5 & OPTEE_FFA_SEC_CAP_ARG_OFFSET) !== 0,
        "EXCHANGE_CAPABILITIES",
      );
    case OPTEE_FFA_UNREGISTER_SHM:
    case OPTEE_FFA_RELEASE_PROTMEM:
      return res(UNREGISTER_RESULTS.has(w3) && w4 === 0 && w5 === 0, "UNREGISTER_SHM / RELEASE_PROTMEM");
    case OPTEE_FFA_ENABLE_ASYNC_NOTIF:
      return res(
        ASYNC_NOTIF_RESULTS.has(w3) &&
          w4 === 0 &&
          w5 === 0 &&
          !(w3 === TEE_SUCCESS && w(x, 4) >= OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE),
        "ENABLE_ASYNC_NOTIF",
      );
    default:
      return res(
        w3 === TEE_ERROR_BAD_PARAMETERS && w4 === 0 && w5 === 0,
        `unhandled blocking ID 0x${id.toString(16)}`,
      );
  }
}

/**
 * Whether OP-TEE's answer says it changed nothing: every answer but a successful UNREGISTER_SHM /
 * RELEASE_PROTMEM (the registration is dropped; under Hafnium the memory is relinquished), a
 * successful ENABLE_ASYNC_NOTIF (the bottom half's value is stored), and YIELDING_CALL_WITH_ARG —
 * mobj_ffa_get_by_cookie() marks an object found by its cookie registered (OP-TEE at S-EL1) or
 * retrieves and keeps it (under Hafnium) before the arg is checked, whatever the answer.
 */
export function opteeChangesNothing(x: SmcRegs, r: SmcRegs): boolean {
  const { id, yielding } = opteeMessage(x);
  if (yielding) return id !== OPTEE_FFA_YIELDING_CALL_WITH_ARG;
  if (
    id === OPTEE_FFA_UNREGISTER_SHM ||
    id === OPTEE_FFA_RELEASE_PROTMEM ||
    id === OPTEE_FFA_ENABLE_ASYNC_NOTIF
  )
    return w(r, 3) !== 0;
  return true;
}

/**
 * Whether OP-TEE's answer refuses the message (for the fuzzer's counts): a non-zero w3 for anything but
 * the queries (GET_API_VERSION, GET_OS_VERSION, EXCHANGE_CAPABILITIES), whose w3 is data.
 */
export function opteeRefused(x: SmcRegs, r: SmcRegs): boolean {
  const { id, yielding } = opteeMessage(x);
  if (
    !yielding &&
    (id === OPTEE_FFA_GET_API_VERSION ||
      id === OPTEE_FFA_GET_OS_VERSION ||
      id === OPTEE_FFA_EXCHANGE_CAPABILITIES)
  )
    return false;
  return w(r, 3) !== 0;
}

/**
 * assign_protmem() (core/tee/entry_std.c, OP-TEE 4.9.0) puts mobj_ffa_assign_protmem()'s result in
 * arg->ret: TEE_SUCCESS, TEE_ERROR_BUSY (already assigned; an active shared-memory object),
 * TEE_ERROR_BAD_PARAMETERS (not one VALUE_INPUT parameter; another use case than the lend's tag),
 * TEE_ERROR_ITEM_NOT_FOUND (not protected memory; not found, or not retrievable, under an S-EL2 SPMC).
 * It leaves ret_origin alone.
 */
const ASSIGN_RESULTS = new Set([
  TEE_SUCCESS,
  TEE_ERROR_BUSY,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
]);

/**
 * Why what OP-TEE left in a message the normal world wrote into shared memory (`header`: the first 32
 * bytes of the optee_msg_arg after the call; the harness wrote ret and ret_origin as 0) is not what
 * optee_os 4.9.0 leaves there, or null. A yielding call answered other than TEE_SUCCESS never reached
 * tee_entry_std(): the message is as written. For OPTEE_MSG_CMD_ASSIGN_PROTMEM, ASSIGN_RESULTS.
 */
export function opteeMessageProblem(x: SmcRegs, r: SmcRegs, header: Uint8Array): string | null {
  const { id, yielding } = opteeMessage(x);
  if (!yielding || id !== OPTEE_FFA_YIELDING_CALL_WITH_ARG || w(x, 6) !== 0) return null;
  const d = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const cmd = d.getUint32(0, true);
  const ret = d.getUint32(20, true);
  const origin = d.getUint32(24, true);
  if (w(r, 3) !== TEE_SUCCESS) {
    if (ret !== 0 || origin !== 0) return `OP-TEE wrote ret 0x${ret.toString(16)} into a message it refused`;
    return null;
  }
  if (cmd === OPTEE_MSG_CMD_ASSIGN_PROTMEM) {
    if (!ASSIGN_RESULTS.has(ret)) return `OPTEE_MSG_CMD_ASSIGN_PROTMEM answered ${teeResultName(ret)}`;
    if (origin !== 0) return `OPTEE_MSG_CMD_ASSIGN_PROTMEM set ret_origin ${origin}`;
  }
  return null;
}

/** The TEE_Result OP-TEE left in a message's `ret` (the header's bytes 20..23), by name. */
export function opteeMessageResult(header: Uint8Array): string {
  return teeResultName(new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(20, true));
}

const OPTEE_MSG_NAMES = new Map<number, string>([
  [OPTEE_FFA_GET_API_VERSION, "GET_API_VERSION"],
  [OPTEE_FFA_GET_OS_VERSION, "GET_OS_VERSION"],
  [OPTEE_FFA_EXCHANGE_CAPABILITIES, "EXCHANGE_CAPABILITIES"],
  [OPTEE_FFA_UNREGISTER_SHM, "UNREGISTER_SHM"],
  [OPTEE_FFA_ENABLE_ASYNC_NOTIF, "ENABLE_ASYNC_NOTIF"],
  [OPTEE_FFA_RELEASE_PROTMEM, "RELEASE_PROTMEM"],
  [OPTEE_FFA_YIELDING_CALL_WITH_ARG, "YIELDING_CALL_WITH_ARG"],
  [OPTEE_FFA_YIELDING_CALL_RESUME, "YIELDING_CALL_RESUME"],
]);

/** The OPTEE_FFA_* name of a request's w3 ("OPTEE_FFA_UNREGISTER_SHM"), or what kind of ID it is. */
export function opteeMessageName(x: SmcRegs): string {
  const { id, yielding } = opteeMessage(x);
  const n = OPTEE_MSG_NAMES.get(id);
  if (n) return `OPTEE_FFA_${n}`;
  return yielding ? "undefined yielding ID" : "undefined blocking ID";
}

/** The name of OP-TEE's w3: a TEE_Result, an FF-A error code (handle_unregister_shm(), FFA_DENIED), or the value. */
export function opteeResultName(x: SmcRegs, r: SmcRegs): string {
  const w3 = w(r, 3);
  const { id, yielding } = opteeMessage(x);
  if ((id === OPTEE_FFA_UNREGISTER_SHM || id === OPTEE_FFA_RELEASE_PROTMEM) && !yielding)
    return w3 === 0 ? "0" : (ffaErrorName(w3 | 0) ?? `0x${w3.toString(16)}`);
  if (yielding && w3 === u32(FFA_DENIED)) return "FFA_DENIED";
  if (w3 >= 0xffff_0000 || w3 === 0) return teeResultName(w3);
  return `0x${w3.toString(16)}`;
}

const opteeKeys = new Map<string, Map<string, string>>();
/** A coverage rule for OP-TEE's answer: "optee MESSAGE → RESULT" (memoized: a few dozen a run). */
export function opteeOutcomeRule(x: SmcRegs, r: SmcRegs): string {
  const m = opteeMessageName(x);
  const v = opteeResultName(x, r);
  let a = opteeKeys.get(m);
  if (!a) opteeKeys.set(m, (a = new Map()));
  let k = a.get(v);
  if (k === undefined) a.set(v, (k = `optee ${m} → ${v}`));
  return k;
}

/** The handle a reply carries: SUCCESS of a send (w2/w3), FRAG_RX (w1/w2); else null. */
export function replyHandle(r: SmcRegs): bigint | null {
  const w0 = w(r, 0);
  if (w0 === FFA_SUCCESS_32 || w0 === FFA_SUCCESS_64) return BigInt(w(r, 2)) | (BigInt(w(r, 3)) << 32n);
  if (w0 === FFA_MEM_FRAG_RX_32) return BigInt(w(r, 1)) | (BigInt(w(r, 2)) << 32n);
  return null;
}

/** Per rig: the frame arrays the check fills, and the owner/PAS every frame had at boot. */
interface Scratch {
  readonly holder: Uint16Array;
  readonly owner: Uint8Array;
  readonly gpi: Uint8Array;
  readonly bootOwner: Uint8Array;
  readonly bootPageOwner: Uint16Array | null;
  readonly bootGpi: Uint8Array | null;
  /** hafniumProblem()'s [first, end, kind] triples, reused call after call. */
  readonly prot: number[];
}

const scratches = new WeakMap<FuzzRig, Scratch>();
const views = new WeakMap<Uint8Array | Uint16Array, Buffer>();
/** A Buffer view of a typed array (for memcmp), made once per array. */
function buf(a: Uint8Array | Uint16Array): Buffer {
  let b = views.get(a);
  if (!b) views.set(a, (b = Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  return b;
}

/** Remembers the boot state of a rig (call right after it booted, before any send). */
export function noteBoot(rig: FuzzRig): void {
  const n = rig.machine.frames.count;
  scratches.set(rig, {
    holder: new Uint16Array(n),
    owner: new Uint8Array(n),
    gpi: new Uint8Array(n),
    bootOwner: rig.machine.frames.owner.slice(),
    bootPageOwner: rig.spmc instanceof HafniumSpmc ? rig.spmc.pages.owner.slice() : null,
    bootGpi: rig.machine.gpt ? rig.machine.gpt.gpi.slice() : null,
    prot: [],
  });
}

function scratchOf(rig: FuzzRig): Scratch {
  const s = scratches.get(rig);
  if (!s) throw new Error("consistencyProblem before noteBoot");
  return s;
}

/** a.fill(v, from, to), by hand for the few-page ranges transactions hold (fill()'s call costs more). */
function fillShort(a: Uint8Array, v: number, from: number, to: number): void {
  if (to - from > 16) a.fill(v, from, to);
  else for (let i = from; i < to; i++) a[i] = v;
}

/** The first index where two arrays differ (they are known to differ). */
function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

const hex = (v: bigint) => "0x" + v.toString(16);
const paOf = (rig: FuzzRig, i: number) => "0x" + ((rig.machine.frames.basePfn + i) * PAGE).toString(16);

/** The first way the SPMC's state breaks ffa-consistency, or null. */
export function consistencyProblem(rig: FuzzRig): string | null {
  const spmc = rig.spmc;
  if (spmc instanceof HafniumSpmc) return hafniumProblem(rig, spmc);
  if (spmc instanceof OpteeSel1Spmc) return opteeProblem(rig, spmc);
  return null;
}

function hafniumProblem(rig: FuzzRig, hf: HafniumSpmc): string | null {
  const sc = scratchOf(rig);
  const frames = rig.machine.frames;
  const expectHolder = sc.holder;
  // [first, end, 1 | 2] per constituent of a lend/donate to partitions (2: memory_protected).
  // Its first np entries are this check's (never cut back: a length of 0 frees its store).
  const prot = sc.prot;
  let np = 0;
  expectHolder.fill(0);
  let live = 0;
  for (let slot = 0; slot < hf.limits.maxShares; slot++) {
    const s = hf.shares.at(slot);
    if (s === null) continue;
    live++;
    // Every handle finds its own state (get_share_state()); two states with one handle cannot both.
    const found = hf.shares.get(s.handle);
    if (found !== s) {
      const h = hex(s.handle);
      return found && found.handle === s.handle
        ? `handle ${h} is used twice`
        : `handle ${h} does not find its own state`;
    }
    for (let k = 0; k < s.receivers.length; k++) {
      const r = s.receivers[k];
      const frags = r.response === null ? 0 : r.response.length;
      if (r.retrievedFragments > frags)
        return `${hex(s.handle)}: 0x${r.id.toString(16)} retrieved ${r.retrievedFragments} of ${frags} fragments`;
      if (isSecureId(r.id) && (r.mode !== 0) !== r.retrievedFragments > 0)
        return `${hex(s.handle)}: 0x${r.id.toString(16)} has mode ${r.mode} with ${r.retrievedFragments} fragments retrieved`;
      if (!s.sendingComplete && r.retrievedFragments !== 0)
        return `${hex(s.handle)} is retrieved before its sending completed`;
    }
    if (!s.sendingComplete) continue;
    const bit =
      s.func === "lend"
        ? MM_MODE_INVALID
        : s.func === "share"
          ? MM_MODE_SHARED
          : MM_MODE_INVALID | MM_MODE_UNOWNED;
    let secureBorrowers = true;
    for (let k = 0; k < s.receivers.length; k++) if (!isSecureId(s.receivers[k].id)) secureBorrowers = false;
    const kind =
      s.func !== "share" && !isSecureId(s.sender) && secureBorrowers ? (s.memoryProtected ? 2 : 1) : 0;
    // The normal world is one VM to the SPMC (the other world, ID 0) whatever VM ID a descriptor
    // names: api_ffa_mem_send() checks only that it is not a partition's ID.
    const owner = isSecureId(s.sender) ? s.sender : FFA_NWD_ID;
    const cs = allConstituents(s);
    for (let k = 0; k < cs.length; k++) {
      const c = cs[k];
      const first = hf.pages.first(c.address, c.pageCount);
      if (first < 0) return `${hex(s.handle)} holds pages outside DRAM at 0x${c.address.toString(16)}`;
      for (let i = first; i < first + c.pageCount; i++) {
        if (expectHolder[i] !== 0) return `page ${paOf(rig, i)} is held by two share states`;
        expectHolder[i] = s.slot + 1;
        if (hf.pages.owner[i] !== owner)
          return `page ${paOf(rig, i)} of ${hex(s.handle)} is not owned by its sender`;
        if ((hf.pages.mode[i] & bit) !== bit)
          return `page ${paOf(rig, i)} of ${s.func} ${hex(s.handle)} has the sender's mode 0x${hf.pages.mode[i].toString(16)}`;
      }
      if (kind !== 0) {
        prot[np] = first;
        prot[np + 1] = first + c.pageCount;
        prot[np + 2] = kind;
        np += 3;
      }
    }
  }
  if (live > hf.limits.maxShares) return `${live} share states exceed MAX_MEM_SHARES`;
  if (!buf(hf.pages.holder).equals(buf(expectHolder))) {
    const i = firstDiff(hf.pages.holder, expectHolder);
    return `page ${paOf(rig, i)} is recorded in share state slot ${hf.pages.holder[i] - 1}, expected ${expectHolder[i] - 1}`;
  }
  // Normal-world memory is secure in the machine exactly while lent or donated to partitions, or once a
  // partition owns it (a completed donate, which keeps the PAS it was given).
  const owner = sc.owner;
  owner.set(sc.bootOwner);
  const gpi = sc.gpi;
  const liveGpi = rig.machine.gpt?.gpi ?? null;
  if (sc.bootGpi) gpi.set(sc.bootGpi);
  for (let k = 0; k < np; k += 3) {
    fillShort(owner, OWNER_SECURE, prot[k], prot[k + 1]);
    if (prot[k + 2] === 2) fillShort(gpi, GPT_GPI_SECURE, prot[k], prot[k + 1]);
  }
  if (!buf(hf.pages.owner).equals(buf(sc.bootPageOwner!))) {
    const po = hf.pages.owner;
    const boot = sc.bootPageOwner!;
    for (let i = 0; i < po.length; i++) {
      if (po[i] === boot[i]) continue;
      // Only a donate moves ownership, and only to a partition (the SPMC's send policy).
      if (!isSecureId(po[i]))
        return `page ${paOf(rig, i)} moved from 0x${boot[i].toString(16)} to 0x${po[i].toString(16)}`;
      if (boot[i] !== FFA_NWD_ID) continue;
      owner[i] = OWNER_SECURE;
      if (liveGpi) gpi[i] = liveGpi[i];
    }
  }
  if (!buf(frames.owner).equals(buf(owner))) {
    const i = firstDiff(frames.owner, owner);
    return `page ${paOf(rig, i)} is ${frames.owner[i] === OWNER_SECURE ? "secure" : "normal"} in the machine, the SPMC's share states say ${owner[i] === OWNER_SECURE ? "secure" : "normal"}`;
  }
  if (liveGpi && !buf(liveGpi).equals(buf(gpi))) {
    const i = firstDiff(liveGpi, gpi);
    return `granule ${paOf(rig, i)} has GPI ${liveGpi[i]}, memory_protected says ${gpi[i]}`;
  }
  return null;
}

function opteeProblem(rig: FuzzRig, op: OpteeSel1Spmc): string | null {
  const sc = scratchOf(rig);
  const frames = rig.machine.frames;
  const owner = sc.owner;
  owner.set(sc.bootOwner);
  const cookies = new Set<bigint>();
  // Which object first claimed each frame (1-based), and each object's kind.
  const stamp = sc.holder;
  stamp.fill(0);
  const kinds: string[] = [""];
  let objects = 0;
  for (const m of op.mobjs.live()) {
    objects++;
    const c = "0x" + m.cookie.toString(16);
    if (cookies.has(m.cookie)) return `cookie ${c} is used twice`;
    cookies.add(m.cookie);
    if (m.list === "building") return `cookie ${c} is pushed but still building`;
    if ((m.list === "active") !== m.refcount > 0)
      return `cookie ${c} is ${m.list} with refcount ${m.refcount}`;
    if (m.inactiveRefs < 0 || m.refcount < 0) return `cookie ${c} has a negative count`;
    if (m.pagesAdded !== m.pageCount) return `cookie ${c} holds ${m.pagesAdded} of its ${m.pageCount} pages`;
    if (!m.lent) continue;
    // One object may name a page twice: OP-TEE 4.9 checks no overlap inside an object, nor between
    // two shared-memory objects (mobj_ffa_push_to_inactive() compares only when one is protected).
    for (const r of lentRanges(m, rig.machine)) {
      const i0 = frames.indexOf(r.address);
      for (let i = i0; i < i0 + r.pages; i++) {
        if (stamp[i] !== 0 && stamp[i] !== objects && (m.kind === "prm" || kinds[stamp[i]] === "prm"))
          return `page ${paOf(rig, i)} is in two objects, one of them protected`;
        if (stamp[i] === 0) stamp[i] = objects;
        owner[i] = OWNER_SECURE;
      }
    }
    kinds[objects] = m.kind;
  }
  for (const [cookie, s] of op.fragStates) {
    const c = "0x" + cookie.toString(16);
    if (cookies.has(cookie)) return `cookie ${c} is pushed and still pending`;
    cookies.add(cookie);
    if (s.mobj.cookie !== cookie || s.mobj.list !== "building")
      return `pending send ${c} holds object 0x${s.mobj.cookie.toString(16)} (${s.mobj.list})`;
  }
  if (op.mobjs.cookiesInUse !== cookies.size)
    return `${op.mobjs.cookiesInUse} cookies allocated for ${objects} objects and ${op.fragStates.size} pending sends`;
  if (!buf(frames.owner).equals(buf(owner))) {
    const i = firstDiff(frames.owner, owner);
    return `page ${paOf(rig, i)} is ${frames.owner[i] === OWNER_SECURE ? "secure" : "normal"} in the machine, OP-TEE's objects say ${owner[i] === OWNER_SECURE ? "lent" : "not lent"}`;
  }
  return null;
}
