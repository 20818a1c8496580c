/**
 * drivers/tee/optee/smc_abi.c (torvalds/linux v6.18), the part that names memory to OP-TEE over its
 * own SMC ABI: the tee_param ↔ optee_msg_param conversion (optee_to_msg_param(): a memref of a
 * dynamic — registered — shm is RMEM {offs, size, shm_ref}, any other, a NULL memref included, TMEM
 * {buf_ptr = its physical address or 0, size, shm_ref = the shm pointer or 0}; optee_from_msg_param()
 * back), shared-memory registration (optee_shm_register(): OPTEE_MSG_CMD_REGISTER_SHM with a
 * TMEM_OUTPUT | NONCONTIG page list, its message in a private buffer of its own;
 * optee_shm_unregister(): OPTEE_MSG_CMD_UNREGISTER_SHM with RMEM_INPUT shm_ref) and the shm pool
 * (optee_shm_pool_alloc_pages(): private buffers are not registered, the others are).
 *
 * MODEL CHOICES:
 * - `(unsigned long)shm` — the kernel pointer OP-TEE gets as shm_ref and cookie — is a
 *   kernel-pointer-like value made from the shm's serial: unique per shm, deterministic. The driver
 *   finds the shm back by it (upstream casts the value back to the pointer).
 * - optee_check_mem_type() passes (kernel memory).
 */
import {
  memParam,
  OPTEE_MSG_ATTR_NONCONTIG,
  OPTEE_MSG_ATTR_TYPE_MASK,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_RMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INOUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_REGISTER_SHM,
  OPTEE_MSG_CMD_UNREGISTER_SHM,
  encodeMsgArg,
  valueParam,
  type OpteeMsgArg,
  type OpteeMsgParam,
  msgArg,
} from "../../abi/optee/msg.ts";
import { TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EINVAL, ENOMEM } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { SideTable } from "../../sim/side_table.ts";
import { GFP_KERNEL } from "../mm/gfp.ts";
import {
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_NONE,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT,
  teeParam,
  type TeeDevice,
  type TeeParam,
} from "../tee/tee_core.ts";
import {
  TEE_SHM_DYNAMIC,
  TEE_SHM_PRIV,
  teeDynShmAllocHelper,
  teeDynShmFreeHelper,
  teeShmAllocPrivBuf,
  teeShmFree,
  teeShmRead,
  teeShmWrite,
  type TeeShm,
  type TeeShmPool,
} from "../tee/tee_shm.ts";
import { opteeFromMsgParamValue, opteeMsgArgSize, opteeToMsgParamValue } from "./call.ts";
import type { Optee } from "./optee.ts";

/** OPTEE_MSG_NONCONTIG_PAGE_SIZE and the page list's entries per page (the last one links on). */
const OPTEE_MSG_NONCONTIG_PAGE_SIZE = 4096;
const PAGELIST_ENTRIES_PER_PAGE = OPTEE_MSG_NONCONTIG_PAGE_SIZE / 8 - 1;

/**
 * The pointer values a device handed out, to their shm: what casting shm_ref back to the pointer finds.
 * Per device, as its serials are, and part of the system's state — a SideTable, which snapshots record
 * and restore — so a run that starts from a snapshot finds what a fresh boot would. (It was a
 * module-level map of WeakRefs: state outside the system, which kept the shms of every earlier run of
 * a search, since V8 keeps a WeakRef's target alive until the synchronous job — the whole search —
 * ends.) An entry stays after its shm is freed: the pointer value still names that memory.
 */
const handedOut = new SideTable<TeeDevice, Map<bigint, TeeShm>>("smc_shm:handed-out");

/** `(unsigned long)shm` (see the header). */
export function shmPtr(shm: TeeShm): bigint {
  const p = 0xffff_0000_8000_0000n + BigInt(shm.serial) * 0x80n;
  const teedev = shm.ctx.teedev;
  let byPtr = handedOut.get(teedev);
  if (byPtr === undefined) {
    byPtr = new Map();
    handedOut.set(teedev, byPtr);
  }
  byPtr.set(p, shm);
  return p;
}

/**
 * `(struct tee_shm *)(unsigned long)shm_ref` on `teedev`: the shm, or null for 0 (and for a value the
 * device never handed out).
 */
export function shmFromPtr(teedev: TeeDevice | null, p: bigint): TeeShm | null {
  return p && teedev ? (handedOut.get(teedev)?.get(p) ?? null) : null;
}

/** tee_shm_is_dynamic() */
export function teeShmIsDynamic(shm: TeeShm | null): boolean {
  return !!shm && (shm.flags & TEE_SHM_DYNAMIC) !== 0;
}

/** tee_shm_get_pa(shm, offs, &pa): −EINVAL at or beyond the end. */
export function teeShmGetPa(shm: TeeShm, offs: number): number {
  return offs >= shm.size ? -EINVAL : shm.paddr + offs;
}

/** optee_to_msg_param() (smc_abi.c), see the header; the cache attribute (PREDEFINED = 0) adds nothing. */
export function smcToMsgParam(_optee: Optee, params: readonly TeeParam[]): OpteeMsgParam[] | number {
  const out: OpteeMsgParam[] = [];
  for (const p of params) {
    if (p.attr === TEE_IOCTL_PARAM_ATTR_TYPE_NONE) out.push(valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0));
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT
    )
      out.push(opteeToMsgParamValue(p));
    else if (
      p.attr >= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT &&
      p.attr <= TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT
    ) {
      const k = p.attr - TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
      if (teeShmIsDynamic(p.shm)) {
        // to_msg_param_reg_mem()
        out.push(memParam(OPTEE_MSG_ATTR_TYPE_RMEM_INPUT + k, p.shmOffs, p.size, shmPtr(p.shm!)));
      } else if (!p.shm) {
        // to_msg_param_tmp_mem() of a NULL memref: buf_ptr 0, shm_ref 0.
        out.push(memParam(OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + k, 0, p.size, 0));
      } else {
        const pa = teeShmGetPa(p.shm, Number(p.shmOffs));
        if (pa < 0) return pa;
        out.push(memParam(OPTEE_MSG_ATTR_TYPE_TMEM_INPUT + k, pa, p.size, shmPtr(p.shm)));
      }
    } else return -EINVAL;
  }
  return out;
}

/** optee_from_msg_param() (smc_abi.c): values, TMEM (offset from the shm's PA) and RMEM back. */
export function smcFromMsgParam(optee: Optee, params: TeeParam[], msg: readonly OpteeMsgParam[]): number {
  for (let n = 0; n < params.length; n++) {
    const mp = msg[n];
    const attr = Number(mp.attr & BigInt(OPTEE_MSG_ATTR_TYPE_MASK));
    const p = params[n];
    if (attr === OPTEE_MSG_ATTR_TYPE_NONE) params[n] = teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE);
    else if (attr >= OPTEE_MSG_ATTR_TYPE_VALUE_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) {
      opteeFromMsgParamValue(p, attr, mp);
    } else if (attr >= OPTEE_MSG_ATTR_TYPE_TMEM_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_TMEM_INOUT) {
      // from_msg_param_tmp_mem()
      p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + attr - OPTEE_MSG_ATTR_TYPE_TMEM_INPUT;
      p.size = mp.u[1];
      const shm = shmFromPtr(optee.teedev, mp.u[2]);
      p.shm = shm;
      p.shmOffs = shm ? mp.u[0] - BigInt(shm.paddr) : 0n;
    } else if (attr >= OPTEE_MSG_ATTR_TYPE_RMEM_INPUT && attr <= OPTEE_MSG_ATTR_TYPE_RMEM_INOUT) {
      // from_msg_param_reg_mem()
      p.attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + attr - OPTEE_MSG_ATTR_TYPE_RMEM_INPUT;
      p.size = mp.u[1];
      const shm = shmFromPtr(optee.teedev, mp.u[2]);
      p.shm = shm;
      p.shmOffs = shm ? mp.u[0] : 0n;
    } else return -EINVAL;
  }
  return 0;
}

/** One register/unregister message in a private buffer of its own (not the arg cache); 0 or −EINVAL. */
function* ownArgCall(
  optee: Optee,
  shm: TeeShm,
  arg: OpteeMsgArg,
  call: (optee: Optee, shm: TeeShm, offs: number) => Sleeps<number>,
): Sleeps<number> {
  const sz = opteeMsgArgSize(optee.rpcParamCount);
  const shmArg = yield* teeShmAllocPrivBuf(shm.ctx, sz);
  if (typeof shmArg === "number") return shmArg;
  teeShmWrite(shmArg, 0, new Uint8Array(sz)); // memset(msg_arg, 0, sz)
  teeShmWrite(shmArg, 0, encodeMsgArg(arg));
  let rc = yield* call(optee, shmArg, 0);
  const ret = new DataView(teeShmRead(shmArg, 20, 4).buffer).getUint32(0, true);
  if (rc || ret !== TEE_SUCCESS) rc = -EINVAL;
  yield* teeShmFree(shmArg);
  return rc;
}

/**
 * optee_shm_register(): the shm's pages in a page list (optee_allocate_pages_list():
 * alloc_pages_exact(), PAGELIST_ENTRIES_PER_PAGE addresses then the next list page's),
 * OPTEE_MSG_CMD_REGISTER_SHM {TMEM_OUTPUT | NONCONTIG, buf_ptr = the list's PA | page offset, size,
 * shm_ref = shm}; −EINVAL unless the call and its result succeed. The list is freed after the call.
 */
export function* smcShmRegister(
  optee: Optee,
  shm: TeeShm,
  call: (optee: Optee, shm: TeeShm, offs: number) => Sleeps<number>,
): Sleeps<number> {
  const numPages = shm.numPages;
  if (!numPages) return -EINVAL;
  const listPages = Math.ceil(numPages / PAGELIST_ENTRIES_PER_PAGE);
  const order = Math.ceil(Math.log2(listPages));
  const mm = optee.kernel.mm;
  const machine = optee.kernel.machine;
  const frame = mm.buddy.allocPages(order, GFP_KERNEL);
  if (frame < 0) return -ENOMEM;
  const listPa = machine.frames.paOf(frame);
  // optee_fill_pages_list()
  const list = new Uint8Array(listPages * OPTEE_MSG_NONCONTIG_PAGE_SIZE);
  const v = new DataView(list.buffer);
  for (let i = 0, idx = 0; i < numPages; i++) {
    v.setBigUint64(8 * idx++, BigInt(shm.paddr + i * 4096), true);
    if (idx % (PAGELIST_ENTRIES_PER_PAGE + 1) === PAGELIST_ENTRIES_PER_PAGE) {
      // next_page_data = virt_to_phys(pages_data + 1)
      v.setBigUint64(8 * idx, BigInt(listPa + ((idx + 1) / (PAGELIST_ENTRIES_PER_PAGE + 1)) * 4096), true);
      idx++;
    }
  }
  machine.writeBytes(machine.masterIndex("cpu-ns"), listPa, list, { kernel: true });
  const rc = yield* ownArgCall(
    optee,
    shm,
    msgArg(OPTEE_MSG_CMD_REGISTER_SHM, [
      memParam(OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT | OPTEE_MSG_ATTR_NONCONTIG, listPa, shm.size, shmPtr(shm)),
    ]),
    call,
  );
  mm.buddy.freePages(frame, order); // optee_free_pages_list()
  return rc;
}

/** optee_shm_unregister(): OPTEE_MSG_CMD_UNREGISTER_SHM {RMEM_INPUT shm_ref = shm}. */
export function* smcShmUnregister(
  optee: Optee,
  shm: TeeShm,
  call: (optee: Optee, shm: TeeShm, offs: number) => Sleeps<number>,
): Sleeps<number> {
  return yield* ownArgCall(
    optee,
    shm,
    msgArg(OPTEE_MSG_CMD_UNREGISTER_SHM, [memParam(OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, 0, 0, shmPtr(shm))]),
    call,
  );
}

/**
 * optee_shm_pool_alloc_pages(): pool_op_alloc() — TEE_SHM_PRIV: tee_dyn_shm_alloc_helper() without
 * registering ("can't register shared memory for the arg cache … catch-22"); otherwise registered;
 * pool_op_free() mirrors it; pool_op_destroy_pool(): kfree(pool).
 */
export function smcShmPool(
  optee: Optee,
  call: (optee: Optee, shm: TeeShm, offs: number) => Sleeps<number>,
): TeeShmPool {
  return {
    ops: {
      // Arrows that return the helpers' generators, not generator methods (eslint.config.js).
      alloc: (_pool, shm, size) =>
        teeDynShmAllocHelper(
          shm,
          size,
          shm.flags & TEE_SHM_PRIV ? null : (s) => smcShmRegister(optee, s, call),
        ),
      free: (_pool, shm) =>
        teeDynShmFreeHelper(shm, shm.flags & TEE_SHM_PRIV ? null : (s) => smcShmUnregister(optee, s, call)),
      destroyPool() {},
    },
  };
}
