/**
 * validateCall(): a decoded transaction descriptor checked with one call's rules as each SPMC applies
 * them — Hafnium (validate_call_hafnium*.ts) and the TF-A EL3 SPMC (validate_call_tfa.ts) — for
 * `rstmem ffa decode … --call NAME`.
 *
 * Unlike validateMemRegion() (the codec's own well-formedness rules, the same for every caller), this
 * follows the SPMC sources line by line: what they check, with the error they answer, and nothing they
 * do not check (Hafnium ignores attribute bits[15:8], EMAD receiver flags, composite and constituent
 * reserved fields; TF-A checks no permission at all). Sources: TF-Hafnium/hafnium 21bfbdc1 src/api.c,
 * src/ffa_memory.c; TrustedFirmware-A 6a164dda services/std_svc/spm/el3_spmc/spmc_shared_mem.c
 * (reference/ffa.md §5.3, §5.4, §5.8).
 *
 * Only what the bytes decide is checked. What needs the SPMC's state (the share state, page modes,
 * the caller's ID, the partition table) is listed by {@link callNotChecked}. A descriptor is taken
 * whole (all fragments joined), so its length is both the total and the first fragment length.
 */

import type { FfaMemFunc } from "./func.ts";
import { ffaErrorName } from "./error.ts";
import type { MemRegion } from "./mem_region.ts";
import type { FfaProblem } from "./problem.ts";
import { hafniumSend } from "./validate_call_hafnium_send.ts";
import { hafniumRetrieveResp } from "./validate_call_hafnium_resp.ts";
import { hafniumRetrieveReq } from "./validate_call_hafnium_retrieve.ts";
import { tfaRetrieveReq, tfaRetrieveResp, tfaSend } from "./validate_call_tfa.ts";
import type { FfaVersion } from "./version.ts";

/** The SPMCs whose rules are modelled. */
export type FfaSpmc = "hafnium" | "tf-a";
export const FFA_SPMCS: readonly FfaSpmc[] = ["hafnium", "tf-a"];

/** Hafnium's default MAX_MEM_SHARE_RECIPIENTS (build/toolchain/platform.gni). */
export const HAFNIUM_MAX_MEM_SHARE_RECIPIENTS = 2;

/** One rule a call's descriptor breaks at one SPMC. */
export interface CallProblem extends FfaProblem {
  /**
   * The FF-A error the SPMC answers with (`FFA_INVALID_PARAMETERS`, `FFA_DENIED`,
   * `FFA_NOT_SUPPORTED`) — or null for FFA_MEM_RETRIEVE_RESP, where a problem means the SPMC never
   * produces such a response.
   */
  readonly error: string | null;
  /** The SPMC function that applies the rule, e.g. `ffa_memory_send_validate()`. */
  readonly source: string;
}

/** One SPMC's answer for a descriptor and a call. */
export interface CallVerdict {
  readonly spmc: FfaSpmc;
  /** Every rule broken; empty when the SPMC accepts the descriptor as far as the bytes decide. */
  readonly problems: readonly CallProblem[];
  /** Remarks on this descriptor: accepted with a caveat, or a check that depends on something unknown. */
  readonly notes: readonly string[];
}

/** Knobs of the modelled SPMCs. */
export interface CallOptions {
  /** Hafnium's MAX_MEM_SHARE_RECIPIENTS (default 2). */
  readonly maxRecipients?: number;
}

/** Collects one SPMC's problems and notes for one descriptor. */
export class CallCheck {
  readonly problems: CallProblem[] = [];
  readonly notes: string[] = [];

  constructor(
    /** The descriptor's bytes (some SPMC reads are not fields of the decoded form). */
    readonly bytes: Uint8Array,
    readonly desc: MemRegion,
    /** The caller's FF-A version, which picks the layout. */
    readonly version: FfaVersion,
    readonly func: FfaMemFunc,
  ) {}

  /** Records a rule that fired; `code` is the FF-A error (or null for a response). */
  fail(code: number | null, source: string, rule: string, field: string, offset: number, why: string): void {
    const error = code === null ? null : (ffaErrorName(code) ?? null);
    this.problems.push({ field, offset, why, rule, error, source });
  }

  note(text: string): void {
    this.notes.push(text);
  }

  /** True when a rule has already fired (Hafnium stops at its first failure; this avoids echoes). */
  fired(rule: string): boolean {
    return this.problems.some((p) => p.rule === rule);
  }
}

/**
 * Checks a decoded descriptor (`desc`, decoded from `bytes` for a caller at `version`) with the rules
 * `func` has at Hafnium and at the TF-A EL3 SPMC.
 */
export function validateCall(
  bytes: Uint8Array,
  desc: MemRegion,
  version: FfaVersion,
  func: FfaMemFunc,
  options: CallOptions = {},
): Record<FfaSpmc, CallVerdict> {
  if (desc.length !== bytes.length) {
    throw new Error(`validateCall: descriptor of ${desc.length} bytes decoded from ${bytes.length}`);
  }
  const max = options.maxRecipients ?? HAFNIUM_MAX_MEM_SHARE_RECIPIENTS;
  const hf = new CallCheck(bytes, desc, version, func);
  const tfa = new CallCheck(bytes, desc, version, func);
  switch (func) {
    case "share":
    case "lend":
    case "donate":
      hafniumSend(hf, max);
      tfaSend(tfa);
      break;
    case "retrieve_req":
      hafniumRetrieveReq(hf, max);
      tfaRetrieveReq(tfa);
      break;
    case "retrieve_resp":
      hafniumRetrieveResp(hf, max);
      tfaRetrieveResp(tfa);
      break;
  }
  return {
    hafnium: { spmc: "hafnium", problems: hf.problems, notes: hf.notes },
    "tf-a": { spmc: "tf-a", problems: tfa.problems, notes: tfa.notes },
  };
}

const SEND_STATE_HAFNIUM = [
  "the descriptor's sender is the caller (ffa_memory_send_validate(): DENIED)",
  "every receiver exists and is not the caller (api_ffa_mem_send(): INVALID_PARAMETERS)",
  "the pages are mapped with one mode, owned exclusively by the sender, not device memory sent as Normal " +
    "(ffa_send_check_transition(): DENIED)",
  "permissions within the sender's own mode; CLEAR needs write access (ffa_send_check_transition(): DENIED)",
  "a free share state (share_state_allocate(): NO_MEMORY)",
];

const SEND_STATE_TFA = [
  "the call comes from the normal world (spmc_ffa_mem_send(): INVALID_PARAMETERS otherwise)",
  "every secure receiver is a known SP (spmc_shmem_check_obj(): INVALID_PARAMETERS)",
  "no constituent overlaps another transaction in flight (spmc_shmem_check_state_obj(): INVALID_PARAMETERS)",
];

const RETRIEVE_STATE_HAFNIUM = [
  "the handle names a transaction whose sending is complete (ffa_memory_retrieve(): INVALID_PARAMETERS)",
  "sender, tag, transaction type and borrower list match the sender's descriptor " +
    "(ffa_memory_retrieve_validate(): DENIED for the sender, else INVALID_PARAMETERS)",
  "the caller is a borrower; permissions within what the sender gave; impdef repeated " +
    "(ffa_memory_retrieve_validate_memory_access_list())",
  "CLEAR only when the sender set it (DENIED); the RX buffer is free (BUSY)",
];

const RETRIEVE_STATE_TFA = [
  "the handle names a complete transaction; sender, tag, EMAD count and transaction type match it; the " +
    "caller and every listed receiver take part (spmc_ffa_mem_retrieve_req(): INVALID_PARAMETERS)",
  "EMAD count 0 only from the normal world, at least 1 from an SP (INVALID_PARAMETERS)",
  "the RX buffer is free (DENIED)",
];

const RESP_STATE = [
  "that the response matches the transaction and the request it answers (a decode sees one response only)",
];

/** The call's rules that need SPMC state, which a decode cannot check. */
export function callNotChecked(func: FfaMemFunc, spmc: FfaSpmc): readonly string[] {
  const hf = spmc === "hafnium";
  if (func === "retrieve_req") return hf ? RETRIEVE_STATE_HAFNIUM : RETRIEVE_STATE_TFA;
  if (func === "retrieve_resp") return RESP_STATE;
  if (!hf && func === "donate") return [];
  return hf ? SEND_STATE_HAFNIUM : SEND_STATE_TFA;
}
