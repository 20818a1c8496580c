/**
 * OP-TEE's FF-A memory objects when it is its own SPMC — core/arch/arm/mm/mobj_ffa.c (optee.md §1.5):
 * `struct mobj_ffa_shm` (shared memory, any pages) and `struct mobj_ffa_prm` (protected memory, one
 * physically contiguous range, a use case); cookies from a bitmap of SPMC_CORE_SEL1_MAX_SHM_COUNT with
 * FFA_MEMORY_HANDLE_NON_SECURE_BIT; the inactive list (lent, not in use) and the active list (in use by
 * OP-TEE); the overlap check and the platform hook at push time; reclaim.
 *
 * Modelled as fixed upstream: mobj_ffa_add_pages_at() checks `pa == mfr->pa + idx * 4 KiB` and
 * advances idx by num_pages (commit cae910171, optee.md §0; older code compared the wrong offset).
 */
import { OWNER_NORMAL, OWNER_SECURE } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import {
  MOBJ_USE_CASE_NS_SHM,
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_TRUSTED_UI,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
  type PlatProtmem,
} from "../../secure/optee/plat_protmem.ts";

/** FFA_MEMORY_HANDLE_NON_SECURE_BIT — OP-TEE core/arch/arm/include/ffa.h (bit 44). */
export const FFA_MEMORY_HANDLE_NON_SECURE_BIT = 1n << 44n;

export interface MobjFfa {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  readonly useCase: number;
  readonly pageCount: number;
  /** Whether the normal world lent it (FFA_MEM_LEND) rather than shared it (ours: for the machine's owner). */
  readonly lent: boolean;
  /** prm: the start of the range. */
  pa: number;
  /** The address ranges as added (shm: any; prm: one contiguous run). */
  readonly ranges: { address: number; pages: number }[];
  /** Pages added so far (current_page_idx). */
  pagesAdded: number;
  refcount: number;
  inactiveRefs: number;
  registeredByCookie: boolean;
  list: "building" | "inactive" | "active";
}

export class MobjFfaTable {
  readonly #cookieBits: boolean[];
  readonly #objects = new Map<bigint, MobjFfa>();

  constructor(
    private readonly machine: Machine,
    private readonly hook: PlatProtmem,
    readonly maxCookies: number,
  ) {
    this.#cookieBits = new Array<boolean>(maxCookies).fill(false);
  }

  /**
   * mobj_ffa_sel1_spmc_new(): null when the cookie was given (without a hypervisor, only
   * hypervisor-allocated cookies are accepted, and none here), the use case is unknown, or the bitmap
   * is full. The caller answers FFA_NO_MEMORY.
   */
  create(
    cookieArg: bigint,
    pageCount: number,
    useCase: number,
    lent: boolean,
  ): { mobj: MobjFfa } | { why: string } {
    if (cookieArg !== 0n)
      return { why: `cookie ${cookieArg} given by the normal world (only without virtualization: refused)` };
    let kind: "shm" | "prm";
    if (useCase === MOBJ_USE_CASE_NS_SHM) kind = "shm";
    else if (useCase === MOBJ_USE_CASE_SEC_VIDEO_PLAY || useCase === MOBJ_USE_CASE_TRUSTED_UI) kind = "prm";
    else return { why: `use case ${useCase} is not supported` };
    if (pageCount === 0) return { why: "no pages" };
    const i = this.#cookieBits.indexOf(false);
    if (i < 0) return { why: `all ${this.maxCookies} cookies are in use` };
    this.#cookieBits[i] = true;
    const mobj: MobjFfa = {
      cookie: BigInt(i) | FFA_MEMORY_HANDLE_NON_SECURE_BIT,
      kind,
      useCase,
      pageCount,
      lent,
      pa: 0,
      ranges: [],
      pagesAdded: 0,
      refcount: 0,
      inactiveRefs: 0,
      registeredByCookie: false,
      list: "building",
    };
    return { mobj };
  }

  /** mobj_ffa_sel1_spmc_delete(): frees the cookie. */
  delete(m: MobjFfa): void {
    const i = Number(m.cookie & ~FFA_MEMORY_HANDLE_NON_SECURE_BIT);
    this.#cookieBits[i] = false;
    if (this.#objects.get(m.cookie) === m) this.#objects.delete(m.cookie);
  }

  /** mobj_ffa_add_pages_at(): TEE_SUCCESS or TEE_ERROR_BAD_PARAMETERS. */
  addPagesAt(
    m: MobjFfa,
    pa: number,
    pages: number,
    nonSecure: (pa: number, size: number) => boolean,
  ): number {
    if (m.pagesAdded + pages > m.pageCount) return TEE_ERROR_BAD_PARAMETERS;
    if (!nonSecure(pa, pages * PAGE_SIZE)) return TEE_ERROR_BAD_PARAMETERS;
    if (m.kind === "prm") {
      if (m.pagesAdded === 0) m.pa = pa;
      else if (pa !== m.pa + m.pagesAdded * PAGE_SIZE) return TEE_ERROR_BAD_PARAMETERS;
    }
    m.ranges.push({ address: pa, pages });
    m.pagesAdded += pages;
    return TEE_SUCCESS;
  }

  /**
   * mobj_ffa_push_to_inactive(): refuses a PA overlap with another object (prm vs prm and prm vs shm;
   * shm vs shm is not checked), then protects a prm through the platform hook.
   */
  pushToInactive(m: MobjFfa, cost: { ns: number }): { rc: number; why: string } {
    for (const o of this.#objects.values()) {
      if ((m.kind === "prm" || o.kind === "prm") && overlaps(m, o))
        return { rc: TEE_ERROR_BAD_PARAMETERS, why: `overlaps FF-A object ${o.cookie.toString(16)}` };
    }
    if (m.kind === "prm") {
      const rc = this.hook.setProtmemRange(m.useCase, m.pa, m.pageCount * PAGE_SIZE, cost);
      if (rc !== TEE_SUCCESS) return { rc, why: `plat_set_protmem_range() failed with ${rc.toString(16)}` };
    }
    if (m.lent)
      for (const r of m.ranges)
        this.machine.setOwner(r.address, r.pages * PAGE_SIZE, OWNER_SECURE, m.useCase);
    m.list = "inactive";
    this.#objects.set(m.cookie, m);
    return { rc: TEE_SUCCESS, why: "" };
  }

  /** mobj_ffa_sel1_spmc_reclaim(): TEE_SUCCESS, TEE_ERROR_BUSY (in use) or TEE_ERROR_ITEM_NOT_FOUND. */
  reclaim(cookie: bigint, cost: { ns: number }): number {
    const m = this.#objects.get(cookie);
    if (!m) return TEE_ERROR_ITEM_NOT_FOUND;
    if (m.list === "active" || m.inactiveRefs !== 0) return TEE_ERROR_BUSY;
    let rc = TEE_SUCCESS;
    if (m.kind === "prm")
      rc = this.hook.setProtmemRange(MOBJ_USE_CASE_NS_SHM, m.pa, m.pageCount * PAGE_SIZE, cost);
    if (rc !== TEE_SUCCESS) return rc;
    if (m.lent) for (const r of m.ranges) this.machine.setOwner(r.address, r.pages * PAGE_SIZE, OWNER_NORMAL);
    this.delete(m);
    return TEE_SUCCESS;
  }

  /** mobj_ffa_get_by_cookie(cookie, 0): OP-TEE starts using the object (it goes active). */
  getByCookie(cookie: bigint): MobjFfa | null {
    const m = this.#objects.get(cookie);
    if (!m) return null;
    if (m.list === "inactive") {
      if (!m.registeredByCookie) {
        m.inactiveRefs++;
        m.registeredByCookie = true;
      }
      m.inactiveRefs++;
      m.list = "active";
    }
    m.refcount++;
    return m;
  }

  /** mobj_put(): the last reference puts it back on the inactive list (ffa_inactivate()). */
  put(m: MobjFfa): void {
    if (m.refcount === 0) return;
    m.refcount--;
    if (m.refcount === 0 && m.list === "active") {
      m.list = "inactive";
      m.inactiveRefs--;
    }
  }

  /** mobj_ffa_unregister_by_cookie() (OPTEE_FFA_UNREGISTER_SHM / RELEASE_PROTMEM). */
  unregisterByCookie(cookie: bigint): number {
    const m = this.#objects.get(cookie);
    if (!m) return TEE_ERROR_ITEM_NOT_FOUND;
    if (m.list === "active") return TEE_ERROR_BUSY;
    if (!m.registeredByCookie) return TEE_ERROR_ITEM_NOT_FOUND;
    m.inactiveRefs--;
    m.registeredByCookie = false;
    return TEE_SUCCESS;
  }

  get(cookie: bigint): MobjFfa | undefined {
    return this.#objects.get(cookie);
  }

  /** Objects pushed (inactive or active). */
  *live(): Generator<MobjFfa> {
    yield* this.#objects.values();
  }

  get cookiesInUse(): number {
    return this.#cookieBits.filter(Boolean).length;
  }
}

function overlaps(a: MobjFfa, b: MobjFfa): boolean {
  for (const r of a.ranges) {
    for (const s of b.ranges) {
      if (r.address < s.address + s.pages * PAGE_SIZE && s.address < r.address + r.pages * PAGE_SIZE)
        return true;
    }
  }
  return false;
}
