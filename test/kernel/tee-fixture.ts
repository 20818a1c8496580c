/**
 * A whole system (machine, firmware, OP-TEE, kernel with the arm_ffa, TEE and OP-TEE drivers) for
 * the TEE tests, and helpers to run syscalls as processes.
 */
import { expect } from "vitest";
import { encodeDmaHeapAllocationData, decodeDmaHeapAllocationData } from "../../src/abi/uapi/dma_heap.ts";
import { O_CLOEXEC, O_RDWR } from "../../src/abi/uapi/fcntl.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import type { Kernel } from "../../src/kernel/kernel.ts";
import type { OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem, type System, type SystemOptions } from "../../src/scenario/system.ts";
import { randomChooser, type Sleeps } from "../../src/sim/scheduler.ts";
import { RandomStream } from "../../src/sim/prng.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf, type Process, type UserSpace } from "../../src/user/process.ts";
import { sysIoctl } from "../../src/user/syscalls.ts";
import { DMA_HEAP_IOCTL_ALLOC } from "../../src/abi/uapi/dma_heap.ts";

export const SECURE_VIDEO = "/dev/dma_heap/protected,secure-video";
export const FRAME = 12_441_600;
export const MiB = 1024 * 1024;

export interface TeeSystem extends System {
  readonly kernel: Kernel;
  readonly procs: UserSpace;
  readonly pool: OpteeProtmemDynPool;
}

/** A booted system on a platform preset; `random` plugs a seeded random chooser into the scheduler. */
export function teeSystem(
  platform = "tzc400-board",
  opts: SystemOptions & { seed?: number; random?: boolean } = {},
): TeeSystem {
  const seed = opts.seed ?? 1;
  const stream = new RandomStream(seed * 7919 + 1);
  const sim = new Sim(seed, opts.random ? randomChooser((n) => stream.int(0, n - 1)) : undefined);
  const sys = buildSystem(sim, PRESETS[platform], opts);
  const pool = sys.kernel.optee?.protmemPool as OpteeProtmemDynPool;
  return { ...sys, procs: userSpaceOf(sys.kernel), pool };
}

/** Runs each body as its own task until all are done; returns their results in order. */
export function runTasks<T>(sim: Sim, bodies: (() => Sleeps<T>)[]): T[] {
  const out: T[] = new Array<T>(bodies.length);
  let done = 0;
  bodies.forEach((body, i) =>
    sim.sched.spawn(`t${i}`, function* () {
      out[i] = yield* body();
      done++;
    }),
  );
  for (;;) {
    const e = sim.sched.run({ maxSteps: 1 << 20 });
    if (e !== "paused") break;
  }
  if (done !== bodies.length) throw new Error(`${bodies.length - done} tasks did not finish`);
  return out;
}

export function run<T>(sim: Sim, body: () => Sleeps<T>): T {
  return runTasks(sim, [body])[0];
}

/** DMA_HEAP_IOCTL_ALLOC: the new fd, or −errno. */
export function* heapAlloc(p: Process, heapFd: number, len: number | bigint): Sleeps<number> {
  const arg = encodeDmaHeapAllocationData({
    len: BigInt(len),
    fd: 0,
    fd_flags: O_RDWR | O_CLOEXEC,
    heap_flags: 0n,
  });
  const rc = yield* sysIoctl(p, heapFd, DMA_HEAP_IOCTL_ALLOC, arg);
  return rc < 0 ? rc : decodeDmaHeapAllocationData(arg).fd;
}

/** Every process exits; then nothing is lent, no dma-buf lives and every page is where it was at boot. */
export function expectQuiesced(sys: TeeSystem): void {
  run(sys.sim, () => sys.procs.exitAll());
  expect(sys.kernel.dmaBufs.live.size).toBe(0);
  if (sys.pool) {
    expect(sys.pool.genPool).toBeNull();
    expect(sys.pool.protmem).toBeNull();
    expect(sys.pool.refcount.read()).toBe(0);
  }
  expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual([]);
  expect(sys.kernel.mm.conservation().ok).toBe(true);
  expect(sys.sim.findings.count("kernel-warn")).toBe(0);
}
