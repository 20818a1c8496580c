/**
 * FFA_FEATURES at Hafnium v2.15.0 — src/api.c api_ffa_features(), ffa_features_function(),
 * ffa_features_feature() (reference/ffa.md §1). Bit 31 of w1 set: a function ID; clear: a feature ID
 * (bits[30:8] MBZ, input property MBZ). The model's Hafnium is built for v1.2 (FFA_VERSION_COMPILED):
 * the v1.1 and v1.2 interfaces are listed, the v1.3 ones (FFA_NS_RES_INFO_GET, FFA_ABORT) are not.
 *
 * "Not supported" is the answer to a well-formed query, not a refusal. Hafnium says why
 * (dlog_verbose) for a malformed query and for the interfaces it keeps from some callers
 * (NOTIFICATION_INFO_GET_64, YIELD, MEM_PERM_*, SECONDARY_EP_REGISTER, the MEM_RETRIEVE_REQ NS bit):
 * those are rejections with a rule (CallCtx.reject()). Everything else — an interface it does not
 * have, RX_ACQUIRE or an interrupt feature ID that is not for this caller — it answers
 * FFA_ERROR(NOT_SUPPORTED) without a word, and so does the model (no rule, not counted).
 */
import {
  FFA_FUNCS,
  FFA_MEM_PERM_GET_32,
  FFA_MEM_PERM_GET_64,
  FFA_MEM_PERM_SET_32,
  FFA_MEM_PERM_SET_64,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_REQ_64,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_RX_ACQUIRE_32,
  FFA_RXTX_MAP_64,
  FFA_SECONDARY_EP_REGISTER_64,
  FFA_VERSION_1_2,
  FFA_YIELD_32,
  ffaFuncId,
} from "../../abi/ffa/index.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import type { SpmcEndpoint } from "../spmc/endpoint.ts";
import { CallCtx, ffaError, ffaSuccess, hex } from "../spmc/regs.ts";
import { HF_OTHER_WORLD_ID } from "./notifications.ts";

/**
 * Whether Hafnium's FFA_FEATURES answers FFA_SUCCESS for `fid` to `ep` (ffa_features_function(): the
 * PLAIN list, and NOTIFICATION_INFO_GET_64 for the normal world).
 */
export function hafniumListsFunction(fid: number, ep: SpmcEndpoint): boolean {
  const id = fid >>> 0;
  if (ANSWERS.has(id)) return false;
  return PLAIN.has(id) || (id === FFA_NOTIFICATION_INFO_GET_64 && !ep.secure);
}

/** IDs FFA_FEATURES lists that are answers, not calls (ffa_handler() has no case for them as calls). */
const ANSWERS = new Set(
  [
    "FFA_ERROR_32",
    "FFA_SUCCESS_32",
    "FFA_SUCCESS_64",
    "FFA_INTERRUPT_32",
    "FFA_MEM_RETRIEVE_RESP_32",
    "FFA_MSG_SEND_DIRECT_RESP_32",
    "FFA_MSG_SEND_DIRECT_RESP_64",
    "FFA_MSG_SEND_DIRECT_RESP2_64",
  ].map((n) => ffaFuncId(n)!),
);

/**
 * Functions answered with FFA_SUCCESS(0) to everyone — the first case list of ffa_features_function(),
 * then the v1.1 (FFA_VERSION_COMPILED ≥ v1.1) and v1.2 (≥ v1.2) lists.
 */
const PLAIN = new Set(
  [
    "FFA_ERROR_32",
    "FFA_SUCCESS_32",
    "FFA_SUCCESS_64",
    "FFA_INTERRUPT_32",
    "FFA_VERSION_32",
    "FFA_FEATURES_32",
    "FFA_RX_RELEASE_32",
    "FFA_RXTX_UNMAP_32",
    "FFA_PARTITION_INFO_GET_32",
    "FFA_ID_GET_32",
    "FFA_MSG_WAIT_32",
    "FFA_RUN_32",
    "FFA_MEM_DONATE_64",
    "FFA_MEM_DONATE_32",
    "FFA_MEM_LEND_32",
    "FFA_MEM_LEND_64",
    "FFA_MEM_SHARE_32",
    "FFA_MEM_SHARE_64",
    "FFA_MEM_RETRIEVE_RESP_32",
    "FFA_MEM_RELINQUISH_32",
    "FFA_MEM_RECLAIM_32",
    "FFA_MEM_FRAG_RX_32",
    "FFA_MEM_FRAG_TX_32",
    "FFA_MSG_SEND_DIRECT_RESP_64",
    "FFA_MSG_SEND_DIRECT_RESP_32",
    "FFA_MSG_SEND_DIRECT_REQ_64",
    "FFA_MSG_SEND_DIRECT_REQ_32",
    // FF-A v1.1 features.
    "FFA_SPM_ID_GET_32",
    "FFA_NOTIFICATION_BITMAP_CREATE_32",
    "FFA_NOTIFICATION_BITMAP_DESTROY_32",
    "FFA_NOTIFICATION_BIND_32",
    "FFA_NOTIFICATION_UNBIND_32",
    "FFA_NOTIFICATION_SET_32",
    "FFA_NOTIFICATION_GET_32",
    "FFA_MSG_SEND2_32",
    // FF-A v1.2 features.
    "FFA_CONSOLE_LOG_32",
    "FFA_CONSOLE_LOG_64",
    "FFA_PARTITION_INFO_GET_REGS_64",
    "FFA_MSG_SEND_DIRECT_REQ2_64",
    "FFA_MSG_SEND_DIRECT_RESP2_64",
  ].map((n) => ffaFuncId(n)!),
);

const MEM_PERM = new Set([
  FFA_MEM_PERM_GET_32,
  FFA_MEM_PERM_GET_64,
  FFA_MEM_PERM_SET_32,
  FFA_MEM_PERM_SET_64,
]);

/** FFA_FEATURE_NPI / SRI / MEI and Hafnium's interrupt IDs for them (inc/vmapi/hf/types.h). */
const FFA_FEATURE_NPI = 0x1;
const FFA_FEATURE_SRI = 0x2;
const FFA_FEATURE_MEI = 0x3;
const HF_MANAGED_EXIT_INTID = 4;
const HF_NOTIFICATION_PENDING_INTID = 5;
const HF_SCHEDULE_RECEIVER_INTID = 8;

/** FFA_FEATURES_MEM_RETRIEVE_REQ_* output bits. */
const RETRIEVE_BUFFER_SUPPORT = 1 << 0;
const RETRIEVE_NS_SUPPORT = 1 << 1;
const RETRIEVE_HYPERVISOR_SUPPORT = 1 << 2;

export function hafniumFeatures(
  ctx: CallCtx,
  ep: SpmcEndpoint,
  id: number,
  input: number,
  mailboxSize: number,
): SmcRegs {
  const no = (rule: string, why: string) => ctx.reject(FFA_NOT_SUPPORTED, rule, why);
  const notSupported = ffaError(FFA_NOT_SUPPORTED);
  if (id >>> 31 === 0) {
    if ((id & 0x7fff_ff00) !== 0)
      return no("feature-id-invalid", `feature ID ${hex(id)} is invalid (bits[30:8] MBZ)`);
    if (input !== 0) return no("feature-input-mbz", "input property must be 0 for a feature ID");
    if (id === FFA_FEATURE_NPI && ep.secure) return ffaSuccess(HF_NOTIFICATION_PENDING_INTID);
    if (id === FFA_FEATURE_MEI && ep.secure) return ffaSuccess(HF_MANAGED_EXIT_INTID);
    if (id === FFA_FEATURE_SRI && !ep.secure) return ffaSuccess(HF_SCHEDULE_RECEIVER_INTID);
    return notSupported;
  }
  if (PLAIN.has(id)) return ffaSuccess(0);
  // The normal world is the primary VM and the hypervisor at the SPMC (HF_PRIMARY_VM_ID = 0).
  const primary = !ep.secure && ep.id === HF_OTHER_WORLD_ID;
  if (id === FFA_RX_ACQUIRE_32) return primary ? ffaSuccess(0) : notSupported;
  if (id === FFA_NOTIFICATION_INFO_GET_64)
    return primary
      ? ffaSuccess(0)
      : no("feature-primary-only", "FFA_NOTIFICATION_INFO_GET_64 is only supported by the primary scheduler");
  if (MEM_PERM.has(id))
    // No S-EL0 partitions in the model.
    return no("feature-s-el0-only", `${funcName(id)} is only supported on S-EL0 partitions`);
  if (id === FFA_SECONDARY_EP_REGISTER_64)
    return ep.secure && ep.desc.execContexts > 1
      ? ffaSuccess(0)
      : no("feature-mp-sp-only", `${funcName(id)} is only supported on SPs with more than 1 vCPU`);
  if (id === FFA_YIELD_32)
    return ep.secure
      ? ffaSuccess(0)
      : no("feature-secure-only", "FFA_YIELD is only supported at the secure virtual FF-A instance");
  if (id === FFA_RXTX_MAP_64) {
    // min buffer 4K (0), max page count in bits[31:16] from v1.2.
    const max = (ep.version ?? 0) >= FFA_VERSION_1_2 ? mailboxSize / 4096 : 0;
    return ffaSuccess((max << 16) >>> 0);
  }
  if (id === FFA_MEM_RETRIEVE_REQ_32 || id === FFA_MEM_RETRIEVE_REQ_64) {
    if ((ep.version ?? 0) >= 0x1_0001 && (input & RETRIEVE_NS_SUPPORT) === 0)
      return no("feature-retrieve-ns-bit", "NS bit support must be 1");
    return ffaSuccess(RETRIEVE_BUFFER_SUPPORT | RETRIEVE_NS_SUPPORT | RETRIEVE_HYPERVISOR_SUPPORT);
  }
  return notSupported;
}

function funcName(id: number): string {
  return FFA_FUNCS.find((f) => f.id === id)?.name ?? hex(id);
}
