/**
 * The per-buffer protected-memory pool (kernel/optee/protmem_per_buffer.ts, policy `pool: per-buffer`):
 * each buffer is its own CMA allocation, lent when it is allocated and reclaimed when it is freed. On
 * a TZC-400 board every lent buffer takes one of the firewall's regions: with all of them in use the
 * next allocation fails as the real stack fails it, and nothing else changes.
 */
import { describe, expect, it } from "vitest";
import { FFA_MEM_LEND_64, FFA_MEM_RECLAIM_32 } from "../../src/abi/ffa/index.ts";
import { EINVAL, ENOMEM } from "../../src/abi/uapi/errno.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import { HAFNIUM_LIMITS, HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import { OWNER_SECURE } from "../../src/hw/frames.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";
import type { DmaBuf } from "../../src/kernel/dma-buf/dma_buf.ts";
import { ProtmemPerBufferPool } from "../../src/kernel/optee/protmem_per_buffer.ts";
import type { TeeHeapBuffer } from "../../src/kernel/tee/tee_heap.ts";
import { resolvePolicy } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { stepDef } from "../../src/scenario/steps/index.ts";
import type { StepOutcomeCore } from "../../src/scenario/steps/types.ts";
import type { Sleeps } from "../../src/sim/scheduler.ts";
import type { Process } from "../../src/user/process.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import { FRAME, heapAlloc, MiB, run, SECURE_VIDEO, teeSystem, type TeeSystem } from "./tee-fixture.ts";

function perBufferSystem(platform: string): { sys: TeeSystem; pool: ProtmemPerBufferPool } {
  const policy = resolvePolicy({ preset: "safe", pool: "per-buffer" }, PRESETS[platform]);
  const sys = teeSystem(platform, { policy });
  const pool = sys.kernel.optee!.protmemPool;
  expect(pool).toBeInstanceOf(ProtmemPerBufferPool);
  return { sys, pool: pool as ProtmemPerBufferPool };
}

function bufferOf(p: Process, fd: number): TeeHeapBuffer {
  const f = p.task.files.lookup(fd) as { privateData: DmaBuf };
  return f.privateData.priv as TeeHeapBuffer;
}

/** Pages of [pa, pa + bytes) the secure world owns. */
function securePages(sys: TeeSystem, pa: number, bytes: number): number {
  const f = sys.machine.frames;
  return f.countWhere(f.owner, f.indexOf(pa), Math.ceil(bytes / PAGE_SIZE), (o) => o === OWNER_SECURE);
}

function ownersChanged(sys: TeeSystem, before: Uint8Array): number {
  const owner = sys.machine.frames.owner;
  let n = 0;
  for (let i = 0; i < owner.length; i++) if (owner[i] !== before[i]) n++;
  return n;
}

function freeTzcRegions(sys: TeeSystem): number {
  return sys.machine.tzc!.regions.slice(1).filter((r) => !r.enabled).length;
}

/** A `device:` step on a buffer `p` holds: the importing driver attaches, maps, DMAs, unmaps, detaches. */
function* device(
  sys: TeeSystem,
  p: Process,
  fd: number,
  by: string,
  op: "read" | "write",
): Sleeps<StepOutcomeCore> {
  const ctx = { system: sys, vars: new Map<string, bigint>(), file: "per-buffer.test" };
  return yield* stepDef("device").run(ctx, { device: { by, buffer: { proc: p.name, fd }, op } });
}

function expectAllBack(sys: TeeSystem, pool: ProtmemPerBufferPool): void {
  run(sys.sim, () => sys.procs.exitAll());
  expect(pool.buffers.size).toBe(0);
  expect(pool.stats.lentBytes).toBe(0);
  expect(pool.stats.stuck).toBe(0);
  expect(pool.stats.reclaims).toBe(pool.stats.lends);
  expect(sys.kernel.dmaBufs.live.size).toBe(0);
  expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual([]);
  expect(sys.kernel.mm.conservation().ok).toBe(true);
  expect(sys.sim.findings.count("kernel-warn")).toBe(0);
}

describe("per-buffer pool: each buffer is lent and reclaimed on its own", () => {
  for (const platform of ["tzc400-board", "fvp-rme", "qemu-virt"]) {
    it(`one lend per allocation and one reclaim per free, each of exactly the buffer's pages (${platform})`, () => {
      const { sys, pool } = perBufferSystem(platform);
      const p = sys.procs.spawn("player");
      const lendCalls = () => sys.kernel.armFfa!.calls.get(FFA_MEM_LEND_64) ?? 0;
      const reclaimCalls = () => sys.kernel.armFfa!.calls.get(FFA_MEM_RECLAIM_32) ?? 0;
      const cmaAtBoot = sys.kernel.mm.cmaAreas[0].availableCount;
      const lendsBefore = lendCalls();
      const reclaimsBefore = reclaimCalls();
      const sizes = [FRAME, MiB, 5 * PAGE_SIZE, FRAME];
      const seen = run(sys.sim, function* () {
        const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
        const fds: number[] = [];
        const afterAlloc: number[] = [];
        for (const len of sizes) {
          fds.push(yield* heapAlloc(p, heap, len));
          afterAlloc.push(pool.stats.lends);
        }
        const bufs = fds.map((fd, i) => ({ pa: bufferOf(p, fd).table.sgl[0].pa, bytes: sizes[i] }));
        const secure = bufs.map((b) => securePages(sys, b.pa, b.bytes));
        const lentBytes = pool.stats.lentBytes;
        const afterFree: number[] = [];
        for (const fd of fds) {
          yield* sysClose(p, fd);
          afterFree.push(pool.stats.reclaims);
        }
        return { fds, afterAlloc, bufs, secure, lentBytes, afterFree };
      });
      expect(seen.fds.every((fd) => fd > 0)).toBe(true);
      expect(seen.afterAlloc).toEqual([1, 2, 3, 4]);
      expect(seen.afterFree).toEqual([1, 2, 3, 4]);
      expect(lendCalls() - lendsBefore).toBe(4);
      expect(reclaimCalls() - reclaimsBefore).toBe(4);
      // Page-granular: each buffer is its own lend of just its pages, at offset 0.
      const pages = sizes.map((n) => Math.ceil(n / PAGE_SIZE));
      expect(seen.secure).toEqual(pages);
      expect(seen.lentBytes).toBe(pages.reduce((a, n) => a + n, 0) * PAGE_SIZE);
      for (const b of seen.bufs) expect(securePages(sys, b.pa, b.bytes)).toBe(0);
      expect(pool.stats).toMatchObject({ lends: 4, reclaims: 4, lentBytes: 0 });
      expect(sys.kernel.mm.cmaAreas[0].availableCount).toBe(cmaAtBoot);
      expectAllBack(sys, pool);
    });
  }
});

describe("per-buffer pool on tzc400-board: out of TZC-400 regions", () => {
  it("with every region in use the next allocation is EINVAL (plat hook OUT_OF_MEMORY → FFA_INVALID_PARAMETERS → -EINVAL); nothing leaks and earlier buffers still work", () => {
    const { sys, pool } = perBufferSystem("tzc400-board");
    const spmc = sys.spmc as OpteeSel1Spmc;
    const p = sys.procs.spawn("player");
    const regions = freeTzcRegions(sys);
    // 8 regions + background; OP-TEE's own carveout holds one from boot.
    expect(regions).toBe(7);
    const seen = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const fds: number[] = [];
      for (let i = 0; i < regions; i++) fds.push(yield* heapAlloc(p, heap, FRAME));
      const before = {
        cma: sys.kernel.mm.cmaAreas[0].availableCount,
        owner: sys.machine.frames.owner.slice(),
        linearMap: sys.machine.directMap.counters.valid4K,
        dmaBufs: sys.kernel.dmaBufs.live.size,
        objects: [...spmc.mobjs.live()].length,
        cookies: spmc.mobjs.cookiesInUse,
        rejections: spmc.rejections.get("FFA_MEM_LEND_64: push-to-inactive") ?? 0,
      };
      const beyond = yield* heapAlloc(p, heap, FRAME);
      const after = {
        cma: sys.kernel.mm.cmaAreas[0].availableCount,
        ownersChanged: ownersChanged(sys, before.owner),
        linearMap: sys.machine.directMap.counters.valid4K,
        dmaBufs: sys.kernel.dmaBufs.live.size,
        objects: [...spmc.mobjs.live()].length,
        cookies: spmc.mobjs.cookiesInUse,
        rejections: spmc.rejections.get("FFA_MEM_LEND_64: push-to-inactive") ?? 0,
      };
      // The buffers lent before still go through the decoder and to the display.
      const writes: string[] = [];
      const reads: string[] = [];
      for (const fd of [fds[0], fds[regions - 1]]) {
        writes.push((yield* device(sys, p, fd, "video-decoder", "write")).got);
        reads.push((yield* device(sys, p, fd, "display", "read")).got);
      }
      // And once one is freed, its region serves the next allocation.
      yield* sysClose(p, fds[0]);
      const again = yield* heapAlloc(p, heap, FRAME);
      return { fds, before, beyond, after, writes, reads, again };
    });
    expect(seen.fds.every((fd) => fd > 0)).toBe(true);
    expect(seen.beyond).toBe(-EINVAL);
    // OP-TEE refused the lend itself (mobj_ffa_push_to_inactive(): plat_set_protmem_range() failed).
    expect(seen.after.rejections).toBe(seen.before.rejections + 1);
    expect(seen.after).toMatchObject({
      cma: seen.before.cma,
      ownersChanged: 0,
      linearMap: seen.before.linearMap,
      dmaBufs: seen.before.dmaBufs,
      objects: seen.before.objects,
      cookies: seen.before.cookies,
    });
    expect(pool.stats.lends).toBe(regions + 1);
    expect(pool.stats.stuck).toBe(0);
    expect(seen.writes).toEqual(["ok", "ok"]);
    expect(seen.reads).toEqual(["ok", "ok"]);
    expect(seen.again).toBeGreaterThan(0);
    expect(sys.sim.findings.count("protected-when-lent")).toBe(0);
    expectAllBack(sys, pool);
    expect(freeTzcRegions(sys)).toBe(regions);
  });
});

describe("per-buffer pool on fvp-rme: out of Hafnium share states", () => {
  it("with every share state in use the next allocation is ENOMEM (FFA_NO_MEMORY); nothing leaks and earlier buffers still work", () => {
    const { sys, pool } = perBufferSystem("fvp-rme");
    const spmc = sys.spmc as HafniumSpmc;
    const p = sys.procs.spawn("player");
    // One share state per live buffer; the rest of the table is what Linux and OP-TEE already hold.
    const free = HAFNIUM_LIMITS.maxShares - [...spmc.shares.live()].length;
    expect(free).toBeGreaterThan(90);
    const rule = "FFA_MEM_LEND_64: share-states-full";
    const seen = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const fds: number[] = [yield* heapAlloc(p, heap, FRAME)];
      while (fds.length < free) fds.push(yield* heapAlloc(p, heap, PAGE_SIZE));
      const before = {
        cma: sys.kernel.mm.cmaAreas[0].availableCount,
        owner: sys.machine.frames.owner.slice(),
        linearMap: sys.machine.directMap.counters.valid4K,
        dmaBufs: sys.kernel.dmaBufs.live.size,
        shares: [...spmc.shares.live()].length,
        refused: spmc.rejections.get(rule) ?? 0,
      };
      const beyond = yield* heapAlloc(p, heap, PAGE_SIZE);
      const after = {
        cma: sys.kernel.mm.cmaAreas[0].availableCount,
        ownersChanged: ownersChanged(sys, before.owner),
        linearMap: sys.machine.directMap.counters.valid4K,
        dmaBufs: sys.kernel.dmaBufs.live.size,
        shares: [...spmc.shares.live()].length,
        refused: spmc.rejections.get(rule) ?? 0,
      };
      const write = (yield* device(sys, p, fds[0], "video-decoder", "write")).got;
      const read = (yield* device(sys, p, fds[0], "display", "read")).got;
      return { fds, before, beyond, after, write, read };
    });
    expect(seen.fds.every((fd) => fd > 0)).toBe(true);
    expect(seen.before.shares).toBe(HAFNIUM_LIMITS.maxShares);
    expect(seen.beyond).toBe(-ENOMEM);
    expect(seen.after.refused).toBe(seen.before.refused + 1);
    expect(seen.after).toMatchObject({
      cma: seen.before.cma,
      ownersChanged: 0,
      linearMap: seen.before.linearMap,
      dmaBufs: seen.before.dmaBufs,
      shares: seen.before.shares,
    });
    expect([seen.write, seen.read]).toEqual(["ok", "ok"]);
    expectAllBack(sys, pool);
  });
});
