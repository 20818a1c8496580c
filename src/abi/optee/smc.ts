/**
 * OP-TEE's SMC ABI (without FF-A) — optee_os core/arch/arm/include/sm/optee_smc.h, Linux
 * drivers/tee/optee/optee_smc.h: function ids, return codes and capability bits.
 */

/** ARM_SMCCC_OWNER_TRUSTED_OS */
const OWNER_TRUSTED_OS = 50;

/** OPTEE_SMC_FAST_CALL_VAL(func): fast, SMC32, trusted OS. */
export function optee_smc_fast_call_val(func: number): number {
  return ((1 << 31) | (OWNER_TRUSTED_OS << 24) | func) >>> 0;
}

/** OPTEE_SMC_STD_CALL_VAL(func): yielding, SMC32, trusted OS. */
export function optee_smc_std_call_val(func: number): number {
  return ((OWNER_TRUSTED_OS << 24) | func) >>> 0;
}

export const OPTEE_SMC_FUNCID_CALL_WITH_ARG = 4;
export const OPTEE_SMC_FUNCID_EXCHANGE_CAPABILITIES = 9;
export const OPTEE_SMC_FUNCID_GET_PROTMEM_CONFIG = 20;

export const OPTEE_SMC_CALL_WITH_ARG = optee_smc_std_call_val(OPTEE_SMC_FUNCID_CALL_WITH_ARG);
export const OPTEE_SMC_EXCHANGE_CAPABILITIES = optee_smc_fast_call_val(
  OPTEE_SMC_FUNCID_EXCHANGE_CAPABILITIES,
);
export const OPTEE_SMC_GET_PROTMEM_CONFIG = optee_smc_fast_call_val(OPTEE_SMC_FUNCID_GET_PROTMEM_CONFIG);

/** OPTEE_SMC_RETURN_* */
export const OPTEE_SMC_RETURN_OK = 0x0;
export const OPTEE_SMC_RETURN_ETHREAD_LIMIT = 0x1;
export const OPTEE_SMC_RETURN_EBUSY = 0x2;
export const OPTEE_SMC_RETURN_ERESUME = 0x3;
export const OPTEE_SMC_RETURN_EBADADDR = 0x4;
export const OPTEE_SMC_RETURN_EBADCMD = 0x5;
export const OPTEE_SMC_RETURN_ENOMEM = 0x6;
export const OPTEE_SMC_RETURN_ENOTAVAIL = 0x7;
export const OPTEE_SMC_RETURN_UNKNOWN_FUNCTION = 0xffffffff;

/** Capability bits of OPTEE_SMC_EXCHANGE_CAPABILITIES. */
export const OPTEE_SMC_SEC_CAP_HAVE_RESERVED_SHM = 1 << 0;
export const OPTEE_SMC_SEC_CAP_DYNAMIC_SHM = 1 << 2;
export const OPTEE_SMC_SEC_CAP_RPMB_PROBE = 1 << 7;
export const OPTEE_SMC_SEC_CAP_PROTMEM = 1 << 8;
export const OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM = 1 << 9;
