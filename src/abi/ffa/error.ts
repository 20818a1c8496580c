/**
 * FF-A status codes, returned in w2 of FFA_ERROR.
 *
 * Values: Hafnium inc/vmapi/hf/ffa.h `enum ffa_error`, Linux include/linux/arm_ffa.h `FFA_RET_*`, TF-A
 * include/services/ffa_svc.h (reference/ffa.md §2). The register carries the 32-bit two's-complement
 * value zero-extended, so -1 travels as 0xFFFFFFFF.
 */

import { ERRNO } from "../uapi/errno.ts";

export const FFA_NOT_SUPPORTED = -1;
export const FFA_INVALID_PARAMETERS = -2;
export const FFA_NO_MEMORY = -3;
export const FFA_BUSY = -4;
export const FFA_INTERRUPTED = -5;
export const FFA_DENIED = -6;
export const FFA_RETRY = -7;
export const FFA_ABORTED = -8;
export const FFA_NO_DATA = -9;
/** FFA_NOT_READY — Hafnium `enum ffa_error`; Linux maps it to -EAGAIN (drivers/firmware/arm_ffa/driver.c). */
export const FFA_NOT_READY = -10;

/** Every FF-A error code, as the signed value. */
export type FfaErrorCode = -1 | -2 | -3 | -4 | -5 | -6 | -7 | -8 | -9 | -10;

/** The error names without `FFA_`, in code order (index i names code -(i+1)): what scenarios write. */
export const FFA_ERROR_NAMES = [
  "NOT_SUPPORTED",
  "INVALID_PARAMETERS",
  "NO_MEMORY",
  "BUSY",
  "INTERRUPTED",
  "DENIED",
  "RETRY",
  "ABORTED",
  "NO_DATA",
  "NOT_READY",
] as const;

/** Error name ↔ code, in code order (index i holds code -(i+1)). */
export const FFA_ERRORS: readonly { readonly name: string; readonly code: FfaErrorCode }[] = [
  { name: "FFA_NOT_SUPPORTED", code: FFA_NOT_SUPPORTED },
  { name: "FFA_INVALID_PARAMETERS", code: FFA_INVALID_PARAMETERS },
  { name: "FFA_NO_MEMORY", code: FFA_NO_MEMORY },
  { name: "FFA_BUSY", code: FFA_BUSY },
  { name: "FFA_INTERRUPTED", code: FFA_INTERRUPTED },
  { name: "FFA_DENIED", code: FFA_DENIED },
  { name: "FFA_RETRY", code: FFA_RETRY },
  { name: "FFA_ABORTED", code: FFA_ABORTED },
  { name: "FFA_NO_DATA", code: FFA_NO_DATA },
  { name: "FFA_NOT_READY", code: FFA_NOT_READY },
];

/**
 * The signed code from a w2 register value: accepts either form (-6 or 0xFFFFFFFA). This is the
 * `(int32_t)val.arg2` of Hafnium's ffa_error_code().
 */
export function ffaErrorFromU32(w2: number): number {
  return w2 | 0;
}

/** The zero-extended 32-bit register form of a code: -1 → 0xFFFFFFFF. */
export function ffaErrorToU32(code: number): number {
  return code >>> 0;
}

/** `FFA_DENIED` for -6 (or 0xFFFFFFFA); undefined for a value that is not an FF-A error code. */
export function ffaErrorName(code: number): string | undefined {
  const signed = code | 0;
  if (signed !== code && code >>> 0 !== code) return undefined;
  const entry = FFA_ERRORS[-signed - 1];
  return entry === undefined ? undefined : entry.name;
}

/** The code for a name, with or without the `FFA_` prefix: "DENIED" and "FFA_DENIED" both give -6. */
export function ffaErrorCode(name: string): FfaErrorCode | undefined {
  const full = name.startsWith("FFA_") ? name : "FFA_" + name;
  for (const entry of FFA_ERRORS) if (entry.name === full) return entry.code;
  return undefined;
}

/** True for the ten FF-A error codes (signed form). */
export function isFfaErrorCode(code: number): code is FfaErrorCode {
  return Number.isInteger(code) && code <= -1 && code >= -10;
}

/** Linux errno values used by {@link ffaToLinuxErrno}. */
const { EINTR, EAGAIN, ENOMEM, EACCES, EBUSY, EINVAL, ENODATA, EOPNOTSUPP, ECANCELED } = ERRNO;

/** ffa_linux_errmap[] — drivers/firmware/arm_ffa/driver.c, index = -code. */
const FFA_LINUX_ERRMAP: readonly number[] = [
  0,
  -EOPNOTSUPP,
  -EINVAL,
  -ENOMEM,
  -EBUSY,
  -EINTR,
  -EACCES,
  -EAGAIN,
  -ECANCELED,
  -ENODATA,
  -EAGAIN,
];

/**
 * ffa_to_linux_errno() — drivers/firmware/arm_ffa/driver.c: the negative errno Linux turns an FF-A
 * code into. 0 stays 0; anything outside the table becomes -EINVAL.
 */
export function ffaToLinuxErrno(code: number): number {
  const idx = -(code | 0);
  return idx >= 0 && idx < FFA_LINUX_ERRMAP.length ? FFA_LINUX_ERRMAP[idx] : -EINVAL;
}
