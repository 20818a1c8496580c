/**
 * The arm_ffa driver's memory operations — drivers/firmware/arm_ffa/driver.c: ffa_memory_share(),
 * ffa_memory_lend(), ffa_memory_reclaim() and what they share, ffa_memory_ops() →
 * ffa_setup_and_transmit() → ffa_transmit_fragment() (ffa_mem_first_frag() / ffa_mem_next_frag()).
 *
 * The descriptor is built in the TX buffer under tx_lock (args.useTxbuf, as the OP-TEE driver always
 * asks): header, one EMAD per receiver, the composite, then the constituents. When a fragment reaches
 * exactly the buffer size it is sent (FFA_MEM_LEND/SHARE first, FFA_MEM_FRAG_TX after), and the next
 * constituents start again at the beginning of the buffer. An error while sending a fragment that is
 * not the last one is −ENXIO, whatever the SPMC said (as in Linux); the last one's error is mapped by
 * ffa_to_linux_errno().
 */
import { COMPOSITE_SIZE, CONSTITUENT_SIZE } from "../../../abi/ffa/layout.ts";
import {
  FFA_ERROR_32,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_OP_PAUSE_32,
  FFA_MEM_OP_RESUME_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_PAGE_SIZE,
  FFA_SUCCESS_32,
  FFA_SUCCESS_64,
  emadSize,
  encodeMemRegion,
  ffaToLinuxErrno,
  mtdHeaderSize,
} from "../../../abi/ffa/index.ts";
import { EFAULT, EINVAL, EOPNOTSUPP, ERRNO } from "../../../abi/uapi/errno.ts";

const ENXIO = ERRNO.ENXIO;
import { smcRegs } from "../../../hw/smc.ts";
import type { Sleeps } from "../../../sim/scheduler.ts";
import { w, type ArmFfaDriver } from "./driver.ts";

/** struct ffa_mem_region_attributes as the caller gives it: receiver ID and access permissions. */
export interface FfaMemRegionAttributes {
  readonly receiver: number;
  readonly attrs: number;
  readonly impdef?: readonly [bigint, bigint];
}

/** One scatterlist entry: physical address and length in bytes. */
export interface SgEntry {
  readonly pa: number;
  readonly length: number;
}

/** struct ffa_mem_ops_args */
export interface FfaMemOpsArgs {
  readonly useTxbuf: boolean;
  readonly attrs: readonly FfaMemRegionAttributes[];
  readonly flags: number;
  readonly tag: bigint;
  readonly sg: readonly SgEntry[];
  /** Out: the global handle. */
  gHandle: bigint;
}

/** ffa_memory_attributes_get(): 0 for LEND (the sender must not set them), Normal WB inner-shareable otherwise. */
export function ffaMemoryAttributesGet(funcId: number): number {
  if (funcId === FFA_MEM_LEND_64 || funcId === FFA_MEM_LEND_32) return 0;
  return FFA_NORMAL_MEM_REG_ATTR;
}

function packHandle(lo: bigint, hi: bigint): bigint {
  return (lo & 0xffff_ffffn) | ((hi & 0xffff_ffffn) << 32n);
}

/** ffa_mem_first_frag(): frag_len, or −errno; sets the handle on SUCCESS or FRAG_RX. */
function* memFirstFrag(
  drv: ArmFfaDriver,
  funcId: number,
  fragLen: number,
  len: number,
  out: { handle: bigint },
): Sleeps<number> {
  let ret = yield* drv.invoke(smcRegs(funcId, len, fragLen, 0, 0));
  while (w(ret, 0) === FFA_MEM_OP_PAUSE_32)
    ret = yield* drv.invoke(smcRegs(FFA_MEM_OP_RESUME_32, ret[1], ret[2]));
  const a0 = w(ret, 0);
  if (a0 === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (a0 === FFA_SUCCESS_32 || a0 === FFA_SUCCESS_64) out.handle = packHandle(ret[2], ret[3]);
  else if (a0 === FFA_MEM_FRAG_RX_32) out.handle = packHandle(ret[1], ret[2]);
  else return -EOPNOTSUPP;
  return fragLen;
}

/** ffa_mem_next_frag(): the offset FRAG_RX asks for next, 0 on SUCCESS, or −errno. */
function* memNextFrag(drv: ArmFfaDriver, handle: bigint, fragLen: number): Sleeps<number> {
  let ret = yield* drv.invoke(smcRegs(FFA_MEM_FRAG_TX_32, handle & 0xffff_ffffn, handle >> 32n, fragLen));
  while (w(ret, 0) === FFA_MEM_OP_PAUSE_32)
    ret = yield* drv.invoke(smcRegs(FFA_MEM_OP_RESUME_32, ret[1], ret[2]));
  const a0 = w(ret, 0);
  if (a0 === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (a0 === FFA_MEM_FRAG_RX_32) return w(ret, 3);
  if (a0 === FFA_SUCCESS_32 || a0 === FFA_SUCCESS_64) return 0;
  return -EOPNOTSUPP;
}

/**
 * ffa_setup_and_transmit(): builds the descriptor in `buffer` (the TX buffer's bytes, written to the
 * page before each transmission) and sends it in fragments of at most max_fragsize bytes.
 */
function* setupAndTransmit(
  drv: ArmFfaDriver,
  funcId: number,
  maxFragsize: number,
  args: FfaMemOpsArgs,
): Sleeps<number> {
  const version = drv.version;
  const totalPages = args.sg.reduce((a, s) => a + Math.floor(s.length / FFA_PAGE_SIZE), 0);
  // Header + EMADs + composite, exactly as the codec lays them out for this version.
  const head = encodeMemRegion(
    {
      sender_id: drv.vmId,
      attributes: ffaMemoryAttributesGet(funcId),
      flags: args.flags,
      tag: args.tag,
      emads: args.attrs.map((a) => ({
        receiver_id: a.receiver,
        permissions: a.attrs,
        flags: 0,
        ...(a.impdef ? { impdef: a.impdef } : {}),
      })),
      constituents: [],
    },
    version,
    { total_page_count: totalPages, address_range_count: args.sg.length },
  );
  const compositeOffset = mtdHeaderSize(version) + args.attrs.length * emadSize(version);
  const length = compositeOffset + COMPOSITE_SIZE + args.sg.length * CONSTITUENT_SIZE;
  let fragLen = compositeOffset + COMPOSITE_SIZE;
  if (fragLen > maxFragsize) return -ENXIO;
  const buffer = new Uint8Array(maxFragsize);
  buffer.set(head.subarray(0, fragLen));
  const out = { handle: 0n };
  let first = true;
  let cons = fragLen;
  const transmit = function* (n: number): Sleeps<number> {
    const code = drv.writeTx(buffer.subarray(0, n));
    if (code !== 0) return -EFAULT;
    return first ? yield* memFirstFrag(drv, funcId, n, length, out) : yield* memNextFrag(drv, out.handle, n);
  };
  for (const sg of args.sg) {
    if (fragLen === maxFragsize) {
      const rc = yield* transmit(fragLen);
      if (rc < 0) return -ENXIO;
      first = false;
      fragLen = 0;
      cons = 0;
    }
    if (cons > maxFragsize) return -EFAULT; // "Memory Region Fragment > Tx Buffer size"
    const d = new DataView(buffer.buffer, cons, CONSTITUENT_SIZE);
    d.setBigUint64(0, BigInt(sg.pa), true);
    d.setUint32(8, Math.floor(sg.length / FFA_PAGE_SIZE), true);
    d.setUint32(12, 0, true);
    cons += CONSTITUENT_SIZE;
    fragLen += CONSTITUENT_SIZE;
  }
  const rc = yield* transmit(fragLen);
  args.gHandle = out.handle;
  return rc;
}

/** ffa_memory_ops(): the TX buffer under tx_lock (use_txbuf), or a private buffer (not modelled). */
function* memoryOps(drv: ArmFfaDriver, funcId: number, args: FfaMemOpsArgs): Sleeps<number> {
  if (!args.useTxbuf) return -EINVAL; // alloc_pages_exact() buffers: no caller in the model uses them
  const locked = yield* drv.lock(drv.txLock);
  const ret = yield* setupAndTransmit(drv, funcId, drv.rxtxBufsz, args);
  if (locked) drv.txLock.unlock();
  return ret < 0 ? ret : 0;
}

/** ffa_memory_share() */
export function* ffaMemoryShare(drv: ArmFfaDriver, args: FfaMemOpsArgs): Sleeps<number> {
  return yield* memoryOps(drv, drv.memOpsNative ? FFA_MEM_SHARE_64 : FFA_MEM_SHARE_32, args);
}

/**
 * ffa_memory_lend(). "upon a successful MEM_LEND request the caller must ensure that the memory region
 * specified is not accessed until a successful MEM_RECLAIM call has been made."
 */
export function* ffaMemoryLend(drv: ArmFfaDriver, args: FfaMemOpsArgs): Sleeps<number> {
  return yield* memoryOps(drv, drv.memOpsNative ? FFA_MEM_LEND_64 : FFA_MEM_LEND_32, args);
}

/** ffa_memory_reclaim(g_handle, flags): 0 or −errno. */
export function* ffaMemoryReclaim(drv: ArmFfaDriver, gHandle: bigint, flags: number): Sleeps<number> {
  const ret = yield* drv.invoke(smcRegs(FFA_MEM_RECLAIM_32, gHandle & 0xffff_ffffn, gHandle >> 32n, flags));
  if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  return 0;
}
