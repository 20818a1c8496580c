import { describe, expect, it } from "vitest";
import { OWNER_NORMAL, OWNER_SECURE, TAINT_NS_DATA, TAINT_SECRET } from "../../src/hw/frames.ts";
import { GPT_EPERM } from "../../src/hw/gpt.ts";
import { ACCESS_OK, FAULT_DENIED, FAULT_NO_MEMORY, FAULT_UNMAPPED, Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { SMC_UNK, smcRegs, type SmcRegs } from "../../src/hw/smc.ts";
import { speculationTask } from "../../src/hw/speculation.ts";
import { TZC_REGION_S_RDWR, tzcAccessRdWr } from "../../src/hw/tzc400.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";
import { PRESETS } from "../../src/scenario/presets.ts";

const MiB = 0x10_0000;
const PAGE = 4096;
const USE_CASE = 1;
/** A range in the CMA area of tzc400-board and fvp-rme, mapped in the linear map like any CMA page. */
const LENT = 0xc000_0000;
const LENT_SIZE = 2 * MiB;
const OPTEE_CORE = 0x7e00_0000;

function boot(platform: string | PlatformDesc, seed = 1) {
  const sim = new Sim(seed);
  const m = new Machine(sim, typeof platform === "string" ? PRESETS[platform] : platform);
  const id = (name: string) => {
    const i = m.masterIndex(name);
    expect(i, name).toBeGreaterThanOrEqual(0);
    return i;
  };
  return { sim, m, id, count: (finding: string) => sim.findings.count(finding) };
}

/** OP-TEE's hook on a TZC platform: one region over the range, secure RW and the decoder's NSAID only. */
function protectForDecoder(m: Machine, base = LENT, size = LENT_SIZE): number {
  const decoder = m.masters[m.masterIndex("video-decoder")];
  const n = m.tzc!.freeRegion();
  return m.tzcConfigureRegion(n, {
    base,
    top: base + size - 1,
    secAttr: TZC_REGION_S_RDWR,
    nsDeviceAccess: tzcAccessRdWr(decoder.nsaid),
  });
}

/** The data of the first finding with this id. */
function firstFindingData(m: Machine, id: string): Readonly<Record<string, unknown>> | undefined {
  return m.sim.findings.details().find((f) => f.id === id)?.data;
}

function withTzc(patch: Partial<PlatformDesc>): PlatformDesc {
  return { ...PRESETS["tzc400-board"], ...patch };
}

/** Runs the speculation daemon for `ns` of virtual time beside a timer task; returns how the run ended. */
function runSpeculation(sim: Sim, m: Machine, ns: number) {
  sim.sched.spawn("speculation", () => speculationTask(m), { daemon: true });
  sim.sched.spawn("timer", function* () {
    yield sleep(ns);
  });
  return sim.sched.run();
}

describe("the access checkpoint: firewall and mappings", () => {
  for (const name of ["qemu-virt", "tzc400-board", "fvp-rme"]) {
    it(`normal-world reads and writes of ordinary DRAM are ok on ${name}`, () => {
      const { m, id } = boot(name);
      const pa = m.dramBase + 16 * MiB;
      expect(m.access(id("cpu-ns"), pa, 64, "read")).toBe(ACCESS_OK);
      expect(m.access(id("cpu-ns"), pa, PAGE, "write", { kernel: true })).toBe(ACCESS_OK);
      expect(m.access(id("gpu"), pa, 2 * PAGE, "read")).toBe(ACCESS_OK);
      expect(m.stats.faults).toBe(0);
      expect(m.lastFault).toBeNull();
    });

    it(`an access outside DRAM is FAULT_NO_MEMORY on ${name}`, () => {
      const { m, id } = boot(name);
      expect(m.access(id("cpu-ns"), m.dramBase - PAGE, 64, "read")).toBe(FAULT_NO_MEMORY);
      expect(m.access(id("cpu-ns"), m.dramEnd, 64, "read")).toBe(FAULT_NO_MEMORY);
      expect(m.access(id("cpu-s"), m.dramEnd - 8, 16, "write")).toBe(FAULT_NO_MEMORY);
      expect(m.lastFault).toMatchObject({ code: FAULT_NO_MEMORY, master: "cpu-s", address: m.dramEnd - 8 });
    });
  }

  it("a normal-world CPU read of the TZC-protected OP-TEE carveout is denied; the secure CPU's is ok", () => {
    const { m, id } = boot("tzc400-board");
    expect(m.access(id("cpu-ns"), OPTEE_CORE, 64, "read")).toBe(FAULT_DENIED);
    expect(m.lastFault).toMatchObject({ code: FAULT_DENIED, master: "cpu-ns", address: OPTEE_CORE });
    expect(m.lastFault!.why).toContain("TZC region 1");
    expect(m.tzc!.fail).toMatchObject({ address: OPTEE_CORE, nonSecure: true });
    expect(m.access(id("cpu-s"), OPTEE_CORE, 64, "read")).toBe(ACCESS_OK);
    expect(m.access(id("cpu-s"), OPTEE_CORE + PAGE, 64, "write")).toBe(ACCESS_OK);
  });

  it("a direct-map access to a no-map carveout is FAULT_UNMAPPED before the firewall is asked", () => {
    for (const [name, pa] of [
      ["tzc400-board", OPTEE_CORE],
      ["fvp-rme", 0xfc00_0000],
    ] as const) {
      const { m, id } = boot(name);
      expect(m.access(id("cpu-ns"), pa, 64, "read", { viaDirectMap: true }), name).toBe(FAULT_UNMAPPED);
      expect(m.lastFault!.why).toBe("no valid linear-map translation");
      expect(m.access(id("cpu-ns"), pa, 64, "read"), name).toBe(FAULT_DENIED);
    }
  });

  it("with TZC action none a denied read answers OKAY with zeros and a denied write is dropped", () => {
    const { m, id } = boot(withTzc({ firewall: { kind: "tzc400", regions: 8, action: "none" } }));
    const secret = new Uint8Array(64).fill(0x5a);
    expect(m.writeBytes(id("cpu-s"), OPTEE_CORE, secret)).toBe(ACCESS_OK);
    const r = m.readBytes(id("cpu-ns"), OPTEE_CORE, 64);
    expect(r.code).toBe(ACCESS_OK);
    expect(m.lastSilentDenial).toBe(true);
    expect(r.bytes).toEqual(new Uint8Array(64));
    expect(m.writeBytes(id("cpu-ns"), OPTEE_CORE, new Uint8Array(64).fill(1))).toBe(ACCESS_OK);
    expect(m.readBytes(id("cpu-s"), OPTEE_CORE, 64).bytes).toEqual(secret);
    expect(m.stats).toMatchObject({ silentDenials: 2, faults: 0 });
  });

  it("the model's own protection checks leave the TZC fail registers as the denied access latched them", () => {
    const { m, id } = boot("tzc400-board");
    expect(m.access(id("cpu-ns"), OPTEE_CORE, 64, "read")).toBe(FAULT_DENIED);
    const latched = { ...m.tzc!.fail! };
    expect(protectForDecoder(m)).toBe(0);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    // tzc_fail_dump() after these must still show the real failure, and no overrun the probes caused.
    expect(m.tzc!.fail).toEqual(latched);
    expect(m.tzc!.overrun).toBe(false);
  });

  it("QEMU's secure RAM outside DRAM is reachable from the secure world only", () => {
    const { m, id } = boot("qemu-virt");
    expect(m.access(id("cpu-s"), 0x0e00_0000, 64, "write")).toBe(ACCESS_OK);
    expect(m.access(id("cpu-ns"), 0x0e00_0000, 64, "read")).toBe(FAULT_DENIED);
    expect(m.access(id("gpu"), 0x0eff_f000, PAGE, "read")).toBe(FAULT_DENIED);
    expect(m.access(id("cpu-s"), 0x0eff_f000, 2 * PAGE, "read")).toBe(FAULT_NO_MEMORY);
  });

  it("a platform with more secure carveouts than TZC regions does not boot", () => {
    const reserved = Array.from({ length: 9 }, (_, k) => ({
      name: `tz${k}`,
      base: 0x7000_0000 + k * 2 * MiB,
      size: 2 * MiB,
      noMap: true,
      secure: true,
    }));
    expect(() => boot(withTzc({ reserved }))).toThrow(/more secure carveouts than TZC regions/);
  });
});

describe("the access checkpoint: findings on lend, access and return", () => {
  it("lending on qemu-virt, which has no firewall, reports protected-when-lent", () => {
    const { m, count } = boot("qemu-virt");
    m.setOwner(0xf000_0000, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(count("protected-when-lent")).toBe(1);
  });

  it("lending a TZC-protected range reports no protected-when-lent, but programming it while linear-mapped reports no-speculation-hazard", () => {
    const { m, count } = boot("tzc400-board");
    expect(protectForDecoder(m)).toBe(0);
    expect(count("no-speculation-hazard")).toBe(1);
    expect(count("no-dirty-lend")).toBe(0);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(count("protected-when-lent")).toBe(0);
  });

  it("lending an unprotected range on tzc400-board reports protected-when-lent", () => {
    const { m, count } = boot("tzc400-board");
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(count("protected-when-lent")).toBe(1);
  });

  it("programming the TZC over pages a normal-world CPU just wrote reports no-dirty-lend", () => {
    const { m, id, count } = boot("tzc400-board");
    expect(m.access(id("cpu-ns"), LENT + PAGE, 2 * PAGE, "write", { kernel: true })).toBe(ACCESS_OK);
    expect(protectForDecoder(m)).toBe(0);
    expect(count("no-dirty-lend")).toBe(1);
    expect(firstFindingData(m, "no-dirty-lend")).toMatchObject({ pages: 2 });
  });

  it("unmapping the range and flushing the TLB before programming avoids no-speculation-hazard; a stale TLB does not", () => {
    for (const flush of [true, false]) {
      const { m, count } = boot("tzc400-board");
      m.directMap.invalidate(LENT, LENT + LENT_SIZE);
      if (flush) m.directMap.flushTlbKernelRange(LENT, LENT + LENT_SIZE);
      expect(protectForDecoder(m)).toBe(0);
      expect(count("no-speculation-hazard"), `flush ${flush}`).toBe(flush ? 0 : 1);
    }
  });

  it("after lending, normal-world CPU and non-allowed device accesses fault; the decoder gets in", () => {
    const { m, id, count } = boot("tzc400-board");
    protectForDecoder(m);
    m.setUseCaseMasters(USE_CASE, ["video-decoder", "display"]);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("cpu-ns"), LENT + 3 * PAGE, 64, "read")).toBe(FAULT_DENIED);
    expect(m.access(id("gpu"), LENT, PAGE, "write")).toBe(FAULT_DENIED);
    // The display is allowed by the use case but not by this region's NSAIDs: the firewall wins.
    expect(m.access(id("display"), LENT, PAGE, "read")).toBe(FAULT_DENIED);
    expect(m.access(id("video-decoder"), LENT, PAGE, "read")).toBe(ACCESS_OK);
    expect(count("ns-no-access")).toBe(0);
  });

  it("a kernel access of a lent page reports kernel-no-touch even though the firewall blocks it", () => {
    const { m, id, count } = boot("tzc400-board");
    protectForDecoder(m);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("cpu-ns"), LENT + PAGE, 64, "read", { kernel: true })).toBe(FAULT_DENIED);
    expect(count("kernel-no-touch")).toBe(1);
  });

  it("a kernel access of a lent page it has unmapped from the linear map still reports kernel-no-touch", () => {
    const { m, id, count } = boot("tzc400-board");
    // The careful lend: out of the linear map, TLB flushed, then the firewall.
    m.directMap.invalidate(LENT, LENT + LENT_SIZE);
    m.directMap.flushTlbKernelRange(LENT, LENT + LENT_SIZE);
    protectForDecoder(m);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("cpu-ns"), LENT + PAGE, 64, "read", { kernel: true })).toBe(FAULT_UNMAPPED);
    // A blocked touch is a kernel bug whatever blocked it (ARCHITECTURE.md §8).
    expect(count("kernel-no-touch")).toBe(1);
  });

  it("an allowed device's write taints a lent page secret, and returning it unscrubbed reports scrub-before-return", () => {
    const { m, id, count } = boot("tzc400-board");
    protectForDecoder(m);
    m.setUseCaseMasters(USE_CASE, ["video-decoder", "display"]);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("video-decoder"), LENT + PAGE, PAGE, "write")).toBe(ACCESS_OK);
    expect(m.frames.taint[m.frames.indexOf(LENT + PAGE)]).toBe(TAINT_SECRET | USE_CASE);
    expect(count("ns-no-access")).toBe(0);
    m.setOwner(LENT, LENT_SIZE, OWNER_NORMAL);
    expect(count("scrub-before-return")).toBe(1);
  });

  it("zeroing the pages before returning them avoids scrub-before-return", () => {
    const { m, id, count } = boot("tzc400-board");
    protectForDecoder(m);
    m.setUseCaseMasters(USE_CASE, ["video-decoder", "display"]);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("video-decoder"), LENT, 4 * PAGE, "write")).toBe(ACCESS_OK);
    expect(m.zeroPages(LENT, LENT_SIZE)).toBeGreaterThan(0);
    m.setOwner(LENT, LENT_SIZE, OWNER_NORMAL);
    expect(count("scrub-before-return")).toBe(0);
  });

  it("on qemu-virt a non-allowed device's write to a lent page gets through and reports ns-no-access", () => {
    const { m, id, count } = boot("qemu-virt");
    m.setUseCaseMasters(USE_CASE, ["video-decoder", "display"]);
    m.setOwner(0xf000_0000, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(m.access(id("video-decoder"), 0xf000_0000, PAGE, "write")).toBe(ACCESS_OK);
    expect(count("ns-no-access")).toBe(0);
    expect(m.access(id("gpu"), 0xf000_1000, PAGE, "write")).toBe(ACCESS_OK);
    expect(count("ns-no-access")).toBe(1);
    expect(m.frames.taint[m.frames.indexOf(0xf000_1000)]).toBe(TAINT_NS_DATA);
  });
});

describe("RME granule protection on fvp-rme", () => {
  it("a granule transition to secure makes normal-world reads fault and cleans dirty pages", () => {
    const { m, id, count } = boot("fvp-rme");
    const cpu = id("cpu-ns");
    expect(m.access(cpu, LENT, 8 * PAGE, "write", { kernel: true })).toBe(ACCESS_OK);
    const i0 = m.frames.indexOf(LENT);
    expect(m.caches.dirtyIn(i0, 8)).toBe(8);
    expect(m.gptTransition(LENT, LENT_SIZE, true)).toEqual({ rc: 0, done: LENT_SIZE / PAGE });
    expect(m.caches.dirtyIn(i0, 8)).toBe(0);
    expect(m.access(cpu, LENT + PAGE, 64, "read")).toBe(FAULT_DENIED);
    expect(m.lastFault!.why).toContain("GPF");
    expect(m.access(id("video-decoder"), LENT, PAGE, "read")).toBe(ACCESS_OK);
    m.setOwner(LENT, LENT_SIZE, OWNER_SECURE, USE_CASE);
    expect(count("protected-when-lent")).toBe(0);
    expect(count("no-dirty-lend")).toBe(0);
    expect(m.gptTransition(LENT, LENT_SIZE, false).rc).toBe(0);
    expect(m.access(cpu, LENT + PAGE, 64, "read")).toBe(ACCESS_OK);
  });

  it("a granule transition stops at the first refused granule, leaving the earlier ones moved", () => {
    const { m } = boot("fvp-rme");
    expect(m.gptTransition(LENT + 2 * PAGE, PAGE, true).rc).toBe(0);
    expect(m.gptTransition(LENT, 4 * PAGE, true)).toEqual({ rc: GPT_EPERM, done: 2 });
    expect(m.gpt!.gpiAt(LENT + PAGE)).toBe(m.gpt!.gpiAt(LENT + 2 * PAGE));
    expect(m.gpt!.gpiAt(LENT + 3 * PAGE)).not.toBe(m.gpt!.gpiAt(LENT));
  });

  it("speculative fills and write-backs of protected granules never reach the bus: no findings", () => {
    const { sim, m, id, count } = boot("fvp-rme");
    expect(m.gptTransition(LENT, 64 * MiB, true).rc).toBe(0);
    expect(m.access(id("cpu-ns"), LENT, 64, "fill")).toBe(ACCESS_OK);
    expect(runSpeculation(sim, m, 50_000_000)).toBe("done");
    expect(m.stats.specFills).toBeGreaterThan(1000);
    expect(m.stats.deniedFills + m.stats.deniedWritebacks).toBe(0);
    expect(count("no-speculation-hazard")).toBe(0);
    expect(m.hung).toBeNull();
  });
});

describe("denied cache traffic on a bus-side firewall", () => {
  it("a speculative fill denied by the TZC on a serror-hang platform hangs the machine and stops the scheduler", () => {
    const base = PRESETS["tzc400-board"];
    const { sim, m, count } = boot(withTzc({ caches: { ...base.caches, deniedFill: "serror-hang" } }));
    // A quarter of DRAM behind the firewall while still linear-mapped: the daemon finds it quickly.
    expect(protectForDecoder(m, 0xc000_0000, 0x4000_0000)).toBe(0);
    expect(runSpeculation(sim, m, 1_000_000_000)).toBe("stopped");
    expect(m.hung).toMatch(/^SError: speculative fill of 0x[0-9a-f]+ denied by the firewall$/);
    expect(sim.sched.stopReason).toBe(m.hung);
    expect(sim.now).toBeLessThan(1_000_000_000);
    expect(m.stats.deniedFills).toBe(1);
    expect(count("no-speculation-hazard")).toBe(2);
  });

  it("a denied speculative fill is ignored on tzc400-board but still reported", () => {
    const { m, id, count } = boot("tzc400-board");
    protectForDecoder(m);
    expect(m.access(id("cpu-ns"), LENT, 64, "fill")).toBe(ACCESS_OK);
    expect(m.stats.deniedFills).toBe(1);
    expect(count("no-speculation-hazard")).toBe(2);
    expect(m.hung).toBeNull();
  });

  it("a dirty line written back after the TZC protects its page raises an SError on tzc400-board, reported, and the run goes on", () => {
    const { m, id, count } = boot("tzc400-board");
    expect(m.access(id("cpu-ns"), LENT, 64, "write", { kernel: true })).toBe(ACCESS_OK);
    protectForDecoder(m);
    expect(m.access(id("cpu-ns"), LENT, 64, "writeback")).toBe(FAULT_DENIED);
    expect(m.hung).toBeNull();
    expect(count("no-speculation-hazard")).toBeGreaterThan(0);
    expect(m.caches.dirtyIn(m.frames.indexOf(LENT), 1)).toBe(0);
  });

  it("with denied_writeback serror-hang the same write-back hangs the machine", () => {
    const p = PRESETS["tzc400-board"];
    const { m, id } = boot({ ...p, caches: { ...p.caches, deniedWriteback: "serror-hang" } });
    expect(m.access(id("cpu-ns"), LENT, 64, "write", { kernel: true })).toBe(ACCESS_OK);
    protectForDecoder(m);
    expect(m.access(id("cpu-ns"), LENT, 64, "writeback")).toBe(FAULT_DENIED);
    expect(m.hung).toMatch(/dirty write-back/);
  });
});

describe("the SMC conduit", () => {
  it("an unregistered function ID returns SMC_UNK in x0; a registered range routes on w0 and costs a round trip", () => {
    const { sim, m } = boot("tzc400-board");
    m.smc.register("test-svc", 0x8400_0010, 0x8400_001f, function* (regs, caller) {
      yield sleep(500);
      return smcRegs(0, regs[1] + 1n, caller === "s" ? 1 : 0);
    });
    expect(() =>
      m.smc.register("clash", 0x8400_001f, 0x8400_0020, function* (regs) {
        yield sleep(0);
        return regs;
      }),
    ).toThrow(/overlaps test-svc/);
    const out: SmcRegs[] = [];
    sim.sched.spawn("caller", function* () {
      out.push(yield* m.smc.smc(smcRegs(0x8400_0020, 7)));
      out.push(yield* m.smc.smc(smcRegs(0xffff_ffff_8400_0011n, 41)));
      out.push(yield* m.smc.smc(smcRegs(0x8400_0010, 1), "s"));
    });
    expect(sim.sched.run()).toBe("done");
    expect(out[0][0]).toBe(SMC_UNK);
    expect(out[0][0]).toBe(0xffff_ffff_ffff_ffffn);
    expect([out[1][0], out[1][1], out[1][2]]).toEqual([0n, 42n, 0n]);
    expect([out[2][1], out[2][2]]).toEqual([2n, 1n]);
    expect(sim.now).toBe(3 * m.costs.smcRoundTripNs + 2 * 500);
    expect(m.smc.calls.get(0x8400_0020)).toBe(1);
    expect(m.smc.calls.get(0x8400_0011)).toBe(1);
  });
});

describe("cache capacity", () => {
  it("a full ring of stale slots makes room without evicting a dirty page", async () => {
    const { Caches } = await import("../../src/hw/cache.ts");
    const c = new Caches(100, 4);
    c.markDirty(0, 4);
    c.cleanInvalidate(0, 3);
    c.markDirty(10, 1);
    expect(c.dirty[3]).toBe(1);
    expect(c.dirty[10]).toBe(1);
    expect(c.evictions).toBe(0);
    expect(c.pickDirty(0)).toBe(3);
  });

  it("a dirty page evicted for capacity after it was protected is a denied write-back", () => {
    const p = PRESETS["tzc400-board"];
    const { m, id, count } = boot({ ...p, caches: { ...p.caches, sizeBytes: 4096 } });
    expect(m.access(id("cpu-ns"), LENT, 64, "write", { kernel: true })).toBe(ACCESS_OK);
    protectForDecoder(m);
    const before = count("no-speculation-hazard");
    // Another write evicts the one-page cache's dirty, now protected, page.
    expect(m.access(id("cpu-ns"), 0x40000000, 64, "write")).toBe(ACCESS_OK);
    expect(count("no-speculation-hazard")).toBe(before + 1);
    expect(m.stats.deniedWritebacks).toBe(1);
  });
});
