/**
 * The dynamic protected-memory pool — drivers/tee/optee/protmem.c (torvalds/linux @2b78d79),
 * modelled as written: the same checks, the same order, the same locks (linux-kernel.md §1.4).
 *
 * One chunk of min_size is allocated (tee_shm_alloc_dma_mem → dma_alloc_pages, i.e. CMA), lent to
 * the secure world and covered by a gen_pool on the first allocation; every buffer holds one
 * reference; the last free reclaims the chunk and gives it back. get_dyn_protmem() takes a
 * reference without the mutex when the count is not zero; put_dyn_protmem() drops it without the
 * mutex and takes the mutex only to tear down — upstream's window between the two is kept, and ends
 * as it really does (linux-kernel.md §4.9): a get that finds the count at 0 while the pool still
 * exists does refcount_inc() from 0 (WARN_ONCE, saturate). If the getter allocated first, the putter
 * then hits gen_pool_destroy()'s BUG_ON and dies holding the mutex, with the chunk unlinked, still
 * lent and never freed; the saturated count never reaches 0 again, so later allocations find an empty
 * pool (−ENOMEM) and the getter's own free is a BUG. If the putter tore the pool down first, the
 * getter oopses on the NULL gen_pool, and so does every later allocation.
 *
 * Policy: the pool reads `policy.pool`; only "dynamic" (upstream) is built here.
 */
import { OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, msgArg } from "../../abi/optee/msg.ts";
import { TEE_ERROR_SHORT_BUFFER } from "../../abi/optee/tee_result.ts";
import { EINVAL, ENOMEM, ERRNO } from "../../abi/uapi/errno.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../hw/platform.ts";
import { Mutex } from "../../sim/mutex.ts";
import { Refcount } from "../../sim/refcount.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import {
  genPoolAdd,
  genPoolAlloc,
  genPoolCreate,
  genPoolDestroy,
  genPoolFree,
  type GenPool,
  type GenPoolWarn,
} from "../mm/genalloc.ts";
import type { TeeProtmemPool, TeeProtmemPoolOps } from "../tee/tee_heap.ts";
import {
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT,
  teeParam,
  type TeeParam,
} from "../tee/tee_core.ts";
import { remapAfterReclaim } from "../mm/unmap.ts";
import { ProtmemLedger } from "../tee/protmem_ledger.ts";
import { countLend, countReclaim, newLendStats, protmemLend, type ProtmemPolicy } from "./protmem_lend.ts";
import {
  TEE_SHM_DYNAMIC,
  teeShmAllocDmaMem,
  teeShmAllocPrivBuf,
  teeShmFree,
  teeShmPut,
  teeShmRead,
  type TeeShm,
} from "../tee/tee_shm.ts";
import { kcalloc, kfree, kmemleakLink, kzalloc } from "../mm/slab.ts";
import {
  opteeDoCallWithArg,
  opteeFreeMsgArg,
  opteeGetMsgArg,
  opteeMsgArgRead,
  opteeMsgArgWrite,
} from "./call.ts";
import { opteeSetDmaMask } from "./core.ts";
import type { Optee } from "./optee.ts";

const ENOSPC = ERRNO.ENOSPC;
/**
 * sizeof(struct optee_protmem_dyn_pool) on arm64 without lock debugging: pool.ops, gen_pool, optee,
 * page_count, mem_attrs (8 each), mem_attr_count, refcount, use_case (4 each, then 4 of padding),
 * protmem (8), struct mutex (32) — 96 bytes, kmalloc-96.
 */
export const SIZEOF_OPTEE_PROTMEM_DYN_POOL = 96;
/** kmemleak's backtrace of both allocations names this function. */
const ALLOC_SITE = "optee_protmem_alloc_dyn_pool";

/** struct optee_protmem_dyn_pool */
export class OpteeProtmemDynPool implements TeeProtmemPool {
  readonly ops: TeeProtmemPoolOps = PROTMEM_POOL_OPS_DYN;
  genPool: GenPool | null = null;
  pageCount = 0;
  memAttrs: number[] = [];
  /** kzalloc: 0 until the first init. */
  readonly refcount: Refcount;
  protmem: TeeShm | null = null;
  /** Protects when initializing and tearing down this struct. */
  readonly mutex: Mutex;
  /** Chunks lent and reclaimed so far (for tests and reports). */
  lends = 0;
  reclaims = 0;
  /** The same, with the bytes lent now and at peak (what every pool reports, protmem_lend.ts). */
  readonly stats = newLendStats();
  /** Invariant `pool-consistency`: the chunk and the buffers in it (protmem_ledger.ts). */
  readonly ledger: ProtmemLedger;

  /** rp->mem_attrs: the kcalloc()ed attribute array's address (0n: none). */
  memAttrsAddr = 0n;
  /**
   * What the run's policy adds around the lend (protmem_lend.ts): null or `unmap: none, cache: none` is
   * upstream, which does nothing (its TODO).
   */
  policy: ProtmemPolicy | null = null;

  constructor(
    readonly optee: Optee,
    readonly useCase: number,
    /** rp: the kzalloc()ed struct's address (slab.ts). */
    readonly addr: bigint,
  ) {
    this.refcount = new Refcount(optee.kernel.sim, `optee_protmem_dyn_pool:${useCase}`, 0);
    this.mutex = new Mutex(optee.kernel.sim, `optee_protmem_dyn_pool:${useCase}`);
    this.ledger = new ProtmemLedger(
      optee.kernel.sim,
      `dynamic pool (protmem.c), use case ${useCase}`,
      "its refcount",
    );
  }
}

/** lend_protmem(), counted in the pool's stats. */
function* lendCounted(rp: OpteeProtmemDynPool, shm: TeeShm): Sleeps<number> {
  const t0 = rp.optee.kernel.sim.now;
  const rc = yield* rp.optee.ops.lendProtmem(rp.optee, shm, rp.memAttrs, rp.useCase);
  if (rc === 0) countLend(rp.stats, shm.size, rp.optee.kernel.sim.now - t0, rp.optee.kernel.sim.now);
  return rc;
}

/** Whether the run's policy does anything around this pool's lend (upstream does not). */
function preparesLend(rp: OpteeProtmemDynPool): boolean {
  return rp.policy !== null && (rp.policy.unmap !== "none" || rp.policy.cache !== "none");
}

/** genalloc's BUGs kill the calling task (sim.bug()); its WARNs are reported. */
function genPoolWarn(rp: OpteeProtmemDynPool): GenPoolWarn {
  const sim = rp.optee.kernel.sim;
  return (kind, message, fn) => (kind === "BUG" ? sim.bug(fn, message) : sim.kernelWarn(kind, message));
}

/** init_dyn_protmem() */
function* initDynProtmem(rp: OpteeProtmemDynPool): Sleeps<number> {
  let rc: number;
  const shm = yield* teeShmAllocDmaMem(rp.optee.ctx!, rp.pageCount);
  if (typeof shm === "number") {
    rp.protmem = null;
    return shm;
  }
  rp.protmem = shm;
  // TODO (upstream) unmap the memory range since the physical memory will become inaccessible
  // after the lend_protmem() call. Policy `unmap: none` is exactly that; another unmap or a cache
  // policy prepares the chunk first (protmem_lend.ts), as the 2026 designs do in tee_shm_alloc_dma_mem().
  rc = preparesLend(rp)
    ? yield* protmemLend(rp.optee, rp.policy!, rp.protmem, rp.memAttrs, rp.useCase, rp.stats)
    : yield* lendCounted(rp, rp.protmem);
  if (rc) {
    yield* teeShmPut(rp.protmem);
    rp.protmem = null;
    return rc;
  }
  rp.lends++;
  rp.protmem.flags |= TEE_SHM_DYNAMIC;
  rp.genPool = genPoolCreate(PAGE_SHIFT, -1, genPoolWarn(rp));
  rc = genPoolAdd(rp.genPool, rp.protmem.paddr, rp.protmem.size, -1);
  if (rc) {
    genPoolDestroy(rp.genPool);
    rp.genPool = null;
    yield* rp.optee.ops.reclaimProtmem(rp.optee, rp.protmem);
    yield* teeShmPut(rp.protmem);
    rp.protmem = null;
    return rc;
  }
  rp.ledger.chunkAdded(rp.protmem.paddr, rp.protmem.size);
  rp.refcount.set(1);
  return 0;
}

/** get_dyn_protmem() */
function* getDynProtmem(rp: OpteeProtmemDynPool): Sleeps<number> {
  let rc = 0;
  if (!rp.refcount.incNotZero()) {
    yield* rp.mutex.lock();
    if (rp.genPool) {
      // "Another thread has already initialized the pool before us, or the pool was just about to
      // be torn down. Either way we only need to increase the refcount and we're done."
      rp.refcount.inc();
    } else {
      rc = yield* initDynProtmem(rp);
    }
    // The release is a preemption point: the pool can be torn down between here and the caller's
    // gen_pool_alloc() (the variant of the race where the getter then meets a NULL gen_pool).
    yield* rp.mutex.unlockPreempt();
  }
  return rc;
}

/** release_dyn_protmem() */
function* releaseDynProtmem(rp: OpteeProtmemDynPool): Sleeps {
  genPoolDestroy(rp.genPool!);
  rp.genPool = null;
  const protmem = rp.protmem!;
  const t0 = rp.optee.kernel.sim.now;
  rp.ledger.chunkReclaiming(protmem.paddr);
  yield* rp.optee.ops.reclaimProtmem(rp.optee, protmem);
  // Upstream ignores the reclaim's result and frees the chunk anyway; so does the lend pool's
  // tee_shm_release(), which restores the mapping (ffa_lend_reclaimed()) whatever the reclaim said.
  if (preparesLend(rp))
    yield* remapAfterReclaim(rp.optee.kernel.mm, rp.policy!.unmap, protmem.paddr, protmem.size);
  rp.reclaims++;
  countReclaim(rp.stats, protmem.size, rp.optee.kernel.sim.now - t0, rp.optee.kernel.sim.now);
  protmem.flags &= ~TEE_SHM_DYNAMIC;
  if (protmem.refcount.read() !== 1) rp.optee.kernel.sim.kernelWarn("WARN", "Unexpected refcount");
  rp.ledger.chunkFreeing(protmem.paddr);
  yield* teeShmPut(protmem);
  rp.protmem = null;
}

/** put_dyn_protmem() */
function* putDynProtmem(rp: OpteeProtmemDynPool): Sleeps {
  if (rp.refcount.decAndTest()) {
    yield* rp.mutex.lock();
    if (rp.genPool) yield* releaseDynProtmem(rp);
    yield* rp.mutex.unlockPreempt();
  }
}

/** The first line of arm64's oops for a load from NULL + `offset` (arch/arm64/mm/fault.c die_kernel_fault()). */
function nullDeref(offset: number): string {
  return `Unable to handle kernel NULL pointer dereference at virtual address ${offset.toString(16).padStart(16, "0")}`;
}

const PROTMEM_POOL_OPS_DYN: TeeProtmemPoolOps = {
  /** protmem_pool_op_dyn_alloc(): ALIGN(size, PAGE_SIZE) from the gen_pool; the sg keeps `size`. */
  *alloc(pool, sgt, size, offs) {
    const rp = pool as OpteeProtmemDynPool;
    const sz = Math.ceil(size / PAGE_SIZE) * PAGE_SIZE;
    const rc = yield* getDynProtmem(rp);
    if (rc) return rc;
    // The pool may have been torn down since get_dyn_protmem() let go of the mutex (the get/put race
    // above): gen_pool_alloc(NULL, ...) reads pool->algo, at offset 0x20 of struct gen_pool (arm64,
    // no spinlock debugging), inlined here — an oops that kills this task.
    const genPool = rp.genPool ?? rp.optee.kernel.sim.oops("protmem_pool_op_dyn_alloc", nullDeref(0x20));
    const pa = genPoolAlloc(genPool, sz);
    if (!pa) {
      yield* putDynProtmem(rp);
      return -ENOMEM;
    }
    sgt.sgl = [{ pa, length: size }];
    offs.value = pa - rp.protmem!.paddr;
    return 0;
  },
  /** protmem_pool_op_dyn_free(): gen_pool_free() per sg entry, then the reference goes. */
  *free(pool, sgt) {
    const rp = pool as OpteeProtmemDynPool;
    for (const sg of sgt.sgl) {
      // gen_pool_free_owner() reads pool->min_alloc_order (offset 0x18) first.
      const genPool = rp.genPool ?? rp.optee.kernel.sim.oops("gen_pool_free_owner", nullDeref(0x18));
      genPoolFree(genPool, sg.pa, sg.length);
    }
    sgt.sgl = [];
    yield* putDynProtmem(rp);
  },
  /** rp->refcount: one reference per live buffer (pool-consistency compares them). */
  ownCount(pool) {
    return (pool as OpteeProtmemDynPool).refcount.read();
  },
  /** protmem_pool_op_dyn_update_shm(): buffers are offsets into the lent parent shm. */
  updateShm(pool, _sgt, _offs, _shm, parent) {
    parent.shm = (pool as OpteeProtmemDynPool).protmem;
    return 0;
  },
  /**
   * pool_op_dyn_destroy_pool(): mutex_destroy(&rp->mutex); kfree(rp) — and nothing else: rp->mem_attrs
   * (kcalloc()ed in optee_protmem_alloc_dyn_pool()) is never freed. Upstream's leak (linux-kernel.md
   * §1.4, §4.9), kept: the attribute array loses its only reference here (kmemleak, slab.ts).
   */
  // eslint-disable-next-line require-yield
  *destroyPool(pool) {
    const rp = pool as OpteeProtmemDynPool;
    kfree(rp.optee.kernel.mm, rp.addr);
  },
};

/** What get_protmem_config() returns through its pointers: min_size, pa_width and *ma_count. */
interface ProtmemConfigOut {
  rc: number;
  minSize: number;
  paWidth: number;
  maCount: number;
}

/**
 * get_protmem_config() — drivers/tee/optee/protmem.c (torvalds/linux v6.18), as written: with
 * `memAttrs` and a nonzero `maCount`, the attribute buffer is a tee_shm_alloc_priv_buf(optee->ctx,
 * ma_count * 4) — shared with the secure world by the FF-A pool (FFA_MEM_SHARE) — allocated before the
 * message and passed as params[1] MEMREF_OUTPUT; without, params[1] is a MEMREF_OUTPUT with no shm and
 * size 0 (the query). params[0] VALUE_INOUT {a = use case}. The message comes from optee_get_msg_arg()
 * (the arg cache: over FF-A the first message allocates and shares its page). After the call: a
 * result other than 0 or TEEC_ERROR_SHORT_BUFFER is −EINVAL; 0 with more attributes than asked for is
 * −EINVAL; otherwise min_size = value.a, pa_width = value.c, *ma_count = memref.size / 4, and
 * SHORT_BUFFER is −ENOSPC; else the attributes are copied out of the buffer. optee_free_msg_arg(), then
 * tee_shm_free() of the buffer (FF-A: OPTEE_FFA_UNREGISTER_SHM, then FFA_MEM_RECLAIM).
 */
export function* getProtmemConfig(
  optee: Optee,
  useCase: number,
  memAttrs: number[] | null,
  maCount: number,
): Sleeps<ProtmemConfigOut> {
  const params = [
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT, { a: BigInt(useCase) }),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT),
  ];
  let shmParam: TeeShm | null = null;
  if (memAttrs && maCount) {
    params[1].size = BigInt(maCount * 4);
    const shm = yield* teeShmAllocPrivBuf(optee.ctx!, maCount * 4);
    if (typeof shm === "number") return { rc: shm, minSize: 0, paWidth: 0, maCount };
    shmParam = shm;
    params[1].shm = shm;
  }
  const out = yield* getProtmemConfigMsg(optee, params, memAttrs, maCount, shmParam);
  // out_free_shm:
  if (shmParam) yield* teeShmFree(shmParam);
  return out;
}

/** get_protmem_config() from optee_get_msg_arg() to optee_free_msg_arg() (the out_free_msg label). */
function* getProtmemConfigMsg(
  optee: Optee,
  params: TeeParam[],
  memAttrs: number[] | null,
  maCount: number,
  shmParam: TeeShm | null,
): Sleeps<ProtmemConfigOut> {
  const ctx = optee.ctx!;
  const out: ProtmemConfigOut = { rc: 0, minSize: 0, paWidth: 0, maCount };
  const slot = yield* opteeGetMsgArg(ctx, params.length);
  if (typeof slot === "number") return { ...out, rc: slot };
  const mp = optee.ops.toMsgParam(optee, params);
  if (typeof mp === "number") out.rc = mp;
  else {
    opteeMsgArgWrite(slot, msgArg(OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, mp));
    out.rc = yield* opteeDoCallWithArg(optee, slot);
  }
  if (!out.rc) {
    const back = opteeMsgArgRead(slot);
    if (back.ret && back.ret !== TEE_ERROR_SHORT_BUFFER) out.rc = -EINVAL;
    else out.rc = optee.ops.fromMsgParam(optee, params, back.params);
    const size = Number(params[1].size);
    if (!out.rc && !back.ret && memAttrs && maCount < Math.floor(size / 4)) out.rc = -EINVAL;
    else if (!out.rc) {
      out.minSize = Number(params[0].a);
      out.paWidth = Number(params[0].c);
      out.maCount = Math.floor(size / 4);
      if (back.ret === TEE_ERROR_SHORT_BUFFER) out.rc = -ENOSPC;
      else if (memAttrs && shmParam) {
        // memcpy(mem_attrs, tee_shm_get_va(shm_param, 0), params[1].u.memref.size)
        const bytes = teeShmRead(shmParam, 0, size);
        const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        for (let i = 0; i < Math.floor(size / 4); i++) memAttrs[i] = d.getUint32(4 * i, true);
      }
    }
  }
  yield* opteeFreeMsgArg(ctx, slot);
  return out;
}

/** optee_protmem_alloc_dyn_pool(optee, id): the pool (no memory taken yet), or −errno. */
export function* opteeProtmemAllocDynPool(optee: Optee, id: number): Sleeps<OpteeProtmemDynPool | number> {
  const mm = optee.kernel.mm;
  const rp = new OpteeProtmemDynPool(optee, id, kzalloc(mm, SIZEOF_OPTEE_PROTMEM_DYN_POOL, ALLOC_SITE));
  let cfg = yield* getProtmemConfig(optee, id, null, 0);
  let rc = cfg.rc;
  if (rc) {
    if (rc !== -ENOSPC) return errFree(rp, rc, false); // goto err
    rp.memAttrsAddr = kcalloc(mm, cfg.maCount, 4, ALLOC_SITE);
    if (!rp.memAttrsAddr) return errFree(rp, -ENOMEM, false);
    kmemleakLink(mm, rp.addr, rp.memAttrsAddr); // rp->mem_attrs = kcalloc(...)
    const attrs = new Array<number>(cfg.maCount).fill(0);
    cfg = yield* getProtmemConfig(optee, id, attrs, cfg.maCount);
    if (cfg.rc) return errFree(rp, cfg.rc, true); // goto err_kfree_eps
    rp.memAttrs = attrs.slice(0, cfg.maCount);
  }
  rc = opteeSetDmaMask(optee, cfg.paWidth);
  if (rc) return errFree(rp, rc, true);
  rp.pageCount = Math.floor(cfg.minSize / PAGE_SIZE);
  return rp;
}

/** The unwinding of optee_protmem_alloc_dyn_pool(): err_kfree_eps: kfree(rp->mem_attrs); err: kfree(rp). */
function errFree(rp: OpteeProtmemDynPool, rc: number, eps: boolean): number {
  const mm = rp.optee.kernel.mm;
  if (eps) kfree(mm, rp.memAttrsAddr);
  kfree(mm, rp.addr);
  return rc;
}
