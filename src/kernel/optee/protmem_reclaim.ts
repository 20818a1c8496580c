/**
 * What the policies' pools (growable, per-buffer) do after a chunk's reclaim — our design, beside
 * protmem_lend.ts's protmemReclaim(). A reclaimed chunk goes back to the page allocator. A chunk whose
 * reclaim the secure side refused stays lent and unmapped (never freed: the kernel must not touch
 * memory the secure world still owns), and then:
 * - refused for now — FFA_DENIED (a borrower has not relinquished yet: OP-TEE's RELEASE_PROTMEM answered
 *   BUSY because a TA still holds the buffer; ffa_to_linux_errno() −EACCES), FFA_NO_MEMORY (the SPMC
 *   could not allocate the owner's page tables back: −ENOMEM), FFA_BUSY, FFA_RETRY (−EBUSY, −EAGAIN):
 *   a kworker asks again, RECLAIM_RETRY_FIRST_NS later and twice as long after each refusal, up to
 *   RECLAIM_RETRIES times;
 * - refused for good (FFA_INVALID_PARAMETERS, −EINVAL: the call itself is wrong, e.g. a clear flag
 *   the SPMC does not take), or still refused after the last retry: the chunk is given up, lent and
 *   unmapped for good, and counted `stuck` (a leak, not a hazard; quiesce-clean shows it).
 * A lend that failed after FFA_MEM_LEND and whose own reclaim was refused (protmem_lend.ts
 * lentAfterFailedLend()) goes to the same retries: upstream frees that memory although it is still lent.
 * Retrying needs the FF-A handle, which upstream's optee_ffa_reclaim_protmem() drops before it even
 * asks: these pools keep it (reclaimChunk()). (Fix, poolinv: without the retry one transient refusal
 * leaked a whole chunk for the rest of the run — `rstmem explore pool-race --faults` found it as
 * quiesce-clean under `safe`.)
 */
import { EACCES, EAGAIN, EBUSY, ENOMEM } from "../../abi/uapi/errno.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { ProtmemLedger } from "../tee/protmem_ledger.ts";
import { teeShmPut, type TeeShm } from "../tee/tee_shm.ts";
import type { Optee } from "./optee.ts";
import { protmemReclaim, type LendStats, type ProtmemPolicy } from "./protmem_lend.ts";

/** How many times a chunk refused for now is asked for again before it is given up (assumption). */
export const RECLAIM_RETRIES = 8;
/** The first retry's delay, ns; each later one waits twice as long (10 ms … 1.28 s; assumption). */
export const RECLAIM_RETRY_FIRST_NS = 10_000_000;

/** The pool a chunk belongs to, as far as reclaiming it goes. */
export interface ReclaimingPool {
  readonly optee: Optee;
  readonly useCase: number;
  readonly policy: ProtmemPolicy;
  readonly stats: LendStats;
  readonly ledger: ProtmemLedger;
}

/** Whether a reclaim refused with `rc` may succeed later (see the header). */
export function reclaimRefusedForNow(rc: number): boolean {
  return rc === -EACCES || rc === -ENOMEM || rc === -EBUSY || rc === -EAGAIN;
}

/** protmemReclaim() of a chunk, told to the ledger first (no buffer may live in it any more). 0 or −errno. */
export function* reclaimChunk(rp: ReclaimingPool, shm: TeeShm): Sleeps<number> {
  rp.ledger.chunkReclaiming(shm.paddr);
  const handle = shm.secWorldId;
  const rc = yield* protmemReclaim(rp.optee, rp.policy, shm, rp.stats);
  // optee_ffa_reclaim_protmem() forgets the handle whatever the reclaim answered (upstream): these
  // pools keep it while the memory is still lent, so that the reclaim can be asked again.
  if (rc) shm.secWorldId = handle;
  return rc;
}

/**
 * After reclaimChunk() answered `rc`: a reclaimed chunk is freed to the page allocator; a refused one
 * stays lent, and is tried again later or given up (see the header).
 */
export function* afterReclaim(rp: ReclaimingPool, shm: TeeShm, rc: number): Sleeps {
  if (rc === 0) {
    rp.ledger.chunkFreeing(shm.paddr);
    yield* teeShmPut(shm);
  } else if (reclaimRefusedForNow(rc)) retryLater(rp, shm);
  else giveUp(rp, shm);
}

/** The chunk stays lent and unmapped for good. */
function giveUp(rp: ReclaimingPool, shm: TeeShm): void {
  rp.stats.stuck++;
  rp.ledger.chunkAbandoned(shm.paddr);
}

/**
 * A lend that failed but left the memory lent (protmem_lend.ts lentAfterFailedLend(): its own reclaim
 * was refused): the chunk never joins the pool, and is reclaimed by the retries like a refused one.
 */
export function reclaimFailedLend(rp: ReclaimingPool, shm: TeeShm): void {
  retryLater(rp, shm);
}

/** schedule_delayed_work() of the retries. The chunk belongs to no pool list meanwhile: no lock needed. */
function retryLater(rp: ReclaimingPool, shm: TeeShm): void {
  rp.optee.kernel.sim.sched.spawn(`kworker/protmem-reclaim:${rp.useCase}`, () => retryReclaim(rp, shm));
}

/** The retries' work: each after twice the wait of the one before, until one is not refused for now. */
function* retryReclaim(rp: ReclaimingPool, shm: TeeShm): Sleeps {
  let delayNs = RECLAIM_RETRY_FIRST_NS;
  for (let attempt = 1; attempt <= RECLAIM_RETRIES; attempt++, delayNs *= 2) {
    if (!elapse(delayNs)) yield sleep(delayNs);
    const rc = yield* reclaimChunk(rp, shm);
    if (rc === 0 || !reclaimRefusedForNow(rc)) {
      if (rc === 0) yield* afterReclaim(rp, shm, 0);
      else giveUp(rp, shm);
      return;
    }
  }
  giveUp(rp, shm);
}
