/**
 * TEE_Result codes and origins — GlobalPlatform TEE Internal/Client API as OP-TEE defines them
 * (lib/libutee/include/tee_api_defines.h, optee_client tee_client_api.h). Linux maps a nonzero result
 * of a protmem command to −EINVAL (or −ENOSPC for SHORT_BUFFER, protmem.c).
 */
export const TEE_SUCCESS = 0x00000000;
export const TEE_ERROR_GENERIC = 0xffff0000;
export const TEE_ERROR_ACCESS_DENIED = 0xffff0001;
export const TEE_ERROR_CANCEL = 0xffff0002;
export const TEE_ERROR_ACCESS_CONFLICT = 0xffff0003;
export const TEE_ERROR_EXCESS_DATA = 0xffff0004;
export const TEE_ERROR_BAD_FORMAT = 0xffff0005;
export const TEE_ERROR_BAD_PARAMETERS = 0xffff0006;
export const TEE_ERROR_BAD_STATE = 0xffff0007;
export const TEE_ERROR_ITEM_NOT_FOUND = 0xffff0008;
export const TEE_ERROR_NOT_IMPLEMENTED = 0xffff0009;
export const TEE_ERROR_NOT_SUPPORTED = 0xffff000a;
export const TEE_ERROR_NO_DATA = 0xffff000b;
export const TEE_ERROR_OUT_OF_MEMORY = 0xffff000c;
export const TEE_ERROR_BUSY = 0xffff000d;
export const TEE_ERROR_COMMUNICATION = 0xffff000e;
export const TEE_ERROR_SECURITY = 0xffff000f;
export const TEE_ERROR_SHORT_BUFFER = 0xffff0010;

/** TEEC_ORIGIN_* */
export const TEEC_ORIGIN_API = 1;
export const TEEC_ORIGIN_COMMS = 2;
export const TEEC_ORIGIN_TEE = 3;
export const TEEC_ORIGIN_TRUSTED_APP = 4;

const NAMES: Record<number, string> = {
  [TEE_SUCCESS]: "TEE_SUCCESS",
  [TEE_ERROR_GENERIC]: "TEE_ERROR_GENERIC",
  [TEE_ERROR_ACCESS_DENIED]: "TEE_ERROR_ACCESS_DENIED",
  [TEE_ERROR_CANCEL]: "TEE_ERROR_CANCEL",
  [TEE_ERROR_ACCESS_CONFLICT]: "TEE_ERROR_ACCESS_CONFLICT",
  [TEE_ERROR_EXCESS_DATA]: "TEE_ERROR_EXCESS_DATA",
  [TEE_ERROR_BAD_FORMAT]: "TEE_ERROR_BAD_FORMAT",
  [TEE_ERROR_BAD_PARAMETERS]: "TEE_ERROR_BAD_PARAMETERS",
  [TEE_ERROR_BAD_STATE]: "TEE_ERROR_BAD_STATE",
  [TEE_ERROR_ITEM_NOT_FOUND]: "TEE_ERROR_ITEM_NOT_FOUND",
  [TEE_ERROR_NOT_IMPLEMENTED]: "TEE_ERROR_NOT_IMPLEMENTED",
  [TEE_ERROR_NOT_SUPPORTED]: "TEE_ERROR_NOT_SUPPORTED",
  [TEE_ERROR_NO_DATA]: "TEE_ERROR_NO_DATA",
  [TEE_ERROR_OUT_OF_MEMORY]: "TEE_ERROR_OUT_OF_MEMORY",
  [TEE_ERROR_BUSY]: "TEE_ERROR_BUSY",
  [TEE_ERROR_COMMUNICATION]: "TEE_ERROR_COMMUNICATION",
  [TEE_ERROR_SECURITY]: "TEE_ERROR_SECURITY",
  [TEE_ERROR_SHORT_BUFFER]: "TEE_ERROR_SHORT_BUFFER",
};

export function teeResultName(r: number): string {
  return NAMES[r >>> 0] ?? `0x${(r >>> 0).toString(16)}`;
}
