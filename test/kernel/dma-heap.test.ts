/**
 * The dma-heap framework against the rules of drivers/dma-buf/dma-heap.c and the dmabuf-heap
 * selftest (tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c): its error and compat cases, run on
 * the system heap. Each rejection leaves the system as it was.
 */
import { describe, expect, it } from "vitest";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  encodeDmaBufSync,
} from "../../src/abi/uapi/dma_buf.ts";
import {
  DMA_HEAP_IOCTL_ALLOC,
  decodeDmaHeapAllocationData,
  encodeDmaHeapAllocationData,
  type DmaHeapAllocationData,
} from "../../src/abi/uapi/dma_heap.ts";
import { EBADF, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOTTY } from "../../src/abi/uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY, O_RDWR } from "../../src/abi/uapi/fcntl.ts";
import { _IOC_NR, _IOC_SIZE, _IOC_TYPE, _IOR, _IOW, _IOWR } from "../../src/abi/uapi/ioctl.ts";
import { dmaHeapAdd, NUM_HEAP_MINORS } from "../../src/kernel/dma-buf/dma_heap.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import type { Process } from "../../src/user/process.ts";
import { lastRejection, sysClose, sysIoctl, sysOpen } from "../../src/user/syscalls.ts";
import { boot, run, type Booted } from "../user/fixture.ts";

const MiB = 1024 * 1024;

function allocArg(over: Partial<DmaHeapAllocationData> = {}): Uint8Array {
  return encodeDmaHeapAllocationData({
    len: 4096n,
    fd: 0,
    fd_flags: O_RDWR | O_CLOEXEC,
    heap_flags: 0n,
    ...over,
  });
}

/** A process with the system heap open; the free-page count and fd count before anything else. */
function withHeap(): Booted & { p: Process; heap: number; freeBefore: number; fdsBefore: number } {
  const b = boot();
  const p = b.procs.spawn("t");
  const heap = run(b.sim, () => sysOpen(p, "/dev/dma_heap/system", O_RDONLY));
  return { ...b, p, heap, freeBefore: b.kernel.mm.conservation().counts.free, fdsBefore: p.task.files.count };
}

/** Nothing was allocated: same free pages, same descriptors, no dma-buf. */
function expectUntouched(t: ReturnType<typeof withHeap>): void {
  expect(t.kernel.mm.conservation().counts.free).toBe(t.freeBefore);
  expect(t.p.task.files.count).toBe(t.fdsBefore);
  expect(t.kernel.dmaBufs.live.size).toBe(0);
}

describe("DMA_HEAP_IOCTL_ALLOC encoding", () => {
  it("is _IOWR('H', 0, 24 bytes) = 0xc0184800", () => {
    expect(DMA_HEAP_IOCTL_ALLOC).toBe(0xc0184800);
    expect(_IOC_TYPE(DMA_HEAP_IOCTL_ALLOC)).toBe(0x48);
    expect(_IOC_NR(DMA_HEAP_IOCTL_ALLOC)).toBe(0);
    expect(_IOC_SIZE(DMA_HEAP_IOCTL_ALLOC)).toBe(24);
  });

  it("round-trips struct dma_heap_allocation_data little-endian", () => {
    const d = { len: 12441600n, fd: 7, fd_flags: 0o2000002, heap_flags: 0x111111n };
    const bytes = encodeDmaHeapAllocationData(d);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x00, 0xd8, 0xbd, 0x00, 0, 0, 0, 0]);
    expect(decodeDmaHeapAllocationData(bytes)).toEqual(d);
  });
});

describe("dma-heap ioctl: the selftest's error cases", () => {
  it("an ioctl on fd 0 (stdin, not a heap) fails with ENOTTY", () => {
    const t = withHeap();
    expect(
      run(t.sim, () => sysIoctl(t.p, 0, DMA_HEAP_IOCTL_ALLOC, allocArg({ heap_flags: 0x111111n }))),
    ).toBe(-ENOTTY);
    expectUntouched(t);
  });

  it("heap_flags 0x111111 is EINVAL and allocates nothing", () => {
    const t = withHeap();
    const arg = allocArg({ heap_flags: 0x111111n });
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, arg))).toBe(-EINVAL);
    expect(lastRejection(t.p)?.rule).toBe("dma-heap-heap-flags");
    expectUntouched(t);
  });

  it("fd_flags ~(O_RDWR | O_CLOEXEC) is EINVAL", () => {
    const t = withHeap();
    const arg = allocArg({ fd_flags: ~(O_RDWR | O_CLOEXEC) >>> 0 });
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, arg))).toBe(-EINVAL);
    expect(lastRejection(t.p)?.rule).toBe("dma-heap-fd-flags");
    expectUntouched(t);
  });

  it("a nonzero fd field on input is EINVAL", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, allocArg({ fd: 5 })))).toBe(-EINVAL);
    expect(lastRejection(t.p)?.rule).toBe("dma-heap-fd-nonzero");
    expectUntouched(t);
  });

  it("len 0, and a len that page-aligns past 2^64 to 0, are EINVAL", () => {
    const t = withHeap();
    for (const len of [0n, 0xffffffffffffffffn, 0xfffffffffffff001n]) {
      expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, allocArg({ len })))).toBe(-EINVAL);
      expect(lastRejection(t.p)?.rule).toBe("dma-heap-len-zero");
    }
    expectUntouched(t);
  });

  it("an unknown nr on a heap fd is EINVAL (not ENOTTY), and the type byte is never checked", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, _IOWR("H", 1, 24), allocArg()))).toBe(-EINVAL);
    expect(lastRejection(t.p)?.rule).toBe("dma-heap-ioctl-nr");
    expectUntouched(t);
    // nr 0 with another type byte is still DMA_HEAP_IOCTL_ALLOC.
    const arg = allocArg();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, _IOWR("X", 0, 24), arg))).toBe(0);
    expect(decodeDmaHeapAllocationData(arg).fd).toBe(t.fdsBefore);
  });

  it("an ioctl on a closed fd is EBADF, and closing it again is EBADF", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysClose(t.p, t.heap))).toBe(0);
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, allocArg()))).toBe(-EBADF);
    expect(run(t.sim, () => sysClose(t.p, t.heap))).toBe(-EBADF);
    expect(run(t.sim, () => sysClose(t.p, -1))).toBe(-EBADF);
    expect(run(t.sim, () => sysClose(t.p, 1 << 20))).toBe(-EBADF);
  });

  it("opening a heap that does not exist is ENOENT, and uses no descriptor", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysOpen(t.p, "/dev/dma_heap/protected,secure-video", O_RDWR))).toBe(-ENOENT);
    expect(lastRejection(t.p)?.rule).toBe("vfs-no-such-node");
    expectUntouched(t);
    expect(t.kernel.vfs.readdir("/dev/dma_heap")).toEqual(["system"]);
  });

  it("an unknown request on a dma-buf fd is ENOTTY, DMA_HEAP_IOCTL_ALLOC included", () => {
    const t = withHeap();
    const arg = allocArg();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, arg))).toBe(0);
    const buf = decodeDmaHeapAllocationData(arg).fd;
    expect(run(t.sim, () => sysIoctl(t.p, buf, DMA_HEAP_IOCTL_ALLOC, allocArg()))).toBe(-ENOTTY);
    expect(run(t.sim, () => sysIoctl(t.p, buf, _IOWR("b", 9, 8), new Uint8Array(8)))).toBe(-ENOTTY);
    expect(lastRejection(t.p)?.rule).toBe("dma-buf-ioctl-unknown");
  });

  it("DMA_BUF_IOCTL_SYNC start/end succeed; flags outside the mask or without READ/WRITE are EINVAL", () => {
    const t = withHeap();
    const arg = allocArg();
    run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, arg));
    const buf = decodeDmaHeapAllocationData(arg).fd;
    const sync = (flags: bigint) =>
      run(t.sim, () => sysIoctl(t.p, buf, DMA_BUF_IOCTL_SYNC, encodeDmaBufSync({ flags })));
    expect(sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW)).toBe(0);
    expect(sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW)).toBe(0);
    expect(sync(DMA_BUF_SYNC_START)).toBe(-EINVAL);
    expect(sync(0x10n | DMA_BUF_SYNC_RW)).toBe(-EINVAL);
    expect(run(t.sim, () => sysIoctl(t.p, buf, DMA_BUF_IOCTL_SYNC, new Uint8Array(4)))).toBe(-EFAULT);
  });
});

describe("dma-heap ioctl: struct sizes (the selftest's compat case)", () => {
  it("an older 16-byte struct (no heap_flags) allocates, and gets the fd back", () => {
    const t = withHeap();
    const older = allocArg().slice(0, 16);
    const req = _IOWR("H", 0, 16);
    expect(req).toBe(0xc0104800);
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, req, older))).toBe(0);
    const fd = new DataView(older.buffer).getUint32(8, true);
    expect(fd).toBe(t.fdsBefore);
    expect(t.kernel.dmaBufs.live.size).toBe(1);
  });

  it("a newer 48-byte struct with garbage after heap_flags allocates; the garbage is copied back as it was", () => {
    const t = withHeap();
    const newer = new Uint8Array(48);
    newer.set(allocArg({ len: BigInt(MiB) }));
    const v = new DataView(newer.buffer);
    v.setUint32(24, 0xffffffff, true);
    v.setUint32(28, 0x88888888, true);
    v.setUint32(32, 0x11111111, true);
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, _IOWR("H", 0, 48), newer))).toBe(0);
    expect(v.getUint32(8, true)).toBe(t.fdsBefore);
    expect([v.getUint32(24, true), v.getUint32(28, true), v.getUint32(32, true)]).toEqual([
      0xffffffff, 0x88888888, 0x11111111,
    ]);
  });

  it("_IOR copies nothing in (len reads as 0: EINVAL); _IOW allocates but writes no fd back", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, _IOR("H", 0, 24), allocArg()))).toBe(-EINVAL);
    const arg = allocArg();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, _IOW("H", 0, 24), arg))).toBe(0);
    expect(decodeDmaHeapAllocationData(arg).fd).toBe(0);
    // The buffer exists and its fd is in the table, unknown to the caller (as on Linux).
    expect(t.kernel.dmaBufs.live.size).toBe(1);
    expect(t.p.task.files.count).toBe(t.fdsBefore + 1);
  });

  it("a user buffer shorter than the request's size, or NULL, is EFAULT and allocates nothing", () => {
    const t = withHeap();
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, allocArg().slice(0, 20)))).toBe(
      -EFAULT,
    );
    expect(run(t.sim, () => sysIoctl(t.p, t.heap, DMA_HEAP_IOCTL_ALLOC, null))).toBe(-EFAULT);
    expectUntouched(t);
  });
});

describe("dma_heap_add", () => {
  it("refuses a heap without a name, a second heap of the same name, and more than NUM_HEAP_MINORS heaps", () => {
    const { kernel } = boot();
    const ops = {
      *allocate() {
        yield sleep(100);
        return -EINVAL;
      },
    };
    expect(dmaHeapAdd(kernel.dmaHeaps, { name: "", ops, priv: null })).toBe(-EINVAL);
    expect(dmaHeapAdd(kernel.dmaHeaps, { name: "system", ops, priv: null })).toBe(-EEXIST);
    for (let i = 1; i < NUM_HEAP_MINORS; i++)
      expect(typeof dmaHeapAdd(kernel.dmaHeaps, { name: `h${i}`, ops, priv: null })).toBe("object");
    expect(dmaHeapAdd(kernel.dmaHeaps, { name: "one-too-many", ops, priv: null })).toBe(-EBUSY);
    expect(kernel.vfs.lookup("/dev/dma_heap/one-too-many")).toBeNull();
    expect(kernel.dmaHeaps.list.length).toBe(NUM_HEAP_MINORS);
  });

  it("a heap's allocate error reaches the caller and no descriptor is used", () => {
    const t = withHeap();
    const r = dmaHeapAdd(t.kernel.dmaHeaps, {
      name: "broken",
      ops: {
        *allocate() {
          yield sleep(100);
          return -EBUSY;
        },
      },
      priv: null,
    });
    expect(typeof r).toBe("object");
    const fd = run(t.sim, () => sysOpen(t.p, "/dev/dma_heap/broken", O_RDWR));
    expect(run(t.sim, () => sysIoctl(t.p, fd, DMA_HEAP_IOCTL_ALLOC, allocArg()))).toBe(-EBUSY);
    expect(t.p.task.files.count).toBe(t.fdsBefore + 1);
  });
});
