/**
 * What OP-TEE's own SPMC (firmware/optee_sel1: thread_spmc.c, mobj_ffa.c) and OP-TEE's platform code
 * (secure/optee/plat_protmem.ts) share: the protected-memory use cases and the signature of the platform
 * hook — the declarations of OP-TEE's core/include/mm/mobj.h, which both sides include. Here, so that
 * neither layer imports the other (ARCHITECTURE.md §1): the firmware calls whatever hook its builder
 * hands it (scenario/system.ts passes secure/optee's platProtmemFor()).
 */

/**
 * enum mobj_use_case — core/include/mm/mobj.h. The same values as Linux's enum tee_dma_heap_id
 * (include/linux/tee_core.h: TEE_DMA_HEAP_SECURE_VIDEO_PLAY = 1, TEE_DMA_HEAP_TRUSTED_UI = 2), which
 * travel in OPTEE_MSG_CMD_GET_PROTMEM_CONFIG / ASSIGN_PROTMEM.
 */
export const MOBJ_USE_CASE_NS_SHM = 0;
export const MOBJ_USE_CASE_SEC_VIDEO_PLAY = 1;
export const MOBJ_USE_CASE_TRUSTED_UI = 2;

/** Work the platform does on a range before it leaves protection (a scrub); adds its time to `cost.ns`. */
export type BeforeRestore = (pa: number, size: number, cost: { ns: number }) => void;

/** plat_set_protmem_range() and where a platform that scrubs does it. */
export interface PlatProtmem {
  /** plat_set_protmem_range(use_case, pa, size): a TEE_Result; adds the time it took to `cost.ns`. */
  setProtmemRange(useCase: number, pa: number, size: number, cost: { ns: number }): number;
  /**
   * Runs inside plat_set_protmem_range(MOBJ_USE_CASE_NS_SHM, ...) before the range is unprotected
   * (restore_mem() at FFA_MEM_RECLAIM): where a platform that scrubs does it (optee.md §1.7: "scrubbing,
   * if any, must be done by the platform hook"). Null upstream: nothing zeroes.
   */
  beforeRestore: BeforeRestore | null;
}
