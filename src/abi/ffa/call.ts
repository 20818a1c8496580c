/**
 * The memory-transaction call a descriptor travels with, named as on the command line
 * (`rstmem ffa decode … --call MEM_LEND`): FFA_MEM_SHARE, FFA_MEM_LEND, FFA_MEM_DONATE,
 * FFA_MEM_RETRIEVE_REQ and FFA_MEM_RETRIEVE_RESP (reference/ffa.md §1). The `FFA_` prefix and the
 * `_32` / `_64` suffix are optional, case does not matter, and Linux's `FFA_FN64_` spelling is
 * accepted (ffaFuncId()). A name without a suffix is the SMC32 ID, as in Linux's `FFA_MEM_LEND`.
 */

import { ffaFuncId, ffaFuncName, ffaMemFunc, type FfaMemFunc } from "./func.ts";

/** The calls `--call` accepts, in their short spelling (the usage message lists these). */
export const FFA_MEM_CALL_NAMES: readonly string[] = [
  "MEM_SHARE",
  "MEM_LEND",
  "MEM_DONATE",
  "MEM_RETRIEVE_REQ",
  "MEM_RETRIEVE_RESP",
];

/** A resolved call. */
export interface FfaMemCall {
  /** Which transaction rules apply. */
  readonly func: FfaMemFunc;
  /** The function ID (FFA_MEM_LEND_32 = 0x84000072, …). */
  readonly id: number;
  /** Hafnium's canonical name of the ID, with the width: `FFA_MEM_LEND_32`. */
  readonly name: string;
}

/**
 * The call a name denotes, or undefined for a name that is not one of the five memory-transaction
 * calls (an unknown name, FFA_MEM_RECLAIM, a width the call does not have such as
 * FFA_MEM_RETRIEVE_RESP_64).
 */
export function parseMemCall(text: string): FfaMemCall | undefined {
  let name = text.trim().toUpperCase();
  if (!name.startsWith("FFA_")) name = "FFA_" + name;
  const id = ffaFuncId(name);
  if (id === undefined) return undefined;
  const func = ffaMemFunc(id);
  const canonical = ffaFuncName(id);
  if (func === undefined || canonical === undefined) return undefined;
  return { func, id, name: canonical };
}
