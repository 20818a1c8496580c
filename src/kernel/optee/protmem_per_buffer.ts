/**
 * The per-buffer protected-memory pool — policy `pool: per-buffer` (our design, the shape of
 * Qualcomm's secure heaps, optee.md §5): every buffer is its own CMA allocation
 * (tee_shm_alloc_dma_mem()), prepared and lent on its own (protmem_lend.ts), and reclaimed when it is
 * freed. Page-granular and nothing lent while idle, at the price of one lend and one reclaim per
 * buffer; the SPMC's handle table and the firewall's regions are real limits, met as the lend's error.
 */
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { TeeProtmemPool, TeeProtmemPoolOps } from "../tee/tee_heap.ts";
import { teeShmAllocDmaMem, teeShmPut, type TeeShm } from "../tee/tee_shm.ts";
import { ProtmemLedger } from "../tee/protmem_ledger.ts";
import type { Optee } from "./optee.ts";
import {
  chunkShape,
  lentAfterFailedLend,
  newLendStats,
  protmemLend,
  type ProtmemPolicy,
} from "./protmem_lend.ts";
import { afterReclaim, reclaimChunk, reclaimFailedLend } from "./protmem_reclaim.ts";

export class ProtmemPerBufferPool implements TeeProtmemPool {
  readonly ops: TeeProtmemPoolOps = PER_BUFFER_OPS;
  /** Each live buffer's lent shm, by its physical address. */
  readonly buffers = new Map<number, TeeShm>();
  readonly stats = newLendStats();
  /** Invariant `pool-consistency`: each buffer is its own chunk (protmem_ledger.ts). */
  readonly ledger: ProtmemLedger;

  constructor(
    readonly optee: Optee,
    readonly useCase: number,
    readonly memAttrs: readonly number[],
    readonly policy: ProtmemPolicy,
  ) {
    this.ledger = new ProtmemLedger(
      optee.kernel.sim,
      `per-buffer pool, use case ${useCase}`,
      "its table of lent buffers",
    );
  }
}

const PER_BUFFER_OPS: TeeProtmemPoolOps = {
  *alloc(pool, sgt, size, offs) {
    const rp = pool as ProtmemPerBufferPool;
    const shape = chunkShape(rp.policy, size);
    const shm = yield* teeShmAllocDmaMem(rp.optee.ctx!, shape.bytes / PAGE_SIZE, shape.alignOrder);
    if (typeof shm === "number") return shm;
    const rc = yield* protmemLend(rp.optee, rp.policy, shm, rp.memAttrs, rp.useCase, rp.stats);
    if (rc) {
      if (lentAfterFailedLend(shm)) reclaimFailedLend(rp, shm);
      else yield* teeShmPut(shm);
      return rc;
    }
    rp.buffers.set(shm.paddr, shm);
    rp.ledger.chunkAdded(shm.paddr, shm.size);
    sgt.sgl = [{ pa: shm.paddr, length: size }];
    offs.value = 0;
    return 0;
  },

  *free(pool, sgt) {
    const rp = pool as ProtmemPerBufferPool;
    for (const sg of sgt.sgl) {
      const shm = rp.buffers.get(sg.pa)!;
      rp.buffers.delete(sg.pa);
      // A reclaim the SPMC refuses leaves the buffer lent: it is not freed (it would go back to the
      // page allocator still protected), and the reclaim is tried again later (protmem_reclaim.ts).
      yield* afterReclaim(rp, shm, yield* reclaimChunk(rp, shm));
    }
    sgt.sgl = [];
  },

  /** Its table of lent buffers (pool-consistency compares it with the live buffers). */
  ownCount(pool) {
    return (pool as ProtmemPerBufferPool).buffers.size;
  },

  /** Each buffer is its own lent shm. */
  updateShm(pool, sgt, _offs, _shm, parent) {
    parent.shm = (pool as ProtmemPerBufferPool).buffers.get(sgt.sgl[0].pa) ?? null;
    return 0;
  },

  *destroyPool() {},
};
