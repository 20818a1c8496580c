/**
 * The kernel's arm_ffa driver (drivers/firmware/arm_ffa/driver.c) against the platform's SPMC:
 * descriptors written into the TX buffer, memory attributes per operation, fragmentation at the
 * buffer size with FFA_MEM_FRAG_TX, reclaim, direct requests and errno mapping.
 */
import { describe, expect, it } from "vitest";
import {
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RW,
  FFA_NORMAL_MEM_REG_ATTR,
  decodeMemRegion,
} from "../../src/abi/ffa/index.ts";
import { EINVAL, EOPNOTSUPP, ERRNO } from "../../src/abi/uapi/errno.ts";
import type { SmcRegs } from "../../src/hw/smc.ts";
import {
  ArmFfaDriver,
  FFA_YIELD_SLEEP_NS,
  type FfaSendDirectData,
} from "../../src/kernel/firmware/arm_ffa/driver.ts";
import { ffaPartitionProbe } from "../../src/kernel/firmware/arm_ffa/partition_info.ts";
import {
  ffaMemoryAttributesGet,
  ffaMemoryLend,
  ffaMemoryReclaim,
} from "../../src/kernel/firmware/arm_ffa/mem_ops.ts";
import { OPTEE_FFA_UUID_WORDS } from "../../src/kernel/optee/ffa_abi.ts";
import { dmaAllocPages, dmaFreePages } from "../../src/kernel/dma/mapping.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { fakeSpmc, lendEveryOtherPage, runOn } from "./ffa-fixture.ts";
import { expectQuiesced, heapAlloc, MiB, run, SECURE_VIDEO, teeSystem } from "./tee-fixture.ts";

const ENXIO = ERRNO.ENXIO;

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
        const args = lendEveryOtherPage(pages.pa, 300);
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

describe("arm_ffa driver answers as 6.18 takes them (a fake SPMC)", () => {
  const DIRECT_REQ_32 = 0x8400_006f;
  const DIRECT_RESP_32 = 0x8400_0070;
  const DIRECT_RESP_64 = 0xc400_0070;
  const YIELD = 0x8400_006c;
  const INTERRUPT = 0x8400_0062;
  const RUN = 0x8400_006d;
  const SUCCESS_32 = 0x8400_0061;
  const SUCCESS_64 = 0xc400_0061;
  const ERROR = 0x8400_0060;
  const FRAG_RX = 0x8400_007a;
  const FRAG_TX = 0x8400_007b;
  const PAUSE = 0x8400_0078;
  const RESUME = 0x8400_0079;

  it("FFA_YIELD and FFA_INTERRUPT are resumed with FFA_RUN (after fsleep(1000) for FFA_YIELD) until the response", () => {
    const { sim, drv, calls } = fakeSpmc((regs, n) => {
      if (n === 0) return [YIELD, 0x8001_0003n];
      if (n === 1) return [INTERRUPT, 0x8001_0001n];
      return [DIRECT_RESP_32, 0x8001_0000n, 0n, 7n, 8n, 9n, 10n, 11n];
    });
    const data: FfaSendDirectData = [1n, 2n, 3n, 0n, 0n];
    const t0 = sim.now;
    const rc = runOn(sim, () => drv.msgSendDirectReq(0x8001, true, data));
    expect(rc).toBe(0);
    expect(calls.map((r) => [Number(r[0]), Number(r[1])])).toEqual([
      [DIRECT_REQ_32, 0x0000_8001],
      [RUN, 0x8001_0003],
      [RUN, 0x8001_0001],
    ]);
    expect(calls[0].slice(3, 6)).toEqual(new BigUint64Array([1n, 2n, 3n]));
    expect(data).toEqual([7n, 8n, 9n, 10n, 11n]);
    expect(sim.now - t0).toBeGreaterThanOrEqual(FFA_YIELD_SLEEP_NS);
  });

  it("a 32-bit request answered with the 64-bit response is EINVAL; FFA_ERROR is mapped", () => {
    const a = fakeSpmc(() => [DIRECT_RESP_64, 0x8001_0000n]);
    expect(runOn(a.sim, () => a.drv.msgSendDirectReq(0x8001, true, [0n, 0n, 0n, 0n, 0n]))).toBe(-EINVAL);
    const b = fakeSpmc(() => [ERROR, 0n, BigInt.asUintN(64, -4n)]); // FFA_BUSY
    expect(runOn(b.sim, () => b.drv.msgSendDirectReq(0x8001, true, [0n, 0n, 0n, 0n, 0n]))).toBe(-ERRNO.EBUSY);
  });

  /** A lend of `n` one-page constituents (v1.2: 250 fill the first 4 KiB fragment, 256 the next ones). */
  function lend(n: number, answer: Parameters<typeof fakeSpmc>[0]) {
    const f = fakeSpmc(answer);
    const args = lendEveryOtherPage(0xc000_0000, n);
    const rc = runOn(f.sim, () => ffaMemoryLend(f.drv, args));
    return { rc, args, calls: f.calls.map((r) => Number(r[0])) };
  }

  it("the first fragment takes FFA_SUCCESS_32 (handle in w2/w3) and nothing else: FFA_SUCCESS_64 is EOPNOTSUPP", () => {
    const ok = lend(1, () => [SUCCESS_32, 0n, 0x1234n, 0x5n]);
    expect([ok.rc, ok.args.gHandle]).toEqual([0, 0x5_0000_1234n]);
    const wide = lend(1, () => [SUCCESS_64, 0n, 0x1234n, 0x5n]);
    expect(wide.rc).toBe(-EOPNOTSUPP);
    expect(wide.calls).toEqual([FFA_MEM_LEND_32]);
  });

  it("FFA_MEM_FRAG_RX continues with FFA_MEM_FRAG_TX; FFA_MEM_OP_PAUSE is answered with FFA_MEM_OP_RESUME", () => {
    const r = lend(300, (regs, n) => {
      if (n === 0) return [PAUSE, 0x77n, 0x1n];
      if (Number(regs[0]) === RESUME) return [FRAG_RX, 0x77n, 0x1n, 4096n];
      return [SUCCESS_32, 0n, 0x77n, 0x1n];
    });
    expect(r.rc).toBe(0);
    expect(r.calls).toEqual([FFA_MEM_LEND_32, RESUME, FRAG_TX]);
    expect(r.args.gHandle).toBe(0x1_0000_0077n);
  });

  it("a refused fragment that is not the last is ENXIO; the last one's error is returned as mapped", () => {
    const fragRx = (regs: SmcRegs, n: number): (number | bigint)[] =>
      n === 0 ? [FRAG_RX, 0x9n, 0n, 4096n] : [FRAG_RX, 0x9n, 0n, BigInt(4096 * (n + 1))];
    // 550 constituents: three fragments.
    const midWide = lend(550, (regs, n) => (n === 1 ? [SUCCESS_64, 0n, 0x9n, 0n] : fragRx(regs, n)));
    expect(midWide.rc).toBe(-ENXIO);
    expect(midWide.calls).toEqual([FFA_MEM_LEND_32, FRAG_TX]);
    const midErr = lend(550, (regs, n) => (n === 1 ? [ERROR, 0n, BigInt.asUintN(64, -6n)] : fragRx(regs, n)));
    expect(midErr.rc).toBe(-ENXIO);
    const lastWide = lend(300, (regs, n) => (n === 1 ? [SUCCESS_64, 0n, 0x9n, 0n] : fragRx(regs, n)));
    expect(lastWide.rc).toBe(-EOPNOTSUPP);
    const lastErr = lend(300, (regs, n) =>
      n === 1 ? [ERROR, 0n, BigInt.asUintN(64, -6n)] : fragRx(regs, n),
    );
    expect(lastErr.rc).toBe(-ERRNO.EACCES); // FFA_DENIED
    expect(lastErr.calls).toEqual([FFA_MEM_LEND_32, FRAG_TX]);
  });
});

describe("partition discovery (ffa_partition_probe())", () => {
  const FEATURES = 0x8400_0064;
  const SUCCESS_32 = 0x8400_0061;
  const ERROR = 0x8400_0060;
  const PIG = 0x8400_0068;
  const PIG_REGS = 0xc400_008b;
  const RX_RELEASE = 0x8400_0065;

  it("with FFA_PARTITION_INFO_GET_REGS_64: the count, then the descriptors from x3 on, no RX buffer", () => {
    const parts = [
      { id: 0x8001, exec: 8, props: 0x103, uuid: OPTEE_FFA_UUID_WORDS },
      { id: 0x8002, exec: 1, props: 0x3, uuid: [1, 2, 3, 4] as const },
    ];
    const { sim, drv, calls } = fakeSpmc((regs) => {
      const f = Number(regs[0] & 0xffff_ffffn);
      if (f === FEATURES)
        return Number(regs[1]) === PIG_REGS ? [SUCCESS_32] : [ERROR, 0n, BigInt.asUintN(64, -1n)];
      if (f !== PIG_REGS) return [ERROR, 0n, BigInt.asUintN(64, -1n)];
      const a2 = BigInt(parts.length - 1) | (1n << 16n) | (0n << 32n) | (24n << 48n);
      const out: bigint[] = [BigInt(SUCCESS_32), 0n, a2];
      for (const p of parts) {
        const u = p.uuid.map((x) => BigInt(x >>> 0));
        out.push(
          BigInt(p.id) | (BigInt(p.exec) << 16n) | (BigInt(p.props) << 32n),
          u[0] | (u[1] << 32n),
          u[2] | (u[3] << 32n),
        );
      }
      return out;
    });
    const got = runOn(sim, () => ffaPartitionProbe(drv));
    if (typeof got === "number") throw new Error(`probe failed ${got}`);
    expect(got.map((p) => [p.id, p.execCtxt, p.properties, [...p.uuid]])).toEqual(
      parts.map((p) => [p.id, p.exec, p.props, [...p.uuid]]),
    );
    expect(calls.map((r) => Number(r[0] & 0xffff_ffffn))).toEqual([FEATURES, PIG_REGS, PIG_REGS]);
    expect(calls.some((r) => Number(r[0]) === RX_RELEASE)).toBe(false);
  });

  it("with FFA_PARTITION_INFO_GET: RETURN_COUNT_ONLY first (no RX_RELEASE), then the descriptors and RX_RELEASE", () => {
    // The boot's probe mapped the normal world's buffers; no kernel driver runs (tee: false).
    const sys = teeSystem("tzc400-board", { tee: false });
    const nwd = sys.ffa.endpoint("normal")!.desc;
    const drv = new ArmFfaDriver(sys.sim, sys.machine, {
      vmId: 0,
      txPa: nwd.txPa!,
      rxPa: nwd.rxPa!,
      bufferSize: 4096,
      version: "1.2",
      versionNumber: 0x1_0002,
      calls: new Map(),
    });
    const before = new Map(sys.spmc.calls);
    const got = run(sys.sim, () => ffaPartitionProbe(drv, OPTEE_FFA_UUID_WORDS));
    if (typeof got === "number") throw new Error(`probe failed ${got}`);
    expect(got.map((p) => p.id)).toEqual([0x8001]);
    const delta = (f: number) => (sys.spmc.calls.get(f) ?? 0) - (before.get(f) ?? 0);
    expect([delta(FEATURES), delta(PIG), delta(RX_RELEASE)]).toEqual([1, 2, 1]);
  });
});
