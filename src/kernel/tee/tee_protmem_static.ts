/**
 * The static carveout pool — drivers/tee/tee_heap.c tee_protmem_static_pool_alloc() (linux-kernel.md
 * §1.3): a gen_pool over a physical range the secure world protects from boot (SMC ABI:
 * OPTEE_SMC_GET_PROTMEM_CONFIG). Buffers are sub-allocated page-granular; update_shm gives the
 * physical address (no parent shm).
 */
import { EINVAL, ENOMEM } from "../../abi/uapi/errno.ts";
import { PAGE_SIZE, PAGE_SHIFT } from "../../hw/platform.ts";
import type { Machine } from "../../hw/machine.ts";
import {
  genPoolAdd,
  genPoolAlloc,
  genPoolAvail,
  genPoolCreate,
  genPoolDestroy,
  genPoolFree,
  genPoolSize,
  type GenPool,
} from "../mm/genalloc.ts";
import { ProtmemLedger } from "./protmem_ledger.ts";
import type { TeeProtmemPool, TeeProtmemPoolOps } from "./tee_heap.ts";

/** struct tee_protmem_static_pool */
export interface TeeProtmemStaticPool extends TeeProtmemPool {
  readonly genPool: GenPool;
  readonly paBase: number;
}

const STATIC_OPS: TeeProtmemPoolOps = {
  // eslint-disable-next-line require-yield
  *alloc(pool, sgt, size, offs) {
    const sp = pool as TeeProtmemStaticPool;
    const pa = genPoolAlloc(sp.genPool, size);
    if (!pa) return -ENOMEM;
    sgt.sgl = [{ pa, length: size }];
    offs.value = pa - sp.paBase;
    return 0;
  },
  // eslint-disable-next-line require-yield
  *free(pool, sgt) {
    const sp = pool as TeeProtmemStaticPool;
    for (const sg of sgt.sgl) genPoolFree(sp.genPool, sg.pa, sg.length);
    sgt.sgl = [];
  },
  updateShm(pool, _sgt, offs, shm, parent) {
    shm.paddr = (pool as TeeProtmemStaticPool).paBase + offs;
    parent.shm = null;
    return 0;
  },
  // eslint-disable-next-line require-yield
  *destroyPool(pool) {
    genPoolDestroy((pool as TeeProtmemStaticPool).genPool);
  },
  /** The pool keeps no count of buffers: its gen_pool's bytes handed out are its record (pool-consistency). */
  ownCount(pool) {
    return genPoolAllocatedBytes((pool as TeeProtmemStaticPool).genPool);
  },
};

/**
 * gen_pool_size() − gen_pool_avail(): the bytes a gen_pool has handed out — a static pool's only record
 * of its live buffers (null once the pool is destroyed).
 */
export function genPoolAllocatedBytes(genPool: GenPool): number | null {
  if (genPool.destroyed) return null;
  return genPoolSize(genPool) - genPoolAvail(genPool);
}

/** tee_protmem_static_pool_alloc(paddr, size): −EINVAL unless page aligned and pfn_valid(). */
export function teeProtmemStaticPoolAlloc(
  machine: Machine,
  paddr: number,
  size: number,
): TeeProtmemStaticPool | number {
  if ((paddr | size) % PAGE_SIZE !== 0 || paddr % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return -EINVAL;
  if (machine.frames.indexOf(paddr) < 0) return -EINVAL; // pfn_valid(PHYS_PFN(paddr))
  const genPool = genPoolCreate(PAGE_SHIFT, -1, (kind, msg, fn) =>
    kind === "BUG" ? machine.sim.bug(fn, msg) : machine.sim.kernelWarn(kind, msg),
  );
  const rc = genPoolAdd(genPool, paddr, size, -1);
  if (rc) return rc;
  // Invariant `pool-consistency`: the carveout is one chunk, protected from boot, never reclaimed.
  const ledger = new ProtmemLedger(
    machine.sim,
    "static pool (tee_heap.c)",
    "its gen_pool's bytes handed out",
    "bytes",
  );
  ledger.chunkAdded(paddr, size);
  return { ops: STATIC_OPS, genPool, paBase: paddr, ledger };
}
