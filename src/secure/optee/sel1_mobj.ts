/**
 * mobj_ffa with OP-TEE as its own SPMC (CFG_CORE_SEL1_SPMC): the objects are the SPMC's own table
 * (firmware/optee_sel1/mobj_ffa.ts, filled at FFA_MEM_SHARE / FFA_MEM_LEND), so nothing is retrieved.
 * core/arch/arm/mm/mobj_ffa.c, OP-TEE 4.9.0 (optee.md §1.5 A):
 * - mobj_ffa_assign_protmem(): the inactive list first — prm → BUSY if already assigned,
 *   BAD_PARAMETERS if the use case is not the FF-A tag it was lent with, else assigned; shm →
 *   ITEM_NOT_FOUND — then the active list — shm → BUSY, prm → ITEM_NOT_FOUND. A cookie on neither
 *   list (never lent, reclaimed, or a send still waiting for FFA_MEM_FRAG_TX) is TEE_SUCCESS: `res`
 *   starts as TEE_SUCCESS and only the !CFG_CORE_SEL1_SPMC build goes on to retrieve (and sets
 *   ITEM_NOT_FOUND when that fails). Unchanged in 4.10.0. Linux's do_call_lend_protmem() reads the
 *   TEE_SUCCESS as an assigned buffer; nothing is assigned, so a TA cannot use the cookie and
 *   RELEASE_PROTMEM of it is ITEM_NOT_FOUND.
 * - mobj_ffa_unregister_by_cookie(): active → BUSY; unknown, or never used by cookie → ITEM_NOT_FOUND;
 *   else drops the registration (the memory leaves at FFA_MEM_RECLAIM, where restore_mem() runs).
 * `assigned_use_case` is kept here, per object (the SPMC's record has no such field).
 */
import { FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import { mobjFfaPages, type MobjFfa } from "../../firmware/optee_sel1/mobj_ffa.ts";
import type { OpteeSel1Spmc } from "../../firmware/optee_sel1/optee_sel1.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { mobjRef, type MobjFfaOps, type MobjRef } from "./mobj.ts";
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "../../abi/optee/tee_result.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

export class Sel1Mobjs implements Snapshottable, MobjFfaOps {
  readonly flavor = "optee-sel1" as const;
  /** struct mobj_ffa_prm::assigned_use_case, per object (a reused cookie is a new object). */
  readonly #assigned = new Set<MobjFfa>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { assigned: this.#assigned };
  }

  constructor(private readonly spmc: OpteeSel1Spmc) {
    if (spmc.opteeId !== FFA_OPTEE_ID) throw new Error("OP-TEE's endpoint is not 0x8001");
  }

  // eslint-disable-next-line require-yield
  *getByCookie(cookie: bigint, internalOffs: number): Sleeps<MobjRef | null> {
    if (internalOffs >= PAGE_SIZE) return null;
    const m = this.spmc.mobjs.get(cookie);
    if (!m) return null;
    // internal_offs must be 0 for prm (and for the page-aligned shm the model shares).
    if (internalOffs !== 0) return null;
    this.spmc.mobjs.getByCookie(cookie);
    return this.#ref(m);
  }

  // eslint-disable-next-line require-yield
  *assignProtmem(cookie: bigint, useCase: number): Sleeps<number> {
    return this.assignNow(cookie, useCase);
  }

  /** The assignment itself (it cannot sleep: it runs under shm_lock). */
  assignNow(cookie: bigint, useCase: number): number {
    const m = this.spmc.mobjs.get(cookie);
    if (m?.list === "inactive") {
      if (m.kind !== "prm") return TEE_ERROR_ITEM_NOT_FOUND;
      if (this.#assigned.has(m)) return TEE_ERROR_BUSY;
      if (m.useCase !== useCase) return TEE_ERROR_BAD_PARAMETERS;
      this.#assigned.add(m);
      return TEE_SUCCESS;
    }
    if (m?.list === "active") return m.kind === "prm" ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_BUSY;
    // CFG_CORE_SEL1_SPMC: no retrieve, `res` is still TEE_SUCCESS.
    return TEE_SUCCESS;
  }

  // eslint-disable-next-line require-yield
  *unregisterByCookie(cookie: bigint): Sleeps<number> {
    return this.spmc.mobjs.unregisterByCookie(cookie);
  }

  findProtmem(cookie: bigint): MobjRef | null {
    const m = this.spmc.mobjs.get(cookie);
    if (!m || m.kind !== "prm" || !this.#assigned.has(m)) return null;
    this.spmc.mobjs.getByCookie(cookie);
    return this.#ref(m);
  }

  /** The object as OP-TEE sees it: a prm is [mfr->pa, + size) whatever ranges were sent (mobjFfaPages()). */
  #ref(m: MobjFfa): MobjRef {
    const table = this.spmc.mobjs;
    return mobjRef({ ...m, ranges: mobjFfaPages(m) }, () => table.put(m));
  }
}
