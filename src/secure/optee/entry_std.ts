/**
 * The OP-TEE message commands of protected memory over FF-A — OP-TEE 4.9.0 core/tee/entry_std.c
 * (__tee_entry_std() → get_protmem_config(), assign_protmem()), optee.md §1.8, §2.2, in 4.9's order:
 * - OPTEE_MSG_CMD_GET_PROTMEM_CONFIG: ret_origin = TEE_ORIGIN_TEE first, whatever follows. Then
 *   num_params must be 2; copy_in_params() resolves the parameters — an FMEM is looked up by cookie
 *   (mobj_ffa_get_by_cookie(), which under Hafnium may retrieve) BEFORE any size is looked at: an
 *   unknown cookie is TEE_ERROR_BAD_PARAMETERS, offs + size beyond the object TEE_ERROR_SECURITY
 *   (both `goto out`: references already taken are not put — a 4.9 leak kept here); VALUE a/b are
 *   read into u32s. Then the types must be VALUE_INOUT + MEMREF_OUTPUT; use_case (the u32 a) >= INT_MAX
 *   is BAD_PARAMETERS with no output; a protected object as buffer fails mobj_inc_map()
 *   (TEE_ERROR_GENERIC), a buffer OP-TEE cannot map at offs for size bytes (size 0 included) is
 *   BAD_PARAMETERS. thread_spmc_get_protmem_config(): plat_get_protmem_config() first
 *   (BAD_PARAMETERS for an unsupported use case), then no buffer or fewer than 4 bytes is
 *   TEE_ERROR_SHORT_BUFFER with size 4, else the one attribute {OP-TEE's endpoint, FFA_MEM_ACC_RW} is
 *   written. Outputs are copied back whenever that function ran (its errors included): value a/b
 *   (min size and alignment on success or SHORT_BUFFER, else the input a/b as u32s), value c =
 *   sizeof(long) * 8 = 64, and the memref's size.
 * - OPTEE_MSG_CMD_ASSIGN_PROTMEM: num_params 1 with attr exactly VALUE_INPUT, else BAD_PARAMETERS;
 *   {a = cookie, b = use case} go to mobj_ffa_assign_protmem() unchecked (b converted to the enum,
 *   32 bits). ret_origin is not touched.
 * - OPTEE_MSG_CMD_OPEN_SESSION / INVOKE_COMMAND / CLOSE_SESSION: entry_open_session(),
 *   entry_invoke_command(), entry_close_session() with the build's pseudo TAs (ta_session.ts:
 *   device.pta, pta_device.ts); the result is in the arg, __tee_entry_std() returns TEE_SUCCESS.
 * - anything else: "Unknown cmd": the arg is left as it is and __tee_entry_std() returns
 *   TEE_ERROR_NOT_IMPLEMENTED, which thread_std_smc_entry puts in w3 of the direct response.
 *   LEND/RECLAIM_PROTMEM are SMC-ABI only.
 */
import { injectedResult } from "./faults.ts";
import { FFA_MEM_RW } from "../../abi/ffa/index.ts";
import {
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_FMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
  paramType,
  protmemMemAttr,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_GENERIC,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SECURITY,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  type OpteeMsgArg,
  type OpteeMsgParam,
} from "../../abi/optee/index.ts";
import { FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { platGetProtmemConfig } from "./config.ts";
import { mobjPa, type MobjRef } from "./mobj.ts";
import type { OpteeSecure } from "./optee.ts";
import { entryCloseSession, entryInvokeCommand, entryOpenSession } from "./ta_session.ts";

/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID — "no buffer". */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;
/** The PA width OP-TEE reports: sizeof(long) * 8 on arm64. */
export const PROTMEM_PA_WIDTH = 64;
/** One u32 memory attribute (struct ffa_mem_access_perm: u16 endpoint, u8 perm, u8 flags). */
const MEM_ATTR_SIZE = 4;
/** INT_MAX: get_protmem_config()'s bound on use_case ("not truncated when passed as an enum"). */
const INT_MAX = 0x7fff_ffff;
const U32 = 0xffff_ffffn;
const U64 = 0xffff_ffff_ffff_ffffn;

/** struct optee_msg_param_fmem, unpacked from u[0..2]. */
export interface Fmem {
  readonly offs: number;
  readonly internalOffs: number;
  /** u64 size. */
  readonly size: bigint;
  readonly globalId: bigint;
}

export function decodeFmem(p: OpteeMsgParam): Fmem {
  const w0 = p.u[0];
  const offs = Number(w0 & 0xffff_ffffn) + Number((w0 >> 32n) & 0xffffn) * 0x1_0000_0000;
  return {
    offs,
    internalOffs: Number((w0 >> 48n) & 0xffffn),
    size: p.u[1] & U64,
    globalId: p.u[2],
  };
}

/** What __tee_entry_std() leaves: the arg as written back, and its own return value (w3). */
export interface EntryStdResult {
  readonly arg: OpteeMsgArg;
  readonly res: number;
}

/** __tee_entry_std(): runs one command. */
export function* teeEntryStdCall(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<EntryStdResult> {
  switch (arg.cmd) {
    case OPTEE_MSG_CMD_OPEN_SESSION:
      return { arg: yield* entryOpenSession(os, arg), res: TEE_SUCCESS };
    case OPTEE_MSG_CMD_CLOSE_SESSION:
      return { arg: entryCloseSession(os, arg), res: TEE_SUCCESS };
    case OPTEE_MSG_CMD_INVOKE_COMMAND:
      return { arg: yield* entryInvokeCommand(os, arg), res: TEE_SUCCESS };
    case OPTEE_MSG_CMD_GET_PROTMEM_CONFIG: {
      const fault = injectedResult(os.sim, "GET_PROTMEM_CONFIG");
      if (fault !== null) return { arg: { ...arg, ret: fault >>> 0 }, res: TEE_SUCCESS };
      return { arg: yield* getProtmemConfig(os, arg), res: TEE_SUCCESS };
    }
    case OPTEE_MSG_CMD_ASSIGN_PROTMEM: {
      const fault = injectedResult(os.sim, "ASSIGN_PROTMEM");
      if (fault !== null) return { arg: { ...arg, ret: fault >>> 0 }, res: TEE_SUCCESS };
      return { arg: yield* assignProtmem(os, arg), res: TEE_SUCCESS };
    }
    default:
      os.trace("unknown-cmd", { cmd: arg.cmd });
      return { arg, res: TEE_ERROR_NOT_IMPLEMENTED };
  }
}

/**
 * tee_entry_std() for a caller that returns TEE_SUCCESS in w3 whatever happened (thread_spmc.ts
 * today): an unknown command's TEE_ERROR_NOT_IMPLEMENTED is put in `ret` so that it is not lost.
 * Upstream leaves `ret` alone and answers it in w3: callers should move to teeEntryStdCall().
 */
export function* teeEntryStd(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  const r = yield* teeEntryStdCall(os, arg);
  return r.res === TEE_SUCCESS ? r.arg : { ...r.arg, ret: r.res >>> 0 };
}

/** struct param_mem as copy_in_params() fills it: the object (null: a NULL memref), offs, size. */
interface ParamMem {
  readonly mobj: MobjRef | null;
  readonly internalOffs: number;
  readonly offs: number;
  size: bigint;
}

/** TEE_PARAM_TYPE_* of copy_in_params()'s `pt[n]` that this command can meet. */
type ParamType =
  "none" | "value-input" | "value-output" | "value-inout" | "memref-input" | "memref-output" | "memref-inout";

/** get_protmem_config() (entry_std.c) + thread_spmc_get_protmem_config() (thread_spmc.c). */
function* getProtmemConfig(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  os.counters.configQueries++;
  const out = (ret: number, params: readonly OpteeMsgParam[] = arg.params): OpteeMsgArg => ({
    ...arg,
    ret: ret >>> 0,
    ret_origin: TEEC_ORIGIN_TEE,
    params,
  });
  if (arg.params.length !== 2) {
    os.trace("bad-param-types", { cmd: arg.cmd });
    return out(TEE_ERROR_BAD_PARAMETERS);
  }
  // copy_in_params(): on failure `goto out`, so references taken so far are never put (4.9).
  const held: MobjRef[] = [];
  const types: ParamType[] = [];
  const values: [number, number][] = [];
  const mems: (ParamMem | null)[] = [];
  for (const p of arg.params) {
    if ((p.attr & BigInt(OPTEE_MSG_ATTR_META)) !== 0n) return out(TEE_ERROR_BAD_PARAMETERS);
    const t = paramType(p);
    values.push([Number(p.u[0] & U32), Number(p.u[1] & U32)]);
    mems.push(null);
    if (t === OPTEE_MSG_ATTR_TYPE_NONE) types.push("none");
    else if (t === OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) types.push("value-input");
    else if (t === OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT) types.push("value-output");
    else if (t === OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) types.push("value-inout");
    else if (t >= OPTEE_MSG_ATTR_TYPE_FMEM_INPUT && t <= OPTEE_MSG_ATTR_TYPE_FMEM_INOUT) {
      const r = yield* setFmemParam(os, decodeFmem(p), held);
      if (typeof r === "number") return out(r);
      mems[mems.length - 1] = r;
      types.push(
        t === OPTEE_MSG_ATTR_TYPE_FMEM_INPUT
          ? "memref-input"
          : t === OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT
            ? "memref-output"
            : "memref-inout",
      );
    } else return out(TEE_ERROR_BAD_PARAMETERS);
  }
  try {
    // exp_pt = (VALUE_INOUT, MEMREF_OUTPUT, NONE, NONE).
    if (types[0] !== "value-inout" || types[1] !== "memref-output") {
      os.trace("bad-param-types", { cmd: arg.cmd });
      return out(TEE_ERROR_BAD_PARAMETERS);
    }
    const useCase = values[0][0];
    if (useCase >= INT_MAX) {
      os.trace("use-case-unsupported", { useCase });
      return out(TEE_ERROR_BAD_PARAMETERS);
    }
    const mem = mems[1]!;
    let buf: { m: MobjRef; at: number } | null = null;
    if (mem.mobj) {
      // mobj_inc_map(): a protected object has no mapping (ffa_prm_no_map()).
      if (mem.mobj.kind === "prm") return out(TEE_ERROR_GENERIC);
      // mobj_get_va() → mobj_check_offset_and_len(): len ≠ 0 and offs + len − 1 < size.
      const size = BigInt(mem.mobj.sizeBytes - mem.internalOffs);
      if (mem.size === 0n || BigInt(mem.offs) + mem.size - 1n >= size) {
        os.trace("fmem-no-va", { cookie: "0x" + mem.mobj.cookie.toString(16) });
        return out(TEE_ERROR_BAD_PARAMETERS);
      }
      buf = { m: mem.mobj, at: mem.internalOffs + mem.offs };
    }
    // thread_spmc_get_protmem_config().
    let res: number;
    let sz = mem.size;
    const cfg = platGetProtmemConfig(os.configs, useCase);
    if (!cfg) {
      os.trace("use-case-unsupported", { useCase });
      res = TEE_ERROR_BAD_PARAMETERS;
    } else if (!buf || sz < BigInt(MEM_ATTR_SIZE)) {
      sz = BigInt(MEM_ATTR_SIZE);
      res = TEE_ERROR_SHORT_BUFFER;
    } else {
      const bytes = new Uint8Array(MEM_ATTR_SIZE);
      new DataView(bytes.buffer).setUint32(0, protmemMemAttr(FFA_OPTEE_ID, FFA_MEM_RW) >>> 0, true);
      // A fault here is a data abort in OP-TEE's core upstream; the model reports BAD_PARAMETERS.
      if (!writeThrough(os, buf.m, buf.at, bytes)) return out(TEE_ERROR_BAD_PARAMETERS);
      sz = BigInt(MEM_ATTR_SIZE);
      res = TEE_SUCCESS;
    }
    let [a, b] = values[0];
    if (cfg && (res === TEE_SUCCESS || res === TEE_ERROR_SHORT_BUFFER)) {
      mem.size = sz;
      a = cfg.minSizeBytes % 0x1_0000_0000;
      b = cfg.alignBytes % 0x1_0000_0000;
    }
    // copy_out_param(), then value.c.
    const p0 = arg.params[0];
    const p1 = arg.params[1];
    return out(res, [
      { attr: p0.attr, u: [BigInt(a), BigInt(b), BigInt(PROTMEM_PA_WIDTH)] },
      { attr: p1.attr, u: [p1.u[0], mem.size, p1.u[2]] },
    ]);
  } finally {
    // cleanup_shm_refs(): mobj_put() of every memref taken.
    for (const m of held) m.put();
  }
}

/**
 * set_fmem_param(): a NULL memref (invalid global id and size 0), else the object by cookie
 * (BAD_PARAMETERS when unknown) with offs + size inside it (TEE_ERROR_SECURITY, the reference kept).
 * References taken go into `held`.
 */
function* setFmemParam(os: OpteeSecure, f: Fmem, held: MobjRef[]): Sleeps<ParamMem | number> {
  if (f.globalId === OPTEE_MSG_FMEM_INVALID_GLOBAL_ID && f.size === 0n)
    return { mobj: null, internalOffs: 0, offs: 0, size: 0n };
  const m = yield* os.mobjs.getByCookie(f.globalId, f.internalOffs);
  if (!m) {
    os.trace("fmem-unknown-cookie", { cookie: "0x" + f.globalId.toString(16) });
    return TEE_ERROR_BAD_PARAMETERS;
  }
  const end = BigInt(f.offs) + f.size;
  const size = BigInt(m.sizeBytes - (m.kind === "shm" ? f.internalOffs : 0));
  if (end > U64 || size < end) {
    // `goto out` in get_protmem_config(): this reference is never put.
    os.trace("fmem-out-of-object", { cookie: "0x" + f.globalId.toString(16) });
    return TEE_ERROR_SECURITY;
  }
  held.push(m);
  return { mobj: m, internalOffs: f.internalOffs, offs: f.offs, size: f.size };
}

/** A write through OP-TEE's (virtually contiguous) mapping of `m`: page by page at their PAs. */
export function writeThrough(os: OpteeSecure, m: MobjRef, at: number, bytes: Uint8Array): boolean {
  let done = 0;
  while (done < bytes.length) {
    const pa = mobjPa(m, at + done);
    if (pa === null) return false;
    const n = Math.min(bytes.length - done, PAGE_SIZE - (pa % PAGE_SIZE));
    if (os.writeShared(pa, bytes.subarray(done, done + n)) !== ACCESS_OK) return false;
    done += n;
  }
  return true;
}

/** assign_protmem() (entry_std.c) → mobj_ffa_assign_protmem() (mobj_ffa.c). ret_origin untouched. */
function* assignProtmem(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  const p = arg.params;
  if (p.length !== 1 || p[0].attr !== BigInt(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT)) {
    os.counters.assignFailures++;
    os.trace("bad-param-types", { cmd: arg.cmd });
    return { ...arg, ret: TEE_ERROR_BAD_PARAMETERS >>> 0 };
  }
  const cookie = p[0].u[0];
  // enum mobj_use_case: the u64 value converted to the enum's 32 bits.
  const useCase = Number(p[0].u[1] & U32);
  const rc = yield* os.mobjs.assignProtmem(cookie, useCase);
  if (rc === TEE_SUCCESS) os.counters.assigns++;
  else os.counters.assignFailures++;
  os.trace("assign-protmem", { cookie: "0x" + cookie.toString(16), useCase, rc });
  return { ...arg, ret: rc >>> 0 };
}
