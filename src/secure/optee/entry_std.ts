/**
 * The OP-TEE message commands of protected memory over FF-A — core/tee/entry_std.c
 * (tee_entry_std() → get_protmem_config(), assign_protmem()), optee.md §1.8, §2.2:
 * - OPTEE_MSG_CMD_GET_PROTMEM_CONFIG: params[0] VALUE_INOUT {a = use case}, params[1] FMEM_OUTPUT
 *   (or RMEM_OUTPUT, same value) buffer for the u32 memory attributes. Out: a = min size, b =
 *   alignment, c = PA width (sizeof(long) * 8 = 64), params[1].size = bytes of attributes;
 *   TEE_ERROR_SHORT_BUFFER with the size needed when the buffer is missing or too small.
 *   Over FF-A the attributes are thread_spmc_get_protmem_config()'s one entry: OP-TEE's endpoint
 *   with FFA_MEM_ACC_RW.
 * - OPTEE_MSG_CMD_ASSIGN_PROTMEM: params[0] VALUE_INPUT {a = cookie, b = use case} →
 *   mobj_ffa_assign_protmem().
 * - anything else: TEE_ERROR_NOT_IMPLEMENTED ("Unknown cmd"); LEND/RECLAIM_PROTMEM are SMC-ABI only.
 * Every answer has ret_origin TEE_ORIGIN_TEE.
 */
import { FFA_MEM_RW } from "../../abi/ffa/index.ts";
import {
  memParam,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  paramType,
  protmemMemAttr,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  valueParam,
  type OpteeMsgArg,
  type OpteeMsgParam,
} from "../../abi/optee/index.ts";
import { FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { isMobjProtmemUseCase, platGetProtmemConfig } from "./config.ts";
import { mobjContiguous, mobjPa } from "./mobj.ts";
import type { OpteeSecure } from "./optee.ts";

/** OPTEE_MSG_FMEM_INVALID_GLOBAL_ID — "no buffer". */
export const OPTEE_MSG_FMEM_INVALID_GLOBAL_ID = 0xffff_ffff_ffff_ffffn;
/** The PA width OP-TEE reports: sizeof(long) * 8 on arm64. */
export const PROTMEM_PA_WIDTH = 64;
/** One u32 memory attribute (struct ffa_mem_access_perm: u16 endpoint, u8 perm, u8 flags). */
const MEM_ATTR_SIZE = 4;

/** struct optee_msg_param_fmem, unpacked from u[0..2]. */
export interface Fmem {
  readonly offs: number;
  readonly internalOffs: number;
  readonly size: number;
  readonly globalId: bigint;
}

export function decodeFmem(p: OpteeMsgParam): Fmem {
  const w0 = p.u[0];
  const offs = Number(w0 & 0xffff_ffffn) + Number((w0 >> 32n) & 0xffffn) * 0x1_0000_0000;
  return {
    offs,
    internalOffs: Number((w0 >> 48n) & 0xffffn),
    size: Number(p.u[1] & 0xffff_ffffn),
    globalId: p.u[2],
  };
}

/** tee_entry_std(): runs one command; returns the arg with ret, ret_origin and outputs set. */
export function* teeEntryStd(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  switch (arg.cmd) {
    case OPTEE_MSG_CMD_GET_PROTMEM_CONFIG:
      return yield* getProtmemConfig(os, arg);
    case OPTEE_MSG_CMD_ASSIGN_PROTMEM:
      return yield* assignProtmem(os, arg);
    default:
      os.trace("unknown-cmd", { cmd: arg.cmd });
      return done(arg, TEE_ERROR_NOT_IMPLEMENTED);
  }
}

function done(arg: OpteeMsgArg, ret: number, params: readonly OpteeMsgParam[] = arg.params): OpteeMsgArg {
  return { ...arg, ret: ret >>> 0, ret_origin: TEEC_ORIGIN_TEE, params };
}

/** get_protmem_config() (entry_std.c) + thread_spmc_get_protmem_config() (thread_spmc.c l.2452-2478). */
function* getProtmemConfig(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  os.counters.configQueries++;
  const p = arg.params;
  if (
    p.length !== 2 ||
    paramType(p[0]) !== OPTEE_MSG_ATTR_TYPE_VALUE_INOUT ||
    paramType(p[1]) !== OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT
  ) {
    os.trace("bad-param-types", { cmd: arg.cmd });
    return done(arg, TEE_ERROR_BAD_PARAMETERS);
  }
  const useCase = p[0].u[0];
  const cfg = useCase <= 0x7fff_ffffn ? platGetProtmemConfig(os.configs, Number(useCase)) : null;
  if (!cfg) {
    os.trace("use-case-unsupported", { useCase: useCase.toString() });
    return done(arg, TEE_ERROR_BAD_PARAMETERS);
  }
  const attrs = [protmemMemAttr(FFA_OPTEE_ID, FFA_MEM_RW)];
  const needed = attrs.length * MEM_ATTR_SIZE;
  const values = valueParam(
    OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
    cfg.minSizeBytes,
    cfg.alignBytes,
    PROTMEM_PA_WIDTH,
  );
  const out = (size: number) => memParam(OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT, p[1].u[0], size, p[1].u[2]);
  const fmem = decodeFmem(p[1]);
  if (fmem.globalId === OPTEE_MSG_FMEM_INVALID_GLOBAL_ID || fmem.size < needed)
    return done(arg, TEE_ERROR_SHORT_BUFFER, [values, out(needed)]);
  // set_fmem_param(): the buffer is found by cookie, then written through OP-TEE's mapping.
  const m = yield* os.mobjs.getByCookie(fmem.globalId, fmem.internalOffs);
  if (!m) {
    os.trace("fmem-unknown-cookie", { cookie: fmem.globalId.toString(16) });
    return done(arg, TEE_ERROR_BAD_PARAMETERS);
  }
  try {
    const at = fmem.offs + fmem.internalOffs;
    const pa = m.kind === "shm" && mobjContiguous(m, at, needed) ? mobjPa(m, at) : null;
    if (pa === null) return done(arg, TEE_ERROR_BAD_PARAMETERS);
    const bytes = new Uint8Array(needed);
    const dv = new DataView(bytes.buffer);
    attrs.forEach((a, i) => dv.setUint32(i * MEM_ATTR_SIZE, a >>> 0, true));
    if (os.writeShared(pa, bytes) !== ACCESS_OK) return done(arg, TEE_ERROR_BAD_PARAMETERS);
  } finally {
    m.put();
  }
  return done(arg, TEE_SUCCESS, [values, out(needed)]);
}

/** assign_protmem() (entry_std.c) → mobj_ffa_assign_protmem() (mobj_ffa.c). */
function* assignProtmem(os: OpteeSecure, arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
  const p = arg.params;
  if (p.length !== 1 || paramType(p[0]) !== OPTEE_MSG_ATTR_TYPE_VALUE_INPUT) {
    os.trace("bad-param-types", { cmd: arg.cmd });
    return done(arg, TEE_ERROR_BAD_PARAMETERS);
  }
  const cookie = p[0].u[0];
  const useCase = p[0].u[1];
  // OPTEE_MSG_PROTMEM_* → enum mobj_use_case: only video play and trusted UI exist (ours: checked first).
  if (useCase > 0xffn || !isMobjProtmemUseCase(Number(useCase))) {
    os.counters.assignFailures++;
    os.trace("use-case-unsupported", { useCase: useCase.toString() });
    return done(arg, TEE_ERROR_BAD_PARAMETERS);
  }
  const rc = yield* os.mobjs.assignProtmem(cookie, Number(useCase));
  if (rc === TEE_SUCCESS) os.counters.assigns++;
  else os.counters.assignFailures++;
  os.trace("assign-protmem", { cookie: cookie.toString(16), useCase: Number(useCase), rc });
  return done(arg, rc);
}
