/**
 * tee_dma_heap_alloc()'s error path (drivers/tee/tee_heap.c): a failed allocation drops its heap
 * reference under h->mu, as the release path does (`err: mutex_lock(&h->mu); put_tee_heap(h);
 * mutex_unlock(&h->mu);`). Shown by holding h->mu from another task: the failing allocation waits for
 * it before it returns.
 */
import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { teeSubsysOf } from "../../src/kernel/tee/tee_core.ts";
import { TEE_DMA_HEAP_SECURE_VIDEO_PLAY } from "../../src/kernel/tee/tee_heap.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { heapAlloc, run, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

/** Far longer than the failing allocation takes without waiting (a CMA allocation, lend and reclaim). */
const HOLD_NS = 10_000_000_000;

describe("tee_dma_heap_alloc error path", () => {
  it("drops the heap reference under h->mu: a failed allocation waits for the mutex", () => {
    const sys = teeSystem("tzc400-board");
    const h = teeSubsysOf(sys.kernel).heaps.get(TEE_DMA_HEAP_SECURE_VIDEO_PLAY)!;
    const p = sys.procs.spawn("p");
    const heap = run(sys.sim, () => sysOpen(p, SECURE_VIDEO, O_RDONLY));
    const krefBefore = h.kref.read();
    let released = -1;
    let failedAt = -1;
    let rc = 0;
    sys.sim.sched.spawn("holder", function* () {
      // Once the allocation has taken its heap reference (under h->mu, then let go), hold h->mu.
      while (h.kref.read() === krefBefore) yield sleep(100);
      yield* h.mu.lock();
      yield sleep(HOLD_NS);
      released = sys.sim.now;
      yield* h.mu.unlockPreempt();
    });
    sys.sim.sched.spawn("alloc", function* () {
      rc = yield* heapAlloc(p, heap, 1024 * 1024 * 1024); // larger than OP-TEE's pool: ENOMEM
      failedAt = sys.sim.now;
    });
    while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
    expect(rc).toBe(-12);
    expect(released).toBeGreaterThan(0);
    expect(failedAt).toBeGreaterThanOrEqual(released);
    expect(h.kref.read()).toBe(krefBefore);
  });
});
