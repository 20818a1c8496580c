/**
 * FF-A function IDs (SMCCC fast calls, owner "Standard Secure Service").
 *
 * Values: Hafnium inc/vmapi/hf/ffa.h (`FFA_*_32` / `FFA_*_64`), Linux include/linux/arm_ffa.h
 * (`FFA_SMC_32(n)` / `FFA_SMC_64(n)`, `FFA_FN64_*`), TF-A include/services/ffa_svc.h
 * (reference/ffa.md §1). Names keep Hafnium's spelling with the `_32` / `_64` suffix; the
 * 32-bit-only calls also get their bare spec name (`FFA_VERSION`, `FFA_ID_GET`, …).
 *
 * This file also re-exports the other register-level FF-A concepts (error codes, versions,
 * handles), each kept in its own file.
 */

export * from "./error.ts";
export * from "./version.ts";
export * from "./handle.ts";

/** Bit 30 of a function ID: SMC64 calling convention (ARM_SMCCC_SMC_64). */
export const FFA_SMC64_BIT = 0x4000_0000;

/** FFA_SMC_32(n) — include/linux/arm_ffa.h. */
export function ffaSmc32(funcNum: number): number {
  return (0x8400_0000 | (funcNum & 0xffff)) >>> 0;
}

/** FFA_SMC_64(n) — include/linux/arm_ffa.h. */
export function ffaSmc64(funcNum: number): number {
  return (0xc400_0000 | (funcNum & 0xffff)) >>> 0;
}

export const FFA_ERROR_32 = 0x8400_0060;
/** TF-A `FFA_ERROR_SMC64`; Hafnium and Linux only use the 32-bit form. */
export const FFA_ERROR_64 = 0xc400_0060;
export const FFA_SUCCESS_32 = 0x8400_0061;
export const FFA_SUCCESS_64 = 0xc400_0061;
export const FFA_INTERRUPT_32 = 0x8400_0062;
export const FFA_VERSION_32 = 0x8400_0063;
export const FFA_FEATURES_32 = 0x8400_0064;
export const FFA_RX_RELEASE_32 = 0x8400_0065;
export const FFA_RXTX_MAP_32 = 0x8400_0066;
export const FFA_RXTX_MAP_64 = 0xc400_0066;
export const FFA_RXTX_UNMAP_32 = 0x8400_0067;
export const FFA_PARTITION_INFO_GET_32 = 0x8400_0068;
export const FFA_ID_GET_32 = 0x8400_0069;
export const FFA_MSG_POLL_32 = 0x8400_006a;
export const FFA_MSG_WAIT_32 = 0x8400_006b;
export const FFA_YIELD_32 = 0x8400_006c;
export const FFA_RUN_32 = 0x8400_006d;
export const FFA_MSG_SEND_32 = 0x8400_006e;
export const FFA_MSG_SEND_DIRECT_REQ_32 = 0x8400_006f;
export const FFA_MSG_SEND_DIRECT_REQ_64 = 0xc400_006f;
export const FFA_MSG_SEND_DIRECT_RESP_32 = 0x8400_0070;
export const FFA_MSG_SEND_DIRECT_RESP_64 = 0xc400_0070;
export const FFA_MEM_DONATE_32 = 0x8400_0071;
export const FFA_MEM_DONATE_64 = 0xc400_0071;
export const FFA_MEM_LEND_32 = 0x8400_0072;
export const FFA_MEM_LEND_64 = 0xc400_0072;
export const FFA_MEM_SHARE_32 = 0x8400_0073;
export const FFA_MEM_SHARE_64 = 0xc400_0073;
export const FFA_MEM_RETRIEVE_REQ_32 = 0x8400_0074;
export const FFA_MEM_RETRIEVE_REQ_64 = 0xc400_0074;
export const FFA_MEM_RETRIEVE_RESP_32 = 0x8400_0075;
export const FFA_MEM_RELINQUISH_32 = 0x8400_0076;
export const FFA_MEM_RECLAIM_32 = 0x8400_0077;
/** FFA_MEM_OP_PAUSE — include/linux/arm_ffa.h (Linux answers it with FFA_MEM_OP_RESUME). */
export const FFA_MEM_OP_PAUSE_32 = 0x8400_0078;
export const FFA_MEM_OP_RESUME_32 = 0x8400_0079;
export const FFA_MEM_FRAG_RX_32 = 0x8400_007a;
export const FFA_MEM_FRAG_TX_32 = 0x8400_007b;
export const FFA_NORMAL_WORLD_RESUME_32 = 0x8400_007c;
// FF-A v1.1
export const FFA_NOTIFICATION_BITMAP_CREATE_32 = 0x8400_007d;
export const FFA_NOTIFICATION_BITMAP_DESTROY_32 = 0x8400_007e;
export const FFA_NOTIFICATION_BIND_32 = 0x8400_007f;
export const FFA_NOTIFICATION_UNBIND_32 = 0x8400_0080;
export const FFA_NOTIFICATION_SET_32 = 0x8400_0081;
export const FFA_NOTIFICATION_GET_32 = 0x8400_0082;
/** Linux `FFA_NOTIFICATION_INFO_GET` (32-bit form); Hafnium defines only the 64-bit one. */
export const FFA_NOTIFICATION_INFO_GET_32 = 0x8400_0083;
export const FFA_NOTIFICATION_INFO_GET_64 = 0xc400_0083;
export const FFA_RX_ACQUIRE_32 = 0x8400_0084;
export const FFA_SPM_ID_GET_32 = 0x8400_0085;
export const FFA_MSG_SEND2_32 = 0x8400_0086;
/** Linux `FFA_SECONDARY_EP_REGISTER` (32-bit form); Hafnium defines only the 64-bit one. */
export const FFA_SECONDARY_EP_REGISTER_32 = 0x8400_0087;
export const FFA_SECONDARY_EP_REGISTER_64 = 0xc400_0087;
export const FFA_MEM_PERM_GET_32 = 0x8400_0088;
export const FFA_MEM_PERM_GET_64 = 0xc400_0088;
export const FFA_MEM_PERM_SET_32 = 0x8400_0089;
export const FFA_MEM_PERM_SET_64 = 0xc400_0089;
// FF-A v1.2
export const FFA_CONSOLE_LOG_32 = 0x8400_008a;
export const FFA_CONSOLE_LOG_64 = 0xc400_008a;
export const FFA_PARTITION_INFO_GET_REGS_64 = 0xc400_008b;
export const FFA_EL3_INTR_HANDLE_32 = 0x8400_008c;
export const FFA_MSG_SEND_DIRECT_REQ2_64 = 0xc400_008d;
export const FFA_MSG_SEND_DIRECT_RESP2_64 = 0xc400_008e;

// Bare spec names for calls that exist only as SMC32 (Linux spells them this way).
export const FFA_ERROR = FFA_ERROR_32;
export const FFA_INTERRUPT = FFA_INTERRUPT_32;
export const FFA_VERSION = FFA_VERSION_32;
export const FFA_FEATURES = FFA_FEATURES_32;
export const FFA_RX_RELEASE = FFA_RX_RELEASE_32;
export const FFA_RXTX_UNMAP = FFA_RXTX_UNMAP_32;
export const FFA_PARTITION_INFO_GET = FFA_PARTITION_INFO_GET_32;
export const FFA_ID_GET = FFA_ID_GET_32;
export const FFA_MSG_WAIT = FFA_MSG_WAIT_32;
export const FFA_YIELD = FFA_YIELD_32;
export const FFA_RUN = FFA_RUN_32;
export const FFA_MEM_RETRIEVE_RESP = FFA_MEM_RETRIEVE_RESP_32;
export const FFA_MEM_RELINQUISH = FFA_MEM_RELINQUISH_32;
export const FFA_MEM_RECLAIM = FFA_MEM_RECLAIM_32;
export const FFA_MEM_OP_PAUSE = FFA_MEM_OP_PAUSE_32;
export const FFA_MEM_OP_RESUME = FFA_MEM_OP_RESUME_32;
export const FFA_MEM_FRAG_RX = FFA_MEM_FRAG_RX_32;
export const FFA_MEM_FRAG_TX = FFA_MEM_FRAG_TX_32;
export const FFA_NORMAL_WORLD_RESUME = FFA_NORMAL_WORLD_RESUME_32;
export const FFA_RX_ACQUIRE = FFA_RX_ACQUIRE_32;
export const FFA_SPM_ID_GET = FFA_SPM_ID_GET_32;
export const FFA_MSG_SEND2 = FFA_MSG_SEND2_32;

/** Canonical name ↔ ID, one row per ID (the `_32`/`_64` spelling of Hafnium's ffa_func_name()). */
export const FFA_FUNCS: readonly { readonly name: string; readonly id: number }[] = [
  { name: "FFA_ERROR_32", id: FFA_ERROR_32 },
  { name: "FFA_ERROR_64", id: FFA_ERROR_64 },
  { name: "FFA_SUCCESS_32", id: FFA_SUCCESS_32 },
  { name: "FFA_SUCCESS_64", id: FFA_SUCCESS_64 },
  { name: "FFA_INTERRUPT_32", id: FFA_INTERRUPT_32 },
  { name: "FFA_VERSION_32", id: FFA_VERSION_32 },
  { name: "FFA_FEATURES_32", id: FFA_FEATURES_32 },
  { name: "FFA_RX_RELEASE_32", id: FFA_RX_RELEASE_32 },
  { name: "FFA_RXTX_MAP_32", id: FFA_RXTX_MAP_32 },
  { name: "FFA_RXTX_MAP_64", id: FFA_RXTX_MAP_64 },
  { name: "FFA_RXTX_UNMAP_32", id: FFA_RXTX_UNMAP_32 },
  { name: "FFA_PARTITION_INFO_GET_32", id: FFA_PARTITION_INFO_GET_32 },
  { name: "FFA_ID_GET_32", id: FFA_ID_GET_32 },
  { name: "FFA_MSG_POLL_32", id: FFA_MSG_POLL_32 },
  { name: "FFA_MSG_WAIT_32", id: FFA_MSG_WAIT_32 },
  { name: "FFA_YIELD_32", id: FFA_YIELD_32 },
  { name: "FFA_RUN_32", id: FFA_RUN_32 },
  { name: "FFA_MSG_SEND_32", id: FFA_MSG_SEND_32 },
  { name: "FFA_MSG_SEND_DIRECT_REQ_32", id: FFA_MSG_SEND_DIRECT_REQ_32 },
  { name: "FFA_MSG_SEND_DIRECT_REQ_64", id: FFA_MSG_SEND_DIRECT_REQ_64 },
  { name: "FFA_MSG_SEND_DIRECT_RESP_32", id: FFA_MSG_SEND_DIRECT_RESP_32 },
  { name: "FFA_MSG_SEND_DIRECT_RESP_64", id: FFA_MSG_SEND_DIRECT_RESP_64 },
  { name: "FFA_MEM_DONATE_32", id: FFA_MEM_DONATE_32 },
  { name: "FFA_MEM_DONATE_64", id: FFA_MEM_DONATE_64 },
  { name: "FFA_MEM_LEND_32", id: FFA_MEM_LEND_32 },
  { name: "FFA_MEM_LEND_64", id: FFA_MEM_LEND_64 },
  { name: "FFA_MEM_SHARE_32", id: FFA_MEM_SHARE_32 },
  { name: "FFA_MEM_SHARE_64", id: FFA_MEM_SHARE_64 },
  { name: "FFA_MEM_RETRIEVE_REQ_32", id: FFA_MEM_RETRIEVE_REQ_32 },
  { name: "FFA_MEM_RETRIEVE_REQ_64", id: FFA_MEM_RETRIEVE_REQ_64 },
  { name: "FFA_MEM_RETRIEVE_RESP_32", id: FFA_MEM_RETRIEVE_RESP_32 },
  { name: "FFA_MEM_RELINQUISH_32", id: FFA_MEM_RELINQUISH_32 },
  { name: "FFA_MEM_RECLAIM_32", id: FFA_MEM_RECLAIM_32 },
  { name: "FFA_MEM_OP_PAUSE_32", id: FFA_MEM_OP_PAUSE_32 },
  { name: "FFA_MEM_OP_RESUME_32", id: FFA_MEM_OP_RESUME_32 },
  { name: "FFA_MEM_FRAG_RX_32", id: FFA_MEM_FRAG_RX_32 },
  { name: "FFA_MEM_FRAG_TX_32", id: FFA_MEM_FRAG_TX_32 },
  { name: "FFA_NORMAL_WORLD_RESUME_32", id: FFA_NORMAL_WORLD_RESUME_32 },
  { name: "FFA_NOTIFICATION_BITMAP_CREATE_32", id: FFA_NOTIFICATION_BITMAP_CREATE_32 },
  { name: "FFA_NOTIFICATION_BITMAP_DESTROY_32", id: FFA_NOTIFICATION_BITMAP_DESTROY_32 },
  { name: "FFA_NOTIFICATION_BIND_32", id: FFA_NOTIFICATION_BIND_32 },
  { name: "FFA_NOTIFICATION_UNBIND_32", id: FFA_NOTIFICATION_UNBIND_32 },
  { name: "FFA_NOTIFICATION_SET_32", id: FFA_NOTIFICATION_SET_32 },
  { name: "FFA_NOTIFICATION_GET_32", id: FFA_NOTIFICATION_GET_32 },
  { name: "FFA_NOTIFICATION_INFO_GET_32", id: FFA_NOTIFICATION_INFO_GET_32 },
  { name: "FFA_NOTIFICATION_INFO_GET_64", id: FFA_NOTIFICATION_INFO_GET_64 },
  { name: "FFA_RX_ACQUIRE_32", id: FFA_RX_ACQUIRE_32 },
  { name: "FFA_SPM_ID_GET_32", id: FFA_SPM_ID_GET_32 },
  { name: "FFA_MSG_SEND2_32", id: FFA_MSG_SEND2_32 },
  { name: "FFA_SECONDARY_EP_REGISTER_32", id: FFA_SECONDARY_EP_REGISTER_32 },
  { name: "FFA_SECONDARY_EP_REGISTER_64", id: FFA_SECONDARY_EP_REGISTER_64 },
  { name: "FFA_MEM_PERM_GET_32", id: FFA_MEM_PERM_GET_32 },
  { name: "FFA_MEM_PERM_GET_64", id: FFA_MEM_PERM_GET_64 },
  { name: "FFA_MEM_PERM_SET_32", id: FFA_MEM_PERM_SET_32 },
  { name: "FFA_MEM_PERM_SET_64", id: FFA_MEM_PERM_SET_64 },
  { name: "FFA_CONSOLE_LOG_32", id: FFA_CONSOLE_LOG_32 },
  { name: "FFA_CONSOLE_LOG_64", id: FFA_CONSOLE_LOG_64 },
  { name: "FFA_PARTITION_INFO_GET_REGS_64", id: FFA_PARTITION_INFO_GET_REGS_64 },
  { name: "FFA_EL3_INTR_HANDLE_32", id: FFA_EL3_INTR_HANDLE_32 },
  { name: "FFA_MSG_SEND_DIRECT_REQ2_64", id: FFA_MSG_SEND_DIRECT_REQ2_64 },
  { name: "FFA_MSG_SEND_DIRECT_RESP2_64", id: FFA_MSG_SEND_DIRECT_RESP2_64 },
];

const NAME_BY_ID = new Map<number, string>(FFA_FUNCS.map((f) => [f.id, f.name]));
const ID_BY_NAME = new Map<string, number>(FFA_FUNCS.map((f) => [f.name, f.id]));

/**
 * ffa_func_name() — Hafnium inc/vmapi/hf/ffa.h: the canonical `_32`/`_64` name of an ID, or
 * undefined for an ID that is not an FF-A call. Accepts a signed 32-bit register value too.
 */
export function ffaFuncName(id: number): string | undefined {
  return NAME_BY_ID.get(id >>> 0);
}

/**
 * The ID of a name. Accepts the canonical name (`FFA_MEM_LEND_64`), a bare 32-bit-only name
 * (`FFA_VERSION`), and Linux's `FFA_FN64_` spelling (`FFA_FN64_MEM_LEND`).
 */
export function ffaFuncId(name: string): number | undefined {
  const direct = ID_BY_NAME.get(name);
  if (direct !== undefined) return direct;
  if (name.startsWith("FFA_FN64_")) return ID_BY_NAME.get("FFA_" + name.slice("FFA_FN64_".length) + "_64");
  return ID_BY_NAME.get(name + "_32");
}

/** True when the ID uses the SMC64 convention (bit 30). */
export function ffaFuncIs64(id: number): boolean {
  return ((id >>> 0) & FFA_SMC64_BIT) !== 0;
}

/** The other-width twin of an ID: FFA_MEM_LEND_32 ↔ FFA_MEM_LEND_64 (undefined when it has none). */
export function ffaFuncOtherWidth(id: number): number | undefined {
  const twin = ((id >>> 0) ^ FFA_SMC64_BIT) >>> 0;
  return NAME_BY_ID.has(twin) ? twin : undefined;
}

/** The memory-transaction call an ID is, ignoring the width, or undefined. */
export type FfaMemFunc = "donate" | "lend" | "share" | "retrieve_req" | "retrieve_resp";

/** Classifies FFA_MEM_DONATE/LEND/SHARE/RETRIEVE_REQ/RETRIEVE_RESP (32 or 64). */
export function ffaMemFunc(id: number): FfaMemFunc | undefined {
  if (!NAME_BY_ID.has(id >>> 0)) return undefined;
  switch (((id >>> 0) & ~FFA_SMC64_BIT) >>> 0) {
    case FFA_MEM_DONATE_32:
      return "donate";
    case FFA_MEM_LEND_32:
      return "lend";
    case FFA_MEM_SHARE_32:
      return "share";
    case FFA_MEM_RETRIEVE_REQ_32:
      return "retrieve_req";
    case FFA_MEM_RETRIEVE_RESP_32:
      return "retrieve_resp";
    default:
      return undefined;
  }
}
