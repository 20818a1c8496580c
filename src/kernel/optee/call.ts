/**
 * drivers/tee/optee/call.c (torvalds/linux v6.18): the message-argument cache and the session calls.
 *
 * The argument cache: entries are SHM_ENTRY_SIZE (one page) shms from tee_shm_alloc_priv_buf()
 * (OPTEE_SHM_ARG_ALLOC_PRIV: the SMC ABI, whose private buffers are passed by physical address) or
 * tee_shm_alloc_kernel_buf() (the FF-A ABI: its pool shares the page with FFA_MEM_SHARE), made when
 * no entry has a free slot — so the first message allocates the first page, and entries stay until
 * optee_shm_arg_cache_uninit() when the driver goes. OPTEE_SHM_ARG_SHARED (OP-TEE reported
 * OPTEE_FFA_SEC_CAP_ARG_OFFSET, or OPTEE_SMC_SEC_CAP_RPC_ARG) packs SHM_ENTRY_SIZE /
 * optee_msg_arg_size() slots into a page, else one. optee->shm_arg_cache.mutex is held to pick (or
 * allocate) a slot and to give it back, never across the call into the secure world.
 *
 * Sessions: optee_open_session() (the TA's UUID and the client's login as two meta parameters before
 * the caller's), optee_invoke_func(), optee_close_session() / optee_close_session_helper(). The
 * context's sess_list is ctx->data (core.c optee_open()).
 */
import {
  decodeMsgArg,
  encodeMsgArg,
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
  optee_msg_get_arg_size,
  valueParam,
  type OpteeMsgParam,
  type OpteeMsgArg,
  msgArg,
} from "../../abi/optee/msg.ts";
import { TEE_ERROR_COMMUNICATION, TEE_SUCCESS, TEEC_ORIGIN_COMMS } from "../../abi/optee/tee_result.ts";
import { EINVAL } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import {
  lockMaybeBoot,
  type TeeContext,
  type TeeInvokeArg,
  type TeeOpenSessionArg,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
  type TeeParam,
} from "../tee/tee_core.ts";
import {
  teeShmAllocKernelBuf,
  teeShmAllocPrivBuf,
  teeShmFree,
  teeShmRead,
  teeShmWrite,
  type TeeShm,
} from "../tee/tee_shm.ts";
import {
  OPTEE_SHM_ARG_ALLOC_PRIV,
  OPTEE_SHM_ARG_SHARED,
  opteeOf,
  pr,
  type Optee,
  type OpteeContextData,
  type OpteeShmArgEntry,
} from "./optee.ts";

/** call.c: MAX_ARG_PARAM_COUNT, SHM_ENTRY_SIZE, MAX_ARG_COUNT_PER_ENTRY. */
export const MAX_ARG_PARAM_COUNT = 6;
export const SHM_ENTRY_SIZE = 4096;
const MAX_ARG_COUNT_PER_ENTRY = Math.floor(SHM_ENTRY_SIZE / optee_msg_get_arg_size(MAX_ARG_PARAM_COUNT));

// ---- The argument cache ----

/** optee_shm_arg_cache_init() */
export function opteeShmArgCacheInit(optee: Optee, flags: number): void {
  optee.shmArgCache.flags = flags;
}

/**
 * optee_shm_arg_cache_uninit(): every entry leaves the list and its shm is freed (over FF-A:
 * OPTEE_FFA_UNREGISTER_SHM, then FFA_MEM_RECLAIM); an entry with a slot still in use is only printed.
 */
export function* opteeShmArgCacheUninit(optee: Optee): Sleeps {
  const entries = optee.shmArgCache.entries;
  while (entries.length) {
    const entry = entries.shift()!;
    if (findFirstBit(entry.map, MAX_ARG_COUNT_PER_ENTRY) !== MAX_ARG_COUNT_PER_ENTRY)
      pr(optee, "pr_err", "Freeing non-free entry");
    yield* teeShmFree(entry.shm);
  }
}

/** optee_msg_arg_size(rpc_param_count): a message of MAX_ARG_PARAM_COUNT params plus the RPC arg. */
export function opteeMsgArgSize(rpcParamCount: number): number {
  let sz = optee_msg_get_arg_size(MAX_ARG_PARAM_COUNT);
  if (rpcParamCount) sz += optee_msg_get_arg_size(rpcParamCount);
  return sz;
}

/** What optee_get_msg_arg() hands back: the entry, its shm, the offset, and the message's num_params. */
export interface OpteeMsgSlot {
  readonly entry: OpteeShmArgEntry;
  readonly shm: TeeShm;
  readonly offs: number;
  readonly numParams: number;
}

function findFirstZeroBit(map: number, size: number): number {
  for (let b = 0; b < size; b++) if (!(map & (1 << b))) return b;
  return size;
}

function findFirstBit(map: number, size: number): number {
  for (let b = 0; b < size; b++) if (map & (1 << b)) return b;
  return size;
}

/**
 * optee_get_msg_arg(ctx, num_params): a zeroed message slot (memset(ma, 0, sz); num_params set), or
 * −errno: −EINVAL above MAX_ARG_PARAM_COUNT, or the allocation's error. The cache mutex is held while
 * looking for a slot and while allocating a new entry (which over FF-A shares the page).
 */
export function* opteeGetMsgArg(ctx: TeeContext, numParams: number): Sleeps<OpteeMsgSlot | number> {
  const optee = opteeOf(ctx);
  const cache = optee.shmArgCache;
  const sz = opteeMsgArgSize(optee.rpcParamCount);
  if (numParams > MAX_ARG_PARAM_COUNT) return -EINVAL;
  const argsPerEntry = cache.flags & OPTEE_SHM_ARG_SHARED ? Math.floor(SHM_ENTRY_SIZE / sz) : 1;
  const locked = yield* lockMaybeBoot(optee.kernel.sim, cache.mutex);
  let entry: OpteeShmArgEntry | null = null;
  let bit = -1;
  for (const e of cache.entries) {
    const b = findFirstZeroBit(e.map, MAX_ARG_COUNT_PER_ENTRY);
    if (b < argsPerEntry) {
      entry = e;
      bit = b;
      break;
    }
  }
  let res: OpteeMsgSlot | number = 0;
  if (!entry) {
    // "No entry was found, let's allocate a new."
    const shm =
      cache.flags & OPTEE_SHM_ARG_ALLOC_PRIV
        ? yield* teeShmAllocPrivBuf(ctx, SHM_ENTRY_SIZE)
        : yield* teeShmAllocKernelBuf(ctx, SHM_ENTRY_SIZE);
    if (typeof shm === "number") res = shm;
    else {
      entry = { shm, map: 0 };
      cache.entries.unshift(entry); // list_add()
      bit = 0;
    }
  }
  if (entry) {
    const offs = bit * sz;
    if (offs >= entry.shm.size)
      res = -EINVAL; // tee_shm_get_va()
    else {
      entry.map |= 1 << bit;
      teeShmWrite(entry.shm, offs, new Uint8Array(sz)); // memset(ma, 0, sz)
      const header = new Uint8Array(4);
      new DataView(header.buffer).setUint32(0, numParams, true);
      teeShmWrite(entry.shm, offs + 28, header); // ma->num_params
      res = { entry, shm: entry.shm, offs, numParams };
    }
  }
  if (locked) yield* cache.mutex.unlockPreempt();
  return res;
}

/** optee_free_msg_arg(ctx, entry, offs): the slot's bit is cleared under the cache mutex. */
export function* opteeFreeMsgArg(ctx: TeeContext, slot: OpteeMsgSlot): Sleeps {
  const optee = opteeOf(ctx);
  const sz = opteeMsgArgSize(optee.rpcParamCount);
  if (slot.offs > SHM_ENTRY_SIZE || slot.offs % sz) {
    pr(optee, "pr_err", `Invalid offs ${slot.offs}`);
    return;
  }
  const bit = slot.offs / sz;
  const cache = optee.shmArgCache;
  const locked = yield* lockMaybeBoot(optee.kernel.sim, cache.mutex);
  if (!(slot.entry.map & (1 << bit))) pr(optee, "pr_err", `Bit pos ${bit} is already free`);
  slot.entry.map &= ~(1 << bit);
  if (locked) yield* cache.mutex.unlockPreempt();
}

/** The caller's stores into the message (header fields and params), through tee_shm_get_va(). */
export function opteeMsgArgWrite(slot: OpteeMsgSlot, arg: OpteeMsgArg): number {
  if (arg.params.length !== slot.numParams)
    throw new Error("message params differ from the slot's num_params");
  return teeShmWrite(slot.shm, slot.offs, encodeMsgArg(arg));
}

/** The message as the kernel reads it after the call: the header and its own num_params params. */
export function opteeMsgArgRead(slot: OpteeMsgSlot): OpteeMsgArg {
  const copy = teeShmRead(slot.shm, slot.offs, optee_msg_get_arg_size(slot.numParams)).slice();
  new DataView(copy.buffer).setUint32(28, slot.numParams, true);
  const d = decodeMsgArg(copy);
  if (!d.ok) throw new Error(`optee_msg_arg unreadable: ${d.why}`);
  return d.arg;
}

/** optee->ops->do_call_with_arg(ctx, shm, offs, false) for the slot. */
export function* opteeDoCallWithArg(optee: Optee, slot: OpteeMsgSlot): Sleeps<number> {
  return yield* optee.ops.doCallWithArg(optee, slot.shm, slot.offs);
}

// ---- Sessions ----

/** The 16 bytes of a UUID as the two u64 of a value parameter (memcpy(&params[0].u.value, uuid, 16)). */
function uuidValue(uuid: Uint8Array): [bigint, bigint] {
  const d = new DataView(uuid.buffer, uuid.byteOffset, 16);
  return [d.getBigUint64(0, true), d.getBigUint64(8, true)];
}

/**
 * optee_open_session(): OPTEE_MSG_CMD_OPEN_SESSION with the two meta params (params[0] the TA's UUID;
 * params[1] value.c = clnt_login, then export_uuid() of the client UUID over its octets — nil for
 * TEE_IOCTL_LOGIN_PUBLIC) before the caller's. A transport failure becomes TEEC_ERROR_COMMUNICATION
 * from TEEC_ORIGIN_COMMS in msg_arg->ret; TEEC_SUCCESS puts the session on the context's list.
 */
export function* opteeOpenSession(
  ctx: TeeContext,
  arg: TeeOpenSessionArg,
  params: TeeParam[],
): Sleeps<number> {
  const optee = opteeOf(ctx);
  const slot = yield* opteeGetMsgArg(ctx, params.length + 2); // +2 for the meta parameters
  if (typeof slot === "number") return slot;
  const [a, b] = uuidValue(arg.uuid);
  const meta = BigInt(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META);
  const tail = optee.ops.toMsgParam(optee, params);
  let rc = 0;
  if (typeof tail === "number") rc = tail;
  else {
    opteeMsgArgWrite(slot, {
      ...msgArg(OPTEE_MSG_CMD_OPEN_SESSION, [
        { attr: meta, u: [a, b, 0n] },
        { attr: meta, u: [0n, 0n, BigInt(arg.clntLogin)] },
        ...tail,
      ]),
      cancel_id: arg.cancelId,
    });
    const callRc = yield* opteeDoCallWithArg(optee, slot);
    const back = opteeMsgArgRead(slot);
    const ret = callRc ? TEE_ERROR_COMMUNICATION : back.ret;
    const origin = callRc ? TEEC_ORIGIN_COMMS : back.ret_origin;
    // "A new session has been created, add it to the list."
    if (ret === TEE_SUCCESS) (ctx.data as OpteeContextData).sessList.unshift({ sessionId: back.session });
    if (optee.ops.fromMsgParam(optee, params, back.params.slice(2))) {
      arg.ret = TEE_ERROR_COMMUNICATION;
      arg.retOrigin = TEEC_ORIGIN_COMMS;
      // "Close session again to avoid leakage"
      yield* opteeCloseSession(ctx, back.session);
    } else {
      arg.session = back.session;
      arg.ret = ret;
      arg.retOrigin = origin;
    }
  }
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/** optee_close_session_helper(): OPTEE_MSG_CMD_CLOSE_SESSION; the call's result is not looked at. */
export function* opteeCloseSessionHelper(ctx: TeeContext, session: number): Sleeps<number> {
  const optee = opteeOf(ctx);
  const slot = yield* opteeGetMsgArg(ctx, 0);
  if (typeof slot === "number") return slot;
  opteeMsgArgWrite(slot, { ...msgArg(OPTEE_MSG_CMD_CLOSE_SESSION, []), session });
  yield* opteeDoCallWithArg(optee, slot);
  yield* opteeFreeMsgArg(ctx, slot);
  return 0;
}

/** optee_close_session(): −EINVAL for a session this context did not open; else off the list, then closed. */
export function* opteeCloseSession(ctx: TeeContext, session: number): Sleeps<number> {
  const list = (ctx.data as OpteeContextData).sessList;
  const i = list.findIndex((s) => s.sessionId === session);
  if (i < 0) return -EINVAL;
  list.splice(i, 1);
  return yield* opteeCloseSessionHelper(ctx, session);
}

/** optee_invoke_func(): OPTEE_MSG_CMD_INVOKE_COMMAND on a session of this context. */
export function* opteeInvokeFunc(ctx: TeeContext, arg: TeeInvokeArg, params: TeeParam[]): Sleeps<number> {
  const optee = opteeOf(ctx);
  if (!(ctx.data as OpteeContextData).sessList.some((s) => s.sessionId === arg.session)) return -EINVAL;
  const slot = yield* opteeGetMsgArg(ctx, params.length);
  if (typeof slot === "number") return slot;
  const mp = optee.ops.toMsgParam(optee, params);
  let rc = 0;
  if (typeof mp === "number") rc = mp;
  else {
    opteeMsgArgWrite(slot, {
      ...msgArg(OPTEE_MSG_CMD_INVOKE_COMMAND, mp),
      func: arg.func,
      session: arg.session,
      cancel_id: arg.cancelId,
    });
    const callRc = yield* opteeDoCallWithArg(optee, slot);
    const back = opteeMsgArgRead(slot);
    let ret = callRc ? TEE_ERROR_COMMUNICATION : back.ret;
    let origin = callRc ? TEEC_ORIGIN_COMMS : back.ret_origin;
    if (optee.ops.fromMsgParam(optee, params, back.params)) {
      ret = TEE_ERROR_COMMUNICATION;
      origin = TEEC_ORIGIN_COMMS;
    }
    arg.ret = ret;
    arg.retOrigin = origin;
  }
  yield* opteeFreeMsgArg(ctx, slot);
  return rc;
}

/**
 * optee_to_msg_param_value() — drivers/tee/optee/call.c: a value parameter as the message carries it
 * (both ABIs' to_msg_param use it).
 */
export function opteeToMsgParamValue(p: TeeParam): OpteeMsgParam {
  return valueParam(
    OPTEE_MSG_ATTR_TYPE_VALUE_INPUT + p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
    p.a,
    p.b,
    p.c,
  );
}

/** optee_from_msg_param_value() — call.c: a value parameter back from the message. */
export function opteeFromMsgParamValue(p: TeeParam, attr: number, mp: OpteeMsgParam): void {
  p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + attr - OPTEE_MSG_ATTR_TYPE_VALUE_INPUT;
  [p.a, p.b, p.c] = mp.u;
}
