/**
 * The fuzzer's test vectors as JSON a real SPMC's test harness can replay (README "FF-A fuzzing
 * corpus"): per case, every call from a freshly booted SPMC — the normal world's probe, the setup, the
 * fuzzed calls — with the caller, x0..x7 in hex, the TX bytes in hex, where a handle returned by an
 * earlier call goes, and per flavor the expected reply (x0..x7, the error name, the model's rule, the
 * RX bytes of a retrieve response).
 */
import {
  FFA_RXTX_MAP_64,
  FFA_VERSION_32,
  ffaErrorName,
  ffaFuncName,
  ffaVersionNumber,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { HANDLE_SLOT, OFFSET_REG, type FuzzCall, type HandleAt } from "./calls.ts";
import { opteeMsgCmdName } from "../../abi/optee/index.ts";
import { isOpteeRequest, opteeMessageName, opteeMessageResult, opteeResultName } from "./oracle.ts";
import { CALLER_IDS, FUZZ_NWD_RX, FUZZ_NWD_TX, FUZZ_TX_BYTES, type FuzzCaller } from "./rig.ts";
import type { CallOutcome } from "./runner.ts";

export const CORPUS_FORMAT = "rstmem-ffa-fuzz/1";

export interface CorpusReply {
  /** x0..x7 of the reply; null when this flavor has no such endpoint (sp2 exists only under Hafnium). */
  readonly x: readonly string[] | null;
  /** x0's function name (FFA_SUCCESS_32, FFA_ERROR_32, FFA_MEM_RETRIEVE_RESP_32, …). */
  readonly answer?: string;
  /** For FFA_ERROR: the code's name. */
  readonly error?: string;
  /** For FFA_ERROR: the rule of the model that refused (as Hafnium's dlog_verbose / OP-TEE's DMSG say). */
  readonly rule?: string;
  /** For MEM_RETRIEVE_RESP / MEM_FRAG_TX: the bytes the SPMC wrote at the start of the caller's RX buffer. */
  readonly rx?: string;
  /** The SPMC panicked instead of answering (the call never returns). */
  readonly panic?: string;
  /**
   * A function the SPMC implements and the model does not yet (Hafnium's notification BIND, SET, …: its
   * FFA_FEATURES lists them): no expectation (`x` null); why, in words.
   */
  readonly unmodelled?: string;
  /** For an OP-TEE core event (CorpusCall.internal): the object's reference count after it; null: no such object. */
  readonly refcount?: number | null;
  /**
   * For OP-TEE's direct response to one of its messages (CorpusCall.optee_msg): w3 by name — a
   * TEE_Result ("TEE_ERROR_BAD_PARAMETERS"), an FF-A error code ("FFA_BUSY", as handle_unregister_shm()
   * and __thread_std_smc_entry() answer), "0", or the value in hex.
   */
  readonly optee_result?: string;
  /** For a call with a message in shared memory (CorpusCall.shm): its bytes after the call, hex (OP-TEE's answer written in). */
  readonly shm?: string;
  /**
   * …and the TEE_Result in the message's `ret` by name (`TEE_ERROR_ITEM_NOT_FOUND`); absent when the
   * SPMC's side left the message as written (it never reached OP-TEE, or OP-TEE did not answer in it).
   */
  readonly msg_ret?: string;
}

export interface CorpusCall {
  readonly by: FuzzCaller;
  readonly endpoint_id: string;
  /** x0..x7 as hex; words a handle or offset goes into are 0 here. */
  readonly x: readonly string[];
  readonly call: string;
  /** Bytes to copy to the start of the caller's TX buffer before the call. */
  readonly tx?: string;
  /**
   * The handle returned by call `from` (FFA_SUCCESS w2/w3, or FFA_MEM_FRAG_RX w1/w2), XOR `xor`, goes
   * `at`: w1/w2, w4/w5 (the cookie of an OP-TEE message), or TX byte 8 (retrieve request) or 0
   * (relinquish).
   */
  readonly handle?: { readonly from: number; readonly xor: string; readonly at: HandleAt };
  /** x3 = w2 (fragment length) of call `offset_from`'s FFA_MEM_RETRIEVE_RESP. */
  readonly offset_from?: number;
  /** A call that builds the state the case starts from. */
  readonly setup?: true;
  /**
   * Not an FF-A call: an event of OP-TEE's core on the object whose cookie `handle` names —
   * "mobj_ffa_get_by_cookie" (OP-TEE starts using it, as a yielding call with a memref on it or a TA
   * holding it does), "mobj_put" (it stops) or "mobj_ffa_unregister_by_cookie" (the normal world's
   * OPTEE_FFA_UNREGISTER_SHM). Only OP-TEE at S-EL1 has it; `x` is all zero.
   */
  readonly internal?: "mobj_ffa_get_by_cookie" | "mobj_put" | "mobj_ffa_unregister_by_cookie";
  /**
   * A direct request to OP-TEE (0x8001): the OPTEE_FFA_* message its w3 carries
   * ("OPTEE_FFA_UNREGISTER_SHM"), or "undefined blocking ID" / "undefined yielding ID".
   */
  readonly optee_msg?: string;
  /**
   * A message (optee_msg_arg) the normal world writes into memory it shares with OP-TEE before the
   * call: `bytes` (hex) at physical `address`, with the handle of call `cookie.from` XOR `cookie.xor` as
   * the little-endian u64 at byte `cookie.off` (ASSIGN_PROTMEM's value.a); `msg` names its command.
   */
  readonly shm?: {
    readonly address: string;
    readonly bytes: string;
    readonly msg: string;
    readonly cookie?: { readonly from: number; readonly xor: string; readonly off: number };
  };
  readonly expect: Readonly<Partial<Record<SpmcFlavorName, CorpusReply>>>;
}

export interface CorpusCase {
  readonly format: typeof CORPUS_FORMAT;
  readonly id: number;
  readonly seed: number;
  readonly base: string;
  /** The normal world's negotiated FF-A version. */
  readonly version: FfaVersion;
  /**
   * The FF-A version the partitions' manifests declare: each negotiates it at boot (FFA_VERSION, then
   * FFA_RXTX_MAP of its buffers, under Hafnium) and writes its descriptors in its layout.
   */
  readonly partition_version: FfaVersion;
  readonly actions: readonly string[];
  readonly mutations: readonly string[];
  readonly violation?: {
    readonly flavor: SpmcFlavorName;
    readonly kind: string;
    readonly call: number;
    readonly why: string;
  };
  readonly calls: readonly CorpusCall[];
}

const hx = (v: bigint | number) => "0x" + BigInt.asUintN(64, BigInt(v)).toString(16);
const bytesHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");

function reply(o: CallOutcome | undefined, optee: boolean): CorpusReply {
  if (o && o.refcount !== undefined) return { x: null, refcount: o.refcount };
  if (!o || o.reply === null) return { x: null };
  if (o.panic) return { x: null, panic: o.panic };
  if (o.rule === UNMODELLED_RULE) {
    const called = Number(o.x[0] & 0xffff_ffffn);
    return {
      x: null,
      unmodelled: `${ffaFuncName(called) ?? hx(called)}: the SPMC implements it; the model does not yet`,
    };
  }
  const x = o.reply.map(hx);
  const fid = Number(o.reply[0] & 0xffff_ffffn);
  const answer = ffaFuncName(fid);
  const isError = answer === "FFA_ERROR_32";
  return {
    x,
    ...(answer ? { answer } : {}),
    ...(isError ? { error: ffaErrorName(Number(o.reply[2] & 0xffff_ffffn) | 0) ?? hx(o.reply[2]) } : {}),
    ...(isError && o.rule ? { rule: o.rule } : {}),
    ...(o.rx ? { rx: bytesHex(o.rx) } : {}),
    ...(optee && !isError ? { optee_result: opteeResultName(regsOf(o.x), regsOf(o.reply)) } : {}),
    // The message's `ret` only where OP-TEE wrote into it (left as written, its 0 is no TEE_SUCCESS).
    ...(o.shm
      ? { shm: bytesHex(o.shm), ...(o.shmWritten ? { msg_ret: opteeMessageResult(o.shm) } : {}) }
      : {}),
  };
}

/** The rule of a refusal that is the model's, not the SPMC's (firmware/hafnium/hafnium.ts). */
const UNMODELLED_RULE = "unmodelled-function";

/** x0..x7 as the oracle's register type. */
function regsOf(x: readonly bigint[]): SmcRegs {
  const r = new BigUint64Array(18);
  for (let i = 0; i < 8 && i < x.length; i++) r[i] = x[i];
  return r;
}

const INTERNAL_NAMES = {
  "mobj-get": "mobj_ffa_get_by_cookie",
  "mobj-put": "mobj_put",
  "mobj-unregister": "mobj_ffa_unregister_by_cookie",
} as const;

/** The two probe calls every case starts with (FFA_VERSION, FFA_RXTX_MAP of the normal world's pages). */
const PROBE = 2;

/**
 * A call's x0..x7 as the corpus gives them: the words a handle (`handle.at` w1 or w4: two words) or an
 * offset (x3, `offset_from`) is written into are 0, as the field says — the harness writes them, and a
 * mutation's value there never reached the SPMC.
 */
function corpusRegs(c: FuzzCall): readonly bigint[] {
  const slot = c.handle ? HANDLE_SLOT[c.handle.at] : null;
  const reg = slot !== null && "reg" in slot ? slot.reg : null;
  if (reg === null && c.offsetFrom === undefined) return c.x;
  const x = c.x.slice();
  if (reg !== null) x[reg] = x[reg + 1] = 0n;
  if (c.offsetFrom !== undefined) x[OFFSET_REG] = 0n;
  return x;
}

function corpusCall(
  c: FuzzCall,
  per: Partial<Record<SpmcFlavorName, CallOutcome>>,
  setup: boolean,
): CorpusCall {
  const fid = Number(c.x[0] & 0xffff_ffffn);
  const optee = !c.internal && isOpteeRequest(fid, regsOf(c.x));
  const expect: Partial<Record<SpmcFlavorName, CorpusReply>> = {};
  for (const [f, o] of Object.entries(per) as [SpmcFlavorName, CallOutcome][]) expect[f] = reply(o, optee);
  return {
    by: c.by,
    endpoint_id: hx(CALLER_IDS[c.by]),
    x: corpusRegs(c).map(hx),
    call: c.internal ? INTERNAL_NAMES[c.internal] : (ffaFuncName(fid) ?? hx(fid)),
    ...(c.internal ? { internal: INTERNAL_NAMES[c.internal] } : {}),
    ...(optee ? { optee_msg: opteeMessageName(regsOf(c.x)) } : {}),
    ...(c.shm
      ? {
          shm: {
            address: hx(c.shm.pa),
            bytes: bytesHex(c.shm.bytes),
            msg:
              opteeMsgCmdName(new DataView(c.shm.bytes.buffer, c.shm.bytes.byteOffset).getUint32(0, true)) ??
              "?",
            ...(c.shm.cookie
              ? {
                  cookie: {
                    from: c.shm.cookie.from + PROBE,
                    xor: hx(c.shm.cookie.xor),
                    off: c.shm.cookie.off,
                  },
                }
              : {}),
          },
        }
      : {}),
    // What the TX buffer holds: a mutation may make a descriptor longer than the page, and the rig (as a
    // harness) writes only the page's worth.
    ...(c.tx ? { tx: bytesHex(c.tx.length > FUZZ_TX_BYTES ? c.tx.subarray(0, FUZZ_TX_BYTES) : c.tx) } : {}),
    ...(c.handle ? { handle: { from: c.handle.from + PROBE, xor: hx(c.handle.xor), at: c.handle.at } } : {}),
    ...(c.offsetFrom !== undefined ? { offset_from: c.offsetFrom + PROBE } : {}),
    ...(setup ? { setup: true as const } : {}),
    expect,
  };
}

/** The probe calls, with what every flavor answers (the version it negotiates, and success). */
function probeCalls(
  version: FfaVersion,
  flavors: readonly SpmcFlavorName[],
  answers: Record<SpmcFlavorName, bigint>,
): CorpusCall[] {
  const v = ffaVersionNumber(version);
  const ok = (w0: bigint): CorpusReply => ({ x: [hx(w0), ...Array<string>(7).fill("0x0")] });
  const e1: Partial<Record<SpmcFlavorName, CorpusReply>> = {};
  const e2: Partial<Record<SpmcFlavorName, CorpusReply>> = {};
  for (const f of flavors) {
    e1[f] = ok(answers[f]);
    e2[f] = { ...ok(0x8400_0061n), answer: "FFA_SUCCESS_32" };
  }
  return [
    {
      by: "normal",
      endpoint_id: "0x0",
      x: [hx(FFA_VERSION_32), hx(v), "0x0", "0x0", "0x0", "0x0", "0x0", "0x0"],
      call: "FFA_VERSION_32",
      setup: true,
      expect: e1,
    },
    {
      by: "normal",
      endpoint_id: "0x0",
      x: [hx(FFA_RXTX_MAP_64), hx(FUZZ_NWD_TX), hx(FUZZ_NWD_RX), "0x1", "0x0", "0x0", "0x0", "0x0"],
      call: "FFA_RXTX_MAP_64",
      setup: true,
      expect: e2,
    },
  ];
}

export interface CaseRecord {
  readonly id: number;
  readonly seed: number;
  readonly base: string;
  readonly version: FfaVersion;
  readonly partitionVersion: FfaVersion;
  readonly baseCalls: readonly FuzzCall[];
  readonly calls: readonly FuzzCall[];
  readonly actions: readonly string[];
  readonly mutations: readonly string[];
  /** Per flavor: the base's call outcomes, then the case's. */
  readonly outcomes: Readonly<
    Partial<Record<SpmcFlavorName, { base: readonly CallOutcome[]; case: readonly CallOutcome[] }>>
  >;
  /** Per flavor: what FFA_VERSION answered at probe. */
  readonly versionAnswers: Record<SpmcFlavorName, bigint>;
  readonly violation?: CorpusCase["violation"];
}

/** One corpus file's content. */
export function corpusCase(r: CaseRecord): CorpusCase {
  const flavors = Object.keys(r.outcomes) as SpmcFlavorName[];
  const per = (k: number, which: "base" | "case") => {
    const out: Partial<Record<SpmcFlavorName, CallOutcome>> = {};
    for (const f of flavors) out[f] = r.outcomes[f]![which][k];
    return out;
  };
  return {
    format: CORPUS_FORMAT,
    id: r.id,
    seed: r.seed,
    base: r.base,
    version: r.version,
    partition_version: r.partitionVersion,
    actions: r.actions,
    mutations: r.mutations,
    ...(r.violation ? { violation: r.violation } : {}),
    calls: [
      ...probeCalls(r.version, flavors, r.versionAnswers),
      ...r.baseCalls.map((c, k) => corpusCall(c, per(k, "base"), true)),
      ...r.calls.map((c, k) => corpusCall(c, per(k, "case"), false)),
    ],
  };
}
