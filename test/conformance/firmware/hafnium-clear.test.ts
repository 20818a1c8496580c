/**
 * Hafnium's clear flags against the granule protection table (Hafnium v2.15.0 src/ffa_memory.c
 * clear_memory(), ffa_clear_memory_constituents(); firmware/hafnium/clear_memory.ts):
 * - FFA_MEM_RECLAIM with FFA_MEM_RECLAIM_CLEAR of a lend Hafnium protected with RME clears through
 *   sender_orig_mode's NS alias before MAP_ACTION_COMMIT_UNPROTECT: a GPF at S-EL2 outside
 *   memcpy_trapped(), so sync_current_exception() panics ("EL2 exception") and the call never returns;
 * - the send's clear (clean_mode, NS masked once protected) and the relinquish's (the borrower's mode)
 *   go through the Secure alias and zero;
 * - without RME nothing is protected and the reclaim's clear zeroes.
 * Not YAML cases: a run whose machine stops in a step cannot pass the conformance runner.
 */
import { describe, expect, it } from "vitest";
import { FFA_SUCCESS_32 } from "../../../src/abi/ffa/index.ts";
import { HafniumSpmc } from "../../../src/firmware/hafnium/hafnium.ts";
import { OWNER_NORMAL, OWNER_SECURE, TAINT_SECRET } from "../../../src/hw/frames.ts";
import { GPT_GPI_NS, GPT_GPI_SECURE } from "../../../src/hw/gpt.ts";
import { smcRegs } from "../../../src/hw/smc.ts";
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

const PAGE = 0x9000_0000;
const FFA_RX_RELEASE_32 = 0x8400_0065;

/** Lend 4 pages to OP-TEE, which retrieves them, writes a secret, and relinquishes (flags as given). */
function lentAndWritten(preset: string, overrides = {}, relinquishFlags = 0) {
  const sys = boot(preset, overrides);
  const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 4 }]))));
  run(sys, () => retrieve(sys, h));
  run(sys, () => call(sys, "optee", smcRegs(FFA_RX_RELEASE_32)));
  sys.machine.writeBytes(sys.machine.masterIndex("cpu-s"), PAGE + 0x2000, new Uint8Array([7, 7, 7]));
  expect(
    w(
      run(sys, () => relinquish(sys, h, "optee", 0x8001, relinquishFlags)),
      0,
    ),
  ).toBe(FFA_SUCCESS_32);
  return { sys, h, i0: sys.machine.frames.indexOf(PAGE) };
}

describe("Hafnium clear flags and RME", () => {
  it("a reclaim with FFA_MEM_RECLAIM_CLEAR of a protected lend panics Hafnium and never returns", () => {
    const { sys, h, i0 } = lentAndWritten("fvp-rme");
    const spmc = sys.spmc as HafniumSpmc;
    const out = run(sys, () => reclaim(sys, h, 1));
    expect(out).toBeUndefined(); // the call never came back
    expect(sys.machine.hung).toBe(
      "Hafnium panic: EL2 exception: granule protection fault at 0x90000000 in clear_memory() " +
        "(an NS-PAS store to a granule still in the Secure PAS)",
    );
    expect(sys.sim.sched.stopReason).toBe(sys.machine.hung);
    // Stopped before MAP_ACTION_COMMIT_UNPROTECT: still Secure, still lent, the share state still there.
    expect(sys.machine.gpt!.gpi[i0]).toBe(GPT_GPI_SECURE);
    expect(sys.machine.frames.owner[i0 + 2]).toBe(OWNER_SECURE);
    expect(spmc.shares.get(h)).toBeDefined();
    expect([...sys.machine.bytes.read(PAGE + 0x2000, 3)]).toEqual([7, 7, 7]);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
  });

  it("the same reclaim without the flag unprotects and returns the page, secret included", () => {
    const { sys, h, i0 } = lentAndWritten("fvp-rme");
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(sys.machine.hung).toBeNull();
    expect(sys.machine.gpt!.gpi[i0]).toBe(GPT_GPI_NS);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(1);
  });

  it("a relinquish with the clear flag zeroes through the Secure alias, and the reclaim returns clean pages", () => {
    const { sys, h, i0 } = lentAndWritten("fvp-rme", {}, 1);
    expect(sys.machine.hung).toBeNull();
    expect([...sys.machine.bytes.read(PAGE + 0x2000, 3)]).toEqual([0, 0, 0]);
    expect(sys.machine.frames.taint[i0 + 2] & TAINT_SECRET).toBe(0);
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(sys.machine.frames.owner[i0 + 2]).toBe(OWNER_NORMAL);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
  });

  it("without RME the reclaim's clear zeroes the pages before the normal world has them", () => {
    const { sys, h, i0 } = lentAndWritten("qemu-virt", { spmc: "hafnium" });
    expect(
      w(
        run(sys, () => reclaim(sys, h, 1)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(sys.machine.hung).toBeNull();
    expect([...sys.machine.bytes.read(PAGE + 0x2000, 3)]).toEqual([0, 0, 0]);
    expect(sys.machine.frames.owner[i0 + 2]).toBe(OWNER_NORMAL);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
  });
});
