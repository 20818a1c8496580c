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
 * - MEM_FRAG_TX (Hafnium v2.15 api_ffa_mem_frag_tx(), before ffa_memory_send_continue()): NO_MEMORY
 *   (ffa_memory_fragment_alloc() finds no page for the fragment's copy), ABORTED (memcpy_trapped() of
 *   the fragment from the TX buffer faults). Both answer before the share state is looked up: it stays,
 *   its sending incomplete. Linux's ffa_setup_and_transmit() then gives up (−ENXIO for a fragment that
 *   is not the last, ffa_to_linux_errno() for the last) and never reclaims — nor could it: Hafnium
 *   refuses to reclaim, retrieve or relinquish a send that is not complete (INVALID_PARAMETERS), so the
 *   share state is held for good (a table slot of MAX_MEM_SHARES; no page changed hands). The failures
 *   that free the state: MAX_FRAGMENTS (NO_MEMORY) and the last fragment's DENIED
 *   (ffa_send_check_transition(), arch_memory_protect()) follow from the descriptor and the pages'
 *   state, which the model checks itself; the last fragment's NO_MEMORY is the fault point below.
 * - MEM_FRAG_TX `in: ffa_memory_send_complete` (Hafnium v2.15 ffa_memory_send_continue() →
 *   ffa_memory_send_complete() → ffa_send_check_update() → ffa_region_group_identity_map(
 *   MAP_ACTION_CHECK[_PROTECT]) → ffa_region_group_check_actions() → vm_identity_prepare()): the last
 *   fragment is in, the transition is lawful, and preparing the sender's stage-2 change cannot allocate
 *   page tables from the mpool: NO_MEMORY. It is the only error injectable there: DENIED and
 *   INVALID_PARAMETERS on that path follow from the pages' state, the monitor's GPT and the PA range,
 *   which the model computes. ffa_memory_send_complete() then share_state_free()s the state and answers
 *   FFA_ERROR(NO_MEMORY); no page changed owner or mode (the prepare step fails before
 *   MAP_ACTION_COMMIT). The model strikes at the first constituent, before its arch_memory_protect():
 *   the pool is empty for every constituent, so none is protected (were the pool to run out only at a
 *   later constituent, v2.15 would leave the earlier ones in the Secure PAS — `goto out` reverts
 *   nothing — and a later success would overwrite the error: neither is modeled). Linux's
 *   ffa_setup_and_transmit() returns the last ffa_mem_next_frag()'s ffa_to_linux_errno(): −ENOMEM, and
 *   frees nothing — nothing is left to free: quiesce-clean and ffa-consistency stay clean, a reclaim of
 *   the handle is INVALID_PARAMETERS (unknown handle). Only the last fragment reaches the point (a
 *   single-fragment send completes in FFA_MEM_LEND/SHARE/DONATE, whose NO_MEMORY is the fault above).
 *   OP-TEE's SPMC (thread_spmc.c handle_mem_frag_tx(), add_mem_op_frag()) answers only
 *   INVALID_PARAMETERS and deletes the object: no fault there.
 * - MEM_FRAG_RX (Hafnium ffa_memory_retrieve_continue()): ABORTED (memcpy_trapped() into the RX buffer
 *   faults, before retrieved_fragment_count moves: the borrower may ask again). BUSY is `rx_busy`.
 * - VERSION (Hafnium api_ffa_version()): NOT_SUPPORTED — in w0 itself, not in an FFA_ERROR — when the
 *   major version differs (an SPMC built for another major) or the version is locked. At the kernel's
 *   probe (`boot: true`): ffa_version_check() fails with −EOPNOTSUPP, there is no FF-A driver.
 * - RXTX_MAP (Hafnium api_vm_configure_pages()): NO_MEMORY (the page-table pool runs out mapping the
 *   buffers), DENIED (the pages are not the caller's in the mode needed). At probe: ffa_init() fails
 *   ("failed to register FFA RxTx buffers").
 * - PARTITION_INFO_GET_REGS: RETRY. Hafnium v2.15 answers RETRY only to a non-zero UUID info tag
 *   ("Unsupported tag"), which Linux sends only when more than five partitions need a second call; the
 *   FF-A spec lets an SPMC answer RETRY when the information changed. At probe (`boot: true`):
 *   ffa_partition_probe() returns −EAGAIN, ffa_setup_partitions() "No partitions found", ffa_init() fails.
 * RETRY is on no memory-management path and on no other call rstmem's stack makes: Hafnium v2.15 gives it
 * (git grep FFA_RETRY src/) only for PARTITION_INFO_GET_REGS, FFA_NS_RES_INFO_GET (RX buffer busy) and
 * indirect messages at the hypervisor; FFA_RX_ACQUIRE, the RX ownership call, answers DENIED.
 *
 * `rx_busy`: a call that writes the caller's RX buffer (MEM_RETRIEVE_REQ, MEM_FRAG_RX,
 * PARTITION_INFO_GET) finds it owned by the other world (MAILBOX_STATE_OTHER_WORLD_OWNED, between the
 * hypervisor's FFA_RX_ACQUIRE and its release): Hafnium answers BUSY (api_ffa_mem_retrieve_req(),
 * api_ffa_partition_info_get(); TF-A's SPMC would say DENIED).
 */
import { ffaErrorCode, ffaFuncName, FFA_BUSY } from "../../abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { FFA_SITE_SEP, RX_KEY } from "../../sim/faults.ts";
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
  MEM_FRAG_TX: ["NO_MEMORY", "ABORTED"],
  MEM_FRAG_RX: ["ABORTED"],
  MSG_SEND_DIRECT_REQ: ["BUSY"],
  VERSION: ["NOT_SUPPORTED"],
  RXTX_MAP: ["NO_MEMORY", "DENIED"],
  PARTITION_INFO_GET_REGS: ["RETRY"],
};

/** Calls whose faults only one SPMC flavor gives (the others' code has no such failure). */
export const FFA_FAULT_FLAVORS: Readonly<Record<string, readonly string[]>> = {
  MEM_FRAG_TX: ["hafnium"],
  MEM_FRAG_RX: ["hafnium"],
  PARTITION_INFO_GET_REGS: ["hafnium"],
};

/**
 * Fault points inside a call, named after the real function that fails (`ffa: {…, in: NAME}`): the
 * call they belong to, the errors the real code answers there, and the SPMC flavors that have them.
 * The plan counts them apart from the call's entry (key ffaFaultKey()).
 */
export const FFA_FAULT_SITES: Readonly<
  Record<
    string,
    { readonly call: string; readonly errors: readonly string[]; readonly flavors: readonly string[] }
  >
> = {
  /** Hafnium v2.15 src/ffa_memory.c ffa_memory_send_complete(): the last fragment's stage-2 prepare. */
  ffa_memory_send_complete: { call: "MEM_FRAG_TX", errors: ["NO_MEMORY"], flavors: ["hafnium"] },
};

/** The plan's key of an `ffa` fault point: the call, or the call and the site inside it. */
export function ffaFaultKey(call: string, site?: string): string {
  return site === undefined ? call : `${call}${FFA_SITE_SEP}${site}`;
}

/**
 * Calls the normal world makes while its drivers probe at boot, which a `boot: true` fault may strike:
 * arm_ffa's ffa_init() (VERSION, RXTX_MAP, PARTITION_INFO_GET_REGS) and optee_ffa_probe() (its direct
 * requests: GET_API_VERSION, GET_OS_VERSION, EXCHANGE_CAPABILITIES…; MEM_SHARE of the argument page and
 * of get_protmem_config()'s buffer, and their MEM_RECLAIM).
 */
export const FFA_BOOT_CALLS: ReadonlySet<string> = new Set([
  "VERSION",
  "RXTX_MAP",
  "PARTITION_INFO_GET_REGS",
  "MSG_SEND_DIRECT_REQ",
  "MEM_SHARE",
  "MEM_RECLAIM",
]);

/** Where a RETRY answer really comes from (the sentence a misplaced `error: RETRY` is refused with). */
export const RETRY_CALLS_WHY =
  "Hafnium v2.15 answers RETRY only to FFA_PARTITION_INFO_GET_REGS (an unsupported UUID info tag), " +
  "FFA_NS_RES_INFO_GET and indirect messages at the hypervisor; of these rstmem's stack calls only " +
  "PARTITION_INFO_GET_REGS, at the arm_ffa probe (a `boot: true` fault)";

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
export function injectedAnswer(sim: Sim, ctx: CallCtx, fid: number, flavor: string): SmcRegs | null {
  if (!sim.faults.mayStrike("ffa") && !sim.faults.mayStrike("rx_busy")) return null;
  const call = faultCallName(fid);
  if (call === null) return null;
  if (RX_CALLS.has(call) && sim.faults.at("rx_busy", RX_KEY, ["BUSY"]) !== null)
    return ctx.reject(FFA_BUSY, "rx-busy", "fault: the RX buffer is owned by the other world");
  const errors = FFA_FAULT_ERRORS[call];
  if (!errors) return null;
  const flavors = FFA_FAULT_FLAVORS[call];
  if (flavors && !flavors.includes(flavor)) return null;
  const error = sim.faults.at("ffa", call, errors);
  if (error === null) return null;
  const code = ffaErrorCode(error);
  if (code === undefined) throw new Error(`fault ffa: ${error} is not an FF-A error`);
  if (call === "VERSION") {
    // api_ffa_version(): NOT_SUPPORTED travels in w0 itself, not in an FFA_ERROR.
    ctx.reject(code, "fault", `fault: ${call} answers ${error}`);
    return smcRegs(code >>> 0);
  }
  return ctx.reject(code, "fault", `fault: ${call} answers ${error}`);
}

/**
 * The answer of an injected fault at a point inside a call (FFA_FAULT_SITES: `ffa: {call, in: site}`),
 * or null to go on as normal. The caller fails there the way the real function does (for
 * ffa_memory_send_complete: the share state freed).
 */
export function injectedAtSite(sim: Sim, ctx: CallCtx, site: string): SmcRegs | null {
  if (!sim.faults.mayStrike("ffa")) return null;
  const s = FFA_FAULT_SITES[site];
  const error = sim.faults.at("ffa", ffaFaultKey(s.call, site), s.errors);
  if (error === null) return null;
  const code = ffaErrorCode(error);
  if (code === undefined) throw new Error(`fault ffa: ${error} is not an FF-A error`);
  return ctx.reject(code, "fault", `fault: ${s.call} answers ${error} in ${site}`);
}
