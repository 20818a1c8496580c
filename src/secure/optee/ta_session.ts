/**
 * Sessions with pseudo TAs, as OP-TEE 4.9.0 runs them for the normal world over FF-A:
 * core/tee/entry_std.c entry_open_session() / entry_invoke_command() / entry_close_session() (with
 * get_open_session_meta(), copy_in_params() — FMEM by cookie, CFG_CORE_FFA —, copy_out_param(),
 * cleanup_shm_refs()), core/kernel/tee_ta_manager.c (tee_ta_open_session(), tee_ta_init_session()'s
 * new_session_id(), tee_ta_invoke_command(), tee_ta_close_session()) and core/kernel/pseudo_ta.c
 * (copy_in_param(): a NULL or size-0 memref reaches the PTA as a NULL buffer, others are mapped
 * (mobj_get_va()), protected memory is refused (validate_in_param()); update_out_param()).
 *
 * Results: open — TEE_SUCCESS with the session id and ret_origin TEE_ORIGIN_TRUSTED_APP (s->err_origin,
 * set by pseudo_ta_enter_open_session()); a malformed meta parameter, a bad parameter or an unknown
 * UUID fail with ret_origin TEE_ORIGIN_TEE and session 0. invoke — the PTA's result with
 * TEE_ORIGIN_TRUSTED_APP (TEE_ORIGIN_TEE when its parameters could not be mapped); an unknown
 * session is BAD_PARAMETERS. close — num_params must be 0; an unknown session is ITEM_NOT_FOUND.
 *
 * The pseudo TAs of the build: device.pta (CFG_DEVICE_ENUM_PTA=y, pta_device.ts) and any a test or a
 * platform registers (registerPseudoTa(): a build with e.g. CFG_HWRNG_PTA=y). Its context is single
 * instance and kept alive (PTA_DEFAULT_FLAGS), so it is created at the first open and stays.
 *
 * MODEL CHOICES: user TAs are not modelled — an unknown UUID is TEE_ERROR_ITEM_NOT_FOUND, what
 * tee_ta_init_session() returns when no TA store finds it; client identities other than the normal
 * world's (NSAPP_IDENTITY) do not occur; PTAs run without sleeping.
 */
import {
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_FMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_MASK,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_ERROR_SECURITY,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  TEEC_ORIGIN_TRUSTED_APP,
  type OpteeMsgArg,
  type OpteeMsgParam,
} from "../../abi/optee/index.ts";
import type { Machine } from "../../hw/machine.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { decodeFmem, OPTEE_MSG_FMEM_INVALID_GLOBAL_ID, writeThrough } from "./entry_std.ts";
import type { MobjRef } from "./mobj.ts";
import type { OpteeSecure } from "./optee.ts";
import {
  PTA_DEFAULT_FLAGS,
  PTA_DEVICE_UUID,
  ptaDeviceInvoke,
  TEE_PARAM_TYPE_MEMREF_INPUT,
  TEE_PARAM_TYPE_MEMREF_INOUT,
  TEE_PARAM_TYPE_MEMREF_OUTPUT,
  TEE_PARAM_TYPE_NONE,
  TEE_PARAM_TYPE_VALUE_INOUT,
  TEE_PARAM_TYPE_VALUE_INPUT,
  TEE_PARAM_TYPE_VALUE_OUTPUT,
  teeParamTypes,
  type PtaParam,
} from "./pta_device.ts";
import { SideTable } from "../../sim/side_table.ts";

/** TEE_NUM_PARAMS */
const TEE_NUM_PARAMS = 4;
/** TEE_LOGIN_* (tee_api_defines.h, tee_api_defines_extensions.h) get_open_session_meta() accepts. */
const TEE_LOGINS = new Set([0x0, 0x8000_0000, 0x1, 0x2, 0x4, 0x5, 0x6]);
const U32 = 0xffff_ffffn;
/** TEE_ERROR_OVERFLOW (tee_api_defines.h): no session id left. */
const TEE_ERROR_OVERFLOW = 0xffff300f;

/** struct pseudo_ta_head, as far as modelled. */
export interface PseudoTa {
  readonly uuid: string;
  readonly name: string;
  readonly flags: number;
  /** invoke_command_entry_point(session ctx, cmd, param types, params): a TEE_Result. */
  invoke(os: OpteeSecure, cmd: number, types: number, params: PtaParam[]): number;
}

interface Session {
  readonly id: number;
  readonly ta: PseudoTa;
}

/** tee_open_sessions, tee_ctxes (which PTAs have a context) and the pseudo_tas scattered array. */
export class TaManager {
  readonly sessions: Session[] = [];
  readonly contexts = new Map<PseudoTa, number>();
  readonly pseudoTas: PseudoTa[] = [];
}

/** One OP-TEE a machine: its state is keyed by the machine it runs on. */
const managers = new SideTable<Machine, TaManager>();

/** The pseudo TAs built in and the open sessions of the OP-TEE on `machine`. */
export function taManagerOf(machine: Machine): TaManager {
  let m = managers.get(machine);
  if (!m) {
    m = new TaManager();
    const tas = m.pseudoTas;
    tas.push({
      uuid: PTA_DEVICE_UUID,
      name: "device.pta",
      flags: PTA_DEFAULT_FLAGS,
      // The TAs device.pta lists: every pseudo TA of the build (with its flags).
      invoke: (_os, cmd, types, params) => ptaDeviceInvoke(tas, cmd, types, params),
    });
    managers.set(machine, m);
  }
  return m;
}

/** pseudo_ta_register() for a build with more pseudo TAs than the defaults (e.g. CFG_HWRNG_PTA=y). */
export function registerPseudoTa(machine: Machine, ta: PseudoTa): void {
  taManagerOf(machine).pseudoTas.push(ta);
}

/** struct tee_ta_param: the types and, per parameter, the value or the memref (mobj, offs, size). */
interface TaParam {
  types: number;
  readonly u: {
    a: number;
    b: number;
    mobj: MobjRef | null;
    internalOffs: number;
    offs: number;
    size: number;
  }[];
}

function emptyParam(): TaParam {
  return {
    types: 0,
    u: Array.from({ length: TEE_NUM_PARAMS }, () => ({
      a: 0,
      b: 0,
      mobj: null,
      internalOffs: 0,
      offs: 0,
      size: 0,
    })),
  };
}

/**
 * copy_in_params(params, num_params, ta_param, saved_attr): TEE_SUCCESS or the first failure. FMEM
 * goes through set_fmem_param(): a NULL memref (invalid global id, size 0), else the object by cookie
 * (BAD_PARAMETERS if unknown) and offs + size inside it (TEE_ERROR_SECURITY, the reference kept in
 * ta_param for cleanup_shm_refs()).
 */
function* copyInParams(
  os: OpteeSecure,
  params: readonly OpteeMsgParam[],
  tp: TaParam,
  saved: bigint[],
): Sleeps<number> {
  if (params.length > TEE_NUM_PARAMS) return TEE_ERROR_BAD_PARAMETERS;
  const pt = [0, 0, 0, 0];
  for (let n = 0; n < params.length; n++) {
    saved[n] = params[n].attr;
    if (saved[n] & BigInt(OPTEE_MSG_ATTR_META)) return TEE_ERROR_BAD_PARAMETERS;
    const attr = Number(saved[n] & BigInt(OPTEE_MSG_ATTR_TYPE_MASK));
    const u = tp.u[n];
    if (attr === OPTEE_MSG_ATTR_TYPE_NONE) pt[n] = TEE_PARAM_TYPE_NONE;
    else if (attr >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      pt[n] = TEE_PARAM_TYPE_VALUE_INPUT + attr - OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
      u.a = Number(params[n].u[0] & U32);
      u.b = Number(params[n].u[1] & U32);
    } else if (attr >= OPTEE_MSG_ATTR_TYPE_FMEM_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_FMEM_INOUT) {
      const f = decodeFmem(params[n]);
      if (!(f.globalId === OPTEE_MSG_FMEM_INVALID_GLOBAL_ID && f.size === 0n)) {
        u.mobj = yield* os.mobjs.getByCookie(f.globalId, f.internalOffs);
        if (!u.mobj) return TEE_ERROR_BAD_PARAMETERS;
        u.internalOffs = f.internalOffs;
        u.offs = f.offs;
        u.size = Number(f.size);
        const avail = u.mobj.sizeBytes - (u.mobj.kind === "shm" ? f.internalOffs : 0);
        if (BigInt(f.offs) + f.size > BigInt(avail)) return TEE_ERROR_SECURITY;
      }
      pt[n] = TEE_PARAM_TYPE_MEMREF_INPUT + attr - OPTEE_MSG_ATTR_TYPE_FMEM_INPUT;
    } else return TEE_ERROR_BAD_PARAMETERS;
  }
  tp.types = teeParamTypes(pt[0], pt[1], pt[2], pt[3]);
  return TEE_SUCCESS;
}

/** cleanup_shm_refs(): mobj_put() of each memref taken (saved_attr FMEM/RMEM, exactly). */
function cleanupShmRefs(saved: bigint[], tp: TaParam, numParams: number): void {
  for (let n = 0; n < Math.min(TEE_NUM_PARAMS, numParams); n++) {
    const a = Number(saved[n] ?? 0n);
    if (a >= OPTEE_MSG_ATTR_TYPE_FMEM_INPUT && a <= OPTEE_MSG_ATTR_TYPE_FMEM_INOUT) tp.u[n].mobj?.put();
  }
}

/** copy_out_param(): memref sizes of OUTPUT/INOUT (u.rmem.size = u.fmem.size) and values back. */
function copyOutParam(tp: TaParam, params: readonly OpteeMsgParam[], saved: bigint[]): OpteeMsgParam[] {
  return params.map((p, n) => {
    const t = (tp.types >>> (4 * n)) & 0xf;
    const attr = Number(saved[n] & BigInt(OPTEE_MSG_ATTR_TYPE_MASK));
    const fmemOut = attr === OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT || attr === OPTEE_MSG_ATTR_TYPE_FMEM_INOUT;
    if ((t === TEE_PARAM_TYPE_MEMREF_OUTPUT || t === TEE_PARAM_TYPE_MEMREF_INOUT) && fmemOut)
      return { attr: p.attr, u: [p.u[0], BigInt(tp.u[n].size), p.u[2]] };
    if (t === TEE_PARAM_TYPE_VALUE_OUTPUT || t === TEE_PARAM_TYPE_VALUE_INOUT)
      return { attr: p.attr, u: [BigInt(tp.u[n].a), BigInt(tp.u[n].b), p.u[2]] };
    return p;
  });
}

/**
 * pseudo_ta_enter_invoke_cmd(): copy_in_param() (values; memrefs: protected memory refused by
 * validate_in_param(), a size-0 memref a NULL buffer, others mapped — mobj_get_va() must cover
 * offs..offs+size), the PTA, then update_out_param(). Returns the result and the error origin.
 */
function invokePta(os: OpteeSecure, ta: PseudoTa, cmd: number, tp: TaParam): { res: number; origin: number } {
  const params: PtaParam[] = [];
  for (let n = 0; n < TEE_NUM_PARAMS; n++) {
    const t = (tp.types >>> (4 * n)) & 0xf;
    const u = tp.u[n];
    const p: PtaParam = { buffer: null, size: 0, a: 0, b: 0 };
    if (t >= TEE_PARAM_TYPE_VALUE_INPUT && t <= TEE_PARAM_TYPE_VALUE_INOUT) [p.a, p.b] = [u.a, u.b];
    else if (t >= TEE_PARAM_TYPE_MEMREF_INPUT && t <= TEE_PARAM_TYPE_MEMREF_INOUT) {
      if (u.mobj && u.mobj.kind === "prm") return { res: TEE_ERROR_BAD_PARAMETERS, origin: TEEC_ORIGIN_TEE };
      if (u.size) {
        const m = u.mobj!;
        const at = u.internalOffs + u.offs;
        if (at + u.size > m.sizeBytes) return { res: TEE_ERROR_BAD_PARAMETERS, origin: TEEC_ORIGIN_TEE };
        p.buffer = (offset, bytes) => writeThrough(os, m, at + offset, bytes);
      }
      p.size = u.size;
    }
    params.push(p);
  }
  const res = ta.invoke(os, cmd, tp.types, params) >>> 0;
  params.forEach((p, n) => {
    const t = (tp.types >>> (4 * n)) & 0xf;
    if (t === TEE_PARAM_TYPE_MEMREF_OUTPUT || t === TEE_PARAM_TYPE_MEMREF_INOUT) tp.u[n].size = p.size;
    else if (t === TEE_PARAM_TYPE_VALUE_OUTPUT || t === TEE_PARAM_TYPE_VALUE_INOUT)
      [tp.u[n].a, tp.u[n].b] = [p.a >>> 0, p.b >>> 0];
  });
  return { res, origin: TEEC_ORIGIN_TRUSTED_APP };
}

/** The 16 octets in a value parameter's a and b (memcpy(&params[0].u.value, uuid, 16) on the other side). */
function octetsOf(p: OpteeMsgParam): string {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, p.u[0], true);
  v.setBigUint64(8, p.u[1], true);
  return [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
}

/** new_session_id(): one past the last session's id (0 skipped), the first free from there. */
function newSessionId(m: TaManager): number {
  const last = m.sessions.at(-1);
  let id = last ? (last.id + 1) >>> 0 || 1 : 1;
  const saved = id;
  do {
    if (!m.sessions.some((s) => s.id === id)) return id;
    id = (id + 1) >>> 0 || 1;
  } while (id !== saved);
  return 0;
}

/** entry_open_session() */
export function* entryOpenSession(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  const m = taManagerOf(os.machine);
  const out = (ret: number, origin: number, session: number, params = arg.params): OpteeMsgArg => ({
    ...arg,
    session,
    ret: ret >>> 0,
    ret_origin: origin,
    params,
  });
  // get_open_session_meta()
  const req = BigInt(OPTEE_MSG_ATTR_META | OPTEE_MSG_ATTR_TYPE_VALUE_INPUT);
  const p = arg.params;
  if (p.length < 2 || p[0].attr !== req || p[1].attr !== req || !TEE_LOGINS.has(Number(p[1].u[2] & U32)))
    return out(TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TEE, 0);
  const tp = emptyParam();
  const saved: bigint[] = [];
  const rest = p.slice(2);
  let res = yield* copyInParams(os, rest, tp, saved);
  let origin = TEEC_ORIGIN_TEE;
  let session: Session | null = null;
  let params = p;
  if (res === TEE_SUCCESS) {
    // tee_ta_open_session() → tee_ta_init_session(): the pseudo TA by UUID, else ITEM_NOT_FOUND.
    const want = octetsOf(p[0]);
    const ta = m.pseudoTas.find((t) => t.uuid.replace(/-/g, "").toLowerCase() === want);
    const id = newSessionId(m);
    if (!id) res = TEE_ERROR_OVERFLOW;
    else if (!ta) res = TEE_ERROR_ITEM_NOT_FOUND;
    else {
      m.contexts.set(ta, (m.contexts.get(ta) ?? 0) + 1);
      session = { id, ta };
      m.sessions.push(session);
      // pseudo_ta_enter_open_session(): device.pta has no open_session entry point.
      origin = TEEC_ORIGIN_TRUSTED_APP;
    }
    params = [...p.slice(0, 2), ...copyOutParam(tp, rest, saved)];
    os.trace("open-session", { uuid: want, res, session: session?.id ?? 0 });
  }
  cleanupShmRefs(saved, tp, rest.length);
  return out(res, origin, session ? session.id : 0, params);
}

/** entry_invoke_command() */
export function* entryInvokeCommand(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  const m = taManagerOf(os.machine);
  const tp = emptyParam();
  const saved: bigint[] = [];
  let res = yield* copyInParams(os, arg.params, tp, saved);
  let origin = TEEC_ORIGIN_TEE;
  let params = arg.params;
  if (res === TEE_SUCCESS) {
    const s = m.sessions.find((x) => x.id === arg.session);
    if (!s) res = TEE_ERROR_BAD_PARAMETERS;
    else {
      ({ res, origin } = invokePta(os, s.ta, arg.func, tp));
      params = copyOutParam(tp, arg.params, saved);
      os.trace("invoke-command", { ta: s.ta.name, func: arg.func, res });
    }
  }
  cleanupShmRefs(saved, tp, arg.params.length);
  return { ...arg, params, ret: res >>> 0, ret_origin: origin };
}

/** entry_close_session(): tee_ta_close_session(s, NSAPP_IDENTITY); the context stays (keep-alive). */
export function entryCloseSession(os: OpteeSecure, arg: OpteeMsgArg): OpteeMsgArg {
  const m = taManagerOf(os.machine);
  let res: number;
  if (arg.params.length) res = TEE_ERROR_BAD_PARAMETERS;
  else {
    const i = m.sessions.findIndex((x) => x.id === arg.session);
    if (i < 0) res = TEE_ERROR_ITEM_NOT_FOUND;
    else {
      const [s] = m.sessions.splice(i, 1);
      m.contexts.set(s.ta, m.contexts.get(s.ta)! - 1); // ctx->ref_count--; kept alive
      res = TEE_SUCCESS;
      os.trace("close-session", { ta: s.ta.name, session: s.id });
    }
  }
  return { ...arg, ret: res >>> 0, ret_origin: TEEC_ORIGIN_TEE };
}
