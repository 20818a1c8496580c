/**
 * The growable protected-memory pool (kernel/optee/protmem_growable.ts, policy `pool: growable`): it
 * lends chunks on demand up to `max`, keeps an empty chunk lent for `idle_release` so a burst of
 * sessions pays one lend, then reclaims and frees it; and it never reclaims a chunk that still holds a
 * buffer, whatever the schedule.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FFA_MEM_LEND_64 } from "../../src/abi/ffa/index.ts";
import { ENOMEM } from "../../src/abi/uapi/errno.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import { OWNER_SECURE } from "../../src/hw/frames.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";
import type { DmaBuf } from "../../src/kernel/dma-buf/dma_buf.ts";
import { ProtmemGrowablePool } from "../../src/kernel/optee/protmem_growable.ts";
import type { TeeHeapBuffer } from "../../src/kernel/tee/tee_heap.ts";
import type { TeeShm } from "../../src/kernel/tee/tee_shm.ts";
import { resolvePolicy, type PolicyInput } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { sleep, type Sleeps } from "../../src/sim/scheduler.ts";
import type { Process } from "../../src/user/process.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import {
  FRAME,
  heapAlloc,
  MiB,
  run,
  runTasks,
  SECURE_VIDEO,
  teeSystem,
  type TeeSystem,
} from "./tee-fixture.ts";

const SECOND = 1_000_000_000;
const ALIGNED_FRAME = Math.ceil(FRAME / PAGE_SIZE) * PAGE_SIZE;

/** `safe` with a growable pool of small chunks, so a session needs more than one. */
function growableSystem(
  platform: string,
  fields: Omit<PolicyInput & object, "preset">,
  opts: { seed?: number; random?: boolean } = {},
): { sys: TeeSystem; pool: ProtmemGrowablePool } {
  const policy = resolvePolicy({ preset: "safe", ...fields } as PolicyInput, PRESETS[platform]);
  const sys = teeSystem(platform, { ...opts, policy });
  const pool = sys.kernel.optee!.protmemPool;
  expect(pool).toBeInstanceOf(ProtmemGrowablePool);
  return { sys, pool: pool as ProtmemGrowablePool };
}

/** Whether the SPMC still holds the lend of `handle` (OP-TEE's FF-A object table, or Hafnium's share states). */
function spmcHolds(sys: TeeSystem, handle: bigint): boolean {
  const spmc = sys.spmc;
  if (spmc instanceof OpteeSel1Spmc) return spmc.mobjs.get(handle) !== undefined;
  if (spmc instanceof HafniumSpmc) return spmc.shares.get(handle) !== undefined;
  throw new Error(`no lend table for SPMC ${spmc.flavor}`);
}

/** Pages of [pa, pa + bytes) the secure world does not own. */
function pagesNotSecure(sys: TeeSystem, pa: number, bytes: number): number {
  const f = sys.machine.frames;
  return f.countWhere(f.owner, f.indexOf(pa), Math.ceil(bytes / PAGE_SIZE), (o) => o !== OWNER_SECURE);
}

/** Whether `shm` is lent now: a handle the SPMC holds, and every page owned by the secure world. */
function isLent(sys: TeeSystem, shm: TeeShm): boolean {
  return (
    shm.secWorldId !== 0n && spmcHolds(sys, shm.secWorldId) && pagesNotSecure(sys, shm.paddr, shm.size) === 0
  );
}

function bufferOf(p: Process, fd: number): TeeHeapBuffer {
  const f = p.task.files.lookup(fd) as { privateData: DmaBuf };
  return f.privateData.priv as TeeHeapBuffer;
}

/** Pages whose owning world differs from `before` (a copy of frames.owner). */
function ownersChanged(sys: TeeSystem, before: Uint8Array): number {
  const owner = sys.machine.frames.owner;
  let n = 0;
  for (let i = 0; i < owner.length; i++) if (owner[i] !== before[i]) n++;
  return n;
}

function cmaAvailable(sys: TeeSystem): number {
  return sys.kernel.mm.cmaAreas[0].availableCount;
}

/** Every process exits and pending releases run; then nothing is lent and every page is as at boot. */
function expectAllBack(sys: TeeSystem, pool: ProtmemGrowablePool): void {
  run(sys.sim, () => sys.procs.exitAll());
  expect(pool.chunks).toEqual([]);
  // No release work is pending or running: its kworker is gone.
  const releases = sys.sim.sched.tasks.filter((t) => t.name.startsWith("kworker/protmem-release"));
  expect(releases.filter((t) => t.state !== "done")).toEqual([]);
  expect(pool.stats.lentBytes).toBe(0);
  expect(pool.stats.stuck).toBe(0);
  expect(pool.stats.reclaims).toBe(pool.stats.lends);
  expect(sys.kernel.dmaBufs.live.size).toBe(0);
  expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual([]);
  expect(sys.kernel.mm.conservation().ok).toBe(true);
  expect(sys.sim.findings.count("kernel-warn")).toBe(0);
}

describe("growable pool: grows under load", () => {
  for (const platform of ["tzc400-board", "fvp-rme"]) {
    it(`lends one more chunk whenever the lent ones are full, up to max; beyond max the allocation is ENOMEM and nothing leaks (${platform})`, () => {
      // Two frames fit a 32 MiB chunk; max 96 MiB is three chunks, six frames.
      const { sys, pool } = growableSystem(platform, {
        chunk: 32 * MiB,
        max: 96 * MiB,
        idle_release: SECOND,
      });
      const p = sys.procs.spawn("player");
      const seen: { fd: number; chunks: number; lends: number; lentBytes: number }[] = [];
      const state = run(sys.sim, function* () {
        const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
        for (let i = 0; i < 6; i++) {
          const fd = yield* heapAlloc(p, heap, FRAME);
          seen.push({
            fd,
            chunks: pool.chunks.length,
            lends: pool.stats.lends,
            lentBytes: pool.stats.lentBytes,
          });
        }
        const before = {
          cma: cmaAvailable(sys),
          owner: sys.machine.frames.owner.slice(),
          dmaBufs: sys.kernel.dmaBufs.live.size,
          lendCalls: sys.kernel.armFfa!.calls.get(FFA_MEM_LEND_64) ?? 0,
        };
        const beyond = yield* heapAlloc(p, heap, FRAME);
        return { heap, before, beyond };
      });
      expect(seen.map((s) => s.fd > 0)).toEqual([true, true, true, true, true, true]);
      expect(seen.map((s) => s.chunks)).toEqual([1, 1, 2, 2, 3, 3]);
      expect(seen.map((s) => s.lends)).toEqual([1, 1, 2, 2, 3, 3]);
      expect(seen.at(-1)!.lentBytes).toBe(96 * MiB);
      // Each buffer lies in a lent chunk, page-aligned at the offset it was given.
      for (const { fd } of seen) {
        const b = bufferOf(p, fd);
        const chunk = pool.chunks.find(
          (c) => b.table.sgl[0].pa >= c.shm.paddr && b.table.sgl[0].pa < c.shm.paddr + c.shm.size,
        );
        expect(chunk).toBeDefined();
        expect(b.offs % PAGE_SIZE).toBe(0);
        expect(b.offs + ALIGNED_FRAME).toBeLessThanOrEqual(chunk!.shm.size);
        expect(isLent(sys, chunk!.shm)).toBe(true);
      }
      // The seventh needs a fourth chunk: past max, refused before anything is allocated or lent.
      expect(state.beyond).toBe(-ENOMEM);
      expect(pool.chunks.length).toBe(3);
      expect(pool.stats.lends).toBe(3);
      expect(pool.stats.lentBytes).toBe(96 * MiB);
      expect(cmaAvailable(sys)).toBe(state.before.cma);
      expect(ownersChanged(sys, state.before.owner)).toBe(0);
      expect(sys.kernel.dmaBufs.live.size).toBe(state.before.dmaBufs);
      expect(sys.kernel.armFfa!.calls.get(FFA_MEM_LEND_64) ?? 0).toBe(state.before.lendCalls);
      expectAllBack(sys, pool);
      expect(pool.stats.lends).toBe(3);
    });
  }
});

describe("growable pool: empty chunks give way to a chunk that is needed", () => {
  /** Fills `chunks` chunks with one buffer of `fill` bytes each, frees them all, then asks for `want` bytes at once. */
  function reuseBudget(
    platform: string,
    fields: Omit<PolicyInput & object, "preset">,
    fill: number,
    chunks: number,
    want: number,
  ) {
    const { sys, pool } = growableSystem(platform, fields);
    const p = sys.procs.spawn("player");
    const seen = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const fds: number[] = [];
      for (let i = 0; i < chunks; i++) fds.push(yield* heapAlloc(p, heap, fill));
      const full = { chunks: pool.chunks.length, lentBytes: pool.stats.lentBytes };
      for (const fd of fds) yield* sysClose(p, fd);
      const fd = yield* heapAlloc(p, heap, want);
      const now = { chunks: pool.chunks.length, lends: pool.stats.lends, reclaims: pool.stats.reclaims };
      const lent = fd > 0 && isLent(sys, pool.chunks.find((c) => c.live === 1)!.shm);
      return { fds, full, fd, now, lent };
    });
    expect(seen.fds.every((fd) => fd > 0)).toBe(true);
    expect(seen.full.chunks).toBe(chunks);
    return { sys, pool, seen };
  }

  it("at max with every chunk empty, a buffer that needs a new chunk reclaims the empty ones instead of failing ENOMEM", () => {
    // Three 32 MiB chunks (max 96 MiB), one 20 MiB buffer each, emptied; inside idle_release, one 64 MiB buffer.
    const { sys, pool, seen } = reuseBudget(
      "tzc400-board",
      { chunk: 32 * MiB, max: 96 * MiB, idle_release: 5 * SECOND },
      20 * MiB,
      3,
      64 * MiB,
    );
    expect(seen.full.lentBytes).toBe(96 * MiB);
    expect(seen.fd).toBeGreaterThan(0);
    expect(seen.lent).toBe(true);
    expect(seen.now).toEqual({ chunks: 1, lends: 4, reclaims: 3 });
    expect(pool.stats.peakLentBytes).toBeLessThanOrEqual(96 * MiB);
    expectAllBack(sys, pool);
  });

  it("with every TZC-400 region held by an empty chunk, a buffer that needs a new chunk reclaims the empty ones instead of failing EINVAL", () => {
    // Seven 16 MiB chunks, one frame each: every free region is programmed. Then a 20 MiB buffer.
    const { sys, pool, seen } = reuseBudget(
      "tzc400-board",
      { chunk: 16 * MiB, max: 512 * MiB, idle_release: 5 * SECOND },
      ALIGNED_FRAME,
      7,
      20 * MiB,
    );
    expect(seen.fd).toBeGreaterThan(0);
    expect(seen.lent).toBe(true);
    expect(seen.now).toEqual({ chunks: 1, lends: 8, reclaims: 7 });
    expectAllBack(sys, pool);
  });

  it("a buffer larger than max is ENOMEM without touching the empty chunks", () => {
    const { sys, pool, seen } = reuseBudget(
      "tzc400-board",
      { chunk: 32 * MiB, max: 96 * MiB, idle_release: 5 * SECOND },
      20 * MiB,
      3,
      128 * MiB,
    );
    expect(seen.fd).toBe(-ENOMEM);
    expect(seen.now).toEqual({ chunks: 3, lends: 3, reclaims: 0 });
    expectAllBack(sys, pool);
  });
});

describe("growable pool: shrinks after idle_release", () => {
  for (const platform of ["tzc400-board", "fvp-rme"]) {
    it(`once every buffer is gone, each chunk stays lent for idle_release, then is reclaimed and freed (${platform})`, () => {
      const idle = 2 * SECOND;
      const { sys, pool } = growableSystem(platform, { chunk: 32 * MiB, max: 256 * MiB, idle_release: idle });
      const p = sys.procs.spawn("player");
      const cmaAtBoot = cmaAvailable(sys);
      const seen = run(sys.sim, function* () {
        const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
        const fds: number[] = [];
        for (let i = 0; i < 5; i++) fds.push(yield* heapAlloc(p, heap, FRAME));
        const shms = pool.chunks.map((c) => c.shm);
        const handles = shms.map((shm) => shm.secWorldId);
        // Frees in an order that empties the chunks one after another.
        for (const fd of fds) yield* sysClose(p, fd);
        yield sleep(idle - SECOND / 10);
        const justBefore = {
          chunks: pool.chunks.length,
          reclaims: pool.stats.reclaims,
          lent: shms.map((shm) => isLent(sys, shm)),
        };
        yield sleep(SECOND / 5);
        return {
          shms,
          handles,
          justBefore,
          after: { chunks: pool.chunks.length },
        };
      });
      expect(seen.shms.length).toBe(3);
      expect(seen.justBefore).toEqual({ chunks: 3, reclaims: 0, lent: [true, true, true] });
      expect(seen.after.chunks).toBe(0);
      expect(pool.stats).toMatchObject({
        lends: 3,
        reclaims: 3,
        stuck: 0,
        lentBytes: 0,
        peakLentBytes: 96 * MiB,
      });
      seen.shms.forEach((shm, i) => {
        expect(spmcHolds(sys, seen.handles[i])).toBe(false);
        expect(pagesNotSecure(sys, shm.paddr, shm.size)).toBe(shm.size / PAGE_SIZE);
      });
      // Freed back to CMA, not merely reclaimed.
      expect(cmaAvailable(sys)).toBe(cmaAtBoot);
      expectAllBack(sys, pool);
    });
  }
});

describe("growable pool: a chunk reused before idle_release is kept", () => {
  /** `sessions` sessions of two frames each, `gapNs` apart; the pool's lends, reclaims and chunks after each. */
  function burst(gapNs: number, sessions: number) {
    const idle = SECOND;
    const { sys, pool } = growableSystem("tzc400-board", {
      chunk: 32 * MiB,
      max: 96 * MiB,
      idle_release: idle,
    });
    const p = sys.procs.spawn("player");
    const after = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      const out: { lends: number; reclaims: number; chunks: number }[] = [];
      for (let s = 0; s < sessions; s++) {
        const a = yield* heapAlloc(p, heap, FRAME);
        const b = yield* heapAlloc(p, heap, FRAME);
        expect(a > 0 && b > 0).toBe(true);
        yield* sysClose(p, a);
        yield* sysClose(p, b);
        yield sleep(gapNs);
        out.push({ lends: pool.stats.lends, reclaims: pool.stats.reclaims, chunks: pool.chunks.length });
      }
      return out;
    });
    return { sys, pool, after, idle };
  }

  it("sessions closer together than idle_release share one lend; the chunk goes only after the last", () => {
    const { sys, pool, after } = burst(SECOND / 2, 8);
    expect(after).toEqual(Array.from({ length: 8 }, () => ({ lends: 1, reclaims: 0, chunks: 1 })));
    // After the last session the run goes on until the pending release fires.
    expect(pool.stats).toMatchObject({ lends: 1, reclaims: 1, lentBytes: 0 });
    expectAllBack(sys, pool);
  });

  it("sessions further apart than idle_release each pay a lend and a reclaim", () => {
    const { sys, pool, after } = burst(SECOND + SECOND / 2, 4);
    expect(after).toEqual([1, 2, 3, 4].map((n) => ({ lends: n, reclaims: n, chunks: 0 })));
    expectAllBack(sys, pool);
  });
});

describe("growable pool: never reclaims a chunk with live buffers", () => {
  type Op =
    | { readonly kind: "alloc"; readonly pages: number }
    | { readonly kind: "free"; readonly pick: number }
    | { readonly kind: "sleep"; readonly idleFraction: number; readonly jitterNs: number };

  const IDLE = SECOND;
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant("alloc" as const), pages: fc.integer({ min: 1, max: 768 }) }),
    fc.record({ kind: fc.constant("free" as const), pick: fc.nat(16) }),
    fc.record({
      kind: fc.constant("sleep" as const),
      // Gaps on either side of idle_release, and none at all.
      idleFraction: fc.constantFrom(0, 0.25, 0.99, 1, 1.01, 2.5),
      jitterNs: fc.integer({ min: 0, max: 50_000 }),
    }),
  );

  interface Case {
    readonly platform: string;
    readonly seed: number;
    readonly tasks: readonly (readonly Op[])[];
  }

  const caseArb: fc.Arbitrary<Case> = fc.record({
    platform: fc.constantFrom("tzc400-board", "fvp-rme"),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    tasks: fc.array(fc.array(opArb, { minLength: 1, maxLength: 10 }), { minLength: 2, maxLength: 4 }),
  });

  interface Live {
    readonly p: Process;
    readonly fd: number;
    readonly pa: number;
    readonly bytes: number;
  }

  /**
   * Runs one case: each task its own process with its own heap fd, the schedule drawn from the seed.
   * Returns what the checks found (after each step, and whenever a page goes back to the normal world).
   */
  function runCase({ platform, seed, tasks }: Case) {
    const { sys, pool } = growableSystem(
      platform,
      { chunk: 2 * MiB, max: 8 * MiB, idle_release: IDLE },
      { seed, random: true },
    );
    const live = new Set<Live>();
    const problems: string[] = [];
    // The moment any page goes back to the normal world, no live buffer may lie on it.
    const unsubscribe = sys.sim.trace.subscribe((e) => {
      if (e.layer !== "hw" || e.name !== "owner" || e.args.owner !== 0) return;
      const pa = Number(e.args.pa);
      const end = pa + Number(e.args.pages) * PAGE_SIZE;
      for (const b of live)
        if (b.pa < end && pa < b.pa + b.bytes)
          problems.push(
            `t=${e.t}: pages ${pa.toString(16)}+ returned to Linux under a live buffer of ${b.p.name}`,
          );
    });
    /** After every step: each chunk with buffers is lent, and every live buffer lies in one. */
    const check = (where: string) => {
      for (const c of pool.chunks)
        if (c.live > 0 && !isLent(sys, c.shm))
          problems.push(
            `${where}: chunk at ${c.shm.paddr.toString(16)} holds ${c.live} buffers but is not lent`,
          );
      for (const b of live) {
        const c = pool.chunks.find((x) => b.pa >= x.shm.paddr && b.pa + b.bytes <= x.shm.paddr + x.shm.size);
        if (!c || c.live === 0)
          problems.push(`${where}: a live buffer of ${b.p.name} is in no chunk with buffers`);
        else if (pagesNotSecure(sys, b.pa, b.bytes) !== 0)
          problems.push(`${where}: a live buffer of ${b.p.name} has pages the normal world owns`);
      }
    };
    const results = runTasks(
      sys.sim,
      tasks.map((ops, i) => {
        const p = sys.procs.spawn(`p${i}`);
        return function* (): Sleeps<number[]> {
          const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
          const mine: Live[] = [];
          const rcs: number[] = [];
          for (const op of ops) {
            if (op.kind === "alloc") {
              const fd = yield* heapAlloc(p, heap, op.pages * PAGE_SIZE);
              rcs.push(fd);
              if (fd > 0) {
                const b: Live = {
                  p,
                  fd,
                  pa: bufferOf(p, fd).table.sgl[0].pa,
                  bytes: op.pages * PAGE_SIZE,
                };
                mine.push(b);
                live.add(b);
              }
            } else if (op.kind === "free") {
              if (mine.length > 0) {
                const [b] = mine.splice(op.pick % mine.length, 1);
                live.delete(b);
                yield* sysClose(p, b.fd);
              }
            } else yield sleep(op.idleFraction * IDLE + op.jitterNs);
            check(`${p.name} after ${op.kind}`);
          }
          return rcs;
        };
      }),
    );
    live.clear();
    unsubscribe();
    return { sys, pool, problems, results };
  }

  it("over random alloc/free sequences, gaps and schedules, every live buffer's chunk stays lent; at the end all is back", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { sys, pool, problems, results } = runCase(c);
        expect(problems).toEqual([]);
        // An allocation either succeeds or meets max (ENOMEM).
        for (const rc of results.flat()) expect(rc > 0 || rc === -ENOMEM).toBe(true);
        expect(pool.stats.peakLentBytes).toBeLessThanOrEqual(8 * MiB);
        expectAllBack(sys, pool);
      }),
      { numRuns: 50, seed: 0x9a0e },
    );
  });

  it("the same case and seed run the same schedule to the same end", () => {
    const c = fc.sample(caseArb, { numRuns: 1, seed: 42 })[0];
    const outcome = () => {
      const { sys, pool, results } = runCase({ ...c, platform: "tzc400-board" });
      run(sys.sim, () => sys.procs.exitAll());
      return JSON.stringify({
        schedule: sys.sim.sched.schedule(),
        switches: sys.sim.sched.switches,
        now: sys.sim.now,
        results,
        stats: pool.stats,
        findings: sys.sim.findings.counts(),
      });
    };
    expect(outcome()).toBe(outcome());
  });
});
