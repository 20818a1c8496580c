/**
 * mobj_ffa with an SPMC below OP-TEE (Hafnium at S-EL2; CFG_CORE_SEL1_SPMC=n) — core/arch/arm/mm/
 * mobj_ffa.c and thread_spmc.c (optee.md §1.5 B). OP-TEE knows memory only after retrieving it through
 * its own RX/TX buffers:
 * - thread_spmc_populate_mobj_from_rx(): FFA_MEM_RETRIEVE_REQ_32 (tag, transaction type, one access
 *   descriptor for OP-TEE, FFA_NORMAL_MEM_REG_ATTR), FFA_MEM_RETRIEVE_RESP (then FFA_MEM_FRAG_RX for
 *   further fragments), FFA_RX_RELEASE; only one composite is read.
 * - thread_spmc_relinquish(): FFA_MEM_RELINQUISH, flags 0 (no clear), endpoint OP-TEE.
 * Objects live on an inactive list (retrieved, unused) or are active (refcount > 0); a retrieved
 * object stays cached until unregistered. plat_set_protmem_range() is NOT called: the SPMC protects.
 *
 * One deviation, flagged: upstream OP-TEE asks for `perm = FFA_MEM_ACC_RW` (instruction access not
 * specified) in every retrieve. Hafnium refuses that for a single-borrower LEND ("must specify NX or
 * X", reference/ffa.md §5.6), so the protected-memory retrieve here asks for RW + NX.
 */
import {
  decodeMemRegion,
  encodeMemRegion,
  encodeRelinquish,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_RW,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_RX_RELEASE_32,
  FFA_SUCCESS_32,
  ffaHandleHigh,
  ffaHandleLow,
  packMemAccessPermissions,
} from "../../abi/ffa/index.ts";
import { FFA_NWD_ID, FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { w } from "../../firmware/spmc/regs.ts";
import type { Spmc } from "../../firmware/spmc/spmc.ts";
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { mobjRef, type MobjFfaOps, type MobjRef } from "./mobj.ts";
import {
  MOBJ_USE_CASE_NS_SHM,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "./plat_protmem.ts";

interface Sel2Mobj {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  readonly useCase: number;
  readonly ranges: { address: number; pages: number }[];
  readonly pageCount: number;
  assigned: boolean;
  refcount: number;
  inactiveRefs: number;
}

/** Why the last retrieve failed (for traces and tests). */
export interface RetrieveFailure {
  readonly cookie: bigint;
  readonly why: string;
}

export class Sel2Mobjs implements MobjFfaOps {
  readonly flavor = "hafnium" as const;
  readonly #objects = new Map<bigint, Sel2Mobj>();
  readonly #cpuS: number;
  /** FF-A calls OP-TEE made (retrieve, frag, release, relinquish). */
  ffaCalls = 0;
  lastRetrieveFailure: RetrieveFailure | null = null;

  constructor(
    private readonly machine: Machine,
    private readonly spmc: Spmc,
  ) {
    this.#cpuS = machine.masterIndex("cpu-s");
    const ep = spmc.endpoint(FFA_OPTEE_ID);
    if (!ep || ep.tx === null || ep.rx === null) throw new Error("OP-TEE has no RX/TX buffers mapped");
  }

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
    const got = yield* this.#populate(cookie, useCase);
    if (!got) return TEE_ERROR_ITEM_NOT_FOUND;
    got.assigned = true;
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

  findProtmem(cookie: bigint): MobjRef | null {
    const m = this.#objects.get(cookie);
    if (!m || m.kind !== "prm" || !m.assigned) return null;
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

  /** thread_spmc_populate_mobj_from_rx(cookie, use_case): a new inactive object, or null. */
  *#populate(cookie: bigint, useCase: number): Sleeps<Sel2Mobj | null> {
    const fail = (why: string): null => {
      this.lastRetrieveFailure = { cookie, why };
      return null;
    };
    const ep = this.spmc.endpoint(FFA_OPTEE_ID)!;
    const lend = useCase !== MOBJ_USE_CASE_NS_SHM;
    const req = encodeMemRegion(
      {
        sender_id: FFA_NWD_ID,
        attributes: FFA_NORMAL_MEM_REG_ATTR,
        flags: lend ? FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND : FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
        handle: cookie,
        tag: BigInt(useCase),
        emads: [
          {
            receiver_id: FFA_OPTEE_ID,
            permissions: lend ? packMemAccessPermissions({ data: "rw", instruction: "nx" }) : FFA_MEM_RW,
          },
        ],
        constituents: null,
      },
      ep.layout,
    );
    if (this.machine.writeBytes(this.#cpuS, ep.tx!, req) !== ACCESS_OK) return fail("TX write faulted");
    let out = yield* this.#call(smcRegs(FFA_MEM_RETRIEVE_REQ_32, req.length, req.length));
    if (w(out, 0) !== FFA_MEM_RETRIEVE_RESP_32)
      return fail(`FFA_MEM_RETRIEVE_REQ: ${this.spmc.lastRejectionOf.get(FFA_OPTEE_ID)?.rule ?? "error"}`);
    const total = w(out, 1);
    const buf = new Uint8Array(total);
    let got = 0;
    for (;;) {
      const frag = w(out, 0) === FFA_MEM_RETRIEVE_RESP_32 ? w(out, 2) : w(out, 3);
      if (frag === 0 || got + frag > total) return fail(`fragment of ${frag} bytes at ${got}/${total}`);
      buf.set(this.machine.readBytes(this.#cpuS, ep.rx!, frag).bytes, got);
      got += frag;
      yield* this.#call(smcRegs(FFA_RX_RELEASE_32));
      if (got === total) break;
      out = yield* this.#call(
        smcRegs(FFA_MEM_FRAG_RX_32, ffaHandleLow(cookie), ffaHandleHigh(cookie), got, 0),
      );
      if (w(out, 0) !== FFA_MEM_FRAG_TX_32) return fail("FFA_MEM_FRAG_RX refused");
    }
    const d = decodeMemRegion(buf, ep.layout);
    if (!d.ok) return fail(`retrieve response: ${d.error.rule}`);
    const comp = d.value.composite;
    if (!comp) return fail("retrieve response has no composite");
    const ranges = comp.constituents.map((c) => ({ address: Number(c.address), pages: c.page_count }));
    const pageCount = ranges.reduce((n, r) => n + r.pages, 0);
    if (pageCount === 0 || pageCount !== comp.total_page_count) return fail("page count mismatch");
    // mobj_ffa_add_pages_at(): a prm is one physically contiguous range.
    if (lend) {
      for (let i = 1; i < ranges.length; i++) {
        const prev = ranges[i - 1];
        if (ranges[i].address !== prev.address + prev.pages * PAGE_SIZE)
          return fail("protected memory is not physically contiguous");
      }
    }
    return {
      cookie,
      kind: lend ? "prm" : "shm",
      useCase,
      ranges,
      pageCount,
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
