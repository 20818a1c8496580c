/**
 * FFA_RXTX_UNMAP at both SPMCs: Hafnium v2.15.0 src/api.c api_ffa_rxtx_unmap() (the allocator ID in
 * w1[31:16], by FF-A instance) and OP-TEE 4.9.0 thread_spmc.c spmc_handle_rxtx_unmap() (w1 not looked
 * at). A refusal leaves the mailbox as it was; a success forgets the pair and nothing else. Linux
 * 6.18.0's ffa_init() does NOT unmap its pair when it gives up after the probe (the fix, 9fda364cb78c,
 * came after v6.19): it frees the pages while the SPMC still maps them, and the end of the run says so.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_RXTX_UNMAP_32,
  FFA_SUCCESS_32,
} from "../../../src/abi/ffa/index.ts";
import { FFA_NWD_ID, FFA_OPTEE_ID, FFA_SP2_ID } from "../../../src/firmware/spmc/endpoint.ts";
import { smcRegs } from "../../../src/hw/smc.ts";
import { PS_FREE } from "../../../src/kernel/mm/gfp.ts";
import { loadScenarioFile } from "../../../src/scenario/loader.ts";
import { bootScenario, runOnSystem } from "../../../src/scenario/runner.ts";
import { boot, call, run, w } from "./testing.ts";

type Sys = ReturnType<typeof boot>;

const unmap = (sys: Sys, who: string, w1 = 0) =>
  run(sys, () => call(sys, who, smcRegs(FFA_RXTX_UNMAP_32, w1)));
const errorOf = (r: ReturnType<typeof unmap>) => (w(r, 0) === FFA_ERROR_32 ? w(r, 2) | 0 : null);
const ruleOf = (sys: Sys) => sys.spmc.lastRejection?.rule ?? null;
const mailbox = (sys: Sys, id: number) => {
  const ep = sys.spmc.endpoint(id)!;
  return { tx: ep.tx, rx: ep.rx, pageCount: ep.pageCount, rxFull: ep.rxFull };
};

describe("FFA_RXTX_UNMAP at Hafnium's SPMC", () => {
  it("from the normal world: an SP ID in w1[31:16] is refused, a VM without a mailbox too, and the pair stays", () => {
    const sys = boot("fvp-rme");
    const before = mailbox(sys, FFA_NWD_ID);
    expect(before.tx).not.toBeNull();
    expect(errorOf(unmap(sys, "normal", FFA_OPTEE_ID << 16))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-vm-id");
    expect(errorOf(unmap(sys, "normal", 1 << 16))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-vm-not-found");
    // VM 1 gets a slot in nwd_vms with its notification bitmap, but never a mailbox here.
    const created = run(sys, () => call(sys, "normal", smcRegs(FFA_NOTIFICATION_BITMAP_CREATE_32, 1, 1)));
    expect(w(created, 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(unmap(sys, "normal", 1 << 16))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-not-mapped");
    expect(mailbox(sys, FFA_NWD_ID)).toEqual(before);
  });

  it("from the normal world with w1[31:16] = 0 (w1[15:0] not looked at): the pair is unmapped, the RX state kept", () => {
    const sys = boot("fvp-rme");
    sys.spmc.endpoint(FFA_NWD_ID)!.rxFull = true;
    const r = unmap(sys, "normal", 0xffff);
    expect([w(r, 0), w(r, 1), w(r, 2)]).toEqual([FFA_SUCCESS_32, 0, 0]);
    expect(mailbox(sys, FFA_NWD_ID)).toEqual({ tx: null, rx: null, pageCount: 0, rxFull: true });
    expect(errorOf(unmap(sys, "normal"))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-not-mapped");
  });

  it("from a partition: w1 must be 0, even naming itself; with 0 only its own pair goes", () => {
    const sys = boot("fvp-rme");
    const nwd = mailbox(sys, FFA_NWD_ID);
    const sp2 = mailbox(sys, FFA_SP2_ID);
    expect(errorOf(unmap(sys, "sp2", FFA_SP2_ID << 16))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-w1-nonzero");
    expect(mailbox(sys, FFA_SP2_ID)).toEqual(sp2);
    expect(w(unmap(sys, "sp2"), 0)).toBe(FFA_SUCCESS_32);
    expect(mailbox(sys, FFA_SP2_ID)).toMatchObject({ tx: null, rx: null, pageCount: 0 });
    expect(mailbox(sys, FFA_NWD_ID)).toEqual(nwd);
  });
});

describe("FFA_RXTX_UNMAP at OP-TEE's S-EL1 SPMC", () => {
  it("from the normal world, whatever w1 holds: unmapped once, then INVALID_PARAMETERS; OP-TEE itself: NOT_SUPPORTED", () => {
    const sys = boot("qemu-virt");
    expect(w(unmap(sys, "normal", 0x8001_0000), 0)).toBe(FFA_SUCCESS_32);
    expect(mailbox(sys, FFA_NWD_ID)).toMatchObject({ tx: null, rx: null, pageCount: 0 });
    expect(errorOf(unmap(sys, "normal"))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("rxtx-unmap-not-mapped");
    expect(errorOf(unmap(sys, "optee"))).toBe(FFA_NOT_SUPPORTED);
  });
});

describe("Linux 6.18.0's ffa_init() giving up after a failed probe", () => {
  it("frees its RX/TX pages to the buddy without FFA_RXTX_UNMAP: Hafnium keeps them as the mailbox, quiesce-clean says so", () => {
    const file = join(import.meta.dirname, "../../../scenarios/faults/boot-partition-info-retry.yaml");
    const sc = loadScenarioFile(file, "boot-partition-info-retry");
    const system = bootScenario(sc, sc.seed);
    expect(system.kernel.armFfa).toBeUndefined();
    const r = runOnSystem(sc, system);
    expect(r.passed).toBe(true);
    expect(r.ffaCalls).not.toHaveProperty("FFA_RXTX_UNMAP_32");
    const nwd = system.spmc.endpoint(FFA_NWD_ID)!;
    expect(nwd.tx).not.toBeNull();
    expect(nwd.rx).not.toBeNull();
    const frames = system.machine.frames;
    for (const pa of [nwd.tx!, nwd.rx!])
      for (let p = 0; p < nwd.pageCount; p++)
        expect(frames.state[frames.indexOf(pa + p * 4096)]).toBe(PS_FREE);
    const stale = r.findingDetails.filter((f) => f.id === "quiesce-clean");
    expect(stale.map((f) => f.message)).toEqual([
      expect.stringContaining(
        `the SPMC still maps ${2 * nwd.pageCount} pages freed by the kernel as the normal world's RX/TX buffers`,
      ),
    ]);
  });

  it("a raw FFA_RXTX_UNMAP from the normal world afterwards takes the stale pair away, and the run ends clean", () => {
    const file = join(import.meta.dirname, "../../../scenarios/faults/boot-partition-info-retry.yaml");
    const sc = loadScenarioFile(file, "boot-partition-info-retry");
    const system = bootScenario(sc, sc.seed);
    expect(errorOf(unmap(system, "normal"))).toBeNull();
    const r = runOnSystem(sc, system);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });
});
