/**
 * OP-TEE's FF-A ABI: the function ids carried in w3 of FFA_MSG_SEND_DIRECT_REQ and the capability
 * bits — optee_os core/arch/arm/include/optee_ffa.h, Linux drivers/tee/optee/optee_ffa.h.
 */

/** OPTEE_FFA_BLOCKING_CALL(id) and OPTEE_FFA_YIELDING_CALL(id). */
export const OPTEE_FFA_YIELDING_CALL_BIT = 31;
export function optee_ffa_blocking_call(id: number): number {
  return id;
}
export function optee_ffa_yielding_call(id: number): number {
  return (id | (1 << OPTEE_FFA_YIELDING_CALL_BIT)) >>> 0;
}

export const OPTEE_FFA_GET_API_VERSION = optee_ffa_blocking_call(0);
export const OPTEE_FFA_VERSION_MAJOR = 1;
export const OPTEE_FFA_VERSION_MINOR = 0;
export const OPTEE_FFA_GET_OS_VERSION = optee_ffa_blocking_call(1);
export const OPTEE_FFA_EXCHANGE_CAPABILITIES = optee_ffa_blocking_call(2);
export const OPTEE_FFA_UNREGISTER_SHM = optee_ffa_blocking_call(3);
export const OPTEE_FFA_ENABLE_ASYNC_NOTIF = optee_ffa_blocking_call(5);
/** Release of lent protected memory (the header's comment calls it RECLAIM_PROTMEM, a typo). */
export const OPTEE_FFA_RELEASE_PROTMEM = optee_ffa_blocking_call(8);

/** Yielding call carrying an optee_msg_arg in shared memory: w4/w5 global handle, w6 offset. */
export const OPTEE_FFA_YIELDING_CALL_WITH_ARG = optee_ffa_yielding_call(0);
/** Resumes a yielding call after an RPC: w4..w6 MBZ, w7 the RPC's result. */
export const OPTEE_FFA_YIELDING_CALL_RESUME = optee_ffa_yielding_call(1);
export const OPTEE_FFA_YIELDING_CALL_RETURN_DONE = 0;
export const OPTEE_FFA_YIELDING_CALL_RETURN_RPC_CMD = 1;
export const OPTEE_FFA_YIELDING_CALL_RETURN_INTERRUPT = 2;

/**
 * Capability bits in w5 of OPTEE_FFA_EXCHANGE_CAPABILITIES. ARG_OFFSET: the optee_msg_arg may sit at a
 * nonzero offset (w6) of its shared memory, so Linux packs several into one page (OPTEE_SHM_ARG_SHARED).
 */
export const OPTEE_FFA_SEC_CAP_ARG_OFFSET = 1 << 0;
export const OPTEE_FFA_SEC_CAP_ASYNC_NOTIF = 1 << 1;
export const OPTEE_FFA_SEC_CAP_RPMB_PROBE = 1 << 2;
export const OPTEE_FFA_SEC_CAP_PROTMEM = 1 << 3;

/** OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE: notification IDs the driver tries for its bottom half. */
export const OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE = 64;
