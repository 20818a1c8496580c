/**
 * FF-A fragment faults and boot-time faults (sim/faults.ts `boot: true`): a failed FFA_MEM_FRAG_TX as
 * Linux's arm_ffa driver meets it (−ENXIO before the last fragment, the errno at the last) with Hafnium
 * keeping the incomplete send; a probe-time failure leaves user space without the TEE or the heap
 * (ENOENT); faults the real stack cannot meet are refused at their line and column.
 */
import { describe, expect, it } from "vitest";
import { lendEveryOtherPage } from "../kernel/ffa-fixture.ts";
import { ERRNO } from "../../src/abi/uapi/errno.ts";
import type { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { dmaAllocPages, dmaFreePages } from "../../src/kernel/dma/mapping.ts";
import { ffaMemoryLend, ffaMemoryReclaim } from "../../src/kernel/firmware/arm_ffa/mem_ops.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import type { FaultSpec } from "../../src/sim/faults.ts";
import { run, teeSystem } from "../kernel/tee-fixture.ts";

/** ffa_memory_lend() of 300 separate pages (two fragments at v1.2) with `faults` armed; rc and what is left. */
function fragmentedLend(faults: FaultSpec[], constituents = 300) {
  const sys = teeSystem("fvp-rme");
  sys.sim.faults.configure(faults);
  sys.sim.faults.arm();
  const drv = sys.kernel.armFfa!;
  return run(sys.sim, function* () {
    const pages = (yield* dmaAllocPages(sys.kernel.mm, 2 * constituents * 4096))!;
    const args = lendEveryOtherPage(pages.pa, constituents);
    const rc = yield* ffaMemoryLend(drv, args);
    const reclaim = yield* ffaMemoryReclaim(drv, args.gHandle, 0);
    const incomplete = sys.spmc.incompleteSends();
    const live = [...(sys.spmc as HafniumSpmc).shares.live()].length;
    if (reclaim === 0) dmaFreePages(sys.kernel.mm, pages);
    return { rc, reclaim, incomplete, live };
  });
}

describe("FFA_MEM_FRAG_TX faults through Linux's ffa_setup_and_transmit()", () => {
  it("the last fragment answering NO_MEMORY or ABORTED is ENOMEM or ECANCELED; Hafnium keeps the send, incomplete", () => {
    const base = fragmentedLend([]);
    expect(base).toMatchObject({ rc: 0, reclaim: 0, incomplete: 0 });
    for (const [error, errno] of [
      ["NO_MEMORY", ERRNO.ENOMEM],
      ["ABORTED", ERRNO.ECANCELED],
    ] as const) {
      const r = fragmentedLend([{ ffa: { call: "MEM_FRAG_TX", error, nth: 1 } }]);
      expect(r.rc).toBe(-errno);
      // Linux never reclaims it, and Hafnium would refuse: the send is not complete.
      expect(r.reclaim).toBe(-ERRNO.EINVAL);
      expect(r.incomplete).toBe(1);
      expect(r.live).toBe(base.live + 1);
    }
  });

  it("a fragment before the last failing is ENXIO, whatever the SPMC said", () => {
    // 600 constituents: three fragments, the first FRAG_TX is not the last.
    const r = fragmentedLend([{ ffa: { call: "MEM_FRAG_TX", error: "NO_MEMORY", nth: 1 } }], 600);
    expect(r.rc).toBe(-ERRNO.ENXIO);
    expect(r.incomplete).toBe(1);
  });
});

const scenario = (faults: string, platform = "tzc400-board") =>
  loadScenarioText(
    `name: x\nplatform: ${platform}\nfaults:\n${faults}\nsteps:\n  - proc: p\n    open: /dev/tee0\n`,
    "f.yaml",
  );

describe("boot faults strike while the drivers probe, and only then", () => {
  it("FFA_RXTX_MAP failing at probe leaves no /dev/tee0; the same fault without `boot` does not touch the probe", () => {
    const atBoot = runScenario(scenario("  - ffa: { call: RXTX_MAP, error: NO_MEMORY, boot: true }"));
    expect(atBoot.steps.map((s) => s.got)).toEqual(["ENOENT"]);
    expect(atBoot.faults).toEqual([{ ffa: { call: "RXTX_MAP", error: "NO_MEMORY", nth: 1, boot: true } }]);
    const afterBoot = runScenario(scenario("  - ffa: { call: RXTX_MAP, error: NO_MEMORY }"));
    expect(afterBoot.steps.map((s) => s.got)).toEqual(["ok"]);
    expect(afterBoot.faults).toEqual([]);
  });

  it("the nth of a boot fault counts the probe's calls: the 2nd direct request fails, not the 1st", () => {
    const second = runScenario(
      scenario("  - ffa: { call: MSG_SEND_DIRECT_REQ, error: BUSY, nth: 2, boot: true }"),
    );
    expect(second.faults).toEqual([
      { ffa: { call: "MSG_SEND_DIRECT_REQ", error: "BUSY", nth: 2, boot: true } },
    ]);
    expect(second.ffaRejections).toEqual({ "FFA_MSG_SEND_DIRECT_REQ_32: fault": 1 });
  });
});

describe("faults the real stack cannot meet are refused where they are written", () => {
  it("RETRY on a memory call names the calls that really answer RETRY", () => {
    expect(() => scenario("  - ffa: { call: MEM_RECLAIM, error: RETRY }")).toThrow(
      /f\.yaml:4:38: .*no real SPMC answers MEM_RECLAIM with RETRY; .*Hafnium v2\.15 answers RETRY only to FFA_PARTITION_INFO_GET_REGS/,
    );
  });

  it("a FRAG_TX fault on OP-TEE's own SPMC, which has no such failure", () => {
    expect(() => scenario("  - ffa: { call: MEM_FRAG_TX, error: NO_MEMORY }")).toThrow(
      /f\.yaml:4:\d+: .*the optee-sel1 SPMC never fails MEM_FRAG_TX with NO_MEMORY \(only hafnium does/,
    );
    expect(() => scenario("  - ffa: { call: MEM_FRAG_TX, error: NO_MEMORY }", "fvp-rme")).not.toThrow();
  });

  it("a boot fault on a call the probes never make, and GET_PROTMEM_CONFIG without `boot`", () => {
    expect(() => scenario("  - ffa: { call: MEM_LEND, error: NO_MEMORY, boot: true }")).toThrow(
      /f\.yaml:4:\d+: .*the normal world does not call MEM_LEND while its drivers probe; boot faults: VERSION, RXTX_MAP/,
    );
    expect(() => scenario("  - optee: { cmd: GET_PROTMEM_CONFIG, error: TEE_ERROR_GENERIC }")).toThrow(
      /f\.yaml:4:\d+: .*GET_PROTMEM_CONFIG is sent only while the OP-TEE driver probes .*add `boot: true`/,
    );
  });
});
