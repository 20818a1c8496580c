/**
 * The carveout pool over FF-A — policy `pool: static` (named policy `carveout`): OP-TEE's protected
 * memory is a carveout the device tree reserves with `no-map` (DT reserved-memory, linux-kernel.md §4.6:
 * never in the linear map, so no speculation can reach it), lent once at probe and never reclaimed,
 * sub-allocated with genalloc like tee_heap.c's static pool. Upstream has a static pool only over
 * OP-TEE's SMC ABI (OPTEE_SMC_GET_PROTMEM_CONFIG, tee_protmem_static_pool_alloc()); over FF-A this is
 * our design: the carveout is lent as one chunk and buffers are offsets into it, as in the dynamic pool.
 * Memory never returns to Linux: no scrub is needed, and none of it is reusable for anything else.
 */
import { ENOMEM, ERRNO } from "../../abi/uapi/errno.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { genPoolAdd, genPoolAlloc, genPoolCreate, genPoolFree, type GenPool } from "../mm/genalloc.ts";
import type { TeeProtmemPool, TeeProtmemPoolOps } from "../tee/tee_heap.ts";
import { TeeShm } from "../tee/tee_shm.ts";
import type { Sim } from "../../sim/sim.ts";
import { ProtmemLedger } from "../tee/protmem_ledger.ts";
import { genPoolAllocatedBytes } from "../tee/tee_protmem_static.ts";
import type { Optee } from "./optee.ts";
import { newLendStats, protmemLend, type ProtmemPolicy } from "./protmem_lend.ts";

/** The reserved-memory node the carveout policy adds to the platform (scenario/system.ts). */
export const PROTMEM_CARVEOUT_NAME = "protmem-carveout";

export class ProtmemCarveoutPool implements TeeProtmemPool {
  readonly ops: TeeProtmemPoolOps = CARVEOUT_OPS;
  readonly stats = newLendStats();
  /** Invariant `pool-consistency`: the carveout, one chunk for good (protmem_ledger.ts). */
  readonly ledger: ProtmemLedger;

  constructor(
    readonly shm: TeeShm,
    readonly genPool: GenPool,
    sim: Sim,
    useCase: number,
  ) {
    this.ledger = new ProtmemLedger(
      sim,
      `carveout pool, use case ${useCase}`,
      "its gen_pool's bytes handed out",
      "bytes",
    );
    this.ledger.chunkAdded(shm.paddr, shm.size);
  }
}

/**
 * Lends the platform's carveout for `useCase` and builds the pool over it, or −errno (−ENODEV without
 * a carveout, −ENOMEM when it is smaller than OP-TEE's min_size).
 */
export function* protmemCarveoutPool(
  optee: Optee,
  useCase: number,
  memAttrs: readonly number[],
  minSize: number,
  policy: ProtmemPolicy,
): Sleeps<ProtmemCarveoutPool | number> {
  const region = optee.kernel.machine.platform.reserved.find((r) => r.name === PROTMEM_CARVEOUT_NAME);
  if (!region) return -ERRNO.ENODEV;
  if (region.size < minSize) return -ENOMEM;
  // The carveout's tee_shm: a physical range the kernel never mapped, described to the secure world.
  const shm = new TeeShm(optee.ctx!, 0);
  shm.paddr = region.base;
  shm.size = region.size;
  const stats = newLendStats();
  const rc = yield* protmemLend(optee, policy, shm, memAttrs, useCase, stats);
  if (rc) return rc;
  const genPool = genPoolCreate(PAGE_SHIFT, -1, (kind, message, fn) =>
    kind === "BUG" ? optee.kernel.sim.bug(fn, message) : optee.kernel.sim.kernelWarn(kind, message),
  );
  genPoolAdd(genPool, shm.paddr, shm.size, -1);
  const pool = new ProtmemCarveoutPool(shm, genPool, optee.kernel.sim, useCase);
  Object.assign(pool.stats, stats);
  return pool;
}

const CARVEOUT_OPS: TeeProtmemPoolOps = {
  // eslint-disable-next-line require-yield
  *alloc(pool, sgt, size, offs) {
    const rp = pool as ProtmemCarveoutPool;
    const pa = genPoolAlloc(rp.genPool, Math.ceil(size / PAGE_SIZE) * PAGE_SIZE);
    if (!pa) return -ENOMEM;
    sgt.sgl = [{ pa, length: size }];
    offs.value = pa - rp.shm.paddr;
    return 0;
  },
  // eslint-disable-next-line require-yield
  *free(pool, sgt) {
    const rp = pool as ProtmemCarveoutPool;
    for (const sg of sgt.sgl) genPoolFree(rp.genPool, sg.pa, Math.ceil(sg.length / PAGE_SIZE) * PAGE_SIZE);
    sgt.sgl = [];
  },
  /** Buffers are offsets into the lent carveout. */
  updateShm(pool, _sgt, _offs, _shm, parent) {
    parent.shm = (pool as ProtmemCarveoutPool).shm;
    return 0;
  },

  *destroyPool() {},
  /** No count of buffers: the gen_pool's bytes handed out are the pool's record (pool-consistency). */
  ownCount(pool) {
    return genPoolAllocatedBytes((pool as ProtmemCarveoutPool).genPool);
  },
};
