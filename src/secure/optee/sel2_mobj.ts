/**
 * mobj_ffa with an SPMC below OP-TEE (Hafnium at S-EL2; CFG_CORE_SEL1_SPMC=n) — OP-TEE 4.9.0
 * core/arch/arm/mm/mobj_ffa.c and core/arch/arm/kernel/thread_spmc.c (optee.md §1.5 B). OP-TEE knows
 * memory only after retrieving it through its own RX/TX buffers (one page each, `my_rxtx.size`):
 * - thread_spmc_populate_mobj_from_rx(cookie, use_case) → spmc_retrieve_req(): one
 *   FFA_MEM_RETRIEVE_REQ_32 built in the TX buffer (encodeOpteeRetrieveReq() below, byte for byte),
 *   the answer parsed from the RX buffer by spmc_read_mem_transaction(), the first EMAD's region
 *   offset followed to one composite, its address ranges added with mobj_ffa_add_pages_at(), then
 *   FFA_RX_RELEASE. 4.9 has no FFA_MEM_FRAG_RX here (fragmented retrieves came with 987f71ff4, after
 *   4.9): a response longer than its first fragment is read as if the RX buffer held all of it.
 *   When the SPMC refuses the request, or the header does not parse, OP-TEE returns without
 *   FFA_RX_RELEASE (only the path that got this far releases).
 * - thread_spmc_relinquish(): FFA_MEM_RELINQUISH, flags 0 (no clear), endpoint OP-TEE.
 * Objects live on an inactive list (retrieved, unused) or are active (refcount > 0); a retrieved
 * object stays cached until unregistered. plat_set_protmem_range() is NOT called: the SPMC protects.
 *
 * The retrieve request (policy `optee_retrieve`):
 * - "upstream": exactly 4.9's — flags = FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE for
 *   MOBJ_USE_CASE_NS_SHM, else FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND, | ANY_ALIGNMENT (0); one EMAD,
 *   perm = FFA_MEM_ACC_RW (instruction access NOT_SPECIFIED), flags 0, region_offs 0. Hafnium refuses
 *   it for a single-borrower LEND ("instruction permissions must be speficified by borrower",
 *   FFA_INVALID_PARAMETERS; retrieve_access.ts), so every ASSIGN_PROTMEM fails with
 *   TEE_ERROR_ITEM_NOT_FOUND. (optee.md §7 says the protmem retrieve uses TYPE_SHARE: the 4.9 code
 *   uses TYPE_LEND for every use case but NS_SHM, so the transaction type matches Hafnium's record.)
 * - "fixed": the same request with perm = RW | NX for protected memory (a share keeps RW alone, as a
 *   share must leave instruction access unspecified): Hafnium accepts it.
 *
 * Other 4.9 behaviour kept: mobj_ffa_assign_protmem() puts a freshly retrieved object on the inactive
 * list WITHOUT setting assigned_use_case, so a second ASSIGN_PROTMEM of the cookie succeeds again
 * (and only a third is TEE_ERROR_BUSY); mobj_ffa_add_pages_at() compares the wrong address for the
 * second and later ranges of a protected object (fixed after 4.9 by cae910171), so protected memory
 * retrieved in more than one address range is refused even when contiguous.
 */
import {
  encodeRelinquish,
  FFA_MEM_NO_EXEC,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_RW,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_RX_RELEASE_32,
  FFA_SUCCESS_32,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import { FFA_NWD_ID, FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { w } from "../../firmware/spmc/regs.ts";
import type { Spmc } from "../../firmware/spmc/spmc.ts";
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { mobjRef, type MobjFfaOps, type MobjRef } from "./mobj.ts";
import { MOBJ_USE_CASE_NS_SHM } from "../../abi/optee/protmem.ts";
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "../../abi/optee/tee_result.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** Scenario `policy.optee_retrieve`. */
export type OpteeRetrieve = "upstream" | "fixed";

/** FFA_MEMORY_REGION_FLAG_ANY_ALIGNMENT — OP-TEE core/arch/arm/include/ffa.h: 0. */
export const FFA_MEMORY_REGION_FLAG_ANY_ALIGNMENT = 0;

/** sizeof(struct ffa_mem_transaction_1_0) / _1_1; sizeof(struct ffa_mem_access_1_0) / _1_2. */
const TRANS_1_0_SIZE = 32;
const TRANS_1_1_SIZE = 48;
const MEM_ACCESS_1_0_SIZE = 16;
const MEM_ACCESS_1_2_SIZE = 32;
/** sizeof(struct ffa_mem_region) (the composite) and of struct ffa_address_range. */
const MEM_REGION_SIZE = 16;
const ADDRESS_RANGE_SIZE = 16;

/** The fields thread_spmc_populate_mobj_from_rx() sets in its struct ffa_mem_transaction_x. */
export interface OpteeRetrieveDesc {
  readonly senderId: number;
  readonly memRegAttr: number;
  readonly flags: number;
  readonly globalHandle: bigint;
  readonly tag: bigint;
}

/**
 * spmc_retrieve_req() (thread_spmc.c): the bytes OP-TEE writes into its TX buffer — the header of the
 * negotiated version (memset to 0 first), one EMAD of 16 bytes up to v1.1 or 32 from v1.2 with
 * {endpoint_id, perm, flags 0}, region_offs 0; for v1.1+ mem_access_size/count/offs = size/1/48.
 * The length is both w1 (total) and w2 (fragment) of FFA_MEM_RETRIEVE_REQ_32; w3 and w4 are 0.
 */
export function encodeOpteeRetrieveReq(
  layout: FfaVersion,
  d: OpteeRetrieveDesc,
  endpointId: number,
  perm: number,
): Uint8Array {
  const memAccSize = layout === "1.2" ? MEM_ACCESS_1_2_SIZE : MEM_ACCESS_1_0_SIZE;
  const header = layout === "1.0" ? TRANS_1_0_SIZE : TRANS_1_1_SIZE;
  const bytes = new Uint8Array(header + memAccSize);
  const v = new DataView(bytes.buffer);
  v.setUint16(0, d.senderId & 0xffff, true);
  if (layout === "1.0") v.setUint8(2, d.memRegAttr & 0xff);
  else v.setUint16(2, d.memRegAttr & 0xffff, true);
  v.setUint32(4, d.flags >>> 0, true);
  v.setBigUint64(8, BigInt.asUintN(64, d.globalHandle), true);
  v.setBigUint64(16, BigInt.asUintN(64, d.tag), true);
  if (layout === "1.0") {
    v.setUint32(28, 1, true); // mem_access_count
  } else {
    v.setUint32(24, memAccSize, true); // mem_access_size
    v.setUint32(28, 1, true); // mem_access_count
    v.setUint32(32, TRANS_1_1_SIZE, true); // mem_access_offs
  }
  v.setUint16(header, endpointId & 0xffff, true);
  v.setUint8(header + 2, perm & 0xff);
  v.setUint8(header + 3, 0); // flags
  v.setUint32(header + 4, 0, true); // region_offs
  return bytes;
}

/** The parts of a retrieve response spmc_read_mem_transaction() extracts, or its error. */
interface MemTransaction {
  readonly memAccessSize: number;
  readonly memAccessCount: number;
  readonly memAccessOffs: number;
}

/** spmc_read_mem_transaction(ffa_vers, buf, blen): FFA_INVALID_PARAMETERS cases as a reason. */
function spmcReadMemTransaction(layout: FfaVersion, buf: Uint8Array): MemTransaction | string {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const v10 = layout === "1.0";
  if (buf.length < (v10 ? TRANS_1_0_SIZE : TRANS_1_1_SIZE)) return "RX shorter than the header";
  const memRegAttr = v10 ? v.getUint8(2) : v.getUint16(2, true);
  const flags = v.getUint32(4, true);
  const count = v.getUint32(28, true);
  const size = v10 ? MEM_ACCESS_1_0_SIZE : v.getUint32(24, true);
  const offs = v10 ? TRANS_1_0_SIZE : v.getUint32(32, true);
  if (memRegAttr > 0xff || flags > 0xff || size > 0xff || count > 0xff || offs > 0xffff)
    return `header field out of range (attr ${memRegAttr}, flags ${flags}, size ${size}, count ${count}, offs ${offs})`;
  if (offs + size * count > buf.length) return "the EMAD array does not fit the RX buffer";
  return { memAccessSize: size, memAccessCount: count, memAccessOffs: offs };
}

export interface Sel2Mobj {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  readonly useCase: number;
  readonly ranges: { address: number; pages: number }[];
  readonly pageCount: number;
  /** struct mobj_ffa_prm::assigned_use_case. */
  assigned: boolean;
  refcount: number;
  inactiveRefs: number;
}

/** Why the last retrieve failed (for traces and tests). */
export interface RetrieveFailure {
  readonly cookie: bigint;
  readonly why: string;
}

export class Sel2Mobjs implements Snapshottable, MobjFfaOps {
  readonly flavor = "hafnium" as const;
  readonly #objects = new Map<bigint, Sel2Mobj>();
  readonly #cpuS: number;
  /** FF-A calls OP-TEE made (retrieve, release, relinquish). */
  ffaCalls = 0;
  lastRetrieveFailure: RetrieveFailure | null = null;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { objects: this.#objects };
  }

  constructor(
    private readonly machine: Machine,
    private readonly spmc: Spmc,
    readonly retrieve: OpteeRetrieve = "upstream",
  ) {
    this.#cpuS = machine.masterIndex("cpu-s");
    const ep = spmc.endpoint(FFA_OPTEE_ID);
    if (!ep || ep.tx === null || ep.rx === null) throw new Error("OP-TEE has no RX/TX buffers mapped");
  }

  /**
   * mobj_ffa_get_by_cookie(). 4.9 pops an inactive prm asked for with internal_offs ≠ 0 and then
   * inserts a NULL object into shm_head (a NULL dereference in the core); the model refuses it instead.
   */
  *getByCookie(cookie: bigint, internalOffs: number): Sleeps<MobjRef | null> {
    if (internalOffs >= PAGE_SIZE) return null;
    let m = this.#objects.get(cookie);
    if (m && m.kind === "prm" && internalOffs !== 0) return null;
    if (m && m.refcount > 0) {
      m.refcount++;
      return this.#ref(m);
    }
    if (!m) {
      const got = yield* this.#populate(cookie, MOBJ_USE_CASE_NS_SHM);
      if (!got) return null;
      m = got;
      this.#objects.set(cookie, m);
    }
    m.refcount = 1;
    m.inactiveRefs++;
    return this.#ref(m);
  }

  /** mobj_ffa_assign_protmem(cookie, use_case). */
  *assignProtmem(cookie: bigint, useCase: number): Sleeps<number> {
    const m = this.#objects.get(cookie);
    if (m && m.refcount === 0) {
      if (m.kind !== "prm") return TEE_ERROR_ITEM_NOT_FOUND;
      if (m.assigned) return TEE_ERROR_BUSY;
      if (m.useCase !== useCase) return TEE_ERROR_BAD_PARAMETERS;
      m.assigned = true;
      return TEE_SUCCESS;
    }
    if (m) return m.kind === "prm" ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_BUSY;
    // "Try to retrieve it from the SPM at S-EL2": onto the inactive list, assigned_use_case untouched.
    const got = yield* this.#populate(cookie, useCase);
    if (!got) return TEE_ERROR_ITEM_NOT_FOUND;
    this.#objects.set(cookie, got);
    return TEE_SUCCESS;
  }

  *unregisterByCookie(cookie: bigint, beforeGiveBack: (m: MobjRef) => Sleeps<void>): Sleeps<number> {
    const m = this.#objects.get(cookie);
    if (!m) return TEE_ERROR_ITEM_NOT_FOUND;
    if (m.refcount > 0 || m.inactiveRefs > 0) return TEE_ERROR_BUSY;
    // Popped under shm_lock before anything can sleep: no one finds it any more.
    this.#objects.delete(cookie);
    yield* beforeGiveBack(this.#ref(m));
    yield* this.#relinquish(cookie);
    return TEE_SUCCESS;
  }

  /**
   * A protected object by cookie, without retrieving (for TAs). With an SPMC at S-EL2 a prm is only
   * ever created by mobj_ffa_assign_protmem() answering TEE_SUCCESS, so every prm held counts as
   * assigned, whatever assigned_use_case says.
   */
  findProtmem(cookie: bigint): MobjRef | null {
    const m = this.#objects.get(cookie);
    if (!m || m.kind !== "prm") return null;
    if (m.refcount === 0) m.inactiveRefs++;
    m.refcount++;
    return this.#ref(m);
  }

  /** Objects OP-TEE holds (retrieved and not relinquished). */
  get objectCount(): number {
    return this.#objects.size;
  }

  #ref(m: Sel2Mobj): MobjRef {
    return mobjRef(m, () => {
      if (m.refcount === 0) return;
      m.refcount--;
      // ffa_inactivate(): back on the inactive list.
      if (m.refcount === 0) m.inactiveRefs--;
    });
  }

  /** The EMAD permissions of the request: 4.9's FFA_MEM_ACC_RW, or RW + NX for protected memory. */
  #perm(useCase: number): number {
    if (this.retrieve === "fixed" && useCase !== MOBJ_USE_CASE_NS_SHM) return FFA_MEM_RW | FFA_MEM_NO_EXEC;
    return FFA_MEM_RW;
  }

  /** thread_spmc_populate_mobj_from_rx(cookie, use_case): a new inactive object, or null. */
  *#populate(cookie: bigint, useCase: number): Sleeps<Sel2Mobj | null> {
    const fail = (why: string): null => {
      this.lastRetrieveFailure = { cookie, why };
      return null;
    };
    const ep = this.spmc.endpoint(FFA_OPTEE_ID)!;
    const prm = useCase !== MOBJ_USE_CASE_NS_SHM;
    const req = encodeOpteeRetrieveReq(
      ep.layout,
      {
        // thread_get_tsd()->rpc_target_info: swap_src_dst(w1) of the yielding call, truncated to u16 —
        // the normal-world caller's ID (0 without a hypervisor).
        senderId: FFA_NWD_ID,
        memRegAttr: FFA_NORMAL_MEM_REG_ATTR,
        flags:
          (prm ? FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND : FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE) |
          FFA_MEMORY_REGION_FLAG_ANY_ALIGNMENT,
        globalHandle: cookie,
        tag: BigInt(useCase),
      },
      FFA_OPTEE_ID,
      this.#perm(useCase),
    );
    if (this.machine.writeBytes(this.#cpuS, ep.tx!, req) !== ACCESS_OK) return fail("TX write faulted");
    const out = yield* this.#call(smcRegs(FFA_MEM_RETRIEVE_REQ_32, req.length, req.length, 0, 0));
    if (w(out, 0) !== FFA_MEM_RETRIEVE_RESP_32) {
      const rule = this.spmc.lastRejectionOf.get(FFA_OPTEE_ID)?.rule ?? "error";
      return fail(`FFA_MEM_RETRIEVE_REQ: ${rule}`);
    }
    // spmc_read_mem_transaction(my_rxtx.ffa_vers, my_rxtx.rx, my_rxtx.size, ...): the whole buffer.
    const rx = this.machine.readBytes(this.#cpuS, ep.rx!, ep.bufferBytes);
    if (rx.code !== ACCESS_OK) return fail("RX read faulted");
    const trans = spmcReadMemTransaction(ep.layout, rx.bytes);
    if (typeof trans === "string") return fail(`retrieve response: ${trans}`); // RX not released
    const made = this.#fromRx(cookie, useCase, rx.bytes, trans);
    // "Release RX buffer after the mem retrieve request."
    yield* this.#call(smcRegs(FFA_RX_RELEASE_32));
    return typeof made === "string" ? fail(made) : made;
  }

  /**
   * The rest of thread_spmc_populate_mobj_from_rx(): the first EMAD's region_offs → the composite →
   * mobj_ffa_spmc_new(total_page_count) → set_pages(). A read past the RX buffer (upstream reads on
   * into whatever follows __rx_buf) is a failure here.
   */
  #fromRx(cookie: bigint, useCase: number, buf: Uint8Array, t: MemTransaction): Sel2Mobj | string {
    const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    const prm = useCase !== MOBJ_USE_CASE_NS_SHM;
    if (t.memAccessOffs + 8 > buf.length) return "EMAD past the RX buffer";
    const offs = v.getUint32(t.memAccessOffs + 4, true);
    if (offs + MEM_REGION_SIZE > buf.length) return `composite at ${offs} past the RX buffer`;
    const numPages = v.getUint32(offs, true);
    const rangeCount = v.getUint32(offs + 4, true);
    // mobj_ffa_spmc_new() → ffa_shm_new() / ffa_prm_new(): no pages, no object.
    if (numPages === 0) return "total_page_count is 0";
    // set_pages() → mobj_ffa_add_pages_at() per range, with 4.9's arithmetic (u32 idx).
    let idx = 0;
    let prmPa = 0n;
    const shmRanges: { address: number; pages: number }[] = [];
    for (let n = 0; n < rangeCount; n++) {
      const at = offs + MEM_REGION_SIZE + n * ADDRESS_RANGE_SIZE;
      if (at + ADDRESS_RANGE_SIZE > buf.length) return `address range ${n} past the RX buffer`;
      const pa = v.getBigUint64(at, true);
      const pages = v.getUint32(at + 8, true);
      const end = idx + pages;
      if (end > 0xffff_ffff || end > numPages) return `address range ${n}: ${pages} pages past ${numPages}`;
      if (!prm) {
        if (pages > 0) shmRanges.push({ address: Number(pa), pages });
        idx = end;
        continue;
      }
      if (idx === 0) prmPa = pa;
      // 4.9: `mfr->pa != pa + *idx * SMALL_PAGE_SIZE` (u32 product), then `*idx += n` with n = idx + pages.
      else if (prmPa !== pa + BigInt((idx * PAGE_SIZE) % 0x1_0000_0000))
        return `address range ${n} at 0x${pa.toString(16)} refused by mobj_ffa_add_pages_at()`;
      idx = (idx + end) % 0x1_0000_0000;
    }
    if (idx !== numPages) return `address ranges hold ${idx} pages, total_page_count ${numPages}`;
    return {
      cookie,
      kind: prm ? "prm" : "shm",
      useCase,
      ranges: prm ? [{ address: Number(prmPa), pages: numPages }] : shmRanges,
      pageCount: numPages,
      assigned: false,
      refcount: 0,
      inactiveRefs: 0,
    };
  }

  /** thread_spmc_relinquish(): failure is only logged (EMSG) upstream. */
  *#relinquish(cookie: bigint): Sleeps<boolean> {
    const ep = this.spmc.endpoint(FFA_OPTEE_ID)!;
    const d = encodeRelinquish({ handle: cookie, flags: 0, endpoints: [FFA_OPTEE_ID] });
    if (this.machine.writeBytes(this.#cpuS, ep.tx!, d) !== ACCESS_OK) return false;
    const out = yield* this.#call(smcRegs(FFA_MEM_RELINQUISH_32));
    return w(out, 0) === FFA_SUCCESS_32;
  }

  *#call(regs: ReturnType<typeof smcRegs>): Sleeps<ReturnType<typeof smcRegs>> {
    this.ffaCalls++;
    return yield* this.spmc.partitionCall(FFA_OPTEE_ID, regs);
  }
}
