/**
 * Over random sequences of open / alloc / dup / mmap / munmap / close / exit in two processes:
 * every live dma-buf's reference count equals the fds and mappings that point to it, and when every
 * process has exited every page is back in the buddy, nothing is mapped and no dma-buf is alive.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  DMA_HEAP_IOCTL_ALLOC,
  decodeDmaHeapAllocationData,
  encodeDmaHeapAllocationData,
} from "../../src/abi/uapi/dma_heap.ts";
import { O_CLOEXEC, O_RDONLY, O_RDWR } from "../../src/abi/uapi/fcntl.ts";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "../../src/abi/uapi/mman.ts";
import { quiesceProblems, takeBootSnapshot } from "../../src/check/quiesce.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";
import type { DmaBuf } from "../../src/kernel/dma-buf/dma_buf.ts";
import type { Process } from "../../src/user/process.ts";
import { sysClose, sysDup, sysExit, sysIoctl, sysMmap, sysMunmap, sysOpen } from "../../src/user/syscalls.ts";
import { boot, extraMapsTotal, run, type Booted } from "./fixture.ts";

type Op =
  | { kind: "open"; proc: number }
  | { kind: "alloc"; proc: number; pages: number; pick: number }
  | { kind: "dup" | "close"; proc: number; pick: number }
  | { kind: "mmap"; proc: number; pick: number; pages: number; offPages: number }
  | { kind: "munmap"; proc: number; pick: number; skipPages: number; pages: number }
  | { kind: "exit"; proc: number };

const proc = fc.integer({ min: 0, max: 1 });
const pick = fc.nat(40);
const allocPages = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 800 }) },
  { weight: 1, arbitrary: fc.integer({ min: 12000, max: 30000 }) }, // 47–117 MiB: two or three exhaust 256 MiB
);
const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant("open" as const), proc }),
  fc.record({ kind: fc.constant("alloc" as const), proc, pages: allocPages, pick }),
  fc.record({ kind: fc.constant("alloc" as const), proc, pages: allocPages, pick }),
  fc.record({ kind: fc.constantFrom("dup" as const, "close" as const), proc, pick }),
  fc.record({
    kind: fc.constant("mmap" as const),
    proc,
    pick,
    pages: fc.integer({ min: 1, max: 300 }),
    offPages: fc.nat(5),
  }),
  fc.record({
    kind: fc.constant("mmap" as const),
    proc,
    pick,
    pages: fc.integer({ min: 1, max: 300 }),
    offPages: fc.nat(5),
  }),
  fc.record({
    kind: fc.constant("munmap" as const),
    proc,
    pick,
    skipPages: fc.nat(4),
    pages: fc.integer({ min: 1, max: 400 }),
  }),
  fc.record({ kind: fc.constant("exit" as const), proc }),
);

function pickOf<T>(xs: readonly T[], i: number): T | undefined {
  return xs.length === 0 ? undefined : xs[i % xs.length];
}

/** Every live dma-buf is referenced exactly by the fds and mappings that point to it. */
function checkRefs(b: Booted): void {
  const refs = new Map<DmaBuf, number>();
  for (const p of b.procs.live()) {
    for (const fd of p.task.files.fds()) {
      const f = p.task.files.lookup(fd)!;
      if (f.inode.name === "dmabuf")
        refs.set(f.privateData as DmaBuf, (refs.get(f.privateData as DmaBuf) ?? 0) + 1);
    }
    for (const v of p.task.mm.vmas)
      refs.set(v.file.privateData as DmaBuf, (refs.get(v.file.privateData as DmaBuf) ?? 0) + 1);
  }
  expect(new Set(refs.keys())).toEqual(b.kernel.dmaBufs.live);
  for (const [d, n] of refs) expect(d.refs).toBe(n);
}

function* apply(b: Booted, procs: Process[], o: Op) {
  let p = procs[o.proc];
  if (p.exited) p = procs[o.proc] = b.procs.spawn(`p${o.proc}`);
  const fds = p.task.files.fds();
  const bufFds = fds.filter((fd) => p.task.files.lookup(fd)!.inode.name === "dmabuf");
  const heapFds = fds.filter((fd) => p.task.files.lookup(fd)!.inode.name === "/dev/dma_heap/system");
  switch (o.kind) {
    case "open":
      yield* sysOpen(p, "/dev/dma_heap/system", O_RDONLY);
      return;
    case "alloc": {
      const heap = pickOf(heapFds, o.pick) ?? (yield* sysOpen(p, "/dev/dma_heap/system", O_RDONLY));
      const arg = encodeDmaHeapAllocationData({
        len: BigInt(o.pages * PAGE_SIZE),
        fd: 0,
        fd_flags: O_RDWR | O_CLOEXEC,
        heap_flags: 0n,
      });
      const rc = yield* sysIoctl(p, heap, DMA_HEAP_IOCTL_ALLOC, arg);
      if (rc === 0) expect(bufFds).not.toContain(decodeDmaHeapAllocationData(arg).fd);
      return;
    }
    case "dup":
    case "close": {
      const fd = pickOf(fds, o.pick);
      if (fd === undefined) return;
      if (o.kind === "dup") yield* sysDup(p, fd);
      else expect(yield* sysClose(p, fd)).toBe(0);
      return;
    }
    case "mmap": {
      const fd = pickOf(bufFds, o.pick);
      if (fd !== undefined)
        yield* sysMmap(
          p,
          fd,
          o.pages * PAGE_SIZE,
          PROT_READ | PROT_WRITE,
          MAP_SHARED,
          o.offPages * PAGE_SIZE,
        );
      return;
    }
    case "munmap": {
      const v = pickOf(p.task.mm.vmas, o.pick);
      if (v) expect(yield* sysMunmap(p, v.start + o.skipPages * PAGE_SIZE, o.pages * PAGE_SIZE)).toBe(0);
      return;
    }
    case "exit":
      yield* sysExit(p);
      return;
  }
}

describe("two processes using the system heap", () => {
  it("keep dma-buf references exact, and give every page back once both exit", () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60, size: "max" }), (ops) => {
        const b = boot();
        const snap = takeBootSnapshot(b.machine);
        const procs = [b.procs.spawn("p0"), b.procs.spawn("p1")];
        run(b.sim, function* () {
          for (const o of ops) {
            yield* apply(b, procs, o);
            checkRefs(b);
          }
          yield* b.procs.exitAll();
        });
        expect(b.kernel.dmaBufs.live.size).toBe(0);
        expect(b.kernel.dmaBufs.released).toBe(b.kernel.dmaBufs.exported);
        expect(extraMapsTotal(b.machine)).toBe(0);
        expect(b.kernel.vfs.files.nrFiles).toBe(0);
        expect(b.kernel.mm.conservation().ok).toBe(true);
        expect(quiesceProblems(snap, b.machine, b.kernel.mm)).toEqual([]);
        expect(b.sim.findings.counts()).toEqual({});
      }),
      { numRuns: 100, seed: 0x5eed },
    );
  });
});
