/**
 * The retrieve request's memory access list against the sender's — Hafnium src/ffa_memory.c
 * ffa_memory_retrieve_validate_memory_access_list() and ffa_memory_retrieve_is_memory_access_valid()
 * (v2.14.0 = v2.15.0 for these two functions; reference/ffa.md §5.4, §5.7), in Hafnium's order:
 * 1. the borrower list: without the bypass flag the same count as the sender's; with it, exactly one
 *    EMAD and a transaction with more than one borrower;
 * 2. per EMAD (others skipped under bypass): composite offset 0; the receiver is one of the sender's
 *    (DENIED otherwise); then the permissions —
 *    a. data access no wider than given (DENIED);
 *    b. instruction access by kind: a SHARE must leave it NOT_SPECIFIED, a multi-borrower LEND too;
 *       a single-borrower LEND or a DONATE must give NX or X ("for lend/donate with single borrower
 *       instruction permissions must be speficified by borrower", INVALID_PARAMETERS) — the rule
 *       OP-TEE 4.9's retrieve (perm = FFA_MEM_ACC_RW) meets; and since v2.14 (13e224e3, "prevent X
 *       permissions on NS memory") X on normal-world memory when the SPMC cannot change the PAS
 *       (arch_memory_protect_is_supported(): RME) is INVALID_PARAMETERS;
 *    c. X asked where NX was given (DENIED);
 *    then clear with RO (DENIED), and the v1.2 impdef value repeated (INVALID_PARAMETERS);
 * 3. the caller's own EMAD must be there (INVALID_PARAMETERS).
 */
import {
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH,
  packMemAccessPermissions,
  unpackMemAccessPermissions,
  type FfaDataAccess,
  type FfaInstructionAccess,
} from "../../abi/ffa/index.ts";
import { EMAD_SIZE_V1_2 } from "../../abi/ffa/layout.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { CallCtx, hex, type Why } from "../spmc/regs.ts";
import type { ShareFunc, ShareReceiver, ShareState } from "../spmc/share_state.ts";
import { MM_MODE_NS } from "../spmc/page_state.ts";
import type { HfRegion } from "./region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

export type AccessListResult =
  { readonly receiver: ShareReceiver; readonly permissions: number } | { readonly error: SmcRegs };

/**
 * `memoryProtectSupported`: arch_memory_protect_is_supported() — is_arch_feat_rme_supported() in
 * memory_protect/rme.c, false in memory_protect/absent.c.
 */
export function validateAccessList(
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  req: HfRegion,
  memoryProtectSupported: boolean,
): AccessListResult {
  const bypass = (req.flags & FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK) !== 0;
  const fail = (code: number, rule: string, why: Why) => ({ error: ctx.reject(code, rule, why) });
  if (!bypass && req.receiverCount !== state.receivers.length)
    return fail(
      INVAL,
      "retrieve-borrower-list",
      "the retrieve request must list the same borrowers as the lender",
    );
  if (bypass && req.receiverCount !== 1)
    return fail(INVAL, "bypass-single-borrower", "with the bypass flag the list must hold only the caller");
  if (bypass && state.receivers.length === 1)
    return fail(
      INVAL,
      "bypass-single-borrower-transaction",
      "the bypass flag is not allowed for a transaction with a single borrower",
    );
  // ffa_memory_get_other_world_mode() at the SPMC is MM_MODE_NS: the memory came from the normal world.
  const nsWithoutPas = (state.senderOrigMode & MM_MODE_NS) !== 0 && !memoryProtectSupported;
  let mine: ShareReceiver | null = null;
  let granted = 0;
  const clears = (req.flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  for (const e of req.emads) {
    const found = ep.secure ? e.receiver_id === ep.id : !isSecureId(e.receiver_id);
    if (bypass && !found) continue;
    if (e.composite_offset !== 0)
      return fail(
        INVAL,
        "retrieve-composite-offset-zero",
        `address ranges given by the retriever (offset ${e.composite_offset})`,
      );
    const sent = state.receivers.find((r) => r.id === e.receiver_id);
    if (!sent)
      return fail(
        FFA_DENIED,
        "retrieve-unknown-borrower",
        `receiver ${hex(e.receiver_id)} not in the sender's list`,
      );
    const r = accessValid(
      state.func,
      sent.permissions,
      e.permissions,
      state.receivers.length > 1,
      nsWithoutPas,
    );
    if ("rule" in r) return fail(r.code, r.rule, r.why);
    if (found) {
      mine = sent;
      granted = r.permissions;
      if (unpackMemAccessPermissions(granted).data === "ro" && clears)
        return fail(FFA_DENIED, "clear-with-ro", "a borrower given RO access can't ask for clearing");
    }
    if (state.emadSize >= EMAD_SIZE_V1_2 && req.emadSize >= EMAD_SIZE_V1_2) {
      const a = sent.impdef ?? [0n, 0n];
      const b = e.impdef ?? [0n, 0n];
      if (a[0] !== b[0] || a[1] !== b[1])
        return fail(INVAL, "impdef-mismatch", `impdef of ${hex(e.receiver_id)} differs from the sender's`);
    }
  }
  if (!mine)
    return fail(
      INVAL,
      "caller-emad-missing",
      `the retrieve request does not hold ${hex(ep.id)}'s permissions`,
    );
  return { receiver: mine, permissions: granted };
}

type AccessOk = { readonly permissions: number };
type AccessErr = { readonly code: number; readonly rule: string; readonly why: Why };

/**
 * ffa_memory_retrieve_is_memory_access_valid(): the permissions to map, or why not. `nsWithoutPas`:
 * the sender's original mode has the other world's bit and the SPMC cannot move the memory to the
 * secure PAS.
 */
function accessValid(
  func: ShareFunc,
  sentRaw: number,
  requestedRaw: number,
  multiple: boolean,
  nsWithoutPas: boolean,
): AccessOk | AccessErr {
  const sent = unpackMemAccessPermissions(sentRaw);
  const req = unpackMemAccessPermissions(requestedRaw);
  let data: FfaDataAccess;
  if (
    (sent.data === "not-specified" || sent.data === "rw") &&
    (req.data === "not-specified" || req.data === "rw")
  )
    data = "rw";
  else if (sent.data !== "reserved" && (req.data === "not-specified" || req.data === "ro")) data = "ro";
  else
    return {
      code: FFA_DENIED,
      rule: "data-access-exceeds",
      why: () => `data access ${req.data} asked, ${sent.data} given`,
    };
  if (func === "share" && req.instruction !== "not-specified")
    return {
      code: INVAL,
      rule: "share-instruction-access",
      why: "instruction access must not be given for a share",
    };
  if (func === "lend" && multiple && req.instruction !== "not-specified")
    return {
      code: INVAL,
      rule: "multi-borrower-instruction-access",
      why: "instruction access must not be given with several borrowers",
    };
  if ((func === "donate" || func === "lend") && !multiple) {
    if (req.instruction === "not-specified")
      return {
        code: INVAL,
        rule: "retrieve-instruction-access-not-specified",
        why: () => `the single borrower of a ${func} must specify NX or X`,
      };
    if (nsWithoutPas && req.instruction === "x")
      return {
        code: INVAL,
        rule: "retrieve-x-on-ns-memory",
        why: "X is not permitted on normal-world memory the SPMC cannot move to the secure PAS",
      };
  }
  let instruction: FfaInstructionAccess;
  if ((sent.instruction === "not-specified" || sent.instruction === "x") && req.instruction === "x")
    instruction = "x";
  else if (req.instruction === "not-specified" || req.instruction === "nx") instruction = "nx";
  else
    return {
      code: FFA_DENIED,
      rule: "instruction-access-exceeds",
      why: () => `instruction access ${req.instruction} asked, ${sent.instruction} given`,
    };
  return { permissions: packMemAccessPermissions({ data, instruction }) };
}
