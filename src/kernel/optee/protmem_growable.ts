/**
 * The growable protected-memory pool — policy `pool: growable` (our design, ARCHITECTURE.md §5; the
 * shape Tegra VPR v3's resizable chunks and the review's "reuse without hurting latency" ask for).
 *
 * Chunks of `policy.chunk` bytes (OP-TEE's min_size when 0; larger when one buffer needs more) are
 * allocated with tee_shm_alloc_dma_mem() (CMA), prepared and lent on demand (protmem_lend.ts), up to
 * `policy.max` bytes at once. Each chunk has its own gen_pool, so one can go without the others. A
 * chunk left with no buffer is reclaimed after `policy.idle_release` by delayed work, unless a buffer
 * lands in it first: a burst of sessions pays one lend, not one per session.
 *
 * The lifecycle has no window: the pool mutex covers finding room, growing, every buffer's count and
 * the release, so a release can never meet a buffer being allocated (compare protmem.c's get/put race).
 */
import { ENOMEM } from "../../abi/uapi/errno.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../hw/platform.ts";
import { Mutex } from "../../sim/mutex.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import {
  genPoolAdd,
  genPoolAlloc,
  genPoolCreate,
  genPoolDestroy,
  genPoolFree,
  type GenPool,
} from "../mm/genalloc.ts";
import type { SgTable, TeeProtmemPool, TeeProtmemPoolOps } from "../tee/tee_heap.ts";
import { teeShmAllocDmaMem, teeShmPut, type TeeShm } from "../tee/tee_shm.ts";
import { DelayedWork } from "../workqueue.ts";
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

/** One lent chunk. */
interface Chunk {
  readonly shm: TeeShm;
  readonly pool: GenPool;
  /** Buffers in it. */
  live: number;
  /** Its delayed release: queued (its timer moved on) each time the chunk's last buffer goes. */
  readonly release: DelayedWork;
}

export class ProtmemGrowablePool implements TeeProtmemPool {
  readonly ops: TeeProtmemPoolOps = GROWABLE_OPS;
  readonly chunks: Chunk[] = [];
  readonly mutex: Mutex;
  readonly stats = newLendStats();
  /** Invariant `pool-consistency`: the chunks and the buffers in them (protmem_ledger.ts). */
  readonly ledger: ProtmemLedger;

  constructor(
    readonly optee: Optee,
    readonly useCase: number,
    readonly memAttrs: readonly number[],
    /** OP-TEE's min_size for the use case (GET_PROTMEM_CONFIG). */
    readonly minSize: number,
    readonly policy: ProtmemPolicy,
  ) {
    this.mutex = new Mutex(optee.kernel.sim, `protmem_growable:${useCase}`);
    this.ledger = new ProtmemLedger(
      optee.kernel.sim,
      `growable pool, use case ${useCase}`,
      "the sum of its chunks' buffer counts",
    );
  }

  get chunkBytes(): number {
    return chunkShape(this.policy, this.policy.chunk || this.minSize).bytes;
  }
}

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function chunkOf(rp: ProtmemGrowablePool, pa: number): Chunk | undefined {
  return rp.chunks.find((c) => pa >= c.shm.paddr && pa < c.shm.paddr + c.shm.size);
}

/**
 * Grows the pool by one chunk of `bytes`; under the pool mutex. A chunk with no buffer is only waiting
 * for idle_release: when the new chunk cannot be had while those stay lent (past `max`, or they hold
 * what the lend lacks: CMA pages, the firewall's regions, the SPMC's handles), they are reclaimed now
 * and the grow is tried once more. (Fix, helper9: without it an allocation failed ENOMEM or EINVAL
 * while the pool held nothing but empty chunks.) A chunk larger than `max` is never possible: ENOMEM
 * without touching the others.
 */
function* growLocked(rp: ProtmemGrowablePool, bytes: number): Sleeps<Chunk | number> {
  if (bytes > rp.policy.max) return -ENOMEM;
  const first = yield* lendChunkLocked(rp, bytes);
  const empty = rp.chunks.filter((c) => c.live === 0);
  if (typeof first !== "number" || empty.length === 0) return first;
  for (const c of empty) yield* releaseLocked(rp, c);
  return yield* lendChunkLocked(rp, bytes);
}

/** Allocates, prepares and lends one more chunk of `bytes`; under the pool mutex. */
function* lendChunkLocked(rp: ProtmemGrowablePool, bytes: number): Sleeps<Chunk | number> {
  if (rp.stats.lentBytes + chunkShape(rp.policy, bytes).bytes > rp.policy.max) return -ENOMEM;
  const shape = chunkShape(rp.policy, bytes);
  const shm = yield* teeShmAllocDmaMem(rp.optee.ctx!, shape.bytes / PAGE_SIZE, shape.alignOrder);
  if (typeof shm === "number") return shm;
  const rc = yield* protmemLend(rp.optee, rp.policy, shm, rp.memAttrs, rp.useCase, rp.stats);
  if (rc) {
    if (lentAfterFailedLend(shm)) reclaimFailedLend(rp, shm);
    else yield* teeShmPut(shm);
    return rc;
  }
  const pool = genPoolCreate(PAGE_SHIFT, -1, (kind, message, fn) =>
    kind === "BUG" ? rp.optee.kernel.sim.bug(fn, message) : rp.optee.kernel.sim.kernelWarn(kind, message),
  );
  genPoolAdd(pool, shm.paddr, shm.size, -1);
  const chunk: Chunk = {
    shm,
    pool,
    live: 0,
    release: new DelayedWork(rp.optee.kernel.sim, `kworker/protmem-release:${rp.useCase}`, () =>
      releaseWork(rp, chunk),
    ),
  };
  rp.chunks.push(chunk);
  rp.ledger.chunkAdded(shm.paddr, shm.size);
  return chunk;
}

/**
 * Reclaims and frees an empty chunk; under the pool mutex. A chunk the SPMC keeps stays allocated,
 * out of the pool, and its reclaim is tried again later (protmem_reclaim.ts).
 */
function* releaseLocked(rp: ProtmemGrowablePool, chunk: Chunk): Sleeps {
  const bugs = rp.optee.kernel.sim.mutations;
  // Planted bug `reclaim-before-destroy` (sim/mutations.ts); correct: the chunk leaves the pool, and
  // gen_pool_destroy() checks no buffer lives in it, before it is reclaimed.
  let rc = bugs["reclaim-before-destroy"] ? yield* reclaimChunk(rp, chunk.shm) : 0;
  rp.chunks.splice(rp.chunks.indexOf(chunk), 1);
  genPoolDestroy(chunk.pool);
  if (!bugs["reclaim-before-destroy"]) rc = yield* reclaimChunk(rp, chunk.shm);
  yield* afterReclaim(rp, chunk.shm, rc);
}

/**
 * The chunk's release work, idle_release after its last buffer went (mod_delayed_work() at each free
 * that empties it, so a chunk used meanwhile waits a whole idle_release again). One work item per
 * chunk: a burst of frees queues it once, as a kernel implementation's delayed_work would.
 */
function* releaseWork(rp: ProtmemGrowablePool, chunk: Chunk): Sleeps {
  yield* rp.mutex.lock();
  // Planted bug `refcount-inc` (sim/mutations.ts); correct: a chunk an allocation took again since its
  // count hit zero (it holds a buffer now) is not torn down.
  const idle = chunk.live === 0;
  if ((idle || rp.optee.kernel.sim.mutations["refcount-inc"]) && rp.chunks.includes(chunk))
    yield* releaseLocked(rp, chunk);
  yield* rp.mutex.unlockPreempt();
}

const GROWABLE_OPS: TeeProtmemPoolOps = {
  *alloc(pool, sgt, size, offs) {
    const rp = pool as ProtmemGrowablePool;
    const sz = alignUp(size, PAGE_SIZE);
    yield* rp.mutex.lock();
    let pa = 0;
    let chunk: Chunk | undefined;
    for (const c of rp.chunks) {
      pa = genPoolAlloc(c.pool, sz);
      if (pa) {
        chunk = c;
        break;
      }
    }
    if (!chunk) {
      // Planted bug `no-pool-mutex` (sim/mutations.ts); correct: the pool grows under rp->mutex, so
      // allocators that all find no room lend one chunk between them.
      const sim = rp.optee.kernel.sim;
      const unlocked = sim.mutations["no-pool-mutex"];
      if (unlocked) yield* rp.mutex.unlockPreempt();
      const grown = yield* growLocked(rp, Math.max(rp.chunkBytes, sz));
      if (unlocked) {
        yield* rp.mutex.lock();
        // Another grower may have released the new, still empty chunk meanwhile: gen_pool_alloc() on
        // its freed gen_pool is a use-after-free, which KASAN reports; the model stops the task there.
        if (typeof grown !== "number" && grown.pool.destroyed)
          sim.bug("gen_pool_alloc_algo_owner", "KASAN: slab-use-after-free in gen_pool_alloc_algo_owner");
      }
      if (typeof grown === "number") {
        yield* rp.mutex.unlockPreempt();
        return grown;
      }
      chunk = grown;
      pa = genPoolAlloc(chunk.pool, sz);
    }
    chunk.live++;
    yield* rp.mutex.unlockPreempt();
    sgt.sgl = [{ pa, length: size }];
    offs.value = pa - chunk.shm.paddr;
    return 0;
  },

  *free(pool, sgt: SgTable) {
    const rp = pool as ProtmemGrowablePool;
    yield* rp.mutex.lock();
    for (const sg of sgt.sgl) {
      const chunk = chunkOf(rp, sg.pa)!;
      genPoolFree(chunk.pool, sg.pa, sg.length);
      if (--chunk.live === 0) chunk.release.mod(rp.policy.idle_release);
    }
    sgt.sgl = [];
    yield* rp.mutex.unlockPreempt();
  },

  /** The chunks' buffer counts, summed (pool-consistency compares them with the live buffers). */
  ownCount(pool) {
    let n = 0;
    for (const c of (pool as ProtmemGrowablePool).chunks) n += c.live;
    return n;
  },

  /** Buffers are offsets into the chunk they live in. */
  updateShm(pool, sgt, _offs, _shm, parent) {
    parent.shm = chunkOf(pool as ProtmemGrowablePool, sgt.sgl[0].pa)?.shm ?? null;
    return 0;
  },

  /**
   * No buffer is left (the heap's last reference went with the last one): every chunk still lent —
   * waiting out idle_release — is reclaimed now, and the pending releases find nothing to do (our
   * design's cancel_delayed_work_sync()).
   */
  *destroyPool(pool) {
    const rp = pool as ProtmemGrowablePool;
    yield* rp.mutex.lock();
    for (const c of [...rp.chunks]) yield* releaseLocked(rp, c);
    yield* rp.mutex.unlockPreempt();
  },
};
