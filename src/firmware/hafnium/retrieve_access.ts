/**
 * The retrieve request's memory access list against the sender's — Hafnium src/ffa_memory.c
 * ffa_memory_retrieve_validate_memory_access_list() and ffa_memory_retrieve_is_memory_access_valid()
 * (reference/ffa.md §5.4, §5.7): same borrower list (or the v1.2 bypass flag and only the caller),
 * composite offset 0, listed borrowers known to the sender, permissions no wider than given,
 * instruction access by kind of transaction, no clear with RO, the v1.2 impdef value repeated.
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
import { CallCtx, hex } from "../spmc/regs.ts";
import type { ShareFunc, ShareReceiver, ShareState } from "../spmc/share_state.ts";
import type { HfRegion } from "./region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

export type AccessListResult =
  { readonly receiver: ShareReceiver; readonly permissions: number } | { readonly error: SmcRegs };

export function validateAccessList(
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  req: HfRegion,
): AccessListResult {
  const bypass = (req.flags & FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK) !== 0;
  const fail = (code: number, rule: string, why: string) => ({ error: ctx.reject(code, rule, why) });
  if (!bypass && req.receiverCount !== state.receivers.length)
    return fail(
      INVAL,
      "retrieve-borrower-list",
      "the retrieve request must list the same borrowers as the lender",
    );
  if (bypass && req.receiverCount !== 1)
    return fail(INVAL, "bypass-single-borrower", "with the bypass flag the list must hold only the caller");
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
    const r = accessValid(state.func, sent.permissions, e.permissions, state.receivers.length > 1);
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
type AccessErr = { readonly code: number; readonly rule: string; readonly why: string };

/** ffa_memory_retrieve_is_memory_access_valid(): the permissions to map, or why not. */
function accessValid(
  func: ShareFunc,
  sentRaw: number,
  requestedRaw: number,
  multiple: boolean,
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
      why: `data access ${req.data} asked, ${sent.data} given`,
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
  if ((func === "donate" || (func === "lend" && !multiple)) && req.instruction === "not-specified")
    return {
      code: INVAL,
      rule: "borrower-instruction-access",
      why: "a single borrower of a lend or donate must give NX or X",
    };
  let instruction: FfaInstructionAccess;
  if ((sent.instruction === "not-specified" || sent.instruction === "x") && req.instruction === "x")
    instruction = "x";
  else if (req.instruction === "not-specified" || req.instruction === "nx") instruction = "nx";
  else
    return {
      code: FFA_DENIED,
      rule: "instruction-access-exceeds",
      why: `instruction access ${req.instruction} asked, ${sent.instruction} given`,
    };
  return { permissions: packMemAccessPermissions({ data, instruction }) };
}
