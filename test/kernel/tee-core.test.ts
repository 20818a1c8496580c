/**
 * /dev/tee0 and the protected heap's dma-bufs through system calls (tee_core.c, tee_shm.c,
 * tee_heap.c): TEE_IOC_VERSION, TEE_IOC_SHM_REGISTER_FD, mmap refusals, the errno of unknown
 * requests, and that nothing leaks after each error.
 */
import { describe, expect, it } from "vitest";
import { EBADF, EINVAL, ENOENT, ENOTTY } from "../../src/abi/uapi/errno.ts";
import { O_RDONLY, O_RDWR } from "../../src/abi/uapi/fcntl.ts";
import { MAP_SHARED, PROT_READ, PROT_WRITE } from "../../src/abi/uapi/mman.ts";
import {
  decodeShmRegisterFdData,
  decodeTeeVersionData,
  encodeShmRegisterFdData,
  TEE_GEN_CAP_GP,
  TEE_GEN_CAP_REG_MEM,
  TEE_IMPL_ID_OPTEE,
  TEE_IOC_SHM_REGISTER_FD,
  TEE_IOC_VERSION,
} from "../../src/abi/uapi/tee.ts";
import { TEE_SHM_DMA_BUF } from "../../src/kernel/tee/tee_shm.ts";
import type { Process } from "../../src/user/process.ts";
import type { Sleeps } from "../../src/sim/scheduler.ts";
import { lastRejection, sysClose, sysIoctl, sysMmap, sysOpen } from "../../src/user/syscalls.ts";
import { expectQuiesced, FRAME, heapAlloc, MiB, run, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

function* registerFd(
  p: Process,
  tee: number,
  fd: number,
  flags = 0,
): Sleeps<{ rc: number; out: ReturnType<typeof decodeShmRegisterFdData> }> {
  const arg = encodeShmRegisterFdData({ fd: BigInt(fd), size: 0n, flags, id: 0 });
  const rc = yield* sysIoctl(p, tee, TEE_IOC_SHM_REGISTER_FD, arg);
  return { rc, out: decodeShmRegisterFdData(arg) };
}

function setup(platform = "tzc400-board") {
  const sys = teeSystem(platform);
  const p = sys.procs.spawn("client");
  const [tee, heap, buf] = run(sys.sim, function* () {
    const t = yield* sysOpen(p, "/dev/tee0", O_RDWR);
    const h = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
    return [t, h, yield* heapAlloc(p, h, FRAME)];
  });
  return { sys, p, tee, heap, buf };
}

describe("/dev/tee0 (tee_core.c)", () => {
  it("TEE_IOC_VERSION reports OP-TEE with GP and REG_MEM capabilities", () => {
    const { sys, p, tee } = setup();
    const arg = new Uint8Array(12);
    expect(run(sys.sim, () => sysIoctl(p, tee, TEE_IOC_VERSION, arg))).toBe(0);
    const v = decodeTeeVersionData(arg);
    expect(v.impl_id).toBe(TEE_IMPL_ID_OPTEE);
    expect(v.gen_caps & (TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM)).toBe(TEE_GEN_CAP_GP | TEE_GEN_CAP_REG_MEM);
    expectQuiesced(sys);
  });

  it("an unknown request on /dev/tee0 is EINVAL; on a dma-buf it is ENOTTY", () => {
    const { sys, p, tee, buf } = setup();
    expect(run(sys.sim, () => sysIoctl(p, tee, 0xc008a4ff, new Uint8Array(8)))).toBe(-EINVAL);
    expect(lastRejection(p)?.rule).toBe("tee-ioctl-unknown");
    expect(run(sys.sim, () => sysIoctl(p, buf, 0xc008a4ff, new Uint8Array(8)))).toBe(-ENOTTY);
    expectQuiesced(sys);
  });

  it("REGISTER_FD of a protected-heap dma-buf gives a new shm fd holding the dma-buf", () => {
    const { sys, p, tee, buf } = setup();
    const r = run(sys.sim, () => registerFd(p, tee, buf));
    expect(r.rc).toBeGreaterThan(buf);
    expect(r.out.size).toBe(BigInt(Math.ceil(FRAME / 4096) * 4096));
    expect(r.out.flags).toBe(TEE_SHM_DMA_BUF);
    expect(r.out.id).toBeGreaterThan(0);
    const dmabuf = [...sys.kernel.dmaBufs.live][0];
    expect(dmabuf.refs).toBe(2);
    // The dma-buf fd can go: the shm keeps the buffer (and the pool) alive.
    run(sys.sim, () => sysClose(p, buf));
    expect(sys.kernel.dmaBufs.live.size).toBe(1);
    expect(sys.pool.refcount.read()).toBe(1);
    // mmap of the registered shm is refused.
    expect(run(sys.sim, () => sysMmap(p, r.rc, 4096, PROT_READ, MAP_SHARED))).toBe(-EINVAL);
    expect(lastRejection(p)?.rule).toBe("tee-shm-dma-buf-mmap");
    run(sys.sim, () => sysClose(p, r.rc));
    expect(sys.kernel.dmaBufs.live.size).toBe(0);
    expect(sys.pool.reclaims).toBe(1);
    expectQuiesced(sys);
  });

  it("REGISTER_FD with flags != 0 is EINVAL and takes nothing", () => {
    const { sys, p, tee, buf } = setup();
    const files = p.task.files.count;
    expect(run(sys.sim, () => registerFd(p, tee, buf, 1)).rc).toBe(-EINVAL);
    expect(lastRejection(p)?.rule).toBe("tee-register-fd-flags");
    expect(p.task.files.count).toBe(files);
    expect([...sys.kernel.dmaBufs.live][0].refs).toBe(1);
    expectQuiesced(sys);
  });

  it("REGISTER_FD of a system-heap dma-buf, or of a non-dma-buf fd, is EINVAL", () => {
    const { sys, p, tee } = setup();
    const sysBuf = run(sys.sim, function* () {
      const h = yield* sysOpen(p, "/dev/dma_heap/system", O_RDONLY);
      return yield* heapAlloc(p, h, MiB);
    });
    expect(run(sys.sim, () => registerFd(p, tee, sysBuf)).rc).toBe(-EINVAL);
    expect(run(sys.sim, () => registerFd(p, tee, tee)).rc).toBe(-EINVAL);
    expect(run(sys.sim, () => registerFd(p, tee, 999)).rc).toBe(-EINVAL);
    const sysDmabuf = [...sys.kernel.dmaBufs.live].find((b) => b.expName === "system")!;
    expect(sysDmabuf.refs).toBe(1);
    expect(sys.kernel.optee!.teedev!.idr.size).toBe(0);
    expectQuiesced(sys);
  });

  it("mmap of a protected dma-buf is EINVAL (tee_heap_buf_ops has no mmap)", () => {
    const { sys, p, buf } = setup();
    expect(run(sys.sim, () => sysMmap(p, buf, FRAME, PROT_READ | PROT_WRITE, MAP_SHARED))).toBe(-EINVAL);
    expect(lastRejection(p)?.rule).toBe("dma-buf-no-mmap");
    expectQuiesced(sys);
  });

  it("closing a buffer twice is EBADF the second time, and the buffer is freed once", () => {
    const { sys, p, buf } = setup();
    expect(run(sys.sim, () => sysClose(p, buf))).toBe(0);
    expect(run(sys.sim, () => sysClose(p, buf))).toBe(-EBADF);
    expect(sys.pool.reclaims).toBe(1);
    expectQuiesced(sys);
  });

  it("opening a heap OP-TEE did not register is ENOENT", () => {
    const sys = teeSystem("tzc400-board");
    const p = sys.procs.spawn("client");
    for (const name of ["protected,trusted-ui", "protected,secure-video-record"])
      expect(run(sys.sim, () => sysOpen(p, `/dev/dma_heap/${name}`, O_RDONLY))).toBe(-ENOENT);
    expectQuiesced(sys);
  });

  it("exit with a registered shm and a buffer open frees both and reclaims the chunk", () => {
    const { sys, p, tee, buf } = setup("fvp-rme");
    run(sys.sim, () => registerFd(p, tee, buf));
    expectQuiesced(sys);
    expect(sys.kernel.optee!.teedev!.idr.size).toBe(0);
    expect(sys.kernel.optee!.teedev!.shmsLive.size).toBe(0);
  });
});
