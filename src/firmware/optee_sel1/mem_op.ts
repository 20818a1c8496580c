/**
 * FFA_MEM_SHARE / FFA_MEM_LEND and FFA_MEM_FRAG_TX when OP-TEE is the SPMC — core/arch/arm/kernel/
 * thread_spmc.c handle_mem_op(), handle_mem_op_rxbuf(), spmc_read_mem_transaction(), mem_op_init(),
 * add_mem_op(), add_mem_op_helper(), add_mem_op_frag(), handle_mem_frag_tx() (optee.md §1.5).
 *
 * Its rules, not Hafnium's: LEND attributes must be 0 (SHARE 0x2F); OP-TEE's own EMAD must say
 * exactly RW; the pages are one physically contiguous non-secure range for protected memory; no
 * overlap with another FF-A object; the use case is the tag. A lent range is protected by the
 * platform hook when the last fragment arrives. The flags are only checked to fit in 8 bits and never
 * looked at again: FFA_MEMORY_REGION_FLAG_CLEAR is accepted and nothing is zeroed, at the lend or at
 * the reclaim (mobj_ffa_sel1_spmc_reclaim() → restore_mem() only gives the range back to NS_SHM), while
 * the reclaim's own clear flag is refused (handle_mem_reclaim(): w3..w7 MBZ, optee_sel1.ts).
 */
import {
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_RW,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_NO_MEMORY,
  FFA_NORMAL_MEM_REG_ATTR,
  ffaFuncIs64,
} from "../../abi/ffa/index.ts";
import { CONSTITUENT_SIZE, MTD_HEADER_SIZE_V1_0, MTD_HEADER_SIZE_V1_1 } from "../../abi/ffa/layout.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import type { SpmcEndpoint } from "../spmc/endpoint.ts";
import { CallCtx, ffaMemFragRx, ffaMemSuccess, hex, w } from "../spmc/regs.ts";
import type { MobjFfa } from "./mobj_ffa.ts";
import type { OpteeSel1Spmc } from "./optee_sel1.ts";

/** OP-TEE FFA_MEM_ACC_RW: exactly data RW, instruction access not specified. */
const FFA_MEM_ACC_RW = FFA_MEM_RW;
const INVAL = FFA_INVALID_PARAMETERS;

/** struct mem_frag_state: a send waiting for FFA_MEM_FRAG_TX. */
export interface MemFragState {
  readonly mobj: MobjFfa;
  /** Address ranges still expected (op.region_count). */
  regionsLeft: number;
  /** Bytes consumed so far (frag_offset). */
  fragOffset: number;
}

/** struct ffa_mem_transaction_x, as spmc_read_mem_transaction() fills it. */
interface MemTransaction {
  readonly senderId: number;
  readonly memRegAttr: number;
  readonly flags: number;
  readonly globalHandle: bigint;
  readonly tag: bigint;
  readonly memAccessSize: number;
  readonly memAccessCount: number;
  readonly memAccessOffs: number;
}

/** spmc_read_mem_transaction(): the header, or why it is FFA_INVALID_PARAMETERS. */
function readMemTransaction(v10: boolean, buf: Uint8Array): MemTransaction | string {
  const d = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const header = v10 ? MTD_HEADER_SIZE_V1_0 : MTD_HEADER_SIZE_V1_1;
  if (buf.length < header)
    return `descriptor of ${buf.length} bytes is shorter than the ${header}-byte header`;
  const t: MemTransaction = {
    senderId: d.getUint16(0, true),
    memRegAttr: v10 ? d.getUint8(2) : d.getUint16(2, true),
    flags: d.getUint32(4, true),
    globalHandle: d.getBigUint64(8, true),
    tag: d.getBigUint64(16, true),
    memAccessSize: v10 ? 16 : d.getUint32(24, true),
    memAccessCount: d.getUint32(28, true),
    memAccessOffs: v10 ? MTD_HEADER_SIZE_V1_0 : d.getUint32(32, true),
  };
  if (
    t.memRegAttr > 0xff ||
    t.flags > 0xff ||
    t.memAccessSize > 0xff ||
    t.memAccessCount > 0xff ||
    t.memAccessOffs > 0xffff
  )
    return "a header field is out of range (attributes, flags, EMAD size or count > 255, offset > 65535)";
  // Each EMAD is read as an ffa_mem_access (16 bytes): a smaller stride would read past its entry.
  if (t.memAccessSize < 16) return `EMAD size ${t.memAccessSize} is smaller than struct ffa_mem_access (16)`;
  if (t.memAccessOffs + t.memAccessSize * t.memAccessCount > buf.length)
    return "the EMAD array does not fit the fragment";
  return t;
}

/** handle_mem_op() for the normal world's FFA_MEM_SHARE / FFA_MEM_LEND. */
export function memOp(
  op: OpteeSel1Spmc,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  fid: number,
  regs: SmcRegs,
): SmcRegs {
  const total = w(regs, 1);
  const flen = w(regs, 2);
  let addr = regs[3];
  const pageCount = w(regs, 4);
  if (regs[5] !== 0n || regs[6] !== 0n || regs[7] !== 0n) return ctx.reject(INVAL, "mbz-w5-w7", "w5..w7 MBZ");
  if (flen > total)
    return ctx.reject(INVAL, "fragment-gt-total", () => `fragment length ${flen} exceeds total ${total}`);
  if (!ffaFuncIs64(fid)) addr &= 0xffff_ffffn;
  const share = fid === FFA_MEM_SHARE_32 || fid === FFA_MEM_SHARE_64;
  if (addr !== 0n)
    return ctx.reject(
      INVAL,
      "tmem-not-modelled",
      "descriptors in a dynamically allocated buffer are not modelled",
    );
  if (pageCount !== 0)
    return ctx.reject(INVAL, "page-count-mbz", "w4 MBZ when the descriptor is in the TX buffer");
  // handle_mem_op_rxbuf(): the caller's TX is OP-TEE's rx.
  if (ep.tx === null || flen > ep.bufferBytes)
    return ctx.reject(
      FFA_DENIED,
      "rx-not-usable",
      ep.tx === null ? "RX/TX buffers not mapped" : `fragment ${flen} > buffer`,
    );
  const buf = op.readTx(ctx, ep, 0, flen);
  if (buf === null) return ctx.reject(INVAL, "copy-faulted", "reading the descriptor faulted");
  const t = readMemTransaction(ep.layout === "1.0", buf);
  if (typeof t === "string") return ctx.reject(INVAL, "mem-transaction", t);
  // mem_op_init()
  const expAttr = share ? FFA_NORMAL_MEM_REG_ATTR : 0;
  if (t.memRegAttr !== expAttr)
    return ctx.reject(
      INVAL,
      "mem-reg-attr",
      () => `memory region attributes ${hex(t.memRegAttr)}, expected ${hex(expAttr)}`,
    );
  const d = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let regionOffs = -1;
  for (let n = 0; n < t.memAccessCount; n++) {
    const off = t.memAccessOffs + t.memAccessSize * n;
    if (d.getUint16(off, true) === op.opteeId) {
      const perm = d.getUint8(off + 2);
      if (perm !== FFA_MEM_ACC_RW)
        return ctx.reject(
          INVAL,
          "optee-access-rw",
          () => `OP-TEE's access permissions ${hex(perm)}, expected exactly RW (${hex(FFA_MEM_ACC_RW)})`,
        );
      regionOffs = d.getUint32(off + 4, true);
      break;
    }
  }
  if (regionOffs < 0)
    return ctx.reject(
      INVAL,
      "optee-not-receiver",
      () => `OP-TEE (${hex(op.opteeId)}) is not among the receivers`,
    );
  if (regionOffs + 16 > flen)
    return ctx.reject(INVAL, "composite-fits", () => `composite at ${regionOffs} does not fit the fragment`);
  if (regionOffs % 8 !== 0)
    return ctx.reject(INVAL, "composite-aligned", () => `composite at ${regionOffs} is not aligned`);
  const totalPages = d.getUint32(regionOffs, true);
  const regionCount = d.getUint32(regionOffs + 4, true);
  const rangesOffs = regionOffs + 16;
  // add_mem_op()
  if (totalPages === 0 || regionCount === 0)
    return ctx.reject(INVAL, "no-pages", "page count and region count must be non-zero");
  if (regionCount * CONSTITUENT_SIZE + rangesOffs > total)
    return ctx.reject(
      INVAL,
      "ranges-fit",
      () => `${regionCount} address ranges do not fit the ${total}-byte descriptor`,
    );
  const useCase = share ? 0 : t.tag <= 0xffn ? Number(t.tag) : -1;
  const made = op.mobjs.create(t.globalHandle, totalPages, useCase, !share);
  if ("why" in made) return ctx.reject(FFA_NO_MEMORY, "mobj-new", made.why);
  const s: MemFragState = { mobj: made.mobj, regionsLeft: regionCount, fragOffset: rangesOffs };
  if (flen !== total) op.fragStates.set(made.mobj.cookie, s);
  const rc = addRanges(op, ctx, s, buf.subarray(rangesOffs), flen !== total);
  if (typeof rc !== "number") return rc;
  return flen !== total && rc > 0 ? ffaMemFragRx(made.mobj.cookie, rc) : ffaMemSuccess(made.mobj.cookie);
}

/**
 * add_mem_op_helper() (+ add_mem_op_frag()): adds the whole ranges of `bytes`. Returns the offset to
 * continue from (fragmented, more to come), 0 when the object is complete and pushed, or the error
 * (the object deleted).
 */
function addRanges(
  op: OpteeSel1Spmc,
  ctx: CallCtx,
  s: MemFragState,
  bytes: Uint8Array,
  fragmented: boolean,
): number | SmcRegs {
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Math.min(Math.floor(bytes.length / CONSTITUENT_SIZE), s.regionsLeft);
  const nonSecure = (pa: number, size: number) => op.isNonSecureDram(pa, size);
  const fail = (rule: string, why: string) => {
    op.fragStates.delete(s.mobj.cookie);
    op.mobjs.delete(s.mobj);
    return ctx.reject(INVAL, rule, why);
  };
  for (let i = 0; i < n; i++) {
    const a = d.getBigUint64(i * CONSTITUENT_SIZE, true);
    const pages = d.getUint32(i * CONSTITUENT_SIZE + 8, true);
    const pa = a <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(a) : Number.POSITIVE_INFINITY;
    if (op.mobjs.addPagesAt(s.mobj, pa, pages, nonSecure) !== TEE_SUCCESS)
      return fail(
        "add-pages",
        `range ${i} (${pages} pages at ${hex(a)}) is not non-secure, too long, or not contiguous`,
      );
  }
  s.regionsLeft -= n;
  s.fragOffset += n * CONSTITUENT_SIZE;
  if (s.regionsLeft > 0) {
    if (!fragmented)
      return fail("ranges-missing", `${s.regionsLeft} address ranges missing from the descriptor`);
    return s.fragOffset;
  }
  op.fragStates.delete(s.mobj.cookie);
  if (s.mobj.pagesAdded !== s.mobj.pageCount)
    return fail(
      "page-count",
      `ranges add up to ${s.mobj.pagesAdded} pages, the composite says ${s.mobj.pageCount}`,
    );
  const cost = { ns: 0 };
  const pushed = op.mobjs.pushToInactive(s.mobj, cost);
  ctx.costNs += cost.ns;
  if (pushed.rc !== TEE_SUCCESS) return fail("push-to-inactive", pushed.why);
  op.audit(s.mobj);
  return 0;
}

/** handle_mem_frag_tx(). */
export function memFragTx(op: OpteeSel1Spmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const handle = BigInt(w(regs, 1)) | (BigInt(w(regs, 2)) << 32n);
  const flen = w(regs, 3);
  const s = op.fragStates.get(handle);
  if (!s) return ctx.reject(INVAL, "unknown-handle", () => `no fragmented send with handle ${hex(handle)}`);
  if (flen > ep.bufferBytes)
    return ctx.reject(INVAL, "fragment-gt-buffer", () => `fragment ${flen} > buffer`);
  const buf = op.readTx(ctx, ep, 0, flen);
  if (buf === null) return ctx.reject(INVAL, "copy-faulted", "reading the fragment faulted");
  const rc = addRanges(op, ctx, s, buf, true);
  if (typeof rc !== "number") return rc;
  return rc > 0 ? ffaMemFragRx(handle, rc) : ffaMemSuccess(handle);
}
