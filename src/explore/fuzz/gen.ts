/**
 * What the fuzzer sends: setup states ("bases", reached by valid calls) and cases built on them —
 * a few actions, each a valid call in context (send, fragment, retrieve, FRAG_RX, RX_RELEASE,
 * relinquish, reclaim, version) followed by structure-aware mutations: one descriptor field at a time
 * (header, EMADs, composite, constituents, relinquish), registers (lengths, handles, MBZ words), the
 * function ID, the calling endpoint, the handle (stale, foreign, another transaction's), fragment
 * boundaries. Mutations are data, so a failing case can be shrunk by dropping them.
 */
import {
  encodeMemRegion,
  encodeRelinquish,
  FFA_MEM_DONATE_32,
  FFA_MEM_DONATE_64,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_REQ_64,
  FFA_MEM_RW,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_ERROR_32,
  FFA_FEATURES_32,
  FFA_ID_GET_32,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_NOTIFICATION_BIND_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_NOTIFICATION_GET_32,
  FFA_NOTIFICATION_INFO_GET_32,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_NOTIFICATION_SET_32,
  FFA_NOTIFICATION_UNBIND_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_RX_RELEASE_32,
  FFA_RXTX_MAP_32,
  FFA_RXTX_MAP_64,
  FFA_RXTX_UNMAP_32,
  FFA_VERSION_32,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import { FFA_OPTEE_ID, FFA_SP2_ID, OPTEE_UUID_WORDS, SP2_UUID_WORDS } from "../../firmware/spmc/endpoint.ts";
import { COMPOSITE_SIZE, CONSTITUENT_SIZE, mtdHeaderSize, emadSize } from "../../abi/ffa/layout.ts";
import {
  encodeMsgArg,
  msgArg,
  OPTEE_MSG_ARG_HEADER_SIZE,
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  optee_msg_get_arg_size,
  valueParam,
  OPTEE_FFA_ENABLE_ASYNC_NOTIF,
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE,
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_YIELDING_CALL_RESUME,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  optee_ffa_yielding_call,
} from "../../abi/optee/index.ts";
import {
  MOBJ_USE_CASE_NS_SHM,
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_TRUSTED_UI,
} from "../../abi/optee/protmem.ts";
import type { RandomStream } from "../../sim/prng.ts";
import { copyBytes, newBytes } from "./bytes.ts";
import {
  constituentFields,
  mtdFields,
  readField,
  regs,
  RELINQUISH_FIELDS,
  writeField,
  HANDLE_SLOT,
  type Field,
  type FuzzCall,
  type HandleAt,
} from "./calls.ts";
import {
  CALLER_IDS,
  FUZZ_DRAM_BASE,
  FUZZ_DRAM_SIZE,
  FUZZ_NS_POOL,
  FUZZ_NWD_RX,
  FUZZ_NWD_TX,
  FUZZ_SECURE_BASE,
  FUZZ_SECURE_SIZE,
  type FuzzCaller,
} from "./rig.ts";

const PAGE = 4096;
/** Permissions: data RW, instruction NX (a single borrower's retrieve must say NX or X). */
const RW_NX = FFA_MEM_RW | (1 << 2);
/** OP-TEE's and sp2's own memory under Hafnium (halves of the carveout, firmware/boot.ts), past their buffers. */
const SP_POOL: Readonly<Record<FuzzCaller, number>> = {
  normal: FUZZ_NS_POOL,
  optee: FUZZ_SECURE_BASE + 0x1_0000,
  sp2: FUZZ_SECURE_BASE + FUZZ_SECURE_SIZE / 2 + 0x1_0000,
};

export type ShareKind = "lend" | "share" | "donate";

/** A transaction a call sent: what a retrieve, relinquish or reclaim of it must say. */
export interface Txn {
  readonly func: ShareKind;
  readonly by: FuzzCaller;
  readonly receivers: readonly FuzzCaller[];
  readonly tag: bigint;
  readonly attributes: number;
  readonly pages: readonly { address: number; pages: number }[];
  /** The call whose reply carries the handle. */
  readonly ref: number;
}

/** A setup state and what the cases built on it can refer to. */
export interface Base {
  readonly name: string;
  /** The normal world's negotiated version (FFA_VERSION at probe). */
  readonly version: FfaVersion;
  /**
   * The partitions' FF-A version: what their manifests declare, negotiated at boot (Hafnium: each
   * partition's FFA_VERSION, then FFA_RXTX_MAP, which locks it). Their descriptors use its layout.
   */
  readonly spVersion: FfaVersion;
  readonly calls: readonly FuzzCall[];
  /** Completed (or, under a flavor that refused them, attempted) transactions. */
  readonly sent: readonly Txn[];
  /** A fragmented send waiting for FRAG_TX: the bytes still to come. */
  readonly pending: { readonly txn: Txn; readonly rest: Uint8Array } | null;
  /** A retrieve whose response has more fragments: the retrieve call (its w2 is the next offset). */
  readonly retrieving: { readonly txn: Txn; readonly by: FuzzCaller; readonly call: number } | null;
  /** A reclaimed transaction (its handle is stale). */
  readonly stale: Txn | null;
  /** A transaction whose object OP-TEE's core holds (mobj_ffa_get_by_cookie(); OP-TEE at S-EL1). */
  readonly held: Txn | null;
}

/** One mutation, as data. */
export type Mutation =
  | { readonly k: "field"; readonly call: number; readonly field: string; readonly value: bigint }
  | { readonly k: "reg"; readonly call: number; readonly i: number; readonly value: bigint }
  | { readonly k: "fid"; readonly call: number; readonly fid: number }
  | { readonly k: "by"; readonly call: number; readonly by: FuzzCaller }
  | { readonly k: "handle"; readonly call: number; readonly xor: bigint; readonly from?: number }
  | { readonly k: "tx-length"; readonly call: number; readonly length: number }
  | { readonly k: "byte"; readonly call: number; readonly off: number; readonly value: number };

/** An action: a valid call (or two, for a fragmented send) in the state it runs in. */
export interface Action {
  readonly what: string;
  readonly calls: readonly FuzzCall[];
  /** Each call's descriptor fields (mutation targets). */
  readonly fields: readonly (readonly Field[])[];
  /** The transaction a send action makes (its last call's reply carries the handle). */
  readonly sends?: Omit<Txn, "ref">;
  /**
   * An event of OP-TEE's core on this transaction's object: it takes a reference, or (`put`) drops
   * one; `none`: neither (an unregister).
   */
  readonly holds?: { readonly txn: Txn; readonly put: boolean; readonly none?: true };
  /** In how many of 10 cases the action is mutated (default 8); OP-TEE's messages vary their own fields. */
  readonly mutated?: number;
}

export interface CaseSpec {
  readonly base: number;
  readonly actions: readonly Action[];
  readonly mutations: readonly (readonly Mutation[])[];
}

// ---- descriptors ----

function sendFid(func: ShareKind, wide: boolean): number {
  if (func === "lend") return wide ? FFA_MEM_LEND_64 : FFA_MEM_LEND_32;
  if (func === "share") return wide ? FFA_MEM_SHARE_64 : FFA_MEM_SHARE_32;
  return wide ? FFA_MEM_DONATE_64 : FFA_MEM_DONATE_32;
}

function typeFlag(func: ShareKind): number {
  return func === "share"
    ? FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE
    : func === "lend"
      ? FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND
      : FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE;
}

const sendTemplates = new Map<number | string, Uint8Array>();
const SHAPE_FUNCS: readonly ShareKind[] = ["lend", "share", "donate"];
const SHAPE_CALLERS: readonly FuzzCaller[] = ["normal", "optee", "sp2"];
const SHAPE_VERSIONS: readonly FfaVersion[] = ["1.0", "1.1", "1.2"];

/**
 * A send descriptor's shape as one number (function, sender, receivers in order, version, attributes,
 * tag, constituent count — each in its own digit), or a string for shapes outside those digits: no
 * string is built for the shapes the generator draws, case after case.
 */
function sendShapeKey(t: Omit<Txn, "ref">, version: FfaVersion): number | string {
  const n = t.pages.length;
  let receivers = 0;
  for (const r of t.receivers) receivers = receivers * 4 + SHAPE_CALLERS.indexOf(r) + 1;
  const v = SHAPE_VERSIONS.indexOf(version);
  if (t.receivers.length > 3 || v < 0 || t.attributes >>> 16 !== 0 || t.tag > 3n || t.tag < 0n || n >= 64)
    return `${t.func}|${t.by}|${t.receivers.join("+")}|${version}|${t.attributes}|${t.tag}|${n}`;
  const shape = (receivers * 3 + SHAPE_FUNCS.indexOf(t.func)) * 3 + SHAPE_CALLERS.indexOf(t.by);
  return (((shape * 4 + v) * 65536 + t.attributes) * 4 + Number(t.tag)) * 64 + n;
}

/**
 * The send descriptor of `t` in `version`. Encoded once per shape (function, sender, receivers,
 * attributes, tag, constituent count) with the codec; each call copies the template and writes the
 * constituents and the composite's page count.
 */
function sendDescriptor(t: Omit<Txn, "ref">, version: FfaVersion): Uint8Array {
  const n = t.pages.length;
  const key = sendShapeKey(t, version);
  let tpl = sendTemplates.get(key);
  if (!tpl) {
    const emads = [];
    for (const r of t.receivers)
      emads.push({ receiver_id: CALLER_IDS[r], permissions: t.func === "donate" ? 0 : FFA_MEM_RW });
    const constituents = [];
    for (let i = 0; i < n; i++) constituents.push({ address: 0n, page_count: 0 });
    tpl = encodeMemRegion(
      { sender_id: CALLER_IDS[t.by], attributes: t.attributes, flags: 0, tag: t.tag, emads, constituents },
      version,
    );
    sendTemplates.set(key, tpl);
  }
  const out = copyBytes(tpl);
  const d = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const comp = mtdHeaderSize(version) + t.receivers.length * emadSize(version);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const at = comp + COMPOSITE_SIZE + i * CONSTITUENT_SIZE;
    d.setBigUint64(at, BigInt(t.pages[i].address), true);
    d.setUint32(at + 8, t.pages[i].pages, true);
    total += t.pages[i].pages;
  }
  d.setUint32(comp, total, true);
  return out;
}

/** The transaction's natural attributes: Normal WB inner-shareable for a share or a multi-borrower lend. */
function attributesFor(func: ShareKind, receivers: number): number {
  return func === "share" || (func === "lend" && receivers > 1) ? FFA_NORMAL_MEM_REG_ATTR : 0;
}

const retrieveTemplates = new Map<string, Uint8Array>();

/** A retrieve request for `t`, as a partition writes it (handle patched at offset 8). Memoized per shape. */
function retrieveDescriptor(t: Txn, version: FfaVersion): Uint8Array {
  const key = `${t.func}|${t.by}|${t.receivers.join("+")}|${t.tag}|${version}`;
  let d = retrieveTemplates.get(key);
  if (d) return d;
  const single = t.receivers.length === 1 && t.func !== "share";
  const emads = [];
  for (const r of t.receivers)
    emads.push({ receiver_id: CALLER_IDS[r], permissions: single ? RW_NX : FFA_MEM_RW });
  d = encodeMemRegion(
    {
      sender_id: CALLER_IDS[t.by],
      attributes: t.func === "share" || t.receivers.length > 1 ? FFA_NORMAL_MEM_REG_ATTR : 0,
      flags: typeFlag(t.func),
      handle: 0n,
      tag: t.tag,
      emads,
      constituents: null,
    },
    version,
  );
  retrieveTemplates.set(key, d);
  return d;
}

/** The layout a caller writes its descriptors in: the normal world's version, or the partitions'. */
function versionOf(by: FuzzCaller, nwd: FfaVersion, sp: FfaVersion): FfaVersion {
  return by === "normal" ? nwd : sp;
}

function call(
  by: FuzzCaller,
  x: bigint[],
  tx: Uint8Array | null = null,
  handle: FuzzCall["handle"] = null,
): FuzzCall {
  return { by, x, tx, handle };
}

// ---- bases ----

/** Every first fragment fits the 4 KiB mailbox: header, EMADs, composite and as many constituents as fit. */
function firstFragmentLength(desc: Uint8Array, version: FfaVersion, emads: number): number {
  const head = mtdHeaderSize(version) + emads * emadSize(version) + COMPOSITE_SIZE;
  const room = Math.floor((PAGE - head) / CONSTITUENT_SIZE);
  return Math.min(desc.length, head + room * CONSTITUENT_SIZE);
}

function pool(
  by: FuzzCaller,
  firstPage: number,
  count: number,
  stride = 1,
): { address: number; pages: number }[] {
  const out: { address: number; pages: number }[] = [];
  for (let i = 0; i < count; i++)
    out.push({ address: SP_POOL[by] + (firstPage + i * stride) * PAGE, pages: 1 });
  return out;
}

/** Builds the bases every run starts its cases from (the same list for every flavor). */
export function buildBases(): Base[] {
  const out: Base[] = [];
  const mk = (
    name: string,
    version: FfaVersion,
    f: (calls: FuzzCall[]) => Partial<Omit<Base, "name" | "version" | "calls">>,
    spVersion: FfaVersion = "1.2",
  ) => {
    const calls: FuzzCall[] = [];
    const roles = f(calls);
    out.push({
      name,
      version,
      spVersion,
      calls,
      sent: roles.sent ?? [],
      pending: roles.pending ?? null,
      retrieving: roles.retrieving ?? null,
      stale: roles.stale ?? null,
      held: roles.held ?? null,
    });
  };
  const send = (calls: FuzzCall[], t: Omit<Txn, "ref">, version: FfaVersion, sp: FfaVersion = "1.2"): Txn => {
    const d = sendDescriptor(t, versionOf(t.by, version, sp));
    calls.push(call(t.by, regs(sendFid(t.func, false), d.length, d.length), d));
    return withRef(t, calls.length - 1);
  };
  const retrieve = (calls: FuzzCall[], t: Txn, by: FuzzCaller, sp: FfaVersion = "1.2") => {
    const d = retrieveDescriptor(t, versionOf(by, "1.2", sp));
    calls.push(
      call(by, regs(FFA_MEM_RETRIEVE_REQ_32, d.length, d.length), d, { from: t.ref, xor: 0n, at: "tx8" }),
    );
    return calls.length - 1;
  };
  /** The normal world's lend of `pages` to OP-TEE. */
  const lendOpteeOf = (pages: { address: number; pages: number }[]): Omit<Txn, "ref"> => ({
    func: "lend",
    by: "normal",
    receivers: ["optee"],
    tag: 1n,
    attributes: 0,
    pages,
  });
  const lendOptee = (pages: number, firstPage: number): Omit<Txn, "ref"> =>
    lendOpteeOf([{ address: FUZZ_NS_POOL + firstPage * PAGE, pages }]);
  /** The normal world's share with `receivers` (Normal memory, as Linux's ffa_memory_share() sends it). */
  const shareWith = (receivers: Txn["receivers"], pages: Txn["pages"]): Omit<Txn, "ref"> => ({
    func: "share",
    by: "normal",
    receivers,
    tag: 0n,
    attributes: FFA_NORMAL_MEM_REG_ATTR,
    pages,
  });
  for (const v of ["1.0", "1.1", "1.2"] as const) {
    mk(`boot@${v}`, v, () => ({}));
    mk(`lend@${v}`, v, (c) => ({ sent: [send(c, lendOptee(4, 0), v)] }));
    mk(`frag@${v}`, v, (c) => {
      const t: Omit<Txn, "ref"> = lendOpteeOf(pool("normal", 16, 300, 2));
      const d = sendDescriptor(t, v);
      const first = firstFragmentLength(d, v, 1);
      c.push(call("normal", regs(FFA_MEM_LEND_32, d.length, first), d.subarray(0, first)));
      return { pending: { txn: withRef(t, 0), rest: d.slice(first) } };
    });
  }
  mk("share@1.2", "1.2", (c) => ({
    sent: [send(c, shareWith(["optee"], pool("normal", 8, 2)), "1.2")],
  }));
  // What Linux's optee driver holds once it lent protected memory: the page its messages live in,
  // shared with OP-TEE (OPTEE_SHM_ARG_SHARED), and a lend tagged with the use case (secure video),
  // not yet assigned — the state OPTEE_MSG_CMD_ASSIGN_PROTMEM runs in.
  mk("share-lend@1.2", "1.2", (c) => ({
    sent: [send(c, shareWith(["optee"], pool("normal", 40, 1)), "1.2"), send(c, lendOptee(4, 44), "1.2")],
  }));
  mk("share-two@1.2", "1.2", (c) => ({
    sent: [send(c, shareWith(["optee", "sp2"], pool("normal", 10, 2)), "1.2")],
  }));
  mk("donate@1.2", "1.2", (c) => ({
    sent: [
      send(
        c,
        {
          func: "donate",
          by: "normal",
          receivers: ["optee"],
          tag: 0n,
          attributes: 0,
          pages: pool("normal", 12, 1),
        },
        "1.2",
      ),
    ],
  }));
  mk("retrieved@1.2", "1.2", (c) => {
    const t = send(c, lendOptee(4, 0), "1.2");
    retrieve(c, t, "optee");
    c.push(call("optee", regs(FFA_RX_RELEASE_32)));
    return { sent: [t] };
  });
  mk("retrieving@1.2", "1.2", (c) => {
    const t0: Omit<Txn, "ref"> = lendOpteeOf(pool("normal", 16, 300, 2));
    const d = sendDescriptor(t0, "1.2");
    const first = firstFragmentLength(d, "1.2", 1);
    c.push(call("normal", regs(FFA_MEM_LEND_32, d.length, first), d.subarray(0, first)));
    c.push(
      call("normal", regs(FFA_MEM_FRAG_TX_32, 0, 0, d.length - first), d.slice(first), {
        from: 0,
        xor: 0n,
        at: "w1",
      }),
    );
    const t: Txn = withRef(t0, 1);
    const r = retrieve(c, t, "optee");
    c.push(call("optee", regs(FFA_RX_RELEASE_32)));
    return { sent: [t], retrieving: { txn: t, by: "optee", call: r } };
  });
  mk("relinquished@1.2", "1.2", (c) => {
    const t = send(c, lendOptee(4, 0), "1.2");
    retrieve(c, t, "optee");
    c.push(call("optee", regs(FFA_RX_RELEASE_32)));
    c.push(
      call(
        "optee",
        regs(FFA_MEM_RELINQUISH_32),
        encodeRelinquish({ handle: 0n, endpoints: [CALLER_IDS.optee] }),
        { from: t.ref, xor: 0n, at: "tx0" },
      ),
    );
    return { sent: [t] };
  });
  mk("reclaimed@1.2", "1.2", (c) => {
    const t = send(c, lendOptee(4, 0), "1.2");
    c.push(call("normal", regs(FFA_MEM_RECLAIM_32), null, { from: t.ref, xor: 0n, at: "w1" }));
    return { stale: t };
  });
  mk("sp-lend@1.2", "1.2", (c) => {
    const t = send(
      c,
      { func: "lend", by: "optee", receivers: ["sp2"], tag: 0n, attributes: 0, pages: pool("optee", 0, 2) },
      "1.2",
    );
    retrieve(c, t, "sp2");
    c.push(call("sp2", regs(FFA_RX_RELEASE_32)));
    return { sent: [t] };
  });
  // The share-state table full: Hafnium MAX_MEM_SHARES = 100 lends of one page each (OP-TEE's 64
  // cookies run out on the way: its later lends answer NO_MEMORY).
  mk("table-full@1.2", "1.2", (c) => {
    const sent: Txn[] = [];
    for (let i = 0; i < 100; i++) sent.push(send(c, lendOptee(1, 660 + i), "1.2"));
    return { sent: [sent[0], sent[63], sent[99]] };
  });
  // A send in its 20th fragment (Hafnium MAX_FRAGMENTS = 20): one constituent per FRAG_TX, five to go.
  mk("frag-20@1.2", "1.2", (c) => {
    const t: Omit<Txn, "ref"> = lendOpteeOf(pool("normal", 620, 25, 2));
    const d = sendDescriptor(t, "1.2");
    const head = mtdHeaderSize("1.2") + emadSize("1.2") + COMPOSITE_SIZE + CONSTITUENT_SIZE;
    c.push(call("normal", regs(FFA_MEM_LEND_32, d.length, head), d.subarray(0, head)));
    for (let k = 0; k < 19; k++) {
      const at = head + k * CONSTITUENT_SIZE;
      c.push(
        call("normal", regs(FFA_MEM_FRAG_TX_32, 0, 0, CONSTITUENT_SIZE), d.slice(at, at + CONSTITUENT_SIZE), {
          from: 0,
          xor: 0n,
          at: "w1",
        }),
      );
    }
    return { pending: { txn: withRef(t, 0), rest: d.slice(head + 19 * CONSTITUENT_SIZE) } };
  });
  // Partitions at v1.0 and v1.1 (their manifests' version): they send, retrieve and relinquish with
  // descriptors in that layout (v1.0: 32-byte header, 16-byte EMADs; v1.1: 48-byte header, 16-byte
  // EMADs — reference/ffa.md §3.1-3.3), and get retrieve responses in it.
  for (const sp of ["1.0", "1.1"] as const) {
    mk(`boot@sp${sp}`, "1.2", () => ({}), sp);
    mk(
      `sp-lend@sp${sp}`,
      "1.2",
      (c) => {
        const t = send(
          c,
          {
            func: "lend",
            by: "optee",
            receivers: ["sp2"],
            tag: 0n,
            attributes: 0,
            pages: pool("optee", 0, 2),
          },
          "1.2",
          sp,
        );
        retrieve(c, t, "sp2", sp);
        c.push(call("sp2", regs(FFA_RX_RELEASE_32)));
        return { sent: [t] };
      },
      sp,
    );
    mk(
      `retrieved@sp${sp}`,
      "1.2",
      (c) => {
        const t = send(c, lendOptee(4, 0), "1.2", sp);
        retrieve(c, t, "optee", sp);
        c.push(call("optee", regs(FFA_RX_RELEASE_32)));
        return { sent: [t] };
      },
      sp,
    );
  }
  // OP-TEE's core holds the object of a lend (a yielding call with a memref on the cookie took it, and
  // a TA keeps it): OP-TEE at S-EL1 answers the normal world's reclaim DENIED ("cookie busy").
  mk("held@1.2", "1.2", (c) => {
    const t = send(c, lendOptee(4, 0), "1.2");
    c.push(opteeEvent("mobj-get", t.ref));
    return { sent: [t], held: t };
  });
  return out;
}

/**
 * An event of OP-TEE's own core on the object of the send answered by call `ref`, not an FF-A call:
 * mobj_ffa_get_by_cookie() (OP-TEE starts using the object: a yielding call's memref, a TA's
 * registered shared memory; the first one registers the cookie), mobj_put() (it stops), or
 * mobj_ffa_unregister_by_cookie() (the normal world's OPTEE_FFA_UNREGISTER_SHM, which Linux sends
 * before it reclaims). Only OP-TEE at S-EL1 has such objects (under Hafnium, OP-TEE retrieves
 * instead); a harness reproduces it through OP-TEE's own entry points.
 */
export function opteeEvent(kind: NonNullable<FuzzCall["internal"]>, ref: number): FuzzCall {
  return {
    by: "optee",
    x: regs(0),
    tx: null,
    handle: { from: ref, xor: 0n, at: "w1" },
    internal: kind,
    only: "optee-sel1",
  };
}

// ---- actions ----

/** The field map of a one-call action with no descriptor (shared: nothing writes it). */
const NO_FIELDS: readonly (readonly Field[])[] = [[]];
const NO_FIELDS_3: readonly (readonly Field[])[] = [[], [], []];

const CALLERS: readonly FuzzCaller[] = ["normal", "optee", "sp2"];
const SECURE_CALLERS: readonly FuzzCaller[] = ["optee", "sp2"];
const FUNCS: readonly ShareKind[] = ["lend", "lend", "share", "donate"];
/** The partitions a sender may send to: every partition but itself. */
const RECEIVERS_OF: Readonly<Record<FuzzCaller, readonly FuzzCaller[]>> = {
  normal: ["optee", "sp2"],
  optee: ["sp2"],
  sp2: ["optee"],
};
const VERSIONS_ASKED = [0x1_0000, 0x1_0001, 0x1_0002, 0x1_0003, 0x2_0000, 0x8000_0000, 0x1_ffff];

/** Picks a valid action for the state: base roles plus what earlier actions of the case sent. */
export function pickAction(
  rnd: RandomStream,
  base: Base,
  sent: readonly Txn[],
  at: number,
  held: readonly Txn[] = [],
): Action {
  const v = base.version;
  const roll = rnd.int(0, 99);
  const anySent = sent.length > 0 ? rnd.pick(sent) : null;
  if (base.pending && roll < 25) {
    const p = base.pending;
    const n = Math.max(CONSTITUENT_SIZE, p.rest.length);
    return {
      what: "FRAG_TX (the pending send's rest)",
      calls: [
        call("normal", regs(FFA_MEM_FRAG_TX_32, 0, 0, n), p.rest, { from: p.txn.ref, xor: 0n, at: "w1" }),
      ],
      fields: [constituentFields(Math.floor(p.rest.length / CONSTITUENT_SIZE))],
    };
  }
  if (base.retrieving && roll < 45) {
    const r = base.retrieving;
    return {
      what: `FRAG_RX by ${r.by}`,
      calls: [
        {
          ...call(r.by, regs(FFA_MEM_FRAG_RX_32), null, { from: r.txn.ref, xor: 0n, at: "w1" }),
          offsetFrom: r.call,
        },
      ],
      fields: NO_FIELDS,
    };
  }
  if (roll >= 92) return controlAction(rnd);
  if (roll >= 84) return opteeMessageAction(rnd, base, sent, held);
  if (roll < 40 || anySent === null) return sendAction(rnd, v, base.spVersion, sent, at);
  const t = anySent;
  const kind = rnd.int(0, 9);
  if (kind === 9 && rnd.int(0, 2) === 0) {
    // OP-TEE's core starts or stops using an object, or the normal world unregisters it (OP-TEE at
    // S-EL1; Hafnium skips the event): a put only of what the state holds, as OP-TEE never drops a
    // reference it did not take.
    const e = rnd.int(0, 2);
    if (e === 0 && held.length > 0) {
      const h = rnd.pick(held);
      return {
        what: `OP-TEE drops its hold on ${h.func}`,
        calls: [opteeEvent("mobj-put", h.ref)],
        fields: NO_FIELDS,
        holds: { txn: h, put: true },
      };
    }
    if (e === 1)
      return {
        what: `OPTEE_FFA_UNREGISTER_SHM of ${t.func}`,
        calls: [opteeEvent("mobj-unregister", t.ref)],
        fields: NO_FIELDS,
        holds: { txn: t, put: false, none: true },
      };
    return {
      what: `OP-TEE holds ${t.func}`,
      calls: [opteeEvent("mobj-get", t.ref)],
      fields: NO_FIELDS,
      holds: { txn: t, put: false },
    };
  }
  if (kind < 4 && rnd.int(0, 9) === 0) {
    // The hypervisor's form (tf-a-tests ffa_hypervisor_retrieve_request_init()): no EMADs, every field
    // but the handle zero — the whole transaction, from the normal world.
    const d = new Uint8Array(mtdHeaderSize(v));
    return {
      what: "RETRIEVE_REQ by normal (hypervisor form)",
      calls: [
        call("normal", regs(FFA_MEM_RETRIEVE_REQ_32, d.length, d.length), d, {
          from: t.ref,
          xor: 0n,
          at: "tx8",
        }),
      ],
      fields: [mtdFields(v, 0, null)],
    };
  }
  if (kind < 4) {
    const by = rnd.int(0, 4) === 0 ? rnd.pick(CALLERS) : t.receivers[rnd.int(0, t.receivers.length - 1)];
    const d = retrieveDescriptor(t, versionOf(by, v, base.spVersion));
    const wide = rnd.int(0, 3) === 0;
    return {
      what: `RETRIEVE_REQ by ${by} of ${t.func}`,
      calls: [
        call(by, regs(wide ? FFA_MEM_RETRIEVE_REQ_64 : FFA_MEM_RETRIEVE_REQ_32, d.length, d.length), d, {
          from: t.ref,
          xor: 0n,
          at: "tx8",
        }),
      ],
      fields: [mtdFields(versionOf(by, v, base.spVersion), t.receivers.length, null)],
    };
  }
  if (kind < 6) {
    const by = rnd.int(0, 4) === 0 ? rnd.pick(CALLERS) : t.receivers[0];
    return {
      what: `RELINQUISH by ${by}`,
      calls: [
        call(by, regs(FFA_MEM_RELINQUISH_32), encodeRelinquish({ handle: 0n, endpoints: [CALLER_IDS[by]] }), {
          from: t.ref,
          xor: 0n,
          at: "tx0",
        }),
      ],
      fields: [RELINQUISH_FIELDS],
    };
  }
  if (kind < 9) {
    const by = rnd.int(0, 4) === 0 ? rnd.pick(CALLERS) : t.by;
    return {
      what: `RECLAIM by ${by}`,
      calls: [
        call(by, regs(FFA_MEM_RECLAIM_32, 0, 0, rnd.int(0, 5) === 0 ? 1 : 0), null, {
          from: t.ref,
          xor: 0n,
          at: "w1",
        }),
      ],
      fields: NO_FIELDS,
    };
  }
  const by = rnd.pick(CALLERS);
  return { what: `RX_RELEASE by ${by}`, calls: [call(by, regs(FFA_RX_RELEASE_32))], fields: NO_FIELDS };
}

// ---- OP-TEE's own messages ----

/**
 * Function IDs next to OP-TEE's that optee_os 4.9 does not define (core/arch/arm/include/optee_ffa.h
 * assigns blocking 0, 1, 2, 3, 5, 8 and yielding 0, 1): the gaps 4, 6, 7, the next one, the last
 * blocking ID, yielding 2 and the last yielding ID.
 */
const OPTEE_UNDEFINED_IDS = [
  4,
  6,
  7,
  9,
  0x7fff_ffff,
  optee_ffa_yielding_call(2),
  optee_ffa_yielding_call(0x7fff_ffff),
];
/** OPTEE_FFA_ENABLE_ASYNC_NOTIF's w4 (the bottom half's notification ID): valid, last valid, first invalid, all ones. */
const NOTIF_VALUES = [
  0,
  1,
  OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE - 1,
  OPTEE_FFA_MAX_ASYNC_NOTIF_VALUE,
  0xffff_ffff,
];
/** Cookies nobody was given: zero, OP-TEE's first cookie number, all ones, Hafnium's first handle. */
const UNKNOWN_COOKIES = [0n, 1n, 0xffff_ffff_ffff_ffffn, 1n << 63n];

/**
 * A message to OP-TEE itself over FF-A, as Linux's optee driver sends them (drivers/tee/optee/ffa_abi.c,
 * modelled in kernel/optee/ffa_abi.ts): FFA_MSG_SEND_DIRECT_REQ_32 (mode_32bit_set()) from the normal
 * world to 0x8001, the OPTEE_FFA_* function ID in w3 and its arguments in w4..w7 (optee_ffa.h) —
 * GET_API_VERSION, GET_OS_VERSION, EXCHANGE_CAPABILITIES, ENABLE_ASYNC_NOTIF (a notification ID in w4),
 * UNREGISTER_SHM and RELEASE_PROTMEM (a cookie in w4/w5: a live transaction's, one OP-TEE's core holds,
 * a reclaimed one, a neighbour of a live one, or one nobody was given), YIELDING_CALL_WITH_ARG (a cookie
 * and, in w6, an offset at which the message does not fit: OP-TEE finds the object and refuses the
 * arg before tee_entry_std() runs — never a message read from or written to the page, so cases stay
 * independent of each other), YIELDING_CALL_RESUME (no thread is suspended), and undefined IDs. Now and
 * then the 64-bit form (with x3's upper half set, which OP-TEE's 64-bit `switch (args->a3)` sees), the
 * unused registers w5..w7 non-zero (OP-TEE ignores them), or sp2 as the sender (Hafnium only).
 */
function opteeMessageAction(
  rnd: RandomStream,
  base: Base,
  sent: readonly Txn[],
  held: readonly Txn[],
): Action {
  const by: FuzzCaller = rnd.int(0, 7) === 0 ? "sp2" : "normal";
  const wide = rnd.int(0, 3) === 0;
  const x = regs(
    wide ? FFA_MSG_SEND_DIRECT_REQ_64 : FFA_MSG_SEND_DIRECT_REQ_32,
    (CALLER_IDS[by] << 16) | FFA_OPTEE_ID,
  );
  let handle: FuzzCall["handle"] = null;
  let target = "";
  /** Puts a cookie in w4/w5: returns the transaction it is the cookie of, if any. */
  const cookie = (): Txn | null => {
    const r = rnd.int(0, 99);
    const busy = held.length > 0 ? rnd.pick(held) : base.held;
    const live = sent.length > 0 ? rnd.pick(sent) : null;
    if (r < 30 && busy) {
      handle = { from: busy.ref, xor: 0n, at: "w4" };
      target = `held ${busy.func}`;
      return busy;
    }
    if (r < 65 && live) {
      handle = { from: live.ref, xor: 0n, at: "w4" };
      target = `live ${live.func}`;
      return live;
    }
    if (r < 75 && base.stale) {
      handle = { from: base.stale.ref, xor: 0n, at: "w4" };
      target = "reclaimed";
      return base.stale;
    }
    if (r < 88 && live) {
      handle = { from: live.ref, xor: rnd.pick(HANDLE_XORS), at: "w4" };
      target = "neighbour";
      return null;
    }
    const c = rnd.pick(UNKNOWN_COOKIES);
    x[4] = c & 0xffff_ffffn;
    x[5] = c >> 32n;
    target = `unknown 0x${c.toString(16)}`;
    return null;
  };
  let what: string;
  const kind = rnd.int(0, 13);
  let used = 4;
  const arena =
    kind === 13
      ? sent.find((t) => t.func === "share" && t.by === "normal" && t.receivers.includes("optee"))
      : undefined;
  if (arena) return assignProtmemAction(rnd, by, arena, sent);
  if (kind === 12) {
    // OP-TEE uses the object (a yielding call's mobj_ffa_get_by_cookie() registers the cookie: S-EL1;
    // retrieves it: under Hafnium), then the normal world unregisters it twice: released, then already
    // released (TEE_ERROR_ITEM_NOT_FOUND, answered as 0).
    const t = cookie();
    const size = t ? t.pages.reduce((n, r) => n + r.pages, 0) * PAGE : PAGE;
    const h = handle as FuzzCall["handle"];
    const use = regs(FFA_MSG_SEND_DIRECT_REQ_32, x[1], 0, OPTEE_FFA_YIELDING_CALL_WITH_ARG, x[4], x[5], size);
    const unregister = regs(FFA_MSG_SEND_DIRECT_REQ_32, x[1], 0, OPTEE_FFA_UNREGISTER_SHM, x[4], x[5]);
    return {
      what: `OPTEE_FFA_YIELDING_CALL_WITH_ARG, then OPTEE_FFA_UNREGISTER_SHM twice, of ${target} by ${by}`,
      calls: [call(by, use, null, h), call(by, unregister, null, h), call(by, unregister.slice(), null, h)],
      fields: NO_FIELDS_3,
      mutated: 5,
    };
  }
  if (kind === 0) {
    x[3] = BigInt(OPTEE_FFA_GET_API_VERSION);
    what = "OPTEE_FFA_GET_API_VERSION";
    used = 3;
  } else if (kind === 1) {
    x[3] = BigInt(OPTEE_FFA_GET_OS_VERSION);
    what = "OPTEE_FFA_GET_OS_VERSION";
    used = 3;
  } else if (kind === 2) {
    x[3] = BigInt(OPTEE_FFA_EXCHANGE_CAPABILITIES);
    what = "OPTEE_FFA_EXCHANGE_CAPABILITIES";
    used = 3;
  } else if (kind === 3) {
    x[3] = BigInt(OPTEE_FFA_ENABLE_ASYNC_NOTIF);
    x[4] = BigInt(rnd.pick(NOTIF_VALUES));
    what = `OPTEE_FFA_ENABLE_ASYNC_NOTIF ${x[4]}`;
  } else if (kind < 7) {
    const protmem = kind === 6;
    x[3] = BigInt(protmem ? OPTEE_FFA_RELEASE_PROTMEM : OPTEE_FFA_UNREGISTER_SHM);
    cookie();
    what = `${protmem ? "OPTEE_FFA_RELEASE_PROTMEM" : "OPTEE_FFA_UNREGISTER_SHM"} of ${target}`;
    used = 5;
  } else if (kind < 9) {
    x[3] = BigInt(OPTEE_FFA_YIELDING_CALL_WITH_ARG);
    const t = cookie();
    // The arg's header (32 bytes) past the end, cut by the end, or followed by no room for the RPC arg
    // (OPTEE_MSG_GET_ARG_SIZE(THREAD_RPC_MAX_NUM_PARAMS) = 160 bytes): yielding_call_with_arg() refuses
    // each with TEE_ERROR_BAD_PARAMETERS after mobj_ffa_get_by_cookie() found the object.
    const size = t ? t.pages.reduce((n, r) => n + r.pages, 0) * PAGE : PAGE;
    x[6] = BigInt(rnd.pick([size, size - 8, size - 40, 0xffff_fff8]));
    what = `OPTEE_FFA_YIELDING_CALL_WITH_ARG of ${target} at offset 0x${x[6].toString(16)}`;
    used = 6;
  } else if (kind === 9) {
    // w4..w6 MBZ, w7 the RPC's result (optee_ffa.h): a thread ID nobody suspended.
    x[3] = BigInt(OPTEE_FFA_YIELDING_CALL_RESUME);
    x[7] = BigInt(rnd.pick([0, 1, 7, 0xffff_ffff]));
    what = "OPTEE_FFA_YIELDING_CALL_RESUME";
    used = 7;
  } else {
    const id = rnd.pick(OPTEE_UNDEFINED_IDS);
    x[3] = BigInt(id);
    what = `OP-TEE function 0x${id.toString(16)}`;
  }
  if (used < 7 && rnd.int(0, 3) === 0) {
    const i = rnd.int(used + 1, 7);
    x[i] = BigInt(rnd.u32() | 1);
    what += ` (w${i} = 0x${x[i].toString(16)})`;
  }
  if (wide && rnd.int(0, 2) === 0) {
    x[3] |= 1n << 32n;
    what += " (x3 bit 32)";
  }
  return {
    what: `${wide ? "64-bit " : ""}${what} by ${by}`,
    calls: [call(by, x, null, handle)],
    fields: NO_FIELDS,
    mutated: 5,
  };
}

/** OPTEE_MSG_CMD_ASSIGN_PROTMEM's use case (params[0].u.value.b): the lends' tag, the others, nonsense. */
const USE_CASES = [
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_TRUSTED_UI,
  MOBJ_USE_CASE_NS_SHM,
  3,
  0xffff_ffff,
];
/** The attribute of ASSIGN_PROTMEM's parameter: VALUE_INPUT, as Linux sends it, or another type. */
const ASSIGN_ATTRS = [
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
];
/** params[0].u.value.a in an optee_msg_arg: after the 32-byte header and the parameter's attr. */
const ARG_VALUE_A = OPTEE_MSG_ARG_HEADER_SIZE + 8;

/**
 * OPTEE_MSG_CMD_ASSIGN_PROTMEM as Linux's do_call_lend_protmem() sends it after lending (optee_ffa.c
 * → optee_ffa_do_call_with_arg()): an optee_msg_arg with one VALUE_INPUT parameter, value.a the lend's
 * cookie, value.b the use case, written at the start of memory the normal world shares with OP-TEE (the
 * `arena`, a share of the case's state), followed by room for the RPC arg
 * (OPTEE_MSG_GET_ARG_SIZE(THREAD_RPC_MAX_NUM_PARAMS)); YIELDING_CALL_WITH_ARG with the arena's cookie
 * in w4/w5 and offset 0 in w6. The cookie assigned is a live transaction's (a lend to OP-TEE, tagged with
 * its use case, or another), a reclaimed one, or one nobody was given; the use case that of the lend or
 * another; the parameter's type sometimes not VALUE_INPUT.
 */
function assignProtmemAction(rnd: RandomStream, by: FuzzCaller, arena: Txn, sent: readonly Txn[]): Action {
  const useCase = rnd.pick(USE_CASES);
  const attr = rnd.pick(ASSIGN_ATTRS);
  const arg = encodeMsgArg(msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(attr, 0n, useCase)]));
  const bytes = new Uint8Array(arg.length + optee_msg_get_arg_size(RPC_PARAMS));
  bytes.set(arg);
  const lends = sent.filter((t) => t.func === "lend" && t.by === "normal");
  const r = rnd.int(0, 9);
  let cookie: NonNullable<FuzzCall["shm"]>["cookie"] = null;
  let target: string;
  if (r < 6 && lends.length > 0) {
    const t = rnd.pick(lends);
    cookie = { from: t.ref, xor: 0n, off: ARG_VALUE_A };
    target = `lend (tag ${t.tag})`;
  } else if (r < 8 && sent.length > 0) {
    const t = rnd.pick(sent);
    cookie = { from: t.ref, xor: r === 7 ? rnd.pick(HANDLE_XORS) : 0n, off: ARG_VALUE_A };
    target = r === 7 ? `neighbour of ${t.func}` : t.func;
  } else {
    const c = rnd.pick(UNKNOWN_COOKIES);
    new DataView(bytes.buffer).setBigUint64(ARG_VALUE_A, c, true);
    target = `unknown 0x${c.toString(16)}`;
  }
  const x = regs(
    FFA_MSG_SEND_DIRECT_REQ_32,
    (CALLER_IDS[by] << 16) | FFA_OPTEE_ID,
    0,
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  );
  return {
    what:
      `OPTEE_MSG_CMD_ASSIGN_PROTMEM of ${target} for use case ${useCase}` +
      `${attr === OPTEE_MSG_ATTR_TYPE_VALUE_INPUT ? "" : ` (param type ${attr})`} by ${by}`,
    calls: [
      {
        ...call(by, x, null, { from: arena.ref, xor: 0n, at: "w4" }),
        shm: { pa: arena.pages[0].address, bytes, cookie },
      },
    ],
    fields: NO_FIELDS,
    mutated: 3,
  };
}
/** THREAD_RPC_MAX_NUM_PARAMS (optee_os core/include/kernel/thread.h): the RPC arg after the message. */
const RPC_PARAMS = 4;

/** FFA_FEATURES queries: interfaces each SPMC offers or not, feature IDs (NPI, SRI, MEI), nonsense. */
const FEATURE_QUERIES = [
  FFA_MEM_LEND_32,
  FFA_MEM_SHARE_64,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_FRAG_TX_32,
  FFA_RXTX_MAP_64,
  FFA_RXTX_UNMAP_32,
  FFA_VERSION_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_ERROR_32,
  0x8400_007f,
  0xc400_00ff,
  0x1,
  0x2,
  0x3,
  0x0,
  0xff,
];
/** UUIDs as four words: nil (every partition), OP-TEE's, sp2's, one nobody has. */
const UUIDS: readonly (readonly [number, number, number, number])[] = [
  [0, 0, 0, 0],
  OPTEE_UUID_WORDS,
  SP2_UUID_WORDS,
  [0x1234_5678, 0, 0, 1],
];

/**
 * A call outside memory management, from any endpoint: FFA_VERSION (a partition's too, after its
 * version is locked), FFA_FEATURES, FFA_ID_GET, FFA_PARTITION_INFO_GET (descriptors into RX, or the
 * count only) and its _REGS form, FFA_RXTX_MAP of the caller's own pages or others, FFA_RXTX_UNMAP.
 */
function controlAction(rnd: RandomStream): Action {
  const by: FuzzCaller = rnd.int(0, 2) === 0 ? rnd.pick(SECURE_CALLERS) : "normal";
  const one = (what: string, x: bigint[]): Action => ({
    what: `${what} by ${by}`,
    calls: [call(by, x)],
    fields: NO_FIELDS,
  });
  switch (rnd.int(0, 8)) {
    case 0: {
      const asked = rnd.pick(VERSIONS_ASKED);
      return one(`FFA_VERSION 0x${asked.toString(16)}`, regs(FFA_VERSION_32, asked));
    }
    case 1: {
      const id = rnd.pick(FEATURE_QUERIES);
      return one(
        `FFA_FEATURES 0x${id.toString(16)}`,
        regs(FFA_FEATURES_32, id, rnd.pick([0, 0, 1, 2, 0xffff_ffff])),
      );
    }
    case 2:
      return one("FFA_ID_GET", regs(FFA_ID_GET_32));
    case 3: {
      const u = rnd.pick(UUIDS);
      const flags = rnd.int(0, 2) === 0 ? 1 : 0;
      return one(
        `FFA_PARTITION_INFO_GET${flags ? " (count)" : ""}`,
        regs(FFA_PARTITION_INFO_GET_32, u[0], u[1], u[2], u[3], flags),
      );
    }
    case 4: {
      const u = rnd.pick(UUIDS);
      const lo = (BigInt(u[1] >>> 0) << 32n) | BigInt(u[0] >>> 0);
      const hi = (BigInt(u[3] >>> 0) << 32n) | BigInt(u[2] >>> 0);
      const x3 = BigInt(rnd.pick([0, 1, 2, 0x1_0000]));
      return one("FFA_PARTITION_INFO_GET_REGS", regs(FFA_PARTITION_INFO_GET_REGS_64, lo, hi, x3));
    }
    case 5: {
      const txPa = rnd.pick([FUZZ_NWD_TX, FUZZ_NS_POOL, SP_POOL[by], FUZZ_SECURE_BASE, FUZZ_NS_POOL + 0x800]);
      const pages = rnd.pick([1, 1, 0, 2, 64]);
      return one(
        "FFA_RXTX_MAP",
        regs(rnd.int(0, 1) ? FFA_RXTX_MAP_64 : FFA_RXTX_MAP_32, txPa, txPa + PAGE, pages),
      );
    }
    case 6:
      return one("FFA_RXTX_UNMAP", regs(FFA_RXTX_UNMAP_32, CALLER_IDS[by] << 16));
    case 7: {
      // A direct request from the caller (its own ID as the sender) to a partition, the normal world or
      // nobody, with a random payload: the SPMC's checks, then sp2's echo or OP-TEE's handling of a w3 that
      // is mostly no message of its own (opteeMessageAction() sends those).
      const to = rnd.pick([FFA_OPTEE_ID, FFA_SP2_ID, FFA_SP2_ID + 1, 0]);
      const wide = rnd.int(0, 1) === 1;
      return one(
        `FFA_MSG_SEND_DIRECT_REQ to 0x${to.toString(16)}`,
        regs(
          wide ? FFA_MSG_SEND_DIRECT_REQ_64 : FFA_MSG_SEND_DIRECT_REQ_32,
          (CALLER_IDS[by] << 16) | to,
          0,
          rnd.u32(),
          BigInt(rnd.u32()) << 32n,
          1,
        ),
      );
    }
    default:
      return notificationAction(rnd, by, one);
  }
}

/** VM IDs a notification call names: the normal world (0), a VM, a partition. */
const NOTIF_VMS = [0, 0, 1, 0x8001];
/** Notification bitmaps: one bit, the high half, every bit. */
const NOTIF_BITMAPS = [1n, 0x8000_0000_0000_0000n, 0xffff_ffff_ffff_ffffn];

/**
 * The notification interfaces (FF-A v1.1 §10): BITMAP_CREATE/DESTROY (the hypervisor's, for a VM),
 * BIND/UNBIND (a receiver's bitmap to a sender), SET, GET, INFO_GET — whichever the SPMC implements.
 */
function notificationAction(
  rnd: RandomStream,
  by: FuzzCaller,
  one: (what: string, x: bigint[]) => Action,
): Action {
  const vm = rnd.pick(NOTIF_VMS);
  const bitmap = rnd.pick(NOTIF_BITMAPS);
  const lo = bitmap & 0xffff_ffffn;
  const hi = bitmap >> 32n;
  const sender = rnd.pick([FFA_OPTEE_ID, FFA_SP2_ID, 0]);
  switch (rnd.int(0, 6)) {
    case 0:
      return one(
        `FFA_NOTIFICATION_BITMAP_CREATE vm 0x${vm.toString(16)}`,
        regs(FFA_NOTIFICATION_BITMAP_CREATE_32, vm, rnd.pick([1, 8, 0])),
      );
    case 1:
      return one(
        `FFA_NOTIFICATION_BITMAP_DESTROY vm 0x${vm.toString(16)}`,
        regs(FFA_NOTIFICATION_BITMAP_DESTROY_32, vm),
      );
    case 2:
      return one(
        "FFA_NOTIFICATION_BIND",
        regs(FFA_NOTIFICATION_BIND_32, (sender << 16) | vm, rnd.pick([0, 0, 1]), lo, hi),
      );
    case 3:
      return one("FFA_NOTIFICATION_UNBIND", regs(FFA_NOTIFICATION_UNBIND_32, (sender << 16) | vm, 0, lo, hi));
    case 4:
      return one("FFA_NOTIFICATION_SET", regs(FFA_NOTIFICATION_SET_32, (sender << 16) | vm, 0, lo, hi));
    case 5:
      return one("FFA_NOTIFICATION_GET", regs(FFA_NOTIFICATION_GET_32, vm, rnd.pick([1, 0, 0xf])));
    default:
      return one(
        "FFA_NOTIFICATION_INFO_GET",
        regs(rnd.int(0, 1) ? FFA_NOTIFICATION_INFO_GET_64 : FFA_NOTIFICATION_INFO_GET_32),
      );
  }
}

/** A fresh, valid send: function, sender, receivers, pages (sometimes the base's own), fragmented or not. */
function sendAction(
  rnd: RandomStream,
  nwd: FfaVersion,
  sp: FfaVersion,
  sent: readonly Txn[],
  at: number,
): Action {
  const func: ShareKind = rnd.pick(FUNCS);
  const by: FuzzCaller = rnd.int(0, 5) === 0 ? rnd.pick(SECURE_CALLERS) : "normal";
  const others = RECEIVERS_OF[by];
  const receivers: FuzzCaller[] =
    func !== "donate" && rnd.int(0, 3) === 0 && others.length > 1
      ? [...others]
      : [rnd.pick(others.length ? others : ["optee"])];
  const count = rnd.int(1, 3);
  let pages = pool(by, 64 + rnd.int(0, 150) * 4, count, 2);
  for (const p of pages) p.pages = rnd.int(1, 2);
  // Sometimes pages an earlier transaction already holds.
  if (sent.length > 0 && by === "normal" && rnd.int(0, 4) === 0) pages = [rnd.pick(sent).pages[0]];
  const t: Omit<Txn, "ref"> = {
    func,
    by,
    receivers,
    tag: func === "lend" ? 1n : 0n,
    attributes: attributesFor(func, receivers.length),
    pages,
  };
  const version = versionOf(by, nwd, sp);
  const d = sendDescriptor(t, version);
  const fid = sendFid(func, rnd.int(0, 3) === 0);
  const fields = mtdFields(version, receivers.length, pages.length);
  const head = mtdHeaderSize(version) + receivers.length * emadSize(version) + COMPOSITE_SIZE;
  if (pages.length > 1 && rnd.int(0, 3) === 0) {
    // Fragmented: the first fragment ends after the composite or after some constituents.
    const cut = head + rnd.int(0, pages.length - 1) * CONSTITUENT_SIZE;
    return {
      what: `${func} by ${by} to ${receivers.join("+")}, fragmented at ${cut}`,
      calls: [
        call(by, regs(fid, d.length, cut), d.subarray(0, cut)),
        call(by, regs(FFA_MEM_FRAG_TX_32, 0, 0, d.length - cut), d.slice(cut), {
          from: at,
          xor: 0n,
          at: "w1",
        }),
      ],
      fields: [firstFragmentFields(fields, cut), constituentFields((d.length - cut) / CONSTITUENT_SIZE)],
      sends: t,
    };
  }
  return {
    what: `${func} by ${by} to ${receivers.join("+")}`,
    calls: [call(by, regs(fid, d.length, d.length), d)],
    fields: [fields],
    sends: t,
  };
}

const cutMaps = new Map<readonly Field[], Map<number, readonly Field[]>>();

/** The fields of a descriptor that lie in its first `cut` bytes. Memoized. */
function firstFragmentFields(fields: readonly Field[], cut: number): readonly Field[] {
  let m = cutMaps.get(fields);
  if (!m) cutMaps.set(fields, (m = new Map()));
  let f = m.get(cut);
  if (!f) m.set(cut, (f = fields.filter((x) => x.off + x.size <= cut)));
  return f;
}

/** The transaction an action sent (for later actions to retrieve, relinquish, reclaim). */
export function txnOf(a: Action, at: number): Txn | null {
  const s = a.sends;
  if (!s) return null;
  return withRef(s, at + a.calls.length - 1);
}

/**
 * `t` with the call whose reply carries its handle. Field by field rather than a spread: every Txn,
 * the bases' and the cases', has one shape (a spread's differs, and code that sees both deoptimizes).
 */
function withRef(t: Omit<Txn, "ref">, ref: number): Txn {
  return {
    func: t.func,
    by: t.by,
    receivers: t.receivers,
    tag: t.tag,
    attributes: t.attributes,
    pages: t.pages,
    ref,
  };
}

// ---- mutations ----

const U64 = (1n << 64n) - 1n;

/** Values worth trying in a field of this kind (besides the original ± small steps). */
const STEPS = [1n, -1n, 16n, -16n, 4096n, -4096n];

function interesting(rnd: RandomStream, f: Field, orig: bigint): bigint {
  const pick = rnd.int(0, 9);
  if (pick < 3) return orig + rnd.pick(STEPS);
  if (pick === 3) return BigInt(rnd.u32()) | (f.size === 8 ? BigInt(rnd.u32()) << 32n : 0n);
  switch (f.kind) {
    case "id":
      return BigInt(rnd.pick([0, 1, 0x7fff, 0x8000, 0x8001, 0x8002, 0x8003, 0xffff]));
    case "perm":
      return BigInt(rnd.pick([0, 1, 2, 3, 4, 5, 6, 8, 0xa, 0xc, 0xff]));
    case "flags":
      return BigInt(
        rnd.pick([0, 1, 2, 3, 0x8, 0x10, 0x18, 0x20, 0x200, 0x400, 0x800, 0x2f, 0x40, 0x80, 0xffff_ffff]),
      );
    case "count":
      return BigInt(rnd.pick([0, 1, 2, 3, 16, 32, 48, 255, 256, 0xffff_ffff]));
    case "offset":
      return BigInt(rnd.pick([0, 8, 16, 32, 47, 48, 64, 80, 96, 4080, 4096, 0xffff_fff0]));
    case "pages":
      return BigInt(rnd.pick([0, 1, 2, 3, 0x7fff_ffff, 0x8_0000, 0xffff_ffff]));
    case "address":
      return (
        BigInt(
          rnd.pick([
            0,
            FUZZ_DRAM_BASE - PAGE,
            FUZZ_DRAM_BASE,
            FUZZ_NWD_TX,
            FUZZ_NWD_RX,
            FUZZ_NS_POOL,
            FUZZ_NS_POOL + 0x800,
            FUZZ_SECURE_BASE,
            FUZZ_SECURE_BASE + FUZZ_SECURE_SIZE / 2,
            FUZZ_DRAM_BASE + FUZZ_DRAM_SIZE - PAGE,
            FUZZ_DRAM_BASE + FUZZ_DRAM_SIZE,
            Number(orig) + 1,
          ]),
        ) | (rnd.int(0, 7) === 0 ? 1n << 52n : 0n)
      );
    case "handle":
      return rnd.pick([0n, 1n, 1n << 63n, 1n << 44n, U64, orig ^ 1n]);
    case "tag":
      return BigInt(rnd.pick([0, 1, 2, 3, 255, 256]));
    case "reserved":
      return rnd.pick([1n, 0x80n, 1n << 31n, U64]);
  }
}

/** The function IDs a "fid" mutation puts in place of another. */
const FID_GROUP = [
  FFA_MEM_LEND_32,
  FFA_MEM_SHARE_32,
  FFA_MEM_DONATE_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RECLAIM_32,
  FFA_RX_RELEASE_32,
  FFA_FEATURES_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_RXTX_UNMAP_32,
];
const otherFidsOf = new Map<number, readonly number[]>();
/** FID_GROUP without `fid`, in order (made once per function). */
function otherFids(fid: number): readonly number[] {
  let g = otherFidsOf.get(fid);
  if (!g) otherFidsOf.set(fid, (g = FID_GROUP.filter((f) => f !== fid)));
  return g;
}
/** What a handle mutation XORs in: neighbours, the other world's bit, OP-TEE's cookie bit, the high word. */
const HANDLE_XORS = [1n, 2n, 1n << 63n, 1n << 44n, 1n << 32n, 0xffffn];

/** Draws 1..3 mutations for an action. */
export function pickMutations(
  rnd: RandomStream,
  a: Action,
  seqStart: number,
  handleRefs: readonly number[],
): Mutation[] {
  const out: Mutation[] = [];
  const n = rnd.int(1, 3);
  for (let k = 0; k < n; k++) {
    const ci = rnd.int(0, a.calls.length - 1);
    const c = a.calls[ci];
    const fields = a.fields[ci];
    const r = rnd.int(0, 99);
    if (r < 50 && fields.length > 0 && c.tx) {
      const f = rnd.pick(fields);
      out.push({
        k: "field",
        call: ci,
        field: f.name,
        value: BigInt.asUintN(f.size * 8, interesting(rnd, f, readField(c.tx, f))),
      });
    } else if (r < 64) {
      const i = rnd.int(1, 7);
      const orig = c.x[i];
      const value = rnd.pick([
        0n,
        1n,
        orig + 16n,
        orig - 16n,
        orig + 1n,
        0xffff_ffffn,
        1n << 32n,
        4096n,
        4112n,
        BigInt(rnd.u32()),
      ]);
      out.push({ k: "reg", call: ci, i, value: BigInt.asUintN(64, value) });
    } else if (r < 72 && c.handle) {
      const refs = handleRefs.filter((h) => h < seqStart + ci);
      if (refs.length > 0 && rnd.int(0, 2) === 0)
        out.push({ k: "handle", call: ci, xor: 0n, from: rnd.pick(refs) });
      else out.push({ k: "handle", call: ci, xor: rnd.pick(HANDLE_XORS) });
    } else if (r < 78) {
      out.push({ k: "by", call: ci, by: rnd.pick(CALLERS) });
    } else if (r < 84) {
      out.push({ k: "fid", call: ci, fid: rnd.pick(otherFids(Number(c.x[0]))) });
    } else if (r < 92 && c.tx) {
      const len = c.tx.length;
      out.push({
        k: "tx-length",
        call: ci,
        length: Math.max(0, rnd.pick([0, 16, len - 16, len - 1, len + 16, len + 4096])),
      });
    } else if (c.tx && c.tx.length > 0) {
      out.push({ k: "byte", call: ci, off: rnd.int(0, c.tx.length - 1), value: rnd.int(0, 255) });
    } else {
      out.push({ k: "reg", call: ci, i: rnd.int(1, 7), value: BigInt(rnd.u32()) });
    }
  }
  return out;
}

/** The action's calls with the mutations applied (the action itself is left alone; unmutated calls are shared). */
export function applyMutations(a: Action, ms: readonly Mutation[]): readonly FuzzCall[] {
  if (ms.length === 0) return a.calls;
  type Own = { -readonly [K in keyof FuzzCall]: FuzzCall[K] } & { x: bigint[] };
  const calls = a.calls.slice() as Own[];
  // A call is copied when a mutation first targets it, its registers or bytes when one first writes
  // them (own[i]: 1 = x copied, 2 = tx copied): the action's template stays untouched, and calls
  // no mutation names are shared with it.
  const own = new Uint8Array(calls.length);
  const callOf = (i: number): Own => {
    if (own[i] === 0) {
      calls[i] = { ...calls[i] };
      own[i] = 4;
    }
    return calls[i];
  };
  const xOf = (i: number): bigint[] => {
    const c = callOf(i);
    if ((own[i] & 1) === 0) {
      c.x = c.x.slice();
      own[i] |= 1;
    }
    return c.x;
  };
  const txOf = (i: number): Uint8Array | null => {
    const c = callOf(i);
    if ((own[i] & 2) === 0 && c.tx) {
      c.tx = copyBytes(c.tx);
      own[i] |= 2;
    }
    return c.tx;
  };
  for (const m of ms) {
    switch (m.k) {
      case "field": {
        const tx = calls[m.call].tx ? txOf(m.call) : null;
        const fs = a.fields[m.call];
        for (const f of fs) if (f.name === m.field && tx) writeField(tx, f, m.value);
        break;
      }
      case "reg":
        xOf(m.call)[m.i] = m.value;
        break;
      case "fid":
        xOf(m.call)[0] = BigInt(m.fid);
        break;
      case "by":
        callOf(m.call).by = m.by;
        break;
      case "handle": {
        const h = calls[m.call].handle;
        if (h) callOf(m.call).handle = { ...h, xor: m.xor, from: m.from ?? h.from };
        break;
      }
      case "tx-length": {
        const old = calls[m.call].tx;
        if (!old) break;
        const t = newBytes(m.length);
        t.set(old.subarray(0, Math.min(m.length, old.length)));
        callOf(m.call).tx = t;
        own[m.call] |= 2;
        break;
      }
      case "byte": {
        const old = calls[m.call].tx;
        if (old && m.off < old.length) txOf(m.call)![m.off] = m.value;
        break;
      }
    }
  }
  return calls;
}

/** A mutation in words, for reports and the corpus. */
export function describeMutation(a: Action, m: Mutation): string {
  const c = a.calls.length > 1 ? `call ${m.call}: ` : "";
  switch (m.k) {
    case "field":
      return `${c}${m.field} = 0x${m.value.toString(16)}`;
    case "reg":
      return `${c}x${m.i} = 0x${m.value.toString(16)}`;
    case "fid":
      return `${c}function 0x${m.fid.toString(16)}`;
    case "by":
      return `${c}called by ${m.by}`;
    case "handle":
      return m.from !== undefined ? `${c}handle of call ${m.from}` : `${c}handle ^ 0x${m.xor.toString(16)}`;
    case "tx-length":
      return `${c}TX bytes cut/extended to ${m.length}`;
    case "byte":
      return `${c}TX byte ${m.off} = 0x${m.value.toString(16)}`;
  }
}

/** Where a handle reference is written into a call. */
export function patchHandle(
  x: { [i: number]: bigint },
  tx: Uint8Array | null,
  at: HandleAt,
  h: bigint,
): Uint8Array | null {
  const slot = HANDLE_SLOT[at];
  if ("reg" in slot) {
    x[slot.reg] = h & 0xffff_ffffn;
    x[slot.reg + 1] = h >> 32n;
    return tx;
  }
  const off = slot.tx;
  if (!tx || tx.length < off + 8) return tx;
  const out = copyBytes(tx);
  new DataView(out.buffer, out.byteOffset, out.byteLength).setBigUint64(off, h, true);
  return out;
}
