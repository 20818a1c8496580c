/**
 * Removing the OP-TEE driver as Linux 6.18 does it, from user space: delete_module("optee") (kernel/
 * module/main.c) → optee_core_exit() → optee_ffa_abi_unregister() → optee_ffa_remove() →
 * optee_remove_common() (drivers/tee/optee/core.c): the arg cache's page unregistered and reclaimed,
 * the driver's context closed, tee_device_unregister() of both devices (the secure-video heap's last
 * reference destroys the dynamic pool — protmem.c's pool_op_dyn_destroy_pool(), which leaks
 * rp->mem_attrs — and the call waits for the device's users), then the shm pool.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FFA_MEM_RECLAIM_32, FFA_MSG_SEND_DIRECT_REQ_32 } from "../../src/abi/ffa/index.ts";
import { OPTEE_FFA_UNREGISTER_SHM } from "../../src/abi/optee/index.ts";
import { EAGAIN, EINVAL, ENOENT } from "../../src/abi/uapi/errno.ts";
import { O_NONBLOCK, O_RDONLY, O_RDWR, O_TRUNC } from "../../src/abi/uapi/fcntl.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import { moduleRefcount } from "../../src/kernel/kernel.ts";
import { kmemleakReport, slabOf } from "../../src/kernel/mm/slab.ts";
import { SIZEOF_OPTEE_PROTMEM_DYN_POOL, type OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { lastRejection, sysClose, sysDeleteModule, sysOpen } from "../../src/user/syscalls.ts";
import { recordSmcs, w } from "./ffa-fixture.ts";
import { FRAME, heapAlloc, run, runTasks, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

describe('delete_module("optee")', () => {
  it("with /dev/tee0 open: EAGAIN (EWOULDBLOCK) and nothing goes; after the close it is removed", () => {
    const sys = teeSystem("tzc400-board");
    const p = sys.procs.spawn("tee-client");
    const admin = sys.procs.spawn("admin");
    const mod = sys.kernel.modules.get("optee")!;
    const fd = run(sys.sim, () => sysOpen(p, "/dev/tee0", O_RDWR));
    expect(fd).toBeGreaterThanOrEqual(0);
    expect(moduleRefcount(mod)).toBe(1); // chrdev_open()'s cdev_get(): try_module_get(owner)
    const busy = run(sys.sim, () => sysDeleteModule(admin, "optee", O_NONBLOCK));
    expect(busy).toBe(-EAGAIN);
    expect(lastRejection(admin)?.rule).toBe("module-in-use");
    expect(sys.kernel.optee).toBeDefined();
    run(sys.sim, () => sysClose(p, fd));
    expect(moduleRefcount(mod)).toBe(0);
    expect(run(sys.sim, () => sysDeleteModule(admin, "optee", O_NONBLOCK))).toBe(0);
    expect(sys.kernel.optee).toBeUndefined();
    expect(sys.kernel.modules.has("optee")).toBe(false);
    expect(run(sys.sim, () => sysDeleteModule(admin, "optee", 0))).toBe(-ENOENT);
    expect(run(sys.sim, () => sysDeleteModule(admin, "tee", 0))).toBe(-ENOENT); // CONFIG_TEE=y: built in
  });

  it("the removal's FF-A calls: the arg page unregistered and reclaimed; the nodes go, the heap stays (EINVAL)", () => {
    const sys = teeSystem("tzc400-board");
    const admin = sys.procs.spawn("admin");
    const argPage = sys.kernel.optee!.shmArgCache.entries[0].shm.secWorldId;
    const rec = recordSmcs();
    stop = rec.stop;
    expect(run(sys.sim, () => sysDeleteModule(admin, "optee", O_NONBLOCK))).toBe(0);
    const nwd = rec.log.filter((r) => r.caller === "ns");
    expect(nwd.map((r) => [w(r.regs, 0), w(r.regs, 3)])).toEqual([
      [FFA_MSG_SEND_DIRECT_REQ_32, OPTEE_FFA_UNREGISTER_SHM],
      [FFA_MEM_RECLAIM_32, 0],
    ]);
    expect(nwd[0].regs[4] | (nwd[0].regs[5] << 32n)).toBe(argPage);
    expect(sys.kernel.vfs.lookup("/dev/tee0")).toBeNull();
    expect(sys.kernel.vfs.lookup("/dev/teepriv0")).toBeNull();
    // dma-heaps cannot be unregistered: the node stays, with no device behind it.
    const p = sys.procs.spawn("player");
    const out = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return [heap, yield* heapAlloc(p, heap, FRAME)];
    });
    expect(out[0]).toBeGreaterThanOrEqual(0);
    expect(out[1]).toBe(-EINVAL);
  });

  it("destroys the pool and leaks mem_attrs: kmemleak's one report, and otherwise quiesce-clean", () => {
    const sys = teeSystem("tzc400-board");
    const admin = sys.procs.spawn("admin");
    const rp = sys.pool.addr;
    const attrs = sys.pool.memAttrsAddr;
    expect(slabOf(sys.kernel.mm).live.get(rp)?.size).toBe(SIZEOF_OPTEE_PROTMEM_DYN_POOL);
    expect(run(sys.sim, () => sysDeleteModule(admin, "optee", O_NONBLOCK))).toBe(0);
    const slab = slabOf(sys.kernel.mm);
    expect(slab.live.has(rp)).toBe(false); // kfree(rp)
    expect(slab.live.get(attrs)).toMatchObject({
      size: 8,
      requested: 4,
      site: "optee_protmem_alloc_dyn_pool",
    });
    expect(kmemleakReport(sys.kernel.mm)).toEqual([
      `kmemleak: unreferenced object 0x${attrs.toString(16)} (size 8): allocated by optee_protmem_alloc_dyn_pool()`,
    ]);
    run(sys.sim, () => sys.procs.exitAll());
    // The arg page taken at probe (boot) is free again: expected, not a problem.
    expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual(kmemleakReport(sys.kernel.mm));
    expect(sys.sim.findings.count("kernel-warn")).toBe(0);
  });

  it("with a protected buffer alive: the module goes (no reference on it), the removal sleeps in tee_device_unregister() until the buffer is freed", () => {
    const sys = teeSystem("tzc400-board");
    const p = sys.procs.spawn("player");
    const admin = sys.procs.spawn("admin");
    const buf = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const fd = yield* heapAlloc(p, heap, FRAME);
      yield* sysClose(p, heap);
      return fd;
    });
    expect(buf).toBeGreaterThanOrEqual(0);
    const order: string[] = [];
    runTasks(sys.sim, [
      function* () {
        const rc = yield* sysDeleteModule(admin, "optee", O_NONBLOCK);
        order.push(`delete_module ${rc}`);
        return rc;
      },
      function* () {
        yield sleep(10_000_000); // the removal is waiting by now
        order.push(`close buffer (optee ${sys.kernel.modules.get("optee")?.state})`);
        return yield* sysClose(p, buf);
      },
    ]);
    expect(order).toEqual(["close buffer (optee going)", "delete_module 0"]);
    expect(sys.pool.reclaims).toBe(1);
    expect(kmemleakReport(sys.kernel.mm)).toHaveLength(1);
  });

  it("O_TRUNC forces it with /dev/tee0 open (CONFIG_MODULE_FORCE_UNLOAD): tainted R, and it waits for the close", () => {
    const sys = teeSystem("tzc400-board");
    const p = sys.procs.spawn("tee-client");
    const admin = sys.procs.spawn("admin");
    const fd = run(sys.sim, () => sysOpen(p, "/dev/tee0", O_RDWR));
    const order: string[] = [];
    runTasks(sys.sim, [
      function* () {
        const rc = yield* sysDeleteModule(admin, "optee", O_NONBLOCK | O_TRUNC);
        order.push(`delete_module ${rc}`);
        return rc;
      },
      function* () {
        yield sleep(10_000_000);
        order.push(`close tee0 (optee ${sys.kernel.modules.get("optee")?.state})`);
        return yield* sysClose(p, fd);
      },
    ]);
    expect(order).toEqual(["close tee0 (optee going)", "delete_module 0"]);
    expect(sys.kernel.taints.has("R")).toBe(true);
    expect(sys.sim.findings.count("kernel-warn")).toBe(0);
  });

  it("over OP-TEE's SMC ABI (optee_smc_remove()): the pool had no attribute array, so nothing leaks", () => {
    const sim = new Sim(1);
    const sys = buildSystem(sim, { ...PRESETS["tzc400-board"], opteeAbi: "smc" });
    const admin = userSpaceOf(sys.kernel).spawn("admin");
    const pool = sys.kernel.optee!.protmemPool as OpteeProtmemDynPool;
    expect(pool.memAttrsAddr).toBe(0n); // GET_PROTMEM_CONFIG over SMC: TEE_SUCCESS, no -ENOSPC
    expect(run(sim, () => sysDeleteModule(admin, "optee", O_NONBLOCK))).toBe(0);
    expect(slabOf(sys.kernel.mm).live.has(pool.addr)).toBe(false);
    expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual([]);
    expect(sim.findings.count("kernel-warn")).toBe(0);
  });
});
