/**
 * The OP-TEE message ABI — optee_os core/include/optee_msg.h, Linux drivers/tee/optee/optee_msg.h:
 * struct optee_msg_arg (a 32-byte header and 32-byte params) as bytes, the commands, the parameter
 * attribute types and the protected-memory use cases. Both sides encode and decode through here.
 */

/** Commands (OPTEE_MSG_CMD_*). */
export const OPTEE_MSG_CMD_OPEN_SESSION = 0;
export const OPTEE_MSG_CMD_INVOKE_COMMAND = 1;
export const OPTEE_MSG_CMD_CLOSE_SESSION = 2;
export const OPTEE_MSG_CMD_CANCEL = 3;
export const OPTEE_MSG_CMD_REGISTER_SHM = 4;
export const OPTEE_MSG_CMD_UNREGISTER_SHM = 5;
export const OPTEE_MSG_CMD_DO_BOTTOM_HALF = 6;
export const OPTEE_MSG_CMD_STOP_ASYNC_NOTIF = 7;
export const OPTEE_MSG_CMD_LEND_PROTMEM = 8;
export const OPTEE_MSG_CMD_RECLAIM_PROTMEM = 9;
export const OPTEE_MSG_CMD_GET_PROTMEM_CONFIG = 10;
export const OPTEE_MSG_CMD_ASSIGN_PROTMEM = 11;

/** optee_msg.h's names of the commands, by value. */
const OPTEE_MSG_CMD_NAMES = [
  "OPTEE_MSG_CMD_OPEN_SESSION",
  "OPTEE_MSG_CMD_INVOKE_COMMAND",
  "OPTEE_MSG_CMD_CLOSE_SESSION",
  "OPTEE_MSG_CMD_CANCEL",
  "OPTEE_MSG_CMD_REGISTER_SHM",
  "OPTEE_MSG_CMD_UNREGISTER_SHM",
  "OPTEE_MSG_CMD_DO_BOTTOM_HALF",
  "OPTEE_MSG_CMD_STOP_ASYNC_NOTIF",
  "OPTEE_MSG_CMD_LEND_PROTMEM",
  "OPTEE_MSG_CMD_RECLAIM_PROTMEM",
  "OPTEE_MSG_CMD_GET_PROTMEM_CONFIG",
  "OPTEE_MSG_CMD_ASSIGN_PROTMEM",
] as const;

/** The OPTEE_MSG_CMD_* name of a command word, or undefined for a value optee_msg.h does not define. */
export function opteeMsgCmdName(cmd: number): string | undefined {
  return Number.isInteger(cmd) && cmd >= 0 ? OPTEE_MSG_CMD_NAMES[cmd] : undefined;
}

/** Protected-memory use cases (OPTEE_MSG_PROTMEM_*); Linux's enum tee_dma_heap_id uses the same numbers. */
export const OPTEE_MSG_PROTMEM_RESERVED = 0;
export const OPTEE_MSG_PROTMEM_SECURE_VIDEO_PLAY = 1;
export const OPTEE_MSG_PROTMEM_TRUSTED_UI = 2;
export const OPTEE_MSG_PROTMEM_SECURE_VIDEO_RECORD = 3;

/** Parameter attribute types (OPTEE_MSG_ATTR_TYPE_*); FMEM_* share the RMEM values. */
export const OPTEE_MSG_ATTR_TYPE_NONE = 0x0;
export const OPTEE_MSG_ATTR_TYPE_VALUE_INPUT = 0x1;
export const OPTEE_MSG_ATTR_TYPE_VALUE_OUTPUT = 0x2;
export const OPTEE_MSG_ATTR_TYPE_VALUE_INOUT = 0x3;
export const OPTEE_MSG_ATTR_TYPE_RMEM_INPUT = 0x5;
export const OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT = 0x6;
export const OPTEE_MSG_ATTR_TYPE_RMEM_INOUT = 0x7;
export const OPTEE_MSG_ATTR_TYPE_FMEM_INPUT = OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
export const OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT = OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT;
export const OPTEE_MSG_ATTR_TYPE_FMEM_INOUT = OPTEE_MSG_ATTR_TYPE_RMEM_INOUT;
export const OPTEE_MSG_ATTR_TYPE_TMEM_INPUT = 0x9;
export const OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT = 0xa;
export const OPTEE_MSG_ATTR_TYPE_TMEM_INOUT = 0xb;
export const OPTEE_MSG_ATTR_TYPE_MASK = 0xff;
export const OPTEE_MSG_ATTR_META = 1 << 8;
export const OPTEE_MSG_ATTR_NONCONTIG = 1 << 9;

/** sizeof(struct optee_msg_arg) without params, and sizeof(struct optee_msg_param). */
export const OPTEE_MSG_ARG_HEADER_SIZE = 32;
export const OPTEE_MSG_PARAM_SIZE = 32;

/** OPTEE_MSG_GET_ARG_SIZE(num_params) */
export function optee_msg_get_arg_size(numParams: number): number {
  return OPTEE_MSG_ARG_HEADER_SIZE + numParams * OPTEE_MSG_PARAM_SIZE;
}

/**
 * One parameter: `attr` and the 24-byte union read as three u64 words. tmem = {buf_ptr, size, shm_ref},
 * rmem = {offs, size, shm_ref}, value = {a, b, c}; fmem packs offs_low (u32), offs_high (u16) and
 * internal_offs (u16) into the first word, then size and global_id.
 */
export interface OpteeMsgParam {
  readonly attr: bigint;
  readonly u: readonly [bigint, bigint, bigint];
}

export interface OpteeMsgArg {
  readonly cmd: number;
  readonly func: number;
  readonly session: number;
  readonly cancel_id: number;
  readonly pad: number;
  readonly ret: number;
  readonly ret_origin: number;
  readonly params: readonly OpteeMsgParam[];
}

/** A message for `cmd` with these params, every other header field zero (as optee_get_msg_arg() leaves them). */
export function msgArg(cmd: number, params: readonly OpteeMsgParam[]): OpteeMsgArg {
  return { cmd, func: 0, session: 0, cancel_id: 0, pad: 0, ret: 0, ret_origin: 0, params };
}

export function valueParam(
  attr: number,
  a: bigint | number,
  b: bigint | number = 0n,
  c: bigint | number = 0n,
): OpteeMsgParam {
  return { attr: BigInt(attr), u: [BigInt(a), BigInt(b), BigInt(c)] };
}

/** An RMEM/FMEM/TMEM parameter from its three words. */
export function memParam(
  attr: number,
  w0: bigint | number,
  size: bigint | number,
  ref: bigint | number,
): OpteeMsgParam {
  return { attr: BigInt(attr), u: [BigInt(w0), BigInt(size), BigInt(ref)] };
}

export function encodeMsgArg(arg: OpteeMsgArg): Uint8Array {
  const bytes = new Uint8Array(optee_msg_get_arg_size(arg.params.length));
  const v = new DataView(bytes.buffer);
  v.setUint32(0, arg.cmd >>> 0, true);
  v.setUint32(4, arg.func >>> 0, true);
  v.setUint32(8, arg.session >>> 0, true);
  v.setUint32(12, arg.cancel_id >>> 0, true);
  v.setUint32(16, arg.pad >>> 0, true);
  v.setUint32(20, arg.ret >>> 0, true);
  v.setUint32(24, arg.ret_origin >>> 0, true);
  v.setUint32(28, arg.params.length, true);
  arg.params.forEach((p, i) => {
    const o = OPTEE_MSG_ARG_HEADER_SIZE + i * OPTEE_MSG_PARAM_SIZE;
    v.setBigUint64(o, BigInt.asUintN(64, p.attr), true);
    for (let k = 0; k < 3; k++) v.setBigUint64(o + 8 + 8 * k, BigInt.asUintN(64, p.u[k]), true);
  });
  return bytes;
}

/** Decodes an optee_msg_arg; never throws: too short for its num_params gives an error. */
export function decodeMsgArg(bytes: Uint8Array): { ok: true; arg: OpteeMsgArg } | { ok: false; why: string } {
  if (bytes.length < OPTEE_MSG_ARG_HEADER_SIZE)
    return { ok: false, why: `${bytes.length} bytes: shorter than the header` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = v.getUint32(28, true);
  if (bytes.length < optee_msg_get_arg_size(n)) {
    return {
      ok: false,
      why: `num_params ${n} needs ${optee_msg_get_arg_size(n)} bytes, have ${bytes.length}`,
    };
  }
  const params: OpteeMsgParam[] = [];
  for (let i = 0; i < n; i++) {
    const o = OPTEE_MSG_ARG_HEADER_SIZE + i * OPTEE_MSG_PARAM_SIZE;
    params.push({
      attr: v.getBigUint64(o, true),
      u: [v.getBigUint64(o + 8, true), v.getBigUint64(o + 16, true), v.getBigUint64(o + 24, true)],
    });
  }
  return {
    ok: true,
    arg: {
      cmd: v.getUint32(0, true),
      func: v.getUint32(4, true),
      session: v.getUint32(8, true),
      cancel_id: v.getUint32(12, true),
      pad: v.getUint32(16, true),
      ret: v.getUint32(20, true),
      ret_origin: v.getUint32(24, true),
      params,
    },
  };
}

/** The type bits of a parameter's attr. */
export function paramType(p: OpteeMsgParam): number {
  return Number(p.attr & BigInt(OPTEE_MSG_ATTR_TYPE_MASK));
}

/**
 * The u32 memory attributes GET_PROTMEM_CONFIG returns: FF-A endpoint id in bits 15:0, FF-A access
 * permissions above (struct ffa_mem_access_perm {u16 endpoint_id; u8 perm; u8 flags}); Linux decodes
 * `receiver = attr & U16_MAX`, `attrs = attr >> 16`.
 */
export function protmemMemAttr(endpointId: number, perm: number): number {
  return ((perm & 0xff) << 16) | (endpointId & 0xffff);
}
