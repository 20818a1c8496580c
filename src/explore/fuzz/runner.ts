/**
 * Runs fuzz cases against one SPMC flavor: one rig booted once, every base state reached once and
 * snapshotted, and each case started from its base's snapshot (restored only when an earlier case
 * changed something). Around every call it applies the oracle: the reply is a spec reply for that call,
 * a rejected call changed nothing (state compared with the snapshot taken before it), and after a call
 * that changed the state the ffa-consistency invariant holds — both the fuzzer's whole-state check
 * (oracle.ts) and the model's own audits (its `ffa-consistency` findings).
 */
import {
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_FRAG_TX_32 as FRAG_TX_REPLY,
  FFA_VERSION_32,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import type { FuzzCall } from "./calls.ts";
import { patchHandle, type Base } from "./gen.ts";
import { consistencyProblem, errorCode, noteBoot, replyHandle, replyProblem } from "./oracle.ts";
import { knownFinding, type KnownFinding } from "./known.ts";
import { FuzzRig, type FuzzCaller } from "./rig.ts";
import { capture, differs, restore, type SpmcSnapshot } from "./state.ts";

const w = (r: SmcRegs, i: number) => Number(r[i] & 0xffff_ffffn);

export type ViolationKind =
  "non-spec-reply" | "state-changed-on-rejection" | "ffa-consistency" | "model-exception";

export interface CallOutcome {
  /** The registers as sent (handles patched in), x0..x7. */
  readonly x: readonly bigint[];
  readonly tx: Uint8Array | null;
  /** x0..x7 of the reply; null when the flavor has no such endpoint or skips the call. */
  readonly reply: readonly bigint[] | null;
  /** What the call left in the caller's RX buffer (a retrieve response or its next fragment). */
  readonly rx: Uint8Array | null;
  /** The SPMC's rule for a rejection (its dlog_verbose()), if any. */
  readonly rule: string | null;
  /** The SPMC panicked (Hafnium panic(): the call never returns). */
  readonly panic: string | null;
}

export interface CaseOutcome {
  readonly violation: { readonly kind: ViolationKind; readonly call: number; readonly why: string } | null;
  /** Outcomes of the case's calls (not the base's); filled only when recording. */
  readonly calls: CallOutcome[];
  /** Coverage keys, one per call: function, answer, error code, rule. */
  readonly keys: string[];
  readonly panic: string | null;
  /** The case ran into a known finding of the real implementation (known.ts): it stopped there. */
  readonly known: KnownFinding | null;
}

export interface RunnerStats {
  cases: number;
  calls: number;
  rejections: number;
  successes: number;
  panics: number;
  restores: number;
  snapshots: number;
}

interface BaseState {
  readonly base: Base;
  readonly snap: SpmcSnapshot;
  readonly replies: (SmcRegs | null)[];
  /** The base's own calls as made, for the corpus. */
  readonly outcomes: CallOutcome[];
  /** What FFA_VERSION answered at the probe. */
  readonly versionAnswer: bigint;
}

export class FlavorRunner {
  readonly rig: FuzzRig;
  readonly bases: BaseState[] = [];
  readonly stats: RunnerStats = {
    cases: 0,
    calls: 0,
    rejections: 0,
    successes: 0,
    panics: 0,
    restores: 0,
    snapshots: 0,
  };
  #loaded = -1;
  #dirty = false;
  #modelFinding: string | null = null;
  /** The snapshot taken between two calls of a case: its arrays are reused case after case. */
  #work: SpmcSnapshot | null = null;
  readonly #x = new BigUint64Array(18);

  constructor(
    readonly flavor: SpmcFlavorName,
    bases: readonly Base[],
  ) {
    this.rig = new FuzzRig(flavor);
    this.rig.sim.findings.onFinding((f) => {
      if (f.id === "ffa-consistency" && this.#modelFinding === null) this.#modelFinding = f.message;
    });
    const boot = capture(this.rig);
    noteBoot(this.rig);
    for (const b of bases) {
      restore(this.rig, boot);
      const versionAnswer = this.rig.probe(b.version);
      const replies: (SmcRegs | null)[] = [];
      const outcomes: CallOutcome[] = [];
      for (const c of b.calls) {
        const o = this.#make(c, replies, true);
        replies.push(o.reply ? BigUint64Array.from(o.reply) : null);
        outcomes.push(o);
        if (o.panic) throw new Error(`${flavor}: base ${b.name} panicked the SPMC: ${o.panic}`);
      }
      const problem = consistencyProblem(this.rig);
      if (problem) throw new Error(`${flavor}: base ${b.name} is inconsistent: ${problem}`);
      this.bases.push({ base: b, snap: capture(this.rig), replies, outcomes, versionAnswer });
    }
    this.#loaded = -1;
  }

  /** The normal world's version in base `i`. */
  versionOf(i: number): FfaVersion {
    return this.bases[i].base.version;
  }

  /** Makes one call (handles and offsets resolved from `replies`); no oracle. */
  #make(c: FuzzCall, replies: readonly (SmcRegs | null)[], record: boolean): CallOutcome {
    const rig = this.rig;
    if ((c.only !== undefined && c.only !== this.flavor) || !rig.has(c.by))
      return { x: c.x, tx: c.tx, reply: null, rx: null, rule: null, panic: null };
    // Unrecorded, one register file serves every call: the SPMC never keeps the caller's registers
    // (the conduit hands its handler a copy) and the outcome's `x` is read before the next call.
    const x = record ? new BigUint64Array(18) : this.#x.fill(0n);
    for (let i = 0; i < 8; i++) x[i] = c.x[i];
    let tx = c.tx;
    let h = 0n;
    /** Where in the TX page the handle goes, unrecorded (-1: nowhere, or in registers). */
    let patchAt = -1;
    if (c.handle) {
      const r = replies[c.handle.from];
      h = ((r ? replyHandle(r) : null) ?? 0n) ^ c.handle.xor;
      const at = c.handle.at;
      // Recorded, the outcome keeps the bytes as sent; unrecorded, the handle is written into the TX
      // page after the descriptor, as patchHandle() would have put it (no copy of the descriptor).
      if (record || at === "w1") tx = patchHandle(x, tx, at, h);
      else if (tx && tx.length >= (at === "tx8" ? 16 : 8)) patchAt = at === "tx8" ? 8 : 0;
    }
    if (c.offsetFrom !== undefined) {
      const r = replies[c.offsetFrom];
      x[3] = r && w(r, 0) === FFA_MEM_RETRIEVE_RESP_32 ? BigInt(w(r, 2)) : 0n;
    }
    rig.writeTx(c.by, tx);
    if (patchAt >= 0) rig.writeTxU64(c.by, patchAt, h);
    const reply = rig.call(c.by, x);
    const panic = rig.machine.hung;
    const out: CallOutcome = {
      x: record ? Array.from(x.subarray(0, 8)) : (x as unknown as bigint[]),
      tx,
      reply: record ? Array.from(reply.subarray(0, 8)) : (reply as unknown as bigint[]),
      rx: record ? rxOf(rig, c.by, reply) : null,
      rule: errorCode(reply) !== null ? (rig.spmc.lastRejection?.rule ?? null) : null,
      panic,
    };
    return out;
  }

  /** Runs one case's calls on base `baseIndex`, with the oracle. */
  run(baseIndex: number, calls: readonly FuzzCall[], record = false): CaseOutcome {
    const rig = this.rig;
    const b = this.bases[baseIndex];
    this.stats.cases++;
    if (this.#dirty || this.#loaded !== baseIndex) {
      restore(rig, b.snap);
      this.stats.restores++;
      this.#loaded = baseIndex;
      this.#dirty = false;
    }
    const replies = b.replies.slice();
    let snap: SpmcSnapshot | null = b.snap;
    const outcomes: CallOutcome[] = [];
    const keys: string[] = [];
    this.#modelFinding = null;
    for (let k = 0; k < calls.length; k++) {
      const c = calls[k];
      if (snap === null) {
        snap = this.#work = capture(rig, this.#work ?? undefined);
        this.stats.snapshots++;
      }
      let o: CallOutcome;
      try {
        o = this.#make(c, replies, record);
      } catch (e) {
        // The model threw: an SPMC answers every call, so this is the model's own bug.
        return this.#fail(
          "model-exception",
          k,
          `the SPMC model threw: ${(e as Error).message}`,
          outcomes,
          keys,
        );
      }
      replies.push(o.reply ? (o.reply as unknown as SmcRegs) : null);
      if (record) outcomes.push(o);
      if (o.reply === null) {
        keys.push(`${c.by}:absent`);
        continue;
      }
      this.stats.calls++;
      const fid = Number(c.x[0] & 0xffff_ffffn);
      if (o.panic) {
        this.stats.panics++;
        this.#dirty = true;
        keys.push(`${fid.toString(16)}:panic`);
        return { violation: null, calls: outcomes, keys, panic: o.panic, known: null };
      }
      const r = o.reply;
      const code = errorCode(r as unknown as SmcRegs);
      keys.push(outcomeKey(fid, w(r as unknown as SmcRegs, 0), code, o.rule));
      const bad = replyProblem(fid, r as unknown as SmcRegs);
      if (bad) return this.#fail("non-spec-reply", k, bad, outcomes, keys);
      const rejected = code !== null || (fid === FFA_VERSION_32 && (r[0] & 0xffff_ffffn) === 0xffff_ffffn);
      if (rejected) {
        this.stats.rejections++;
        // A rejected FRAG_TX may abort the transaction it continued, and only that.
        const gone =
          fid === FFA_MEM_FRAG_TX_32
            ? BigInt(w(o.x as unknown as SmcRegs, 1)) | (BigInt(w(o.x as unknown as SmcRegs, 2)) << 32n)
            : null;
        const d = differs(rig, snap, gone);
        if (d) return this.#fail("state-changed-on-rejection", k, d, outcomes, keys);
        if (gone !== null) {
          this.#dirty = true;
          snap = null;
          const p = consistencyProblem(rig);
          if (p) return this.#fail("ffa-consistency", k, p, outcomes, keys);
        }
      } else {
        this.stats.successes++;
        this.#dirty = true;
        snap = null;
        const p = consistencyProblem(rig);
        if (p) {
          const known = knownFinding(rig, c.by, o.x as unknown as SmcRegs);
          if (known) return { violation: null, calls: outcomes, keys, panic: null, known };
          return this.#fail("ffa-consistency", k, p, outcomes, keys);
        }
      }
      if (this.#modelFinding !== null)
        return this.#fail("ffa-consistency", k, `the model's audit: ${this.#modelFinding}`, outcomes, keys);
    }
    return { violation: null, calls: outcomes, keys, panic: null, known: null };
  }

  #fail(kind: ViolationKind, call: number, why: string, calls: CallOutcome[], keys: string[]): CaseOutcome {
    this.#dirty = true;
    return { violation: { kind, call, why }, calls, keys, panic: null, known: null };
  }

  /** The base's own calls as made (for the corpus). */
  baseOutcomes(i: number): readonly CallOutcome[] {
    return this.bases[i].outcomes;
  }
}

/** outcomeKey()'s strings: function → answer → error code → rule. */
const outcomeKeys = new Map<number, Map<number, Map<number | null, Map<string | null, string>>>>();

/**
 * A call's coverage key, "fid:w0:code:rule" (hex function IDs): looked up, not built, call after call
 * — the outcomes a run reaches are a few hundred.
 */
function outcomeKey(fid: number, w0: number, code: number | null, rule: string | null): string {
  let a = outcomeKeys.get(fid);
  if (!a) outcomeKeys.set(fid, (a = new Map()));
  let b = a.get(w0);
  if (!b) a.set(w0, (b = new Map()));
  let c = b.get(code);
  if (!c) b.set(code, (c = new Map()));
  let k = c.get(rule);
  if (k === undefined)
    c.set(rule, (k = `${fid.toString(16)}:${w0.toString(16)}:${code ?? ""}:${rule ?? ""}`));
  return k;
}

/** What a retrieve response or FRAG_RX left in RX: the bytes it reports. */
function rxOf(rig: FuzzRig, by: FuzzCaller, reply: SmcRegs): Uint8Array | null {
  const w0 = w(reply, 0);
  if (w0 === FFA_MEM_RETRIEVE_RESP_32) return rig.readRx(by, Math.min(w(reply, 2), 4096));
  if (w0 === FRAG_TX_REPLY) return rig.readRx(by, Math.min(w(reply, 3), 4096));
  return null;
}
