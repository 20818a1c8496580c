/**
 * The arm_ffa driver's memory operations — drivers/firmware/arm_ffa/driver.c (torvalds/linux v6.18):
 * ffa_memory_share(), ffa_memory_lend(), ffa_memory_reclaim(), ffa_memory_ops() →
 * ffa_setup_and_transmit() → ffa_transmit_fragment() (ffa_mem_first_frag() / ffa_mem_next_frag()).
 *
 * ffa_setup_and_transmit() writes the descriptor into the TX buffer field by field, and the model makes
 * exactly its stores (TxStores below): bytes it does not store keep what the TX buffer held before.
 * In order (v = drv_info->version, composite_offset = ffa_mem_desc_offset(buffer, nattrs, v)):
 *   tag (u64 @16), flags (u32 @4), sender_id (u16 @0), attributes (u16 @2: 0 for LEND, 0x2f otherwise);
 *   per EMAD idx at ffa_mem_desc_offset(buffer, idx, v) — 32 + 16·idx at v1.0, 48 + 16·idx at v1.1,
 *   48 + 32·idx from v1.2 —: receiver (u16 @0), attrs (u8 @2), composite_off (u32 @4), flag (u8 @3),
 *   reserved (u64 @24 of the 32-byte struct ffa_mem_region_attributes), impdef_val (16 bytes @8, v1.2+);
 *   handle (u64 @8), ep_count (u32 @28); ffa_mem_region_additional_setup(): v1.0 ep_mem_size (u32 @24) = 0,
 *   v1.1+ ep_mem_size = ffa_emad_size_get(v), ep_mem_offset (u32 @32) = 48, memset(reserved @36, 0, 12);
 *   composite: total_pg_cnt, addr_range_cnt, reserved (16 bytes); each constituent: address, pg_cnt,
 *   reserved (16 bytes).
 * So below v1.2, where the EMAD stride is 16, the `reserved` store lands 8 bytes into the next EMAD (or
 * the composite, after the last one) and bytes 8-15 of the first EMAD are never written: they keep the
 * TX buffer's old bytes (reference/ffa.md §6; fixed after 6.18 by "firmware: arm_ffa: Fix out-of-bound
 * writes in ffa_setup_and_transmit()", CVE-2026-68401, stable 6.18.42). Hafnium refuses a non-zero EMAD
 * `reserved`: that is a finding of 6.18, not something this model hides.
 *
 * Fragments: when a fragment reaches max_fragsize (drv_info->rxtx_bufsz) it is sent — FFA_MEM_LEND/SHARE
 * first, FFA_MEM_FRAG_TX after — and the next constituents are written from the start of the buffer.
 * ffa_mem_first_frag() takes FFA_SUCCESS (FFA_SUCCESS_32: handle from w2/w3) and FFA_MEM_FRAG_RX
 * (handle from w1/w2); ffa_mem_next_frag() takes FFA_MEM_FRAG_RX (returns w3) and FFA_SUCCESS; both
 * answer FFA_MEM_OP_PAUSE with FFA_MEM_OP_RESUME, map FFA_ERROR with ffa_to_linux_errno(), and turn any
 * other answer — FFA_SUCCESS_64 included — into −EOPNOTSUPP. A failure of a fragment that is not the
 * last one is −ENXIO, whatever the SPMC said; the last one's result is returned as is (a positive
 * FRAG_RX offset there counts as success: upstream does not check that the transfer completed).
 */
import { COMPOSITE_SIZE, CONSTITUENT_SIZE, emadSize, mtdHeaderSize } from "../../../abi/ffa/layout.ts";
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
  ffaToLinuxErrno,
  type FfaVersion,
} from "../../../abi/ffa/index.ts";
import { EFAULT, EINVAL, EOPNOTSUPP, ERRNO } from "../../../abi/uapi/errno.ts";
import { smcRegs } from "../../../hw/smc.ts";
import type { Sleeps } from "../../../sim/scheduler.ts";
import { w, type ArmFfaDriver } from "./driver.ts";

const ENXIO = ERRNO.ENXIO;

/** struct ffa_mem_region_attributes as the caller gives it: receiver ID, access permissions, impdef. */
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

/** Offsets in struct ffa_mem_region_attributes (include/linux/arm_ffa.h v6.18, 32 bytes). */
const EMAD_RECEIVER = 0;
const EMAD_ATTRS = 2;
const EMAD_FLAG = 3;
const EMAD_COMPOSITE_OFF = 4;
const EMAD_IMPDEF_VAL = 8;
const EMAD_STRUCT_RESERVED = 24;

/** ffa_memory_attributes_get(): 0 for LEND (the sender must not set them), Normal WB inner-shareable otherwise. */
export function ffaMemoryAttributesGet(funcId: number): number {
  if (funcId === FFA_MEM_LEND_64 || funcId === FFA_MEM_LEND_32) return 0;
  return FFA_NORMAL_MEM_REG_ATTR;
}

/** ffa_mem_desc_offset(buffer, count, version): where EMAD `count` (or, for nattrs, the composite) starts. */
export function ffaMemDescOffset(count: number, version: FfaVersion): number {
  return mtdHeaderSize(version) + count * emadSize(version);
}

/**
 * Scratch for TxStores, one per driver: a driver builds one descriptor at a time (under tx_lock), and
 * a TX buffer's worth of fresh typed arrays per call costs more than the stores themselves (V8 gives
 * every ArrayBuffer its own zeroed backing store). Outside any snapshot: TxStores clears what it used.
 */
const scratchOf = new WeakMap<ArmFfaDriver, { bytes: Uint8Array; dirty: Uint8Array }>();

/**
 * The kernel's stores into the TX buffer during one ffa_setup_and_transmit(): each store is kept with
 * its bytes, and flush() writes exactly the bytes stored since the last flush to the TX page (as the
 * kernel, through the machine). Unstored bytes are never written, so they keep their old content. A
 * store past the end of the buffer goes to the memory after it, as the C code's would.
 */
class TxStores {
  #bytes: Uint8Array;
  #dirty: Uint8Array;
  #view: DataView;
  /** The stored bytes since the last flush lie in [#lo, #hi). */
  #lo = Infinity;
  #hi = 0;

  constructor(
    private readonly drv: ArmFfaDriver,
    size: number,
  ) {
    let scratch = scratchOf.get(drv);
    if (scratch === undefined || scratch.bytes.length < size) {
      scratch = { bytes: new Uint8Array(size), dirty: new Uint8Array(size) };
      scratchOf.set(drv, scratch);
    }
    this.#bytes = scratch.bytes;
    this.#dirty = scratch.dirty;
    // A flush that stopped at a fault (or a call that returned early) may have left marks behind.
    this.#dirty.fill(0);
    this.#view = new DataView(this.#bytes.buffer, 0, this.#bytes.length);
  }

  #touch(off: number, len: number): DataView {
    if (off + len > this.#bytes.length) {
      const n = Math.max(off + len, this.#bytes.length * 2);
      const b = new Uint8Array(n);
      const d = new Uint8Array(n);
      b.set(this.#bytes);
      d.set(this.#dirty);
      this.#bytes = b;
      this.#dirty = d;
      this.#view = new DataView(b.buffer);
    }
    this.#dirty.fill(1, off, off + len);
    if (off < this.#lo) this.#lo = off;
    if (off + len > this.#hi) this.#hi = off + len;
    return this.#view;
  }

  u8(off: number, v: number): void {
    this.#touch(off, 1).setUint8(off, v & 0xff);
  }
  u16(off: number, v: number): void {
    this.#touch(off, 2).setUint16(off, v & 0xffff, true);
  }
  u32(off: number, v: number): void {
    this.#touch(off, 4).setUint32(off, v >>> 0, true);
  }
  u64(off: number, v: bigint): void {
    this.#touch(off, 8).setBigUint64(off, BigInt.asUintN(64, v), true);
  }
  zero(off: number, len: number): void {
    this.#touch(off, len);
    this.#bytes.fill(0, off, off + len);
  }

  /** Writes every stored byte run; −EFAULT if the machine refuses the kernel's write (a model fault). */
  flush(): number {
    const d = this.#dirty;
    const end = this.#hi;
    let i = this.#lo;
    this.#lo = Infinity;
    this.#hi = 0;
    while (i < end) {
      if (!d[i]) {
        i++;
        continue;
      }
      let j = i;
      while (j < end && d[j]) j++;
      if (j > this.drv.rxtxBufsz && this.drv.sim.trace.listening)
        this.drv.sim.trace.emit("kernel", "tx_overflow", { from: i, to: j, bufsz: this.drv.rxtxBufsz });
      if (this.drv.writeTx(this.#bytes.subarray(i, j), i) !== 0) return -EFAULT;
      d.fill(0, i, j);
      i = j;
    }
    return 0;
  }
}

/** PACK_HANDLE(l, h): l | (u64)h << 32, on unsigned longs (the registers as they are). */
function packHandle(lo: bigint, hi: bigint): bigint {
  return BigInt.asUintN(64, lo | (hi << 32n));
}

/** ffa_mem_first_frag(): frag_len, or −errno; sets the handle on FFA_SUCCESS or FFA_MEM_FRAG_RX. */
function* memFirstFrag(
  drv: ArmFfaDriver,
  funcId: number,
  fragLen: number,
  len: number,
  out: { handle: bigint },
): Sleeps<number> {
  // a3 = buf, a4 = buf_sz: 0 and 0 when the TX buffer is used (use_txbuf).
  let ret = yield* drv.invoke(smcRegs(funcId, len, fragLen, 0, 0));
  while (w(ret, 0) === FFA_MEM_OP_PAUSE_32)
    ret = yield* drv.invoke(smcRegs(FFA_MEM_OP_RESUME_32, ret[1], ret[2]));
  const a0 = w(ret, 0);
  if (a0 === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (a0 === FFA_SUCCESS_32) out.handle = packHandle(ret[2], ret[3]);
  else if (a0 === FFA_MEM_FRAG_RX_32) out.handle = packHandle(ret[1], ret[2]);
  else return -EOPNOTSUPP;
  return fragLen;
}

/** ffa_mem_next_frag(): w3 of FFA_MEM_FRAG_RX, 0 on FFA_SUCCESS, or −errno. */
function* memNextFrag(drv: ArmFfaDriver, handle: bigint, fragLen: number): Sleeps<number> {
  let ret = yield* drv.invoke(
    smcRegs(FFA_MEM_FRAG_TX_32, handle & 0xffff_ffffn, (handle >> 32n) & 0xffff_ffffn, fragLen),
  );
  while (w(ret, 0) === FFA_MEM_OP_PAUSE_32)
    ret = yield* drv.invoke(smcRegs(FFA_MEM_OP_RESUME_32, ret[1], ret[2]));
  const a0 = w(ret, 0);
  if (a0 === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (a0 === FFA_MEM_FRAG_RX_32) return w(ret, 3) | 0;
  if (a0 === FFA_SUCCESS_32) return 0;
  return -EOPNOTSUPP;
}

/**
 * ffa_transmit_fragment(): the TX buffer's stores made, then the first fragment (the whole length with
 * it) or the next one of `out.handle`. Module-level, not a generator made per call (see
 * scenario/runner.ts runList() for why per-call generator functions cost).
 */
function* transmitFragment(
  drv: ArmFfaDriver,
  tx: TxStores,
  funcId: number,
  first: boolean,
  fragLen: number,
  length: number,
  out: { handle: bigint },
): Sleeps<number> {
  if (tx.flush() !== 0) return -EFAULT;
  if (first) return yield* memFirstFrag(drv, funcId, fragLen, length, out);
  return yield* memNextFrag(drv, out.handle, fragLen);
}

/** ffa_setup_and_transmit(): the descriptor stored into the TX buffer, sent in fragments of max_fragsize. */
function* setupAndTransmit(
  drv: ArmFfaDriver,
  funcId: number,
  maxFragsize: number,
  args: FfaMemOpsArgs,
): Sleeps<number> {
  const v = drv.version;
  const tx = new TxStores(drv, maxFragsize);
  const nattrs = args.attrs.length;
  const numEntries = args.sg.length;
  tx.u64(16, args.tag);
  tx.u32(4, args.flags);
  tx.u16(0, drv.vmId);
  tx.u16(2, ffaMemoryAttributesGet(funcId));
  const compositeOffset = ffaMemDescOffset(nattrs, v);
  for (let idx = 0; idx < nattrs; idx++) {
    const ep = ffaMemDescOffset(idx, v);
    const a = args.attrs[idx];
    tx.u16(ep + EMAD_RECEIVER, a.receiver);
    tx.u8(ep + EMAD_ATTRS, a.attrs);
    tx.u32(ep + EMAD_COMPOSITE_OFF, compositeOffset);
    tx.u8(ep + EMAD_FLAG, 0);
    tx.u64(ep + EMAD_STRUCT_RESERVED, 0n);
    // ffa_emad_impdef_value_init(): only where the EMAD has the field (v1.2+).
    if (v === "1.2") {
      tx.u64(ep + EMAD_IMPDEF_VAL, a.impdef?.[0] ?? 0n);
      tx.u64(ep + EMAD_IMPDEF_VAL + 8, a.impdef?.[1] ?? 0n);
    }
  }
  tx.u64(8, 0n);
  tx.u32(28, nattrs);
  // ffa_mem_region_additional_setup()
  if (v === "1.0") {
    tx.u32(24, 0);
  } else {
    tx.u32(24, emadSize(v));
    tx.u32(32, mtdHeaderSize(v));
    tx.zero(36, 12);
  }
  tx.u32(
    compositeOffset,
    args.sg.reduce((n, s) => n + Math.floor(s.length / FFA_PAGE_SIZE), 0),
  );
  tx.u32(compositeOffset + 4, numEntries);
  tx.u64(compositeOffset + 8, 0n);
  const length = compositeOffset + COMPOSITE_SIZE + numEntries * CONSTITUENT_SIZE;
  let fragLen = compositeOffset + COMPOSITE_SIZE;
  // The C stores are in memory at once: an early return still leaves them in the TX buffer.
  if (fragLen > maxFragsize) return tx.flush() || -ENXIO;
  const out = { handle: args.gHandle };
  let first = true;
  let cons = fragLen;
  for (const sg of args.sg) {
    if (fragLen === maxFragsize) {
      const rc = yield* transmitFragment(drv, tx, funcId, first, fragLen, length, out);
      args.gHandle = out.handle;
      if (rc < 0) return -ENXIO;
      first = false;
      fragLen = 0;
      cons = 0;
    }
    if (cons > maxFragsize) return tx.flush() || -EFAULT; // "Memory Region Fragment > Tx Buffer size"
    tx.u64(cons, BigInt(sg.pa));
    tx.u32(cons + 8, Math.floor(sg.length / FFA_PAGE_SIZE));
    tx.u32(cons + 12, 0);
    cons += CONSTITUENT_SIZE;
    fragLen += CONSTITUENT_SIZE;
  }
  const rc = yield* transmitFragment(drv, tx, funcId, first, fragLen, length, out);
  args.gHandle = out.handle;
  return rc;
}

/** ffa_memory_ops(): the TX buffer under tx_lock (use_txbuf), or a private buffer (not modelled). */
function* memoryOps(drv: ArmFfaDriver, funcId: number, args: FfaMemOpsArgs): Sleeps<number> {
  if (!args.useTxbuf) return -EINVAL; // alloc_pages_exact() buffers: no caller in the model uses them
  const locked = yield* drv.lock(drv.txLock);
  const ret = yield* setupAndTransmit(drv, funcId, drv.rxtxBufsz, args);
  if (locked) yield* drv.txLock.unlockPreempt();
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
  const ret = yield* drv.invoke(
    smcRegs(FFA_MEM_RECLAIM_32, gHandle & 0xffff_ffffn, (gHandle >> 32n) & 0xffff_ffffn, flags),
  );
  if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  return 0;
}
