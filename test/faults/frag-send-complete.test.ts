/**
 * The fault point inside Hafnium's last FFA_MEM_FRAG_TX (`ffa: {call: MEM_FRAG_TX, in:
 * ffa_memory_send_complete}`): ffa_send_check_update() cannot prepare the sender's page tables, the
 * share state is freed, no page changed; Linux's ffa_setup_and_transmit() returns −ENOMEM and nothing
 * is left behind. The point is refused, at its line and column, where the real stack has no such failure.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { lendEveryOtherPage } from "../kernel/ffa-fixture.ts";
import { ERRNO } from "../../src/abi/uapi/errno.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import type { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { dmaAllocPages, dmaFreePages } from "../../src/kernel/dma/mapping.ts";
import { ffaMemoryLend, ffaMemoryReclaim } from "../../src/kernel/firmware/arm_ffa/mem_ops.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { parseFaultList } from "../../src/scenario/faults.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { faultSpecOf, faultSpecPoint, type FaultSpec } from "../../src/sim/faults.ts";
import { run, teeSystem } from "../kernel/tee-fixture.ts";

const AT_SEND_COMPLETE = (nth = 1) =>
  ({
    ffa: { call: "MEM_FRAG_TX", in: "ffa_memory_send_complete", error: "NO_MEMORY", nth },
  }) satisfies FaultSpec;

/**
 * ffa_memory_lend() of `constituents` separate pages (300: two fragments at v1.2; 600: three) with
 * `faults` armed; then a reclaim of the handle, a second lend of the same pages and its reclaim.
 */
function fragmentedLend(faults: FaultSpec[], constituents = 300) {
  const sys = teeSystem("fvp-rme");
  sys.sim.faults.configure(faults);
  sys.sim.faults.arm();
  const drv = sys.kernel.armFfa!;
  const hf = sys.spmc as HafniumSpmc;
  const liveBefore = [...hf.shares.live()].length;
  return run(sys.sim, function* () {
    const pages = (yield* dmaAllocPages(sys.kernel.mm, 2 * constituents * 4096))!;
    const lendArgs = () => lendEveryOtherPage(pages.pa, constituents);
    const args = lendArgs();
    const rc = yield* ffaMemoryLend(drv, args);
    const reclaim = yield* ffaMemoryReclaim(drv, args.gHandle, 0);
    const incomplete = sys.spmc.incompleteSends();
    const leftShares = [...hf.shares.live()].length - liveBefore;
    const again = lendArgs();
    const relend = yield* ffaMemoryLend(drv, again);
    const relendReclaim = yield* ffaMemoryReclaim(drv, again.gHandle, 0);
    dmaFreePages(sys.kernel.mm, pages);
    const quiesce = quiesceProblems(sys.boot, sys.machine, sys.kernel.mm);
    return {
      rc,
      reclaim,
      incomplete,
      leftShares,
      relend,
      relendReclaim,
      quiesce,
      struck: sys.sim.faults.record(),
    };
  });
}

describe("the last FFA_MEM_FRAG_TX failing in ffa_memory_send_complete()", () => {
  it("Linux gets ENOMEM; Hafnium freed the share state: no incomplete send, no slot, no page moved", () => {
    const base = fragmentedLend([]);
    expect(base).toMatchObject({ rc: 0, reclaim: 0, incomplete: 0, leftShares: 0, quiesce: [] });
    const r = fragmentedLend([AT_SEND_COMPLETE()]);
    expect(r.struck).toEqual([AT_SEND_COMPLETE()]);
    expect(r.rc).toBe(-ERRNO.ENOMEM);
    // The handle is gone (share_state_free()): a reclaim is INVALID_PARAMETERS, which Linux maps to EINVAL.
    expect(r.reclaim).toBe(-ERRNO.EINVAL);
    expect(r.incomplete).toBe(0);
    expect(r.leftShares).toBe(0);
    // Nothing changed: the same pages lend and come back, and the end is as at boot.
    expect(r.relend).toBe(0);
    expect(r.relendReclaim).toBe(0);
    expect(r.quiesce).toEqual([]);
  });

  it("nth counts the sends a last fragment completes: with three fragments the first FRAG_TX passes, the last fails", () => {
    const r = fragmentedLend([AT_SEND_COMPLETE()], 600);
    // Not −ENXIO (a fragment before the last failing): the point is only reached by the last one.
    expect(r.rc).toBe(-ERRNO.ENOMEM);
    expect(r.incomplete).toBe(0);
    const second = fragmentedLend([AT_SEND_COMPLETE(2)]);
    // The 2nd completion is the re-lend: the first lend succeeds, the re-lend fails and leaves nothing.
    expect(second).toMatchObject({ rc: 0, reclaim: 0, relend: -ERRNO.ENOMEM, relendReclaim: -ERRNO.EINVAL });
    expect(second.quiesce).toEqual([]);
  });

  it("the entry fault of the same call still holds the share state (the two points are counted apart)", () => {
    const entry = fragmentedLend([{ ffa: { call: "MEM_FRAG_TX", error: "NO_MEMORY", nth: 1 } }]);
    expect(entry.rc).toBe(-ERRNO.ENOMEM);
    expect(entry.incomplete).toBe(1);
  });
});

describe("scenarios/faults/frag-tx-send-complete-no-memory.yaml", () => {
  it("NO_MEMORY at the last fragment, the handle unknown, the pages lend again; the end is clean", () => {
    const file = join(import.meta.dirname, "../../scenarios/faults/frag-tx-send-complete-no-memory.yaml");
    const r = runScenario(loadScenarioFile(file, "frag-tx-send-complete-no-memory"));
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.got)).toEqual([
      "NO_MEMORY",
      "INVALID_PARAMETERS",
      "ok",
      "SUCCESS",
      "fault",
      "SUCCESS",
      "ok",
    ]);
    expect(r.faults).toEqual([AT_SEND_COMPLETE()]);
    expect(r.ffaRejections["FFA_MEM_FRAG_TX_32: fault"]).toBe(1);
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings["ffa-consistency"]).toBe(0);
  });
});

const scenario = (fault: string, platform = "fvp-rme") =>
  loadScenarioText(
    `name: x\nplatform: ${platform}\nfaults:\n  - ffa: ${fault}\nsteps:\n  - proc: p\n    open: /dev/tee0\n`,
    "f.yaml",
  );

describe("`in: ffa_memory_send_complete` is accepted only where Hafnium has that failure", () => {
  it("on a Hafnium platform, for MEM_FRAG_TX and NO_MEMORY", () => {
    expect(() =>
      scenario("{ call: MEM_FRAG_TX, in: ffa_memory_send_complete, error: NO_MEMORY, nth: 2 }"),
    ).not.toThrow();
  });

  it("on another call", () => {
    expect(() => scenario("{ call: MEM_LEND, in: ffa_memory_send_complete, error: NO_MEMORY }")).toThrow(
      /f\.yaml:4:\d+: faults\[0\]\.ffa\.in: ffa_memory_send_complete is reached only by MEM_FRAG_TX, not MEM_LEND/,
    );
  });

  it("with an error Hafnium does not answer there", () => {
    expect(() => scenario("{ call: MEM_FRAG_TX, in: ffa_memory_send_complete, error: ABORTED }")).toThrow(
      /f\.yaml:4:\d+: faults\[0\]\.ffa\.error: ffa_memory_send_complete fails only with NO_MEMORY, not ABORTED/,
    );
    expect(() => scenario("{ call: MEM_FRAG_TX, in: ffa_memory_send_complete, error: DENIED }")).toThrow(
      /f\.yaml:4:\d+: faults\[0\]\.ffa\.error: .*only with NO_MEMORY/,
    );
  });

  it("on OP-TEE's own SPMC", () => {
    expect(() =>
      scenario("{ call: MEM_FRAG_TX, in: ffa_memory_send_complete, error: NO_MEMORY }", "tzc400-board"),
    ).toThrow(
      /f\.yaml:4:\d+: faults\[0\]\.ffa\.in: the optee-sel1 SPMC has no ffa_memory_send_complete \(only hafnium/,
    );
  });

  it("a function that is no fault point", () => {
    expect(() => scenario("{ call: MEM_FRAG_TX, in: ffa_send_check_transition, error: NO_MEMORY }")).toThrow(
      /f\.yaml:4:\d+: faults\[0\]\.ffa\.in: .*ffa_memory_send_complete/,
    );
  });

  it("the record of a struck point reads back as the same fault (replay.json)", () => {
    const spec = AT_SEND_COMPLETE(3);
    const { point, value } = faultSpecPoint(spec);
    expect(faultSpecOf(point, value)).toEqual(spec);
    expect(parseFaultList(JSON.parse(JSON.stringify([spec])))).toEqual([spec]);
    expect(parseFaultList([{ ffa: { ...spec.ffa, call: "MEM_SHARE" } }])).toMatch(/faults\.0\.ffa\.in: /);
  });
});
