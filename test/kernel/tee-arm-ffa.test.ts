/**
 * The kernel's arm_ffa driver (drivers/firmware/arm_ffa/driver.c) against the platform's SPMC:
 * descriptors written into the TX buffer, memory attributes per operation, fragmentation at the
 * buffer size with FFA_MEM_FRAG_TX, reclaim, direct requests and errno mapping.
 */
import { describe, expect, it } from "vitest";
import {
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RW,
  FFA_NORMAL_MEM_REG_ATTR,
  decodeMemRegion,
} from "../../src/abi/ffa/index.ts";
import { EINVAL } from "../../src/abi/uapi/errno.ts";
import {
  ffaMemoryAttributesGet,
  ffaMemoryLend,
  ffaMemoryReclaim,
  type FfaMemOpsArgs,
} from "../../src/kernel/firmware/arm_ffa/mem_ops.ts";
import { OPTEE_FFA_UUID_WORDS } from "../../src/kernel/optee/ffa_abi.ts";
import { dmaAllocPages, dmaFreePages } from "../../src/kernel/dma/mapping.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { expectQuiesced, heapAlloc, MiB, run, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

function txDescriptor(sys: ReturnType<typeof teeSystem>) {
  const drv = sys.kernel.armFfa!;
  const bytes = sys.machine.bytes.read(drv.probe.txPa, drv.rxtxBufsz);
  const d = decodeMemRegion(bytes, drv.version);
  if (!d.ok) throw new Error("TX buffer holds no descriptor");
  return d.value;
}

describe("arm_ffa driver", () => {
  it("adopts the harness's buffers and version and finds OP-TEE on the bus", () => {
    const sys = teeSystem("fvp-rme");
    const drv = sys.kernel.armFfa!;
    const nwd = sys.ffa.endpoint("normal")!;
    expect(drv.probe.txPa).toBe(nwd.desc.txPa);
    expect(drv.version).toBe(nwd.layout);
    expect(drv.memOpsNative).toBe(true);
    const optee = drv.devices.find((d) => d.uuid.every((w, i) => w === OPTEE_FFA_UUID_WORDS[i]));
    expect(optee?.vmId).toBe(0x8001);
  });

  it("ffa_memory_attributes_get(): 0 for LEND, Normal WB inner-shareable (0x2f) for SHARE", () => {
    expect(ffaMemoryAttributesGet(FFA_MEM_LEND_64)).toBe(0);
    expect(FFA_NORMAL_MEM_REG_ATTR).toBe(0x2f);
    // The arg page was shared at probe: the TX buffer still holds that descriptor.
    const sys = teeSystem("tzc400-board");
    const share = txDescriptor(sys);
    expect(share.attributes).toBe(0x2f);
    expect(share.tag).toBe(0n);
    expect(share.emads.map((e) => [e.receiver_id, e.permissions])).toEqual([[0x8001, FFA_MEM_RW]]);
    // The first protected allocation lends: attributes 0, tag = use case, one constituent.
    const p = sys.procs.spawn("p");
    run(sys.sim, function* () {
      const h = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return yield* heapAlloc(p, h, MiB);
    });
    const lend = txDescriptor(sys);
    expect(lend.attributes).toBe(0);
    expect(lend.tag).toBe(1n);
    expect(lend.flags).toBe(0);
    expect(lend.sender_id).toBe(0);
    expect(lend.composite?.constituents.length).toBe(1);
    expect(lend.composite?.total_page_count).toBe((320 * MiB) / 4096);
    expectQuiesced(sys);
  });

  it("a descriptor longer than the TX buffer goes in fragments with FFA_MEM_FRAG_TX, and reclaims", () => {
    for (const platform of ["fvp-rme", "tzc400-board"]) {
      const sys = teeSystem(platform);
      const drv = sys.kernel.armFfa!;
      const out = run(sys.sim, function* () {
        const pages = (yield* dmaAllocPages(sys.kernel.mm, 600 * 4096))!;
        // 300 separate pages: 250 constituents fill the first 4 KiB fragment (v1.2), 50 follow.
        const args: FfaMemOpsArgs = {
          useTxbuf: true,
          tag: 0n,
          flags: 0,
          attrs: [{ receiver: 0x8001, attrs: FFA_MEM_RW }],
          sg: Array.from({ length: 300 }, (_, i) => ({ pa: pages.pa + 2 * i * 4096, length: 4096 })),
          gHandle: 0n,
        };
        const rc = yield* ffaMemoryLend(drv, args);
        const frags = drv.calls.get(FFA_MEM_FRAG_TX_32) ?? 0;
        const rec = yield* ffaMemoryReclaim(drv, args.gHandle, 0);
        dmaFreePages(sys.kernel.mm, pages);
        return { rc, frags, rec, handle: args.gHandle };
      });
      expect(out.rc).toBe(0);
      expect(out.frags).toBe(1);
      expect(out.handle).not.toBe(0n);
      expect(out.rec).toBe(0);
      expectQuiesced(sys);
    }
  });

  it("FF-A errors come back as Linux errnos: reclaim of an unknown handle is EINVAL", () => {
    const sys = teeSystem("fvp-rme");
    const rc = run(sys.sim, () => ffaMemoryReclaim(sys.kernel.armFfa!, 0xdead_beefn, 0));
    expect(rc).toBe(-EINVAL);
  });

  it("a direct request answers with w3..w7 (OP-TEE GET_API_VERSION = 1.0)", () => {
    const sys = teeSystem("tzc400-board");
    const data: [bigint, bigint, bigint, bigint, bigint] = [0n, 0n, 0n, 0n, 0n];
    const rc = run(sys.sim, () => sys.kernel.armFfa!.msgSendDirectReq(0x8001, false, data));
    expect(rc).toBe(0);
    expect(data.slice(0, 2)).toEqual([1n, 0n]);
  });
});
