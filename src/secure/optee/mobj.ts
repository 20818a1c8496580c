/**
 * OP-TEE's view of FF-A memory, whichever component is the SPMC — the functions of core/arch/arm/mm/
 * mobj_ffa.c that entry_std.c and thread_spmc.c call (optee.md §1.5):
 * - mobj_ffa_get_by_cookie(cookie, internal_offs): start using an object (shared memory or lent
 *   protected memory); with an SPMC at S-EL2 the first use retrieves it (thread_spmc_populate_mobj_from_rx());
 * - mobj_put(): stop using it;
 * - mobj_ffa_assign_protmem(cookie, use_case): OPTEE_MSG_CMD_ASSIGN_PROTMEM;
 * - mobj_ffa_unregister_by_cookie(cookie): OPTEE_FFA_UNREGISTER_SHM / OPTEE_FFA_RELEASE_PROTMEM (with
 *   an SPMC at S-EL2 this relinquishes the memory).
 * Two implementations: `sel1_mobj.ts` (OP-TEE is the SPMC, its table is the SPMC's) and `sel2_mobj.ts`.
 */
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";

/** An object in use (refcount held until `put()`). */
export interface MobjRef {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  /** MOBJ_USE_CASE_* (0 for shared memory). */
  readonly useCase: number;
  /** The pages, in order (prm: one contiguous range). */
  readonly ranges: readonly { readonly address: number; readonly pages: number }[];
  readonly sizeBytes: number;
  /** mobj_put(). */
  put(): void;
}

/** The fields both flavors' FF-A objects share. */
interface MobjFfaLike {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  readonly useCase: number;
  readonly ranges: readonly { readonly address: number; readonly pages: number }[];
  readonly pageCount: number;
}

/** A reference to object m whose single put() runs `release` (a second put is a model bug). */
export function mobjRef(m: MobjFfaLike, release: () => void): MobjRef {
  let held = true;
  return {
    cookie: m.cookie,
    kind: m.kind,
    useCase: m.useCase,
    ranges: m.ranges,
    sizeBytes: m.pageCount * PAGE_SIZE,
    put: () => {
      if (!held) throw new Error(`mobj ${m.cookie.toString(16)} put twice`);
      held = false;
      release();
    },
  };
}

export interface MobjFfaOps {
  readonly flavor: "optee-sel1" | "hafnium";
  /** mobj_ffa_get_by_cookie(): null when unknown (or, for prm, internal_offs ≠ 0). May retrieve. */
  getByCookie(cookie: bigint, internalOffs: number): Sleeps<MobjRef | null>;
  /** mobj_ffa_assign_protmem(): a TEE_Result. May retrieve. */
  assignProtmem(cookie: bigint, useCase: number): Sleeps<number>;
  /**
   * mobj_ffa_unregister_by_cookie(): a TEE_Result. `beforeGiveBack` runs when the memory is about to
   * leave OP-TEE in this call (S-EL2: before FFA_MEM_RELINQUISH) — where the scrub policy zeroes.
   */
  unregisterByCookie(cookie: bigint, beforeGiveBack: (m: MobjRef) => Sleeps<void>): Sleeps<number>;
  /**
   * A protected-memory object OP-TEE holds after a successful ASSIGN_PROTMEM, by cookie, without
   * retrieving (for TAs; upstream a TA's FMEM goes through mobj_ffa_get_by_cookie(), which finds it on
   * the inactive list); null if none. As SPMC: assigned_use_case set; under Hafnium: any prm held
   * (4.9 leaves assigned_use_case unset on the retrieving assign, sel2_mobj.ts).
   */
  findProtmem(cookie: bigint): MobjRef | null;
}

/** mobj_get_pa(): the physical address of byte `offset`, or null past the end. */
export function mobjPa(m: MobjRef, offset: number): number | null {
  if (offset < 0 || offset >= m.sizeBytes) return null;
  let page = Math.floor(offset / PAGE_SIZE);
  for (const r of m.ranges) {
    if (page < r.pages) return r.address + page * PAGE_SIZE + (offset % PAGE_SIZE);
    page -= r.pages;
  }
  return null;
}

/** Whether [offset, offset + length) lies in one physically contiguous run of the object. */
export function mobjContiguous(m: MobjRef, offset: number, length: number): boolean {
  const a = mobjPa(m, offset);
  const b = mobjPa(m, offset + length - 1);
  return a !== null && b !== null && b - a === length - 1;
}
