/**
 * Fault points of OP-TEE (sim/faults.ts kind `optee`): a protected-memory command fails in the secure
 * world, before it changes anything, with a result the real OP-TEE can give (OP-TEE 4.9,
 * core/tee/entry_std.c, core/arch/arm/kernel/thread_spmc.c; reference/optee.md §1.8):
 * - ASSIGN_PROTMEM (OPTEE_MSG_CMD_ASSIGN_PROTMEM): TEE_ERROR_OUT_OF_MEMORY (the protected mobj or the
 *   retrieve's buffers cannot be allocated), TEE_ERROR_BUSY (the cookie is already assigned, or active
 *   as normal shared memory), TEE_ERROR_ITEM_NOT_FOUND (the retrieve from the SPMC failed).
 * - GET_PROTMEM_CONFIG: TEE_ERROR_OUT_OF_MEMORY (the output buffer cannot be mapped),
 *   TEE_ERROR_BAD_PARAMETERS (the platform hook refuses the use case), TEE_ERROR_GENERIC.
 * - RELEASE_PROTMEM (the OPTEE_FFA_RELEASE_PROTMEM direct request): TEE_ERROR_BUSY — a TA still holds
 *   a reference to the memory (mobj_ffa_unregister_by_cookie() finds inactive_refs), answered as
 *   FFA_BUSY in w3; the object stays, retrieved, so the SPMC then refuses the normal world's reclaim.
 * The kernel maps them (drivers/tee/optee): any non-success ASSIGN is −EINVAL (do_call_lend_protmem());
 * a failed GET_PROTMEM_CONFIG is −EINVAL (SHORT_BUFFER excepted); a failed RELEASE is only printed.
 */
import { teeResultName } from "../../abi/optee/tee_result.ts";
import type { Sim } from "../../sim/sim.ts";

export const OPTEE_FAULT_ERRORS: Readonly<Record<string, readonly string[]>> = {
  ASSIGN_PROTMEM: ["TEE_ERROR_OUT_OF_MEMORY", "TEE_ERROR_BUSY", "TEE_ERROR_ITEM_NOT_FOUND"],
  GET_PROTMEM_CONFIG: ["TEE_ERROR_OUT_OF_MEMORY", "TEE_ERROR_BAD_PARAMETERS", "TEE_ERROR_GENERIC"],
  RELEASE_PROTMEM: ["TEE_ERROR_BUSY"],
};

const CODE_BY_NAME = new Map<string, number>();
for (let c = 0xffff0000; c <= 0xffff0010; c++) CODE_BY_NAME.set(teeResultName(c), c);

/** The TEE_Result of a name (TEE_ERROR_BUSY → 0xffff000d). */
export function teeResultCode(name: string): number | undefined {
  return CODE_BY_NAME.get(name);
}

/** The TEE_Result an injected fault makes `cmd` fail with, or null to run it as normal. */
export function injectedResult(sim: Sim, cmd: keyof typeof OPTEE_FAULT_ERRORS): number | null {
  if (!sim.faults.mayStrike("optee")) return null;
  const name = sim.faults.at("optee", cmd, OPTEE_FAULT_ERRORS[cmd]);
  if (name === null) return null;
  const code = teeResultCode(name);
  if (code === undefined) throw new Error(`fault optee: ${name} is not a TEE_Result`);
  return code;
}
