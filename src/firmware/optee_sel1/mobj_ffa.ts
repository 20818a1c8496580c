/**
 * OP-TEE's FF-A memory objects when it is its own SPMC — core/arch/arm/mm/mobj_ffa.c (optee.md §1.5):
 * `struct mobj_ffa_shm` (shared memory, any pages) and `struct mobj_ffa_prm` (protected memory, one
 * physically contiguous range, a use case); cookies from a bitmap of SPMC_CORE_SEL1_MAX_SHM_COUNT with
 * FFA_MEMORY_HANDLE_NON_SECURE_BIT; the inactive list (lent, not in use) and the active list (in use by
 * OP-TEE); the overlap check and the platform hook at push time; reclaim.
 *
 * mobj_ffa_add_pages_at() as OP-TEE 4.9.0 has it (fixed in 4.10.0 by cae910171 "core: ffa: fix memory
 * range tracking in mobj_ffa_add_pages_at()", optee.md §0) — see addPagesAt(): a protected object's
 * second address range must start `idx` pages BELOW the first, and idx then grows by idx + num_pages.
 * A descriptor whose ranges add up to total_page_count (every one Linux builds) is therefore refused
 * as soon as it has two non-empty ranges, contiguous or not; one that passes covers other pages than
 * the ones sent (OP-TEE's object is always [pa, pa + total_page_count pages), mobjFfaPages()).
 */
import { OWNER_NORMAL, OWNER_SECURE } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import {
  MOBJ_USE_CASE_NS_SHM,
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_TRUSTED_UI,
  type PlatProtmem,
} from "../../abi/optee/protmem.ts";
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "../../abi/optee/tee_result.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

const U32_MAX = 0xffff_ffff;

/** FFA_MEMORY_HANDLE_NON_SECURE_BIT — OP-TEE core/arch/arm/include/ffa.h (bit 44). */
export const FFA_MEMORY_HANDLE_NON_SECURE_BIT = 1n << 44n;

export interface MobjFfa {
  readonly cookie: bigint;
  readonly kind: "shm" | "prm";
  readonly useCase: number;
  readonly pageCount: number;
  /** Whether the normal world lent it (FFA_MEM_LEND) rather than shared it (ours: for the machine's owner). */
  readonly lent: boolean;
  /** prm: `mfr->pa`, the start of the object (the first range's address). */
  pa: number;
  /**
   * The address ranges as the sender gave them, each accepted by mobj_ffa_add_pages_at(): for shm
   * OP-TEE's pages[] (mobjFfaPages()); for prm only the pages the normal world lent — OP-TEE itself
   * knows just `pa` and the size.
   */
  readonly ranges: { address: number; pages: number }[];
  /** `current_page_idx` (u32), advanced with 4.9's arithmetic. */
  pagesAdded: number;
  refcount: number;
  inactiveRefs: number;
  registeredByCookie: boolean;
  list: "building" | "inactive" | "active";
}

export class MobjFfaTable implements Snapshottable {
  readonly #cookieBits: boolean[];
  readonly #objects = new Map<bigint, MobjFfa>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { cookieBits: this.#cookieBits, objects: this.#objects };
  }

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

  /**
   * mobj_ffa_add_pages_at(mf, &idx, pa, num_pages) — OP-TEE 4.9.0 core/arch/arm/mm/mobj_ffa.c, for
   * CFG_CORE_SEL1_SPMC: TEE_SUCCESS or TEE_ERROR_BAD_PARAMETERS, in its order:
   * 1. `ADD_OVERFLOW(*idx, num_pages, &n) || n > tot_page_count` (n is an unsigned int);
   * 2. `core_pbuf_is(CORE_MEM_NON_SEC, pa, num_pages * SMALL_PAGE_SIZE)` — SMALL_PAGE_SIZE is BIT(12),
   *    a u32, so the size wraps at 4 GiB, and an empty buffer "complies with anything" (core_mmu.c);
   * 3. shm: pages[idx + i] = pa + i × 4 KiB; prm: idx 0 sets `mfr->pa = pa`, any later range must
   *    satisfy `mfr->pa == pa + *idx * SMALL_PAGE_SIZE` (u32 product) — the range must start idx pages
   *    before the first one, where 4.10 requires `pa == mfr->pa + idx * 4 KiB`;
   * 4. `(*idx) += n`: for shm the loop left n = num_pages; for prm n is still idx + num_pages, so idx
   *    becomes 2 × idx + num_pages (4.10: += num_pages).
   */
  addPagesAt(
    m: MobjFfa,
    pa: number,
    pages: number,
    nonSecure: (pa: number, size: number) => boolean,
  ): number {
    const idx = m.pagesAdded;
    const n = idx + pages;
    if (n > U32_MAX || n > m.pageCount) return TEE_ERROR_BAD_PARAMETERS;
    const size = (pages * PAGE_SIZE) % 2 ** 32;
    if (size !== 0 && !nonSecure(pa, size)) return TEE_ERROR_BAD_PARAMETERS;
    if (m.kind === "prm") {
      if (idx === 0) m.pa = pa;
      else if (m.pa !== pa + ((idx * PAGE_SIZE) % 2 ** 32)) return TEE_ERROR_BAD_PARAMETERS;
      m.ranges.push({ address: pa, pages });
      m.pagesAdded = (idx + n) % 2 ** 32;
      return TEE_SUCCESS;
    }
    m.ranges.push({ address: pa, pages });
    m.pagesAdded = n;
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
      for (const r of lentRanges(m, this.machine))
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
    this.delete(m);
    if (m.lent) {
      // Two shared-memory objects may hold the same pages: cmp_pa_overlap() (mobj_ffa.c, 4.9.0) does not
      // compare shm with shm ("Not a security issue and might be too expensive to check"), so a second
      // FFA_MEM_LEND of lent pages under MOBJ_USE_CASE_NS_SHM succeeds. The normal world gets back only
      // the pages no other lent object still holds.
      const held: { address: number; pages: number }[] = [];
      for (const o of this.#objects.values()) if (o.lent) held.push(...lentRanges(o, this.machine));
      for (const r of lentRanges(m, this.machine))
        for (const free of uncovered(r, held))
          this.machine.setOwner(free.address, free.pages * PAGE_SIZE, OWNER_NORMAL);
    }
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

  /**
   * The cookie bitmap and the pushed objects, for the FF-A fuzzer's snapshot (explore/fuzz). Objects
   * still being built (fragmented sends) live only in the SPMC's frag states, which the caller copies.
   */
  snapshot(): { readonly cookieBits: readonly boolean[]; readonly objects: readonly MobjFfa[] } {
    return { cookieBits: this.#cookieBits.slice(), objects: [...this.#objects.values()] };
  }

  /** Puts a snapshot() back; `clone` gives each object its restored copy (shared with frag states). */
  restore(
    snap: { readonly cookieBits: readonly boolean[]; readonly objects: readonly MobjFfa[] },
    clone: (m: MobjFfa) => MobjFfa,
  ): void {
    for (let i = 0; i < this.#cookieBits.length; i++) this.#cookieBits[i] = snap.cookieBits[i];
    this.#objects.clear();
    for (const m of snap.objects) this.#objects.set(m.cookie, clone(m));
  }

  /** Objects pushed (inactive or active), counted. */
  get size(): number {
    return this.#objects.size;
  }

  /** Whether cookie bit `i` is allocated (a read of the bitmap without copying it). */
  cookieAllocated(i: number): boolean {
    return this.#cookieBits[i];
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

/**
 * The pages OP-TEE's object stands for: shm its pages[] (the ranges as added); prm `[mfr->pa,
 * mfr->pa + size)` — what ffa_prm_get_pa(), cmp_pa_overlap() and protect_mem() use. With 4.9's
 * mobj_ffa_add_pages_at() a prm that passed with two ranges is not the pages that were sent.
 */
export function mobjFfaPages(m: MobjFfa): { address: number; pages: number }[] {
  return m.kind === "prm" ? [{ address: m.pa, pages: m.pageCount }] : m.ranges;
}

/**
 * The DRAM pages the normal world lent with object m (ranges as sent, clipped to DRAM, empty ones
 * dropped): the model's ownership record. A range whose size wrapped to 0 in add_pages_at()'s u32
 * product was never checked against memory, so part of it may lie outside DRAM.
 */
export function lentRanges(m: MobjFfa, machine: Machine): { address: number; pages: number }[] {
  const out: { address: number; pages: number }[] = [];
  for (const r of m.ranges) {
    const start = Math.max(r.address, machine.dramBase);
    const end = Math.min(r.address + r.pages * PAGE_SIZE, machine.dramEnd);
    if (end > start) out.push({ address: start, pages: (end - start) / PAGE_SIZE });
  }
  return out;
}

/**
 * The runs of range `r` whose pages (by their first byte) none of `held` covers, in ascending order.
 * Worked on index intervals: range h covers page i of r when h.address ≤ r.address + i·PAGE_SIZE <
 * h.address + h.pages·PAGE_SIZE, that is i in [⌈(h.address − r.address) / PAGE_SIZE⌉, ⌈(end − r.address) /
 * PAGE_SIZE⌉). A range of a fractional page count (clipped to DRAM from an unaligned address) takes
 * the page-by-page walk, which drops a run that reaches its last page.
 */
export function uncovered(
  r: { address: number; pages: number },
  held: readonly { address: number; pages: number }[],
): { address: number; pages: number }[] {
  if (!Number.isInteger(r.pages)) return uncoveredByPage(r, held);
  const spans: [number, number][] = [];
  for (const h of held) {
    const a = Math.max(0, Math.ceil((h.address - r.address) / PAGE_SIZE));
    const b = Math.min(r.pages, Math.ceil((h.address + h.pages * PAGE_SIZE - r.address) / PAGE_SIZE));
    if (a < b) spans.push([a, b]);
  }
  spans.sort((x, y) => x[0] - y[0]);
  const out: { address: number; pages: number }[] = [];
  let next = 0;
  for (const [a, b] of spans) {
    if (a > next) out.push({ address: r.address + next * PAGE_SIZE, pages: a - next });
    if (b > next) next = b;
  }
  if (next < r.pages) out.push({ address: r.address + next * PAGE_SIZE, pages: r.pages - next });
  return out;
}

/**
 * The definition uncovered() keeps to: r walked page by page, a page free when no held range holds
 * its first byte (test/secure/reclaim-uncovered-runs.test.ts holds the two together).
 */
export function uncoveredByPage(
  r: { address: number; pages: number },
  held: readonly { address: number; pages: number }[],
): { address: number; pages: number }[] {
  const out: { address: number; pages: number }[] = [];
  let start = -1;
  for (let i = 0; i <= r.pages; i++) {
    const pa = r.address + i * PAGE_SIZE;
    const free = i < r.pages && !held.some((h) => pa >= h.address && pa < h.address + h.pages * PAGE_SIZE);
    if (free && start < 0) start = pa;
    if (!free && start >= 0) {
      out.push({ address: start, pages: (pa - start) / PAGE_SIZE });
      start = -1;
    }
  }
  return out;
}

/** cmp_pa_overlap() for a pair where at least one is prm (shm vs shm is never compared). */
function overlaps(a: MobjFfa, b: MobjFfa): boolean {
  for (const r of mobjFfaPages(a)) {
    for (const s of mobjFfaPages(b)) {
      if (r.address < s.address + s.pages * PAGE_SIZE && s.address < r.address + r.pages * PAGE_SIZE)
        return true;
    }
  }
  return false;
}
