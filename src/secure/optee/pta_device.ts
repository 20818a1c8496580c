/**
 * The device enumeration pseudo TA — OP-TEE 4.9.0 core/pta/device.c ("device.pta", built with
 * CFG_DEVICE_ENUM_PTA ?= y, mk/config.mk), UUID 7011a688-ddde-4053-a5a9-7b3c4ddf13b8
 * (lib/libutee/include/pta_device.h). "Used by normal world OS TEE driver to fetch pseudo TA's UUIDs
 * which can act as TEE bus devices."
 *
 * invoke_command(): PTA_CMD_GET_DEVICES (rflags TA_FLAG_DEVICE_ENUM), PTA_CMD_GET_DEVICES_SUPP
 * (TA_FLAG_DEVICE_ENUM_SUPP, plus TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE with CFG_REE_FS, the default),
 * PTA_CMD_GET_DEVICES_RPMB (with CFG_REE_FS: no flags, so no devices), anything else
 * TEE_ERROR_NOT_IMPLEMENTED. get_devices(): the parameter types must be exactly (MEMREF_OUTPUT, NONE,
 * NONE, NONE), else TEE_ERROR_BAD_PARAMETERS; a NULL buffer with a size is BAD_PARAMETERS; every
 * pseudo TA, the StMM secure partition and every early TA whose flags match add their 16-byte UUID
 * (add_ta(): written only while it fits, counted always; inconsistent flags skip the TA); the size is
 * set to the count, and a count beyond the buffer is TEE_ERROR_SHORT_BUFFER.
 *
 * What 4.9 returns by default: no pseudo TA built by default has a device-enumeration flag (hwrng,
 * rtc, scmi, bnxt, the bsec and invoke-tests PTAs need CFG_*_PTA / CFG_ENABLE_EMBEDDED_TESTS, all n),
 * there is no StMM (CFG_WITH_STMM_SP=n) and no early TA (CFG_EARLY_TA=n): the count is 0, so a query
 * with a NULL, size-0 buffer is TEE_SUCCESS with size 0 — not SHORT_BUFFER — and Linux's
 * optee_enumerate_devices() stops there. A build that has such TAs lists them in `devices`.
 */
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
} from "../../abi/optee/tee_result.ts";

/** PTA_DEVICE_UUID as its 16 octets (tee_uuid_to_octets()). */
export const PTA_DEVICE_UUID = "7011a688-ddde-4053-a5a9-7b3c4ddf13b8";
/** pta_device.h */
export const PTA_CMD_GET_DEVICES = 0x0;
export const PTA_CMD_GET_DEVICES_SUPP = 0x1;
export const PTA_CMD_GET_DEVICES_RPMB = 0x2;
/** user_ta_header.h */
export const TA_FLAG_SINGLE_INSTANCE = 1 << 2;
export const TA_FLAG_MULTI_SESSION = 1 << 3;
export const TA_FLAG_INSTANCE_KEEP_ALIVE = 1 << 4;
export const TA_FLAG_DEVICE_ENUM = 1 << 9;
export const TA_FLAG_DEVICE_ENUM_SUPP = 1 << 10;
export const TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE = 1 << 12;
/** pseudo_ta.h: PTA_DEFAULT_FLAGS = PTA_MANDATORY_FLAGS. */
export const PTA_DEFAULT_FLAGS =
  TA_FLAG_SINGLE_INSTANCE | TA_FLAG_MULTI_SESSION | TA_FLAG_INSTANCE_KEEP_ALIVE;
/** tee_api_defines.h */
export const TEE_PARAM_TYPE_NONE = 0;
export const TEE_PARAM_TYPE_VALUE_INPUT = 1;
export const TEE_PARAM_TYPE_VALUE_OUTPUT = 2;
export const TEE_PARAM_TYPE_VALUE_INOUT = 3;
export const TEE_PARAM_TYPE_MEMREF_INPUT = 5;
export const TEE_PARAM_TYPE_MEMREF_OUTPUT = 6;
export const TEE_PARAM_TYPE_MEMREF_INOUT = 7;

/** TEE_PARAM_TYPES(t0, t1, t2, t3) */
export function teeParamTypes(t0: number, t1: number, t2: number, t3: number): number {
  return (t0 | (t1 << 4) | (t2 << 8) | (t3 << 12)) >>> 0;
}

/** A TA the PTA may list: its UUID and its TA flags. */
export interface DeviceEnumTa {
  readonly uuid: string;
  readonly flags: number;
}

/** TEE_Param as a PTA sees it: a memref {buffer, size} (buffer: a writer into the mapped memory) or a value. */
export interface PtaParam {
  /** memref.buffer: null for a NULL buffer; else stores `bytes` at `offset` (false: the store faulted). */
  buffer: ((offset: number, bytes: Uint8Array) => boolean) | null;
  size: number;
  a: number;
  b: number;
}

/** The 16 octets of a UUID string. */
export function uuidOctets(uuid: string): Uint8Array {
  const hex = uuid.replace(/-/g, "");
  return Uint8Array.from({ length: 16 }, (_, i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16));
}

/** add_ta(): the UUID written while it fits, counted always; inconsistent flags are skipped. */
function addTa(flags: number, uuid: string, buf: PtaParam, pos: { v: number }, rflags: number): void {
  const f =
    flags & (TA_FLAG_DEVICE_ENUM | TA_FLAG_DEVICE_ENUM_SUPP | TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE);
  if (
    f &&
    f !== TA_FLAG_DEVICE_ENUM &&
    f !== TA_FLAG_DEVICE_ENUM_SUPP &&
    f !== TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE
  )
    return; // "skipping TA %pUl, inconsistent flags"
  if (f & rflags) {
    if (pos.v + 16 <= buf.size && buf.buffer) buf.buffer(pos.v, uuidOctets(uuid));
    pos.v += 16;
  }
}

/** get_devices(types, params, rflags) */
function getDevices(
  devices: readonly DeviceEnumTa[],
  types: number,
  params: PtaParam[],
  rflags: number,
): number {
  const want = teeParamTypes(
    TEE_PARAM_TYPE_MEMREF_OUTPUT,
    TEE_PARAM_TYPE_NONE,
    TEE_PARAM_TYPE_NONE,
    TEE_PARAM_TYPE_NONE,
  );
  if (types !== want) return TEE_ERROR_BAD_PARAMETERS;
  if (!params[0].buffer && params[0].size > 0) return TEE_ERROR_BAD_PARAMETERS;
  const pos = { v: 0 };
  // SCATTERED_ARRAY_FOREACH(pseudo_tas), stmm_get_uuid(), for_each_early_ta(): `devices`, in order.
  for (const ta of devices) addTa(ta.flags, ta.uuid, params[0], pos, rflags);
  const blen = params[0].size;
  params[0].size = pos.v;
  if (pos.v > blen) return TEE_ERROR_SHORT_BUFFER;
  return TEE_SUCCESS;
}

/** invoke_command() of device.pta (CFG_REE_FS=y, CFG_RPMB_FS=n: the defaults). */
export function ptaDeviceInvoke(
  devices: readonly DeviceEnumTa[],
  cmd: number,
  types: number,
  params: PtaParam[],
): number {
  let rflags: number;
  switch (cmd) {
    case PTA_CMD_GET_DEVICES:
      rflags = TA_FLAG_DEVICE_ENUM;
      break;
    case PTA_CMD_GET_DEVICES_SUPP:
      rflags = TA_FLAG_DEVICE_ENUM_SUPP | TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE; // CFG_REE_FS
      break;
    case PTA_CMD_GET_DEVICES_RPMB:
      rflags = 0; // with CFG_REE_FS the RPMB branch is skipped
      break;
    default:
      return TEE_ERROR_NOT_IMPLEMENTED;
  }
  return getDevices(devices, types, params, rflags);
}
