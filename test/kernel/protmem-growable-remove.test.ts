/**
 * rmmod optee under a growable pool: the heap's last reference destroys the pool, and the chunks still
 * lent while they wait out idle_release are reclaimed there, inside the module's removal — no delayed
 * release is left to run through a driver that is gone.
 */
import { describe, expect, it } from "vitest";
import { O_NONBLOCK, O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import type { ProtmemGrowablePool } from "../../src/kernel/optee/protmem_growable.ts";
import { resolvePolicy } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { sysClose, sysDeleteModule, sysOpen } from "../../src/user/syscalls.ts";
import { FRAME, heapAlloc, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

describe("growable pool and delete_module", () => {
  it("reclaims every idle chunk when the pool is destroyed, before idle_release", () => {
    const sys = teeSystem("tzc400-board", { policy: resolvePolicy("safe", PRESETS["tzc400-board"]) });
    const pool = sys.kernel.optee!.protmemPool as ProtmemGrowablePool;
    const p = sys.procs.spawn("player");
    const admin = sys.procs.spawn("admin");
    const t0 = sys.sim.now;
    // Run each part until well before idle_release (5 s): the delayed release must not get to run.
    const runFor = (ns: number) => {
      while (sys.sim.sched.run({ untilNs: sys.sim.now + ns, maxSteps: 1 << 20 }) === "paused");
    };
    sys.sim.sched.spawn("player", function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const fd = yield* heapAlloc(p, heap, FRAME);
      yield* sysClose(p, fd);
      yield* sysClose(p, heap);
    });
    runFor(1e9);
    // The chunk is empty and waits out idle_release.
    expect(pool.chunks).toHaveLength(1);
    expect(pool.stats.lentBytes).toBeGreaterThan(0);
    let rc = 1;
    sys.sim.sched.spawn("rmmod", function* () {
      rc = yield* sysDeleteModule(admin, "optee", O_NONBLOCK);
    });
    runFor(1e9);
    expect(rc).toBe(0);
    expect(pool.chunks).toHaveLength(0);
    expect(pool.stats).toMatchObject({ lends: 1, reclaims: 1, lentBytes: 0, stuck: 0 });
    expect(sys.sim.now - t0).toBeLessThan(pool.policy.idle_release);
  });
});
