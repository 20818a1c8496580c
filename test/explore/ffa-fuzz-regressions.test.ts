/**
 * Model bugs `rstmem ffa fuzz` found, each with the case that shows it (shrunk) and the real source
 * the fix follows.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import { regs, type FuzzCall } from "../../src/explore/fuzz/calls.ts";
import { buildBases } from "../../src/explore/fuzz/gen.ts";
import { FlavorRunner } from "../../src/explore/fuzz/runner.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../src/hw/frames.ts";

describe("ffa fuzz regressions", () => {
  it("OP-TEE at S-EL1: a second LEND of lent pages as shared memory succeeds, and reclaiming one keeps the other's pages lent", () => {
    // fuzz seed 7, case 11494 (shrunk): LEND with tag 0 (MOBJ_USE_CASE_NS_SHM) of pages another
    // NS_SHM object holds. OP-TEE 4.9 core/arch/arm/mm/mobj_ffa.c cmp_pa_overlap() never compares two
    // shm objects ("Not a security issue and might be too expensive to check"), so both lends succeed;
    // the model's RECLAIM of the first gave the pages back to the normal world while the second still
    // held them lent (ffa-consistency).
    const bases = buildBases();
    const runner = new FlavorRunner("optee-sel1", bases);
    const boot = bases.findIndex((b) => b.name === "boot@1.2");
    const d = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        tag: 0n,
        emads: [{ receiver_id: 0x8001, permissions: 2 }],
        constituents: [{ address: 0x8030_0000n, page_count: 2 }],
      },
      "1.2",
    );
    const lend: FuzzCall = {
      by: "normal",
      x: regs(FFA_MEM_LEND_32, d.length, d.length),
      tx: d,
      handle: null,
    };
    const reclaim = (from: number): FuzzCall => ({
      by: "normal",
      x: regs(FFA_MEM_RECLAIM_32),
      tx: null,
      handle: { from, xor: 0n, at: "w1" },
    });
    const out = runner.run(boot, [lend, lend, reclaim(0)], true);
    expect(out.violation).toBeNull();
    for (const c of out.calls) expect(Number(c.reply![0])).toBe(FFA_SUCCESS_32);
    const frames = runner.rig.machine.frames;
    expect(frames.owner[frames.indexOf(0x8030_0000)]).toBe(OWNER_SECURE);
    // Reclaiming the second object too gives them back.
    const all = runner.run(boot, [lend, lend, reclaim(0), reclaim(1)], true);
    expect(all.violation).toBeNull();
    expect(frames.owner[frames.indexOf(0x8030_0000)]).toBe(OWNER_NORMAL);
    expect(frames.owner[frames.indexOf(0x8030_1000)]).toBe(OWNER_NORMAL);
  });
});
