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
  FFA_ID_GET_32,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_RXTX_UNMAP_32,
  FFA_VERSION_32,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import { OpteeSel1Spmc } from "../../firmware/optee_sel1/optee_sel1.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { HANDLE_SLOT, OFFSET_REG, type FuzzCall } from "./calls.ts";
import { patchHandle, type Base } from "./gen.ts";
import {
  consistencyProblem,
  errorCode,
  isOpteeRequest,
  noteBoot,
  opteeChangesNothing,
  opteeMessageProblem,
  opteeMessageResult,
  opteeOutcomeRule,
  opteeRefused,
  opteeReplyProblem,
  replyHandle,
  replyProblem,
} from "./oracle.ts";
import { knownFinding, nwdMailbox, type KnownFinding } from "./known.ts";
import { CALLER_IDS, FuzzRig, type FuzzCaller } from "./rig.ts";
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
  /**
   * For an event of OP-TEE's core (FuzzCall.internal), when this flavor has it: the object's reference
   * count after it, or null when no object has that cookie.
   */
  readonly refcount?: number | null;
  /** For a call with a message in shared memory (FuzzCall.shm): those bytes after the call (OP-TEE's answer in it). */
  readonly shm?: Uint8Array;
  /** …and whether they differ from what was written before the call (OP-TEE wrote its answer). */
  readonly shmWritten?: boolean;
}

/** The message's bytes after the call, and whether the SPMC's side wrote into it at all. */
function shmOutcome(after: Uint8Array, before: Uint8Array): { shm: Uint8Array; shmWritten: boolean } {
  let same = after.length === before.length;
  for (let i = 0; same && i < after.length; i++) same = after[i] === before[i];
  return { shm: after, shmWritten: !same };
}

/** The message bytes of a call, the referenced cookie written in. */
function shmBytes(shm: NonNullable<FuzzCall["shm"]>, replies: readonly (SmcRegs | null)[]): Uint8Array {
  if (!shm.cookie) return shm.bytes;
  const r = replies[shm.cookie.from];
  const h = ((r ? replyHandle(r) : null) ?? 0n) ^ shm.cookie.xor;
  const out = shm.bytes.slice();
  if (shm.cookie.off + 8 <= out.length)
    new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(shm.cookie.off, h, true);
  return out;
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
  /** The rig booted with the base's partition version. */
  readonly rig: FuzzRig;
  readonly rigState: RigState;
  readonly snap: SpmcSnapshot;
  readonly replies: (SmcRegs | null)[];
  /** The base's own calls as made, for the corpus. */
  readonly outcomes: CallOutcome[];
  /** What FFA_VERSION answered at the probe. */
  readonly versionAnswer: bigint;
}

/** A rig and what the runner knows of it. */
interface RigState {
  readonly rig: FuzzRig;
  /** The base whose state the rig holds (-1: none), and whether a case changed it since. */
  loaded: number;
  dirty: boolean;
  /** The snapshot taken between two calls of a case: its arrays are reused case after case. */
  work: SpmcSnapshot | null;
}

export class FlavorRunner {
  /** The rig whose partitions run FF-A v1.2 (the platforms' version). */
  readonly rig: FuzzRig;
  /** Per partition version, a rig booted with it (their manifests' version; the SPMC locks it at boot). */
  readonly #rigs = new Map<FfaVersion, RigState>();
  /** The rig the current call runs on. */
  #cur: RigState;
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
  #modelFinding: string | null = null;
  readonly #x = new BigUint64Array(18);
  readonly #replies: (SmcRegs | null)[] = [];
  /** How many entries of #replies a case has written. */
  #repliesUsed = 0;

  constructor(
    readonly flavor: SpmcFlavorName,
    bases: readonly Base[],
  ) {
    const boots = new Map<RigState, SpmcSnapshot>();
    const rigFor = (v: FfaVersion): RigState => {
      // OP-TEE at S-EL1 has no partition that calls it: one rig serves every partition version.
      const key = flavor === "optee-sel1" ? "1.2" : v;
      let st = this.#rigs.get(key);
      if (!st) {
        const rig = new FuzzRig(flavor, key);
        rig.sim.findings.onFinding((f) => {
          if (f.id === "ffa-consistency" && this.#modelFinding === null) this.#modelFinding = f.message;
        });
        st = { rig, loaded: -1, dirty: false, work: null };
        boots.set(st, capture(rig));
        noteBoot(rig);
        this.#rigs.set(key, st);
      }
      return st;
    };
    this.#cur = rigFor("1.2");
    this.rig = this.#cur.rig;
    for (const b of bases) {
      const st = (this.#cur = rigFor(b.spVersion));
      const rig = st.rig;
      restore(rig, boots.get(st)!);
      const versionAnswer = rig.probe(b.version);
      const replies: (SmcRegs | null)[] = [];
      const outcomes: CallOutcome[] = [];
      for (const c of b.calls) {
        const o = this.#make(c, replies, true);
        replies.push(o.reply ? BigUint64Array.from(o.reply) : null);
        outcomes.push(o);
        if (o.panic) throw new Error(`${flavor}: base ${b.name} panicked the SPMC: ${o.panic}`);
      }
      const problem = consistencyProblem(rig);
      if (problem) throw new Error(`${flavor}: base ${b.name} is inconsistent: ${problem}`);
      this.bases.push({ base: b, rig, rigState: st, snap: capture(rig), replies, outcomes, versionAnswer });
      st.loaded = -1;
    }
  }

  /** The rig base `i` runs on. */
  rigOf(i: number): FuzzRig {
    return this.bases[i].rig;
  }

  /** The normal world's version in base `i`. */
  versionOf(i: number): FfaVersion {
    return this.bases[i].base.version;
  }

  /** Makes one call (handles and offsets resolved from `replies`); no oracle. */
  #make(c: FuzzCall, replies: readonly (SmcRegs | null)[], record: boolean): CallOutcome {
    const rig = this.#cur.rig;
    if (c.internal) return this.#event(c, replies);
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
      const slot = HANDLE_SLOT[at];
      if (record || "reg" in slot) tx = patchHandle(x, tx, at, h);
      else if (tx && tx.length >= slot.tx + 8) patchAt = slot.tx;
    }
    if (c.offsetFrom !== undefined) {
      const r = replies[c.offsetFrom];
      x[OFFSET_REG] = r && w(r, 0) === FFA_MEM_RETRIEVE_RESP_32 ? BigInt(w(r, 2)) : 0n;
    }
    rig.writeTx(c.by, tx);
    if (patchAt >= 0) rig.writeTxU64(c.by, patchAt, h);
    const shmIn = c.shm ? shmBytes(c.shm, replies) : null;
    if (c.shm) rig.writeShm(c.shm.pa, shmIn!);
    const reply = rig.call(c.by, x);
    const panic = rig.machine.hung;
    const out: CallOutcome = {
      x: record ? Array.from(x.subarray(0, 8)) : (x as unknown as bigint[]),
      tx,
      reply: record ? Array.from(reply.subarray(0, 8)) : (reply as unknown as bigint[]),
      rx: record ? rxOf(rig, c.by, reply) : null,
      rule: errorCode(reply) !== null ? (rig.spmc.lastRejection?.rule ?? null) : null,
      panic,
      ...(c.shm ? shmOutcome(rig.machine.bytes.read(c.shm.pa, c.shm.bytes.length), shmIn!) : {}),
    };
    return out;
  }

  /**
   * An event of OP-TEE's core on an object (mobj_ffa_get_by_cookie(), mobj_put(),
   * mobj_ffa_unregister_by_cookie() — mobj_ffa.c), under
   * OP-TEE at S-EL1; another flavor has no such objects and skips it.
   */
  #event(c: FuzzCall, replies: readonly (SmcRegs | null)[]): CallOutcome {
    const spmc = this.#cur.rig.spmc;
    const none = { x: c.x, tx: null, rx: null, rule: null, panic: null, reply: null };
    if ((c.only !== undefined && c.only !== this.flavor) || !(spmc instanceof OpteeSel1Spmc)) return none;
    const r = c.handle ? replies[c.handle.from] : null;
    const cookie = ((r ? replyHandle(r) : null) ?? 0n) ^ (c.handle?.xor ?? 0n);
    let m = spmc.mobjs.get(cookie) ?? null;
    if (m && c.internal === "mobj-get") m = spmc.mobjs.getByCookie(cookie);
    else if (m && c.internal === "mobj-unregister") spmc.mobjs.unregisterByCookie(cookie);
    else if (m && m.refcount > 0) spmc.mobjs.put(m);
    return { ...none, refcount: m ? m.refcount : null };
  }

  /** Runs one case's calls on base `baseIndex`, with the oracle. */
  run(baseIndex: number, calls: readonly FuzzCall[], record = false): CaseOutcome {
    const b = this.bases[baseIndex];
    const st = (this.#cur = b.rigState);
    const rig = st.rig;
    this.stats.cases++;
    rig.clearShm();
    if (st.dirty || st.loaded !== baseIndex) {
      restore(rig, b.snap);
      this.stats.restores++;
      st.loaded = baseIndex;
      st.dirty = false;
    }
    // The case's replies (the base's first): one array case after case, as nothing keeps it. Entries
    // past the base's that the last case wrote are cleared, not cut off (a length of 0 frees the
    // array's store): a reference to a call not made yet reads null, as in a fresh array.
    const replies = this.#replies;
    let nr = b.replies.length;
    for (let i = 0; i < nr; i++) replies[i] = b.replies[i];
    for (let i = nr; i < this.#repliesUsed; i++) replies[i] = null;
    if (nr > this.#repliesUsed) this.#repliesUsed = nr;
    let snap: SpmcSnapshot | null = b.snap;
    const outcomes: CallOutcome[] = [];
    const keys: string[] = [];
    this.#modelFinding = null;
    for (let k = 0; k < calls.length; k++) {
      const c = calls[k];
      if (snap === null) {
        snap = st.work = capture(rig, st.work ?? undefined);
        this.stats.snapshots++;
      }
      const fid = Number(c.x[0] & 0xffff_ffffn);
      // The normal world's buffers before its FFA_RXTX_UNMAP: a known finding shows there (known.ts).
      const mailbox = c.by === "normal" && fid === FFA_RXTX_UNMAP_32 ? nwdMailbox(rig) : null;
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
      replies[nr++] = o.reply ? (o.reply as unknown as SmcRegs) : null;
      if (nr > this.#repliesUsed) this.#repliesUsed = nr;
      if (record) outcomes.push(o);
      if (o.refcount !== undefined) {
        // OP-TEE's core took or dropped a reference: the object's state changed, and must stay coherent.
        keys.push(`${c.internal}:${o.refcount === null ? "none" : o.refcount > 0 ? "held" : "free"}`);
        st.dirty = true;
        snap = null;
        const p = consistencyProblem(rig);
        if (p) return this.#fail("ffa-consistency", k, p, outcomes, keys);
        continue;
      }
      if (o.reply === null) {
        keys.push(`${c.by}:absent`);
        continue;
      }
      this.stats.calls++;
      if (o.panic) {
        this.stats.panics++;
        this.#cur.dirty = true;
        keys.push(`${fid.toString(16)}:panic`);
        return { violation: null, calls: outcomes, keys, panic: o.panic, known: null };
      }
      const r = o.reply;
      const rr = r as unknown as SmcRegs;
      const ox = o.x as unknown as SmcRegs;
      const code = errorCode(rr);
      // A direct response from OP-TEE to one of its own messages (OPTEE_FFA_* in w3): its answer is
      // OP-TEE's, held to what optee_os answers, and most answers must have changed nothing.
      const optee = code === null && isOpteeRequest(fid, ox) && w(rr, 1) >>> 16 === CALLER_IDS.optee;
      const header = optee && c.shm ? rig.machine.bytes.read(c.shm.pa, 32) : null;
      // A message in shared memory: what OP-TEE left in its `ret` is part of the outcome.
      const rule = optee
        ? opteeOutcomeRule(ox, rr) + (header ? ` / ret ${opteeMessageResult(header)}` : "")
        : o.rule;
      keys.push(outcomeKey(fid, w(rr, 0), code, rule));
      const bad =
        replyProblem(fid, rr) ??
        (code === null ? answerProblem(fid, rr, ox, c.by) : null) ??
        (optee ? opteeReplyProblem(ox, rr) : null) ??
        (header ? opteeMessageProblem(ox, rr, header) : null);
      if (bad) return this.#fail("non-spec-reply", k, bad, outcomes, keys);
      const rejected = code !== null || (fid === FFA_VERSION_32 && (r[0] & 0xffff_ffffn) === 0xffff_ffffn);
      // Counted as refused: also OP-TEE's refusals in w3 (opteeRefused()).
      const refused = rejected || (optee && opteeRefused(ox, rr));
      if (refused) this.stats.rejections++;
      else this.stats.successes++;
      // What must have changed nothing: a rejection, and most of OP-TEE's answers (opteeChangesNothing()).
      if (rejected || (optee && opteeChangesNothing(ox, rr))) {
        // A rejected FRAG_TX may abort the transaction it continued, and only that.
        const gone =
          fid === FFA_MEM_FRAG_TX_32
            ? BigInt(w(o.x as unknown as SmcRegs, 1)) | (BigInt(w(o.x as unknown as SmcRegs, 2)) << 32n)
            : null;
        const d = differs(rig, snap, gone);
        if (d) return this.#fail("state-changed-on-rejection", k, d, outcomes, keys);
        if (gone !== null) {
          this.#cur.dirty = true;
          snap = null;
          const p = consistencyProblem(rig);
          if (p) return this.#fail("ffa-consistency", k, p, outcomes, keys);
        }
      } else {
        this.#cur.dirty = true;
        snap = null;
        const p = consistencyProblem(rig);
        if (p) {
          const known = knownFinding(rig, c.by, o.x as unknown as SmcRegs, rr, mailbox);
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
    this.#cur.dirty = true;
    return { violation: { kind, call, why }, calls, keys, panic: null, known: null };
  }

  /** The base's own calls as made (for the corpus). */
  baseOutcomes(i: number): readonly CallOutcome[] {
    return this.bases[i].outcomes;
  }
}

/**
 * What an answer (not an error) must say about the call that got it: FFA_ID_GET the caller's own ID, a
 * direct response comes from the request's receiver to its sender (w1's IDs swapped).
 */
function answerProblem(fid: number, r: SmcRegs, x: SmcRegs, by: FuzzCaller): string | null {
  if (fid === FFA_ID_GET_32 && (w(r, 2) & 0xffff) !== CALLER_IDS[by])
    return `FFA_ID_GET answered ID 0x${(w(r, 2) & 0xffff).toString(16)} to 0x${CALLER_IDS[by].toString(16)}`;
  if (fid === FFA_MSG_SEND_DIRECT_REQ_32 || fid === FFA_MSG_SEND_DIRECT_REQ_64) {
    const req = w(x, 1);
    const swapped = (((req & 0xffff) << 16) | (req >>> 16)) >>> 0;
    if (w(r, 1) !== swapped)
      return `direct response w1 0x${w(r, 1).toString(16)} to a request with w1 0x${req.toString(16)}`;
  }
  return null;
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
