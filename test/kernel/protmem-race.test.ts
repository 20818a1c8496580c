/**
 * protmem.c's get/put race (linux-kernel.md §1.4, §4.9), and how it really ends: put_dyn_protmem()
 * drops the count to 0 before it takes the mutex, so a get can slip in between. Random schedules of a
 * putter and a getter on tzc400-board reach both variants; the outcome is the real one — an oops
 * kills its task in place, holding what it holds.
 */
import { describe, expect, it } from "vitest";
import { ENOMEM } from "../../src/abi/uapi/errno.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { REFCOUNT_SATURATED } from "../../src/sim/refcount.ts";
import type { Sleeps, Task } from "../../src/sim/scheduler.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import { heapAlloc, MiB, run, SECURE_VIDEO, teeSystem, type TeeSystem } from "./tee-fixture.ts";

interface Raced {
  readonly sys: TeeSystem;
  readonly putter: Task;
  readonly getter: Task;
  readonly got: { fd: number | null };
}

/** a holds the pool's only buffer; a closes it while b allocates, under a seeded random schedule. */
function race(seed: number): Raced {
  const sys = teeSystem("tzc400-board", { seed, random: true });
  const a = sys.procs.spawn("a");
  const b = sys.procs.spawn("b");
  const [fd, heapB] = run(sys.sim, function* () {
    const h = yield* sysOpen(a, SECURE_VIDEO, O_RDONLY);
    return [yield* heapAlloc(a, h, MiB), yield* sysOpen(b, SECURE_VIDEO, O_RDONLY)];
  });
  const got = { fd: null as number | null };
  const putter = sys.sim.sched.spawn("putter", () => sysClose(a, fd));
  const getter = sys.sim.sched.spawn("getter", function* (): Sleeps {
    got.fd = yield* heapAlloc(b, heapB, MiB);
  });
  while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
  return { sys, putter, getter, got };
}

/** The first seed whose run ends the way `pick` wants. */
function find(pick: (r: Raced) => boolean): Raced {
  for (let seed = 1; seed <= 200; seed++) {
    const r = race(seed);
    if (pick(r)) return r;
  }
  throw new Error("no schedule in 200 seeds reached it");
}

const messages = (sys: TeeSystem) => sys.sim.findings.details().map((f) => f.message);

describe("protmem.c get/put race", () => {
  it("most schedules serialise cleanly: one lend, or a reclaim and a fresh lend", () => {
    const r = find((x) => x.sys.sim.findings.count("kernel-warn") === 0);
    expect(r.got.fd).toBeGreaterThan(0);
    expect(r.sys.pool.refcount.read()).toBe(1);
  });

  it("getter first: the putter dies in gen_pool_destroy() holding the mutex, the chunk stays lent, later allocations fail", () => {
    const r = find((x) => x.putter.killedBy !== null);
    const { sys, putter } = r;
    expect(messages(sys)).toContain("WARN: refcount_t: addition on 0; use-after-free.");
    expect(putter.killedBy).toMatch(/gen_pool_destroy\(\): BUG_ON\(bit < end_bit\)/);
    // Nothing after the BUG ran: the mutex is still the dead task's, gen_pool and protmem are still set
    // (the chunk unlinked from the pool), nothing was reclaimed, the chunk is still lent.
    expect(sys.pool.mutex.owner).toBe(putter);
    expect(sys.pool.genPool).not.toBeNull();
    expect(sys.pool.genPool!.chunks).toHaveLength(0);
    expect(sys.pool.protmem).not.toBeNull();
    expect(sys.pool.reclaims).toBe(0);
    expect(sys.pool.refcount.read()).toBe(REFCOUNT_SATURATED);
    const frame = sys.machine.frames.indexOf(sys.pool.protmem!.paddr);
    expect(sys.machine.frames.owner[frame]).not.toBe(0);
    // The getter's buffer lives; a later allocation passes refcount_inc_not_zero() on the saturated
    // count and finds no chunk: ENOMEM. The getter's free is a BUG in gen_pool_free().
    expect(r.got.fd).toBeGreaterThan(0);
    const c = sys.procs.spawn("c");
    const rc = run(sys.sim, function* () {
      return yield* heapAlloc(c, yield* sysOpen(c, SECURE_VIDEO, O_RDONLY), MiB);
    });
    expect(rc).toBe(-ENOMEM);
    const b = sys.procs.get("b")!;
    const closer = sys.sim.sched.spawn("closer", () => sysClose(b, r.got.fd!));
    while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
    expect(closer.killedBy).toMatch(/gen_pool_free_owner\(\): BUG\(\)/);
    // b's thread died in close(): b exits (do_exit(SIGSEGV)); the chunk is still lent.
    expect(b.exited).toBe(true);
    expect(b.exitCode).toBe(11);
    expect(sys.pool.protmem).not.toBeNull();
  });

  it("putter first: the getter oopses on the NULL gen_pool after get_dyn_protmem() let the mutex go", () => {
    const r = find((x) => x.getter.killedBy !== null);
    const { sys, getter } = r;
    expect(messages(sys)).toContain("WARN: refcount_t: addition on 0; use-after-free.");
    expect(getter.killedBy).toBe(
      "Unable to handle kernel NULL pointer dereference at virtual address 0000000000000020 in protmem_pool_op_dyn_alloc()",
    );
    expect(r.got.fd).toBeNull();
    // The pool was torn down cleanly before the oops: reclaimed, freed, no mutex held.
    expect(sys.pool.genPool).toBeNull();
    expect(sys.pool.protmem).toBeNull();
    expect(sys.pool.reclaims).toBe(1);
    expect(sys.pool.mutex.owner).toBeNull();
    // The count stays saturated: every later allocation on the heap oopses the same way.
    const c = sys.procs.spawn("c");
    const later = sys.sim.sched.spawn("later", function* () {
      yield* heapAlloc(c, yield* sysOpen(c, SECURE_VIDEO, O_RDONLY), MiB);
    });
    while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
    expect(later.killedBy).toMatch(/NULL pointer dereference/);
  });
});
