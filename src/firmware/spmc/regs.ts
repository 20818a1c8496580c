/**
 * FF-A register files as the SPMC sees them: x0..x17 (SMCCC v1.2), read as 32-bit `w` registers or
 * 64-bit `x` registers, and the return values every handler builds — FFA_SUCCESS, FFA_ERROR,
 * FFA_MEM_FRAG_RX/TX, FFA_MEM_RETRIEVE_RESP (reference/ffa.md §1).
 *
 * `struct ffa_value` — Hafnium inc/vmapi/hf/ffa.h; `struct thread_smc_args` — OP-TEE.
 */
import {
  FFA_ERROR_32,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_SUCCESS_32,
  ffaHandleHigh,
  ffaHandleLow,
} from "../../abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";

export type { SmcRegs };

/** w<i>: the low 32 bits of x<i>, as an unsigned number. */
export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** x<i> as a bigint. */
export function x(regs: SmcRegs, i: number): bigint {
  return regs[i];
}

/** The handle split over w<lo> (bits[31:0]) and w<lo+1> (bits[63:32]) — ffa_assemble_handle(). */
export function handleFrom(regs: SmcRegs, lo: number): bigint {
  return BigInt(w(regs, lo)) | (BigInt(w(regs, lo + 1)) << 32n);
}

/** ffa_error(code) — Hafnium src/ffa_internal.h: FFA_ERROR_32 with the code zero-extended in w2. */
export function ffaError(code: number): SmcRegs {
  return smcRegs(FFA_ERROR_32, 0, code >>> 0);
}

/** FFA_SUCCESS_32 with w2.. as given. */
export function ffaSuccess(
  w2: number | bigint = 0,
  w3: number | bigint = 0,
  w4: number | bigint = 0,
): SmcRegs {
  return smcRegs(FFA_SUCCESS_32, 0, w2, w3, w4);
}

/** ffa_mem_success(handle) — FFA_SUCCESS_32 with the handle in w2 (low) / w3 (high). */
export function ffaMemSuccess(handle: bigint): SmcRegs {
  return smcRegs(FFA_SUCCESS_32, 0, ffaHandleLow(handle), ffaHandleHigh(handle));
}

/** FFA_MEM_FRAG_RX: handle in w1/w2, bytes received so far in w3, sender ID in w4[31:16]. */
export function ffaMemFragRx(handle: bigint, offset: number, senderId = 0): SmcRegs {
  return smcRegs(
    FFA_MEM_FRAG_RX_32,
    ffaHandleLow(handle),
    ffaHandleHigh(handle),
    offset,
    ((senderId & 0xffff) << 16) >>> 0,
  );
}

/** FFA_MEM_FRAG_TX (a retrieve continuation): handle in w1/w2, fragment length in w3. */
export function ffaMemFragTx(handle: bigint, length: number): SmcRegs {
  return smcRegs(FFA_MEM_FRAG_TX_32, ffaHandleLow(handle), ffaHandleHigh(handle), length);
}

/** FFA_MEM_RETRIEVE_RESP: total length in w1, this fragment's length in w2. */
export function ffaMemRetrieveResp(total: number, fragment: number): SmcRegs {
  return smcRegs(FFA_MEM_RETRIEVE_RESP_32, total, fragment);
}

/**
 * Why a call was refused: the text, or a function that builds it. A rule's message is read only when
 * something shows it (a trace, a scenario step, a report), while a fuzzer refuses tens of thousands of
 * calls a second: so the handlers pass `() => \`…\`` where the text formats numbers, and it is built
 * on first read.
 */
export type Why = string | (() => string);

/** A rejection, as Hafnium's dlog_verbose() before `return ffa_error(...)` tells it. */
export interface Rejection {
  /** The FF-A code returned (signed, e.g. -2). */
  readonly code: number;
  /** Stable short name of the rule that fired. */
  readonly rule: string;
  readonly why: string;
}

/** A Rejection whose text is built the first time it is read. */
class RuleRejection implements Rejection {
  #why: Why;
  constructor(
    readonly code: number,
    readonly rule: string,
    why: Why,
  ) {
    this.#why = why;
  }

  get why(): string {
    const w = this.#why;
    if (typeof w === "string") return w;
    // A message reads the state it describes: built once, the first time anyone asks.
    return (this.#why = w());
  }

  toJSON(): Rejection {
    return { code: this.code, rule: this.rule, why: this.why };
  }
}

/**
 * What one call carries through the SPMC: the virtual time its work costs (charged when the call
 * returns) and the rule that rejected it, if one did.
 */
export class CallCtx {
  costNs = 0;
  rejection: Rejection | null = null;

  /** Records why the call fails and returns the FFA_ERROR register file. */
  reject(code: number, rule: string, why: Why): SmcRegs {
    this.rejection = new RuleRejection(code, rule, why);
    return ffaError(code);
  }
}

/** The text of a Why. */
export function whyText(why: Why): string {
  return typeof why === "string" ? why : why();
}

/** True when a register file is FFA_ERROR. */
export function isFfaError(regs: SmcRegs): boolean {
  return w(regs, 0) === FFA_ERROR_32;
}

/** Hex for messages. */
export function hex(v: number | bigint): string {
  return "0x" + v.toString(16);
}
