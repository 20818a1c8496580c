/**
 * Fault points of the SPMC (sim/faults.ts kinds `ffa` and `rx_busy`): an FF-A call answered with an
 * error the real SPMC can return for that call, in its dispatcher, before the call changes anything —
 * which is what the real firmware does on every one of these paths (Hafnium's api_* functions check,
 * then commit under the locks; a failure leaves the share state as it was). The normal world only sees
 * the registers, as always.
 *
 * Which errors are realistic, per call (reference/ffa.md §5, Hafnium src/api.c and src/ffa_memory.c;
 * OP-TEE's SPMC core/arch/arm/kernel/thread_spmc.c):
 * - MEM_LEND / MEM_SHARE / MEM_DONATE: NO_MEMORY (the share-state table is full, the page-table pool
 *   or the copy buffer cannot be allocated — both flavors), DENIED (a page is not in the mode the
 *   send needs: another agent owns or shares it — Hafnium ffa_send_check_transition()), ABORTED (the
 *   copy from the TX buffer faults — Hafnium's memcpy_trapped()). Not BUSY nor RETRY: no SPMC
 *   answers a send with them.
 * - MEM_RECLAIM: DENIED (a borrower still holds the memory: retrieved and not relinquished — Hafnium;
 *   OP-TEE's SPMC when the object is still in use), NO_MEMORY (Hafnium cannot allocate the page
 *   tables that restore the owner's mapping; the state stays lent).
 * - MEM_RETRIEVE_REQ: NO_MEMORY (page tables, or the clear fails), DENIED (the retriever's pages are
 *   not in the expected mode), ABORTED (copying the response into RX faults). BUSY is `rx_busy`.
 * - MEM_RELINQUISH: NO_MEMORY (the clear fails), DENIED (the borrower's mode changed), ABORTED (TX copy).
 * - MSG_SEND_DIRECT_REQ: BUSY (Hafnium: the receiver's vCPU is not waiting for a message — it is
 *   running another request on that CPU).
 * - PARTITION_INFO_GET_REGS: RETRY (Hafnium answers RETRY to a non-zero tag: "unsupported tag"). RETRY
 *   is on no memory-management path; FFA_RX_ACQUIRE, the RX ownership call, is the hypervisor's and
 *   answers DENIED, not RETRY, when the mailbox is busy.
 * Not injected: MEM_FRAG_TX / MEM_FRAG_RX (Hafnium frees the share state on a failed continuation,
 * which an answer at the dispatcher would not do), and every boot-time call (RXTX_MAP, VERSION, ID_GET).
 *
 * `rx_busy`: a call that writes the caller's RX buffer (MEM_RETRIEVE_REQ, MEM_FRAG_RX,
 * PARTITION_INFO_GET) finds it owned by the other world (MAILBOX_STATE_OTHER_WORLD_OWNED, between the
 * hypervisor's FFA_RX_ACQUIRE and its release): Hafnium answers BUSY (api_ffa_mem_retrieve_req(),
 * api_ffa_partition_info_get(); TF-A's SPMC would say DENIED).
 */
import { ffaErrorCode, ffaFuncName, FFA_BUSY } from "../../abi/ffa/index.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { RX_KEY } from "../../sim/faults.ts";
import type { Sim } from "../../sim/sim.ts";
import type { CallCtx } from "./regs.ts";

/** The realistic error answers per call (the names of fault `ffa`'s `call:` and `error:`). */
export const FFA_FAULT_ERRORS: Readonly<Record<string, readonly string[]>> = {
  MEM_LEND: ["NO_MEMORY", "DENIED", "ABORTED"],
  MEM_SHARE: ["NO_MEMORY", "DENIED", "ABORTED"],
  MEM_DONATE: ["NO_MEMORY", "DENIED", "ABORTED"],
  MEM_RECLAIM: ["DENIED", "NO_MEMORY"],
  MEM_RETRIEVE_REQ: ["NO_MEMORY", "DENIED", "ABORTED"],
  MEM_RELINQUISH: ["NO_MEMORY", "DENIED", "ABORTED"],
  MSG_SEND_DIRECT_REQ: ["BUSY"],
  PARTITION_INFO_GET_REGS: ["RETRY"],
};

/** Calls that write the caller's RX buffer (fault `rx_busy`). */
export const RX_CALLS: ReadonlySet<string> = new Set([
  "MEM_RETRIEVE_REQ",
  "MEM_FRAG_RX",
  "PARTITION_INFO_GET",
]);

/** `FFA_MEM_LEND_32` → `MEM_LEND`: the name faults use (both widths count as one call). */
export function faultCallName(fid: number): string | null {
  const name = ffaFuncName(fid);
  return name ? name.replace(/^FFA_/, "").replace(/_(32|64)$/, "") : null;
}

/** The answer of an injected fault at this call, or null to handle the call as normal. */
export function injectedAnswer(sim: Sim, ctx: CallCtx, fid: number): SmcRegs | null {
  if (!sim.faults.mayStrike("ffa") && !sim.faults.mayStrike("rx_busy")) return null;
  const call = faultCallName(fid);
  if (call === null) return null;
  if (RX_CALLS.has(call) && sim.faults.at("rx_busy", RX_KEY, ["BUSY"]) !== null)
    return ctx.reject(FFA_BUSY, "rx-busy", "fault: the RX buffer is owned by the other world");
  const errors = FFA_FAULT_ERRORS[call];
  if (!errors) return null;
  const error = sim.faults.at("ffa", call, errors);
  if (error === null) return null;
  const code = ffaErrorCode(error);
  if (code === undefined) throw new Error(`fault ffa: ${error} is not an FF-A error`);
  return ctx.reject(code, "fault", `fault: ${call} answers ${error}`);
}
