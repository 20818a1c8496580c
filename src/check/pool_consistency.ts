/**
 * pool-consistency at the end of a run (ARCHITECTURE.md §8; the bookkeeping and the checks made while
 * the run goes are in kernel/tee/protmem_ledger.ts): once every process has exited, each protected-
 * memory pool's own count of live buffers (protmem.c's refcount, …) must equal the buffers still
 * alive. A count a race saturated, or a reference an oops left taken, stays wrong for good — as in the
 * real kernel, where every later allocation then meets it.
 */
import type { Kernel } from "../kernel/kernel.ts";
import { poolOwnCount } from "../kernel/tee/tee_heap.ts";

export function checkPoolsAtEnd(kernel: Kernel): void {
  for (const pool of kernel.optee?.protmemPools ?? []) pool.ledger.checkCount(poolOwnCount(pool));
}
