import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMemRegion,
  encodeMemRegion,
  FFA_MEM_RW,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_MEM_LEND_32,
  FFA_MEMORY_SECURITY_NS_BIT,
  FFA_NO_MEMORY,
  FFA_NOT_SUPPORTED,
  FFA_SUCCESS_32,
} from "../../../src/abi/ffa/index.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../../src/hw/frames.ts";
import { GPT_GPI_NS, GPT_GPI_SECURE } from "../../../src/hw/gpt.ts";
import { smcRegs } from "../../../src/hw/smc.ts";
import { loadScenarioFile } from "../../../src/scenario/loader.ts";
import { runScenario } from "../../../src/scenario/runner.ts";
import {
  boot,
  call,
  handleOf,
  lend,
  lendDescriptor,
  reclaim,
  relinquish,
  retrieve,
  run,
  w,
} from "./testing.ts";
import { HafniumSpmc } from "../../../src/firmware/hafnium/hafnium.ts";

const PAGE = 0x9000_0000;

function hf(sys: ReturnType<typeof boot>): HafniumSpmc {
  expect(sys.spmc).toBeInstanceOf(HafniumSpmc);
  return sys.spmc as HafniumSpmc;
}

describe("Hafnium SPMC", () => {
  it("boots the partitions: version negotiated, buffers mapped in their own memory", () => {
    const sys = boot("fvp-rme");
    for (const id of [0x8001, 0x8002]) {
      const ep = sys.spmc.endpoint(id)!;
      expect(ep.version).toBe(0x1_0002);
      expect(ep.tx).not.toBeNull();
      expect(ep.versionLocked).toBe(true);
    }
    expect(sys.spmc.endpoint(0)!.tx).toBe(0x8020_0000);
  });

  it("a LEND costs the SMC, the switch into S-EL2, and one granule transition per page", () => {
    const sys = boot("fvp-rme");
    const c = sys.machine.costs;
    const t0 = sys.sim.now;
    const out = run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 8 }])));
    expect(w(out, 0)).toBe(FFA_SUCCESS_32);
    const minimum = c.smcRoundTripNs + c.worldSwitchSel2Ns + 8 * c.gptGranuleTransitionNs;
    expect(sys.sim.now - t0).toBeGreaterThanOrEqual(minimum);
    expect(sys.machine.gpt!.gpiAt(PAGE + 7 * 4096)).toBe(GPT_GPI_SECURE);
  });

  it("a lend the monitor refuses midway is DENIED and the granules already moved go back", () => {
    const sys = boot("fvp-rme");
    // A granule already in the secure PAS although the SPMC believes the normal world owns it.
    sys.machine.gptTransition(PAGE + 0x10000, 4096, true);
    const out = run(sys, () =>
      lend(
        sys,
        lendDescriptor([
          { address: PAGE, pages: 2 },
          { address: PAGE + 0x10000, pages: 1 },
        ]),
      ),
    );
    expect(w(out, 0)).toBe(FFA_ERROR_32);
    expect(w(out, 2) | 0).toBe(FFA_DENIED);
    expect(sys.spmc.lastRejection?.rule).toBe("protect-denied");
    expect(sys.machine.gpt!.gpiAt(PAGE)).toBe(GPT_GPI_NS);
    expect(sys.machine.gpt!.gpiAt(PAGE + 4096)).toBe(GPT_GPI_NS);
    expect(hf(sys).shares.used).toBe(0);
    expect(sys.machine.frames.owner[sys.machine.frames.indexOf(PAGE)]).toBe(OWNER_NORMAL);
  });

  it("the retrieve response is in the retriever's layout, NS bit clear once RME protected the pages", () => {
    const sys = boot("fvp-rme");
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 3 }]))));
    const resp = run(sys, () => retrieve(sys, h));
    const rx = sys.ffa.endpoint("optee")!.readRx(w(resp, 2));
    const d = decodeMemRegion(rx, "1.2");
    expect(d.ok).toBe(true);
    if (!d.ok) return;
    expect(d.value.emad_count).toBe(1);
    expect(d.value.emads[0].receiver_id).toBe(0x8001);
    expect(d.value.handle).toBe(h);
    expect(d.value.composite?.constituents[0]).toEqual({ address: BigInt(PAGE), page_count: 3, reserved: 0 });
    expect(d.value.attributes & FFA_MEMORY_SECURITY_NS_BIT).toBe(0);
  });

  it("without RME the response says the memory is non-secure (NS bit set)", () => {
    const sys = boot("qemu-virt", { spmc: "hafnium" });
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 1 }]))));
    const resp = run(sys, () => retrieve(sys, h));
    const d = decodeMemRegion(sys.ffa.endpoint("optee")!.readRx(w(resp, 2)), "1.2");
    expect(d.ok && d.value.attributes & FFA_MEMORY_SECURITY_NS_BIT).toBe(FFA_MEMORY_SECURITY_NS_BIT);
    expect(sys.sim.findings.count("protected-when-lent")).toBe(1);
  });

  it("the share-state limit is configurable: a table of 2 refuses the third send with NO_MEMORY", () => {
    const sys = boot("fvp-rme", {}, { firmware: { spmcLimits: { maxShares: 2 } } });
    const codes = [0, 1, 2].map((i) =>
      run(sys, () => lend(sys, lendDescriptor([{ address: PAGE + i * 4096, pages: 1 }]))),
    );
    expect(codes.map((r) => w(r, 0))).toEqual([FFA_SUCCESS_32, FFA_SUCCESS_32, FFA_ERROR_32]);
    expect(w(codes[2], 2) | 0).toBe(FFA_NO_MEMORY);
  });

  it("a v1.0 first fragment that would not fit a page once converted is NOT_SUPPORTED", () => {
    const sys = boot("fvp-rme", { ffaVersion: "1.0" });
    const cs = Array.from({ length: 300 }, (_, i) => ({ address: PAGE + 2 * i * 4096, pages: 1 }));
    const bytes = lendDescriptor(cs, { version: "1.0" });
    const out = run(sys, () =>
      call(sys, "normal", smcRegs(FFA_MEM_LEND_32, bytes.length, 4096), bytes.subarray(0, 4096)),
    );
    expect(w(out, 2) | 0).toBe(FFA_NOT_SUPPORTED);
    expect(hf(sys).shares.used).toBe(0);
  });

  it("ffa-consistency: a page the machine gave back behind the SPMC's back is reported", () => {
    const sys = boot("fvp-rme");
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 2 }]))));
    sys.machine.setOwner(PAGE, 4096, OWNER_NORMAL);
    run(sys, () => retrieve(sys, h));
    expect(sys.sim.findings.count("ffa-consistency")).toBe(1);
  });

  it("a rejected send changes no state (random corruptions of a good lend)", () => {
    const sys = boot("fvp-rme");
    const good = lendDescriptor([
      { address: PAGE, pages: 2 },
      { address: PAGE + 0x4000, pages: 1 },
    ]);
    const i0 = sys.machine.frames.indexOf(PAGE);
    const spmc = hf(sys);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.integer({ min: -2, max: 2 }),
        (edits, lenDelta) => {
          const bytes = good.slice();
          for (const [off, v] of edits) bytes[off] = v;
          const len = bytes.length + 16 * lenDelta;
          const out = run(sys, () => call(sys, "normal", smcRegs(FFA_MEM_LEND_32, len, len), bytes));
          if (w(out, 0) === FFA_SUCCESS_32) {
            run(sys, () => reclaim(sys, handleOf(out)));
            return;
          }
          expect(spmc.shares.used).toBe(0);
          for (let i = i0; i < i0 + 8; i++) {
            expect(sys.machine.frames.owner[i]).toBe(OWNER_NORMAL);
            expect(spmc.pages.holder[i]).toBe(0);
            expect(sys.machine.gpt!.gpi[i]).toBe(GPT_GPI_NS);
          }
        },
      ),
      { numRuns: 150 },
    );
    expect(sys.sim.findings.count("ffa-consistency")).toBe(0);
  });

  it("a LEND with the zero-memory flag clears the pages before anyone else maps them", () => {
    const sys = boot("fvp-rme");
    sys.machine.writeBytes(sys.machine.masterIndex("cpu-ns"), PAGE + 8, new Uint8Array([1, 2, 3]));
    const bytes = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: FFA_MEMORY_REGION_FLAG_CLEAR,
        emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
        constituents: [{ address: BigInt(PAGE), page_count: 1 }],
      },
      "1.2",
    );
    const t0 = sys.sim.now;
    expect(
      w(
        run(sys, () => lend(sys, bytes)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect([...sys.machine.bytes.read(PAGE + 8, 3)]).toEqual([0, 0, 0]);
    expect(sys.sim.now - t0).toBeGreaterThan(4096 / sys.machine.costs.memsetBytesPerNs);
  });

  it("lend, retrieve, relinquish and reclaim leave every page as it was", () => {
    const sys = boot("fvp-rme");
    const i0 = sys.machine.frames.indexOf(PAGE);
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 4 }]))));
    expect(sys.machine.frames.owner[i0 + 3]).toBe(OWNER_SECURE);
    run(sys, () => retrieve(sys, h));
    run(sys, () => call(sys, "optee", smcRegs(0x8400_0065)));
    expect(
      w(
        run(sys, () => relinquish(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(sys.machine.frames.owner[i0 + 3]).toBe(OWNER_NORMAL);
    expect(sys.machine.gpt!.gpi[i0 + 3]).toBe(GPT_GPI_NS);
    expect(hf(sys).shares.used).toBe(0);
  });

  it("runs are deterministic: the same scenario twice gives byte-identical results", () => {
    const file = "test/conformance/ffa/hf-multi-borrower-lend.yaml";
    const a = JSON.stringify(runScenario(loadScenarioFile(file)), (_, v) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    const b = JSON.stringify(runScenario(loadScenarioFile(file)), (_, v) =>
      typeof v === "bigint" ? v.toString() : v,
    );
    expect(a).toBe(b);
  });
});

describe("a monitor failure in the middle of a send (ffa_region_group_identity_map(), Hafnium v2.15)", () => {
  // Each constituent's outcome replaces the last; only DENIED moves granules back. An -EINVAL from EL3
  // (SMC_INVALID_PARAM: a granule outside its table) is neither undone nor final.
  const second = PAGE + 0x10_0000;
  const failOn = (sys: ReturnType<typeof boot>, bad: number) => {
    const gpt = sys.machine.gpt!;
    const real = gpt.transition.bind(gpt);
    gpt.transition = (pa, target, caller) => (pa === bad ? -22 : real(pa, target, caller));
    return () => (gpt.transition = real);
  };
  const twoConstituents = (first: number, then: number) =>
    lendDescriptor([
      { address: first, pages: 4 },
      { address: then, pages: 4 },
    ]);

  it("INVALID_PARAMETERS on the last constituent fails the send and moves nothing back: the first stays in the Secure PAS", () => {
    const sys = boot("fvp-rme");
    const gpt = sys.machine.gpt!;
    failOn(sys, second + 2 * 4096);
    const out = run(sys, () => lend(sys, twoConstituents(PAGE, second)));
    expect(w(out, 0)).toBe(FFA_ERROR_32);
    expect(hf(sys).lastRejection?.rule).toBe("protect-invalid");
    expect(hf(sys).shares.used).toBe(0);
    // Hafnium's bug, modelled: the normal world's own pages are left Secure by a refused call.
    for (const pa of [PAGE, PAGE + 3 * 4096, second, second + 4096])
      expect(gpt.gpiAt(pa)).toBe(GPT_GPI_SECURE);
    expect(gpt.gpiAt(second + 2 * 4096)).toBe(GPT_GPI_NS);
    expect(sys.machine.frames.owner[sys.machine.frames.indexOf(PAGE)]).toBe(OWNER_NORMAL);
  });

  it("a lend with the clear flag that left a constituent Non-secure clears it through the Secure alias: a granule protection fault, Hafnium panics", () => {
    // From helper-43's review: the first fragment [lent P1, P2] is DENIED at P1 and its loop stops (P2
    // is never protected), the second fragment [P3] protects fine, so the transaction counts as
    // protected and clear_memory() writes through the Secure alias (clean_mode without NS).
    const sys = boot("fvp-rme");
    const [p1, p2, p3] = [PAGE, PAGE + 0x10_0000, PAGE + 0x20_0000];
    expect(
      w(
        run(sys, () => lend(sys, lendDescriptor([{ address: p1, pages: 1 }]))),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    const d = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: FFA_MEMORY_REGION_FLAG_CLEAR,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: 2 }],
        constituents: [p1, p2, p3].map((a) => ({ address: BigInt(a), page_count: 1 })),
      },
      "1.2",
    );
    const cut = d.length - 16;
    const first = run(sys, () =>
      call(sys, "normal", smcRegs(FFA_MEM_LEND_32, d.length, cut), d.subarray(0, cut)),
    );
    run(sys, () => call(sys, "normal", smcRegs(0x8400_007b, w(first, 1), w(first, 2), 16), d.slice(cut)));
    expect(sys.machine.gpt!.gpiAt(p2)).toBe(GPT_GPI_NS);
    expect(sys.machine.hung).toBe(
      "Hafnium panic: EL2 exception: granule protection fault at 0x90100000 in clear_memory() (a Secure-PAS store to a granule left in the Non-secure PAS)",
    );
  });

  it("INVALID_PARAMETERS on a constituent before the last is lost: the send succeeds, and the reclaim's CHECK(arch_memory_unprotect()) panics", () => {
    const sys = boot("fvp-rme");
    const gpt = sys.machine.gpt!;
    const restoreGpt = failOn(sys, PAGE + 2 * 4096);
    const out = run(sys, () => lend(sys, twoConstituents(PAGE, second)));
    expect(w(out, 0)).toBe(FFA_SUCCESS_32);
    expect(gpt.gpiAt(PAGE + 2 * 4096)).toBe(GPT_GPI_NS); // never moved, though the transaction counts as protected
    restoreGpt();
    run(sys, () => reclaim(sys, handleOf(out)));
    expect(sys.machine.hung).toMatch(
      /^Hafnium panic: CHECK failed: arch_memory_unprotect\(0x90000000, 0x90004000\)/,
    );
  });
});
