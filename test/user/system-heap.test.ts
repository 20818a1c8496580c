/**
 * The system heap end to end through system calls: allocation from the buddy in orders 8/4/0,
 * zeroed pages, user mappings counted as cacheable normal-world mappings, and every page back in
 * the buddy once the last reference (fd, mapping or kernel) is gone.
 */
import { describe, expect, it } from "vitest";
import {
  DMA_HEAP_IOCTL_ALLOC,
  decodeDmaHeapAllocationData,
  encodeDmaHeapAllocationData,
} from "../../src/abi/uapi/dma_heap.ts";
import { EACCES, EFAULT, EINVAL, EMFILE, ENODEV, ENOMEM, ESRCH } from "../../src/abi/uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY, O_RDWR } from "../../src/abi/uapi/fcntl.ts";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../../src/abi/uapi/mman.ts";
import { quiesceProblems, takeBootSnapshot } from "../../src/check/quiesce.ts";
import { TAINT_CLEAN, TAINT_NS_DATA } from "../../src/hw/frames.ts";
import {
  dmaBufAttach,
  dmaBufDetach,
  dmaBufGet,
  dmaBufPut,
  getDmaBuf,
  type DmaBuf,
  type DmaBufAttachment,
} from "../../src/kernel/dma-buf/dma_buf.ts";
import { DMA_BUF_SET_NAME } from "../../src/abi/uapi/dma_buf.ts";
import { FIOCLEX, FIONCLEX } from "../../src/abi/uapi/ioctl.ts";
import type { SystemHeapBuffer } from "../../src/kernel/dma-buf/heaps/system_heap.ts";
import { userAccess } from "../../src/user/memory.ts";
import type { Process } from "../../src/user/process.ts";
import { sysClose, sysDup, sysExit, sysIoctl, sysMmap, sysMunmap, sysOpen } from "../../src/user/syscalls.ts";
import { boot, extraMapsTotal, run, type Booted } from "./fixture.ts";

const MiB = 1024 * 1024;
const RW = PROT_READ | PROT_WRITE;

/** open the system heap and allocate `len` bytes: the dma-buf fd, or −errno. */
function* alloc(p: Process, len: number, fdFlags = O_RDWR | O_CLOEXEC) {
  const heap = yield* sysOpen(p, "/dev/dma_heap/system", O_RDONLY);
  const arg = encodeDmaHeapAllocationData({ len: BigInt(len), fd: 0, fd_flags: fdFlags, heap_flags: 0n });
  const rc = yield* sysIoctl(p, heap, DMA_HEAP_IOCTL_ALLOC, arg);
  yield* sysClose(p, heap);
  return rc < 0 ? rc : decodeDmaHeapAllocationData(arg).fd;
}

function bufferOf(b: Booted): DmaBuf {
  expect(b.kernel.dmaBufs.live.size).toBe(1);
  return [...b.kernel.dmaBufs.live][0];
}

describe("system heap", () => {
  it("takes 1 MiB, 64 KiB and 4 KiB blocks, largest first, never going back up", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    const len = 2 * MiB + 3 * 64 * 1024 + 2 * 4096;
    expect(run(b.sim, () => alloc(p, len))).toBeGreaterThanOrEqual(3);
    const buf = bufferOf(b).priv as SystemHeapBuffer;
    expect(Array.from(buf.orders)).toEqual([8, 8, 4, 4, 4, 0, 0]);
    expect(bufferOf(b).size).toBe(len);
  });

  it("alloc, mmap, write, munmap, close and exit give every page back: conservation and quiesce hold", () => {
    const b = boot();
    const snap = takeBootSnapshot(b.machine);
    const free0 = b.kernel.mm.conservation().counts.free;
    const files0 = b.kernel.vfs.files.nrFiles;
    const p = b.procs.spawn("player");
    run(b.sim, function* () {
      const fd = yield* alloc(p, 12441600);
      // 12,441,600 bytes (a 4K NV12 frame) is 3037.5 pages: the heap gets PAGE_ALIGN(len).
      expect(b.kernel.mm.conservation().counts.free).toBe(free0 - 3038);
      expect(bufferOf(b).size).toBe(3038 * 4096);
      const addr = yield* sysMmap(p, fd, 12441600, RW, MAP_SHARED);
      expect(addr).toBeGreaterThan(0);
      expect(extraMapsTotal(b.machine)).toBe(3038);
      expect(yield* userAccess(p, addr, 12441600, "write")).toBe(0);
      expect(yield* sysMunmap(p, addr, 12441600)).toBe(0);
      expect(extraMapsTotal(b.machine)).toBe(0);
      expect(yield* sysClose(p, fd)).toBe(0);
      return yield* sysExit(p);
    });
    const c = b.kernel.mm.conservation();
    expect(c.ok).toBe(true);
    expect(quiesceProblems(snap, b.machine, b.kernel.mm)).toEqual([]);
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(b.kernel.dmaBufs.released).toBe(1);
    expect(b.kernel.vfs.files.nrFiles).toBe(files0);
    expect(b.kernel.mm.conservation().counts.free).toBe(free0);
  });

  it("hands out zeroed pages: data a process wrote is gone when the pages come back", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    run(b.sim, function* () {
      const fd = yield* alloc(p, MiB);
      const addr = yield* sysMmap(p, fd, MiB, RW, MAP_SHARED);
      yield* userAccess(p, addr, MiB, "write");
      const frames = (bufferOf(b).priv as SystemHeapBuffer).frames;
      expect(b.machine.frames.taint[frames[0]]).toBe(TAINT_NS_DATA);
      yield* sysMunmap(p, addr, MiB);
      yield* sysClose(p, fd);
      const again = yield* alloc(p, MiB);
      expect((bufferOf(b).priv as SystemHeapBuffer).frames[0]).toBe(frames[0]);
      expect(
        b.machine.frames.taint.subarray(frames[0], frames[0] + 256).every((t) => t === TAINT_CLEAN),
      ).toBe(true);
      return again;
    });
  });

  it("frees the buffer only when the last fd goes: dup keeps it alive", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    const free0 = b.kernel.mm.conservation().counts.free;
    run(b.sim, function* () {
      const fd = yield* alloc(p, MiB);
      const fd2 = yield* sysDup(p, fd);
      expect([fd, fd2]).toEqual([4, 3]); // the heap's fd 3 was closed: dup takes the lowest free
      expect(bufferOf(b).refs).toBe(2);
      yield* sysClose(p, fd);
      expect(b.kernel.dmaBufs.live.size).toBe(1);
      yield* sysClose(p, fd2);
    });
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(b.kernel.mm.conservation().counts.free).toBe(free0);
  });

  it("a kernel reference (dma_buf_get / get_dma_buf) outlives every fd; dma_buf_put of the last one frees", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    run(b.sim, function* () {
      const fd = yield* alloc(p, MiB);
      const got = dmaBufGet(p.task.files, fd);
      expect(typeof got).toBe("object");
      const dmabuf = got as DmaBuf;
      getDmaBuf(dmabuf);
      yield* sysClose(p, fd);
      expect(b.kernel.dmaBufs.live.has(dmabuf)).toBe(true);
      yield* dmaBufPut(dmabuf);
      expect(b.kernel.dmaBufs.live.has(dmabuf)).toBe(true);
      yield* dmaBufPut(dmabuf);
      expect(b.kernel.dmaBufs.live.size).toBe(0);
    });
    expect(b.kernel.mm.conservation().ok).toBe(true);
    expect(b.sim.findings.count("kernel-warn")).toBe(0);
  });

  it("a mapping holds the buffer after its fd is closed; a partial munmap leaves the rest mapped", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    run(b.sim, function* () {
      const fd = yield* alloc(p, 4 * 4096);
      const addr = yield* sysMmap(p, fd, 4 * 4096, RW, MAP_SHARED);
      yield* sysClose(p, fd);
      expect(b.kernel.dmaBufs.live.size).toBe(1);
      expect(yield* sysMunmap(p, addr + 4096, 2 * 4096)).toBe(0);
      expect(p.task.mm.mapCount).toBe(2);
      expect(extraMapsTotal(b.machine)).toBe(2);
      expect(yield* userAccess(p, addr + 4096, 8, "read")).toBe(-EFAULT);
      expect(yield* userAccess(p, addr + 3 * 4096, 8, "write")).toBe(0);
      expect(b.kernel.dmaBufs.live.size).toBe(1);
      yield* sysMunmap(p, addr, 4 * 4096);
    });
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(extraMapsTotal(b.machine)).toBe(0);
  });

  it("mmap past the buffer is EINVAL, of a heap fd ENODEV, writable of a read-only buffer EACCES, of length 0 EINVAL", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    run(b.sim, function* () {
      const fd = yield* alloc(p, 2 * 4096);
      expect(yield* sysMmap(p, fd, 3 * 4096, RW, MAP_SHARED)).toBe(-EINVAL);
      expect(yield* sysMmap(p, fd, 4096, RW, MAP_SHARED, 2 * 4096)).toBe(-EINVAL);
      expect(yield* sysMmap(p, fd, 0, RW, MAP_SHARED)).toBe(-EINVAL);
      expect(yield* sysMmap(p, fd, 4096, RW, 0)).toBe(-EINVAL);
      const heap = yield* sysOpen(p, "/dev/dma_heap/system", O_RDWR);
      expect(yield* sysMmap(p, heap, 4096, RW, MAP_SHARED)).toBe(-ENODEV);
      const ro = yield* alloc(p, 4096, O_RDONLY);
      expect(yield* sysMmap(p, ro, 4096, RW, MAP_SHARED)).toBe(-EACCES);
      expect(yield* sysMmap(p, ro, 4096, RW, MAP_PRIVATE)).toBeGreaterThan(0);
      expect(yield* sysMmap(p, fd, 4096, PROT_READ, MAP_SHARED, 4096)).toBeGreaterThan(0);
    });
    expect(p.task.mm.mapCount).toBe(2);
    expect(extraMapsTotal(b.machine)).toBe(2);
  });

  it("an allocation larger than free memory is ENOMEM and gives back what it took", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    const free0 = b.kernel.mm.conservation().counts.free;
    expect(run(b.sim, () => alloc(p, 512 * MiB))).toBe(-ENOMEM);
    expect(b.kernel.mm.conservation().counts.free).toBe(free0);
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(b.kernel.systemHeap?.failures).toBe(1);
  });

  it("with the fd table full, open is EMFILE and an allocation is EMFILE with its buffer freed", () => {
    const b = boot();
    const p = b.procs.spawn("t", { rlimitNofile: 5 });
    const free0 = b.kernel.mm.conservation().counts.free;
    run(b.sim, function* () {
      const heap = yield* sysOpen(p, "/dev/dma_heap/system", O_RDONLY);
      expect(heap).toBe(3);
      const filler = yield* sysOpen(p, "/dev/null", O_RDWR);
      expect(filler).toBe(4);
      expect(yield* sysOpen(p, "/dev/null", O_RDWR)).toBe(-EMFILE);
      const arg = encodeDmaHeapAllocationData({ len: 4096n, fd: 0, fd_flags: O_RDWR, heap_flags: 0n });
      expect(yield* sysIoctl(p, heap, DMA_HEAP_IOCTL_ALLOC, arg)).toBe(-EMFILE);
    });
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(b.kernel.dmaBufs.released).toBe(1);
    expect(b.kernel.mm.conservation().counts.free).toBe(free0);
  });

  it("hitting vm.max_map_count refuses the next mmap with ENOMEM", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    p.task.mm.maxMapCount = 2;
    run(b.sim, function* () {
      const fd = yield* alloc(p, 8 * 4096);
      for (let i = 0; i < 3; i++) expect(yield* sysMmap(p, fd, 4096, RW, MAP_SHARED)).toBeGreaterThan(0);
      expect(yield* sysMmap(p, fd, 4096, RW, MAP_SHARED)).toBe(-ENOMEM);
    });
  });

  it("exit closes every fd and unmaps everything; the exited process's calls are ESRCH", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    const files0 = b.kernel.vfs.files.nrFiles;
    run(b.sim, function* () {
      for (let i = 0; i < 3; i++) {
        const fd = yield* alloc(p, MiB);
        yield* sysMmap(p, fd, MiB, RW, MAP_SHARED);
      }
      expect(b.kernel.dmaBufs.live.size).toBe(3);
      expect(yield* sysExit(p)).toBe(0);
      expect(yield* sysOpen(p, "/dev/null", O_RDWR)).toBe(-ESRCH);
      expect(yield* sysExit(p)).toBe(-ESRCH);
    });
    expect(b.kernel.dmaBufs.live.size).toBe(0);
    expect(extraMapsTotal(b.machine)).toBe(0);
    expect(p.task.files.count).toBe(0);
    expect(b.kernel.vfs.files.nrFiles).toBe(files0 - 3); // its stdio files are gone too
    expect(b.procs.get("t")).toBeNull();
  });

  it("releasing a buffer with a device still attached is a kernel WARN; detaching first is clean", () => {
    for (const detach of [false, true]) {
      const b = boot();
      const p = b.procs.spawn("t");
      run(b.sim, function* () {
        const fd = yield* alloc(p, MiB);
        const dmabuf = dmaBufGet(p.task.files, fd) as DmaBuf;
        const a = yield* dmaBufAttach(dmabuf, "video-decoder");
        expect((dmabuf.priv as SystemHeapBuffer).attachments).toBe(1);
        if (detach) yield* dmaBufDetach(dmabuf, a as DmaBufAttachment);
        yield* dmaBufPut(dmabuf);
        yield* sysClose(p, fd);
      });
      expect(b.kernel.dmaBufs.live.size).toBe(0);
      expect(b.sim.findings.count("kernel-warn")).toBe(detach ? 0 : 1);
    }
  });

  it("DMA_BUF_SET_NAME names the buffer; FIOCLEX / FIONCLEX set and clear close-on-exec", () => {
    const b = boot();
    const p = b.procs.spawn("t");
    run(b.sim, function* () {
      const fd = yield* alloc(p, 4096, O_RDWR);
      expect(p.task.files.closeOnExec(fd)).toBe(false);
      expect(yield* sysIoctl(p, fd, FIOCLEX, null)).toBe(0);
      expect(p.task.files.closeOnExec(fd)).toBe(true);
      expect(yield* sysIoctl(p, fd, FIONCLEX, null)).toBe(0);
      expect(p.task.files.closeOnExec(fd)).toBe(false);
      const name = new TextEncoder().encode("frame0\0");
      expect(yield* sysIoctl(p, fd, DMA_BUF_SET_NAME, name)).toBe(0);
      expect(bufferOf(b).name).toBe("frame0");
    });
  });

  it("is deterministic: the same calls give the same virtual time and frames", () => {
    const once = () => {
      const b = boot();
      const p = b.procs.spawn("t");
      run(b.sim, function* () {
        yield* alloc(p, 3 * MiB + 4096);
        yield* alloc(p, 12441600);
      });
      const frames = [...b.kernel.dmaBufs.live].map((d) => Array.from((d.priv as SystemHeapBuffer).frames));
      return { t: b.sim.now, frames };
    };
    expect(once()).toEqual(once());
  });
});
