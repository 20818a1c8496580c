/**
 * Planted bugs (issue 11, "Planted bugs"; test/mutants/): each mutation is one deliberate bug in the
 * model of the `safe` policy, switched on for a run so the explorer can show it finds it. Every id
 * names the real bug it plants; the decision point sits in the code that models the real thing, as one
 * boolean test, with a comment saying what the correct code does. With no mutation on (every run
 * outside the mutants test) each decision point reads one `false` field. The runner switches them on
 * as the run starts, after boot (like the faults): a decision point reached only while booting never
 * sees one.
 *
 * How to add one: docs/mutants.md.
 */

/** The mutations, each with the bug it plants (what a reviewer would write in the bug report). */
export const MUTATIONS = {
  "no-pool-mutex":
    "the growable pool grows (lends a new chunk: the pool's init on first use) without rp->mutex, so two allocators that both find no room lend a chunk each",
  "refcount-inc":
    "a chunk whose buffer count reached zero is torn down by its pending release without checking that an allocation took it again meanwhile: a reference taken with refcount_inc() where refcount_inc_not_zero() is needed (protmem.c's get/put race)",
  "reclaim-before-destroy":
    "a chunk is reclaimed (RELEASE_PROTMEM + FFA_MEM_RECLAIM) before it leaves the pool and its gen_pool is destroyed, whose BUG_ON is the last check that no buffer lives in it",
  "no-tlb-flush":
    "the `pte`/`boot-pte-region` unmap invalidates the linear-map entries but skips flush_tlb_kernel_range(): the TLB still translates the lent pages when the firewall closes",
  "no-cache-clean":
    "no dcache_clean_inval_poc() before the lend: dirty lines of the chunk (the allocator's zeroing) are written back into memory that is already protected",
  "no-scrub":
    "OP-TEE gives protected memory back (RELEASE_PROTMEM / restore_mem()) without zeroing it: secret data returns to Linux",
  "no-remap":
    "after a successful FFA_MEM_RECLAIM the chunk goes back to the page allocator still unmapped from the linear map",
  "close-keeps-dmabuf":
    "releasing a registered dma-buf's tee_shm (TEE_IOC_SHM_REGISTER_FD's fd closed) does not dma_buf_put() the buffer: it and its protected memory leak",
  "lend-before-unmap":
    "the chunk is lent (FFA_MEM_LEND + ASSIGN: the firewall closes) before it is unmapped from the linear map: a cacheable mapping of protected memory, the window speculative fills hit",
} as const;

export type MutationId = keyof typeof MUTATIONS;

export const MUTATION_IDS = Object.keys(MUTATIONS) as MutationId[];

/** Which mutations a run has on: one boolean per id, read at the decision points. */
export type Mutations = Readonly<Record<MutationId, boolean>>;

/** Every mutation off: the model as designed. */
export const NO_MUTATIONS: Mutations = Object.freeze(
  Object.fromEntries(MUTATION_IDS.map((id) => [id, false])) as Record<MutationId, boolean>,
);

/** The switches for `ids` (none: NO_MUTATIONS). An unknown id is the caller's bug. */
export function mutations(ids: readonly MutationId[] = []): Mutations {
  if (ids.length === 0) return NO_MUTATIONS;
  const m = { ...NO_MUTATIONS } as Record<MutationId, boolean>;
  for (const id of ids) {
    if (!(id in MUTATIONS))
      throw new Error(`unknown mutation "${id}"; expected one of ${MUTATION_IDS.join(", ")}`);
    m[id] = true;
  }
  return Object.freeze(m);
}
