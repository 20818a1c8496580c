/**
 * Model bugs `rstmem ffa fuzz` found, each with the case that shows it (shrunk) and the real source
 * the fix follows.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_DENIED,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_SHARE_32,
  FFA_RXTX_UNMAP_32,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import { regs, type FuzzCall } from "../../src/explore/fuzz/calls.ts";
import { buildBases } from "../../src/explore/fuzz/gen.ts";
import { knownFinding } from "../../src/explore/fuzz/known.ts";
import { FlavorRunner } from "../../src/explore/fuzz/runner.ts";
import type { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../src/hw/frames.ts";
import { GPT_GPI_NS, GPT_GPI_SECURE } from "../../src/hw/gpt.ts";
import { MM_MODE_NWD_MEMORY, MM_MODE_SHARED } from "../../src/firmware/spmc/page_state.ts";

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

describe("ffa fuzz regressions (Hafnium)", () => {
  it("a hypervisor retrieve of a send still in progress that holds more constituents than its composite count answers instead of crashing", () => {
    // fuzz seed 12: FRAG_TX may bring more constituents than the composite's count (Hafnium v2.15
    // ffa_memory_send_continue() appends whole fragments, share_state_sending_complete() completes only
    // on ==), and ffa_hypervisor_retrieve_request() does not require a complete send. The model sized the
    // response by the count and threw (RangeError in buildRetrieveResponse()).
    const bases = buildBases();
    const runner = new FlavorRunner("hafnium", bases);
    const boot = bases.findIndex((b) => b.name === "boot@1.2");
    const d = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: 2 }],
        constituents: [0, 2, 4].map((p) => ({ address: BigInt(0x8030_0000 + p * 4096), page_count: 1 })),
      },
      "1.2",
    );
    const first = d.length - 2 * 16;
    const overshoot = new Uint8Array(3 * 16);
    const v = new DataView(overshoot.buffer);
    for (let i = 0; i < 3; i++) {
      v.setBigUint64(i * 16, BigInt(0x8031_0000 + i * 0x2000), true);
      v.setUint32(i * 16 + 8, 1, true);
    }
    const hypervisorRequest = new Uint8Array(48);
    const calls: FuzzCall[] = [
      { by: "normal", x: regs(FFA_MEM_LEND_32, d.length, first), tx: d.subarray(0, first), handle: null },
      { by: "normal", x: regs(0x8400_007b, 0, 0, 48), tx: overshoot, handle: { from: 0, xor: 0n, at: "w1" } },
      {
        by: "normal",
        x: regs(0x8400_0074, 48, 48),
        tx: hypervisorRequest,
        handle: { from: 0, xor: 0n, at: "tx8" },
      },
    ];
    const out = runner.run(boot, calls, true);
    expect(out.violation).toBeNull();
    expect(Number(out.calls[1].reply![0])).toBe(0x8400_007a); // still FRAG_RX: 4 of 3 constituents
    expect(Number(out.calls[2].reply![0])).toBe(0x8400_0075); // FFA_MEM_RETRIEVE_RESP
  });
});

describe("ffa fuzz known findings", () => {
  it("the normal world completing a partition's fragmented send is reported as Hafnium's own behaviour, not a model bug", () => {
    // fuzz seed 13 (shrunk): Hafnium v2.15 ffa_memory_send_continue_validate() compares the caller with
    // the sender only for a current-world caller, so the normal world's FRAG_TX completes sp2's share.
    const bases = buildBases();
    const runner = new FlavorRunner("hafnium", bases);
    const boot = bases.findIndex((b) => b.name === "boot@1.2");
    const d = encodeMemRegion(
      {
        sender_id: 0x8002,
        attributes: 0x2f,
        flags: 0,
        tag: 0n,
        emads: [{ receiver_id: 0x8001, permissions: 2 }],
        constituents: [0, 2].map((p) => ({ address: BigInt(0x8030_0000 + p * 4096), page_count: 1 })),
      },
      "1.2",
    );
    const first = d.length - 16;
    const calls: FuzzCall[] = [
      { by: "sp2", x: regs(0x8400_0073, d.length, first), tx: d.subarray(0, first), handle: null },
      {
        by: "normal",
        x: regs(0x8400_007b, 0, 0, 16),
        tx: d.slice(first),
        handle: { from: 0, xor: 0n, at: "w1" },
      },
    ];
    const out = runner.run(boot, calls, true);
    expect(out.violation).toBeNull();
    expect(out.known?.id).toBe("hafnium-nwd-continues-sp-send");
    expect(Number(out.calls[1].reply![0])).toBe(FFA_SUCCESS_32);
  });

  describe("Hafnium compares the sender's modes only from the second fragment on (constituents_get_mode())", () => {
    // Hafnium v2.15 src/ffa_memory.c constituents_get_mode(): `if (i == 0) *orig_mode = current_mode;`
    // with i the fragment: in the first fragment the last constituent's mode is the one checked.
    const bases = buildBases();
    const runner = new FlavorRunner("hafnium", bases);
    const boot = bases.findIndex((b) => b.name === "boot@1.2");
    const lent = 0x8030_0000;
    const owned = 0x8031_0000;
    const lendOf = (pages: number[], attributes = 0): Uint8Array =>
      encodeMemRegion(
        {
          sender_id: 0,
          attributes, // 0: a lend leaves the memory type to the borrower; a share gives it
          flags: 0,
          tag: 0n,
          emads: [{ receiver_id: 0x8001, permissions: 2 }],
          constituents: pages.map((p) => ({ address: BigInt(p), page_count: 1 })),
        },
        "1.2",
      );
    const lendAll = (d: Uint8Array, fid = FFA_MEM_LEND_32): FuzzCall => ({
      by: "normal",
      x: regs(fid, d.length, d.length),
      tx: d,
      handle: null,
    });
    const first = lendAll(lendOf([lent]));
    const share = (pages: number[]) => lendAll(lendOf(pages, 0x2f), FFA_MEM_SHARE_32);
    /** A lend sent in two fragments, the last constituent in the second (FRAG_TX of the handle call 1 got). */
    const lendInTwo = (d: Uint8Array): FuzzCall[] => {
      const cut = d.length - 16;
      return [
        { by: "normal", x: regs(FFA_MEM_LEND_32, d.length, cut), tx: d.subarray(0, cut), handle: null },
        {
          by: "normal",
          x: regs(0x8400_007b, 0, 0, 16),
          tx: d.slice(cut),
          handle: { from: 1, xor: 0n, at: "w1" },
        },
      ];
    };
    /** OP-TEE's own memory in the fuzz rig (FUZZ_SECURE_BASE). */
    const sp = 0x8060_0000;

    it("a lent page before an owned one in the first fragment passes: the page is in two transactions (known finding)", () => {
      // A share: a second lend would ask the monitor to move the lent (Secure) granule again, which it
      // refuses (protect-denied).
      const out = runner.run(boot, [first, share([lent, owned])], true);
      expect(out.violation).toBeNull();
      expect(out.known?.id).toBe("hafnium-first-fragment-modes");
      expect(Number(out.calls[1].reply![0])).toBe(FFA_SUCCESS_32);
    });

    it("the owned page first: the lent page's mode is the one checked, DENIED", () => {
      const out = runner.run(boot, [first, lendAll(lendOf([owned, lent]))], true);
      expect(out.violation).toBeNull();
      expect(out.known).toBeNull();
      expect(Number(BigInt.asIntN(32, out.calls[1].reply![2]))).toBe(FFA_DENIED);
      expect(out.calls[1].rule).toBe("sender-not-exclusive-owner");
      // The message names the constituent whose mode was checked: the last of the fragment.
      expect(runner.rigOf(boot).spmc.lastRejection?.why).toMatch(/^page 0x80300000 is not owned exclusively/);
    });

    it("a second lend of the lent page, with another fragment after: the monitor's DENIED is lost, the lend succeeds with the first fragment's owned page left Non-secure", () => {
      // ffa_region_group_identity_map(): a DENIED breaks the loop over its fragment's constituents only,
      // and the next fragment's outcome replaces it (Hafnium v2.15 src/ffa_memory.c).
      const owned2 = 0x8033_0000;
      const out = runner.run(boot, [first, ...lendInTwo(lendOf([lent, owned, owned2]))], true);
      expect(Number(out.calls[2].reply![0])).toBe(FFA_SUCCESS_32);
      expect(out.known?.id).toBe("hafnium-first-fragment-modes");
      const gpt = runner.rigOf(boot).machine.gpt!;
      expect(gpt.gpiAt(owned)).toBe(GPT_GPI_NS);
      expect(gpt.gpiAt(owned2)).toBe(GPT_GPI_SECURE);
    });

    it("a partition's page before an owned one passes too: it reads as absent to the normal world, and lands in its page tables (known finding)", () => {
      const hf = runner.rigOf(boot).spmc as HafniumSpmc;
      const out = runner.run(boot, [share([sp, owned])], true);
      expect(Number(out.calls[0].reply![0])).toBe(FFA_SUCCESS_32);
      expect(out.known?.id).toBe("hafnium-first-fragment-modes");
      const i = hf.pages.first(sp, 1);
      expect(hf.pages.owner[i]).toBe(0x8001); // still OP-TEE's
      expect(hf.pages.nwdView[i] & MM_MODE_SHARED).toBe(MM_MODE_SHARED); // and the normal world's, shared
      // Alone it is checked, and refused as Hafnium refuses an absent range: device memory (D) first.
      const alone = runner.run(boot, [share([sp])], true);
      expect(alone.known).toBeNull();
      expect(alone.calls[0].rule).toBe("device-as-normal");
      const lent = runner.run(boot, [lendAll(lendOf([sp]))], true);
      expect(lent.calls[0].rule).toBe("sender-not-exclusive-owner");
    });

    it("the normal world reclaiming a partition's transaction is refused where it does not own the pages (its view of them is not modelled)", () => {
      // fuzz seed 11, case 15336 (helper-43): with the normal world's view read for any reclaim, this one
      // passed and wrote OP-TEE's mode into that view; a share of the page alone then passed, unfiled.
      const d = encodeMemRegion(
        {
          sender_id: 0x8001,
          attributes: 0,
          flags: 0,
          tag: 0n,
          emads: [{ receiver_id: 0x8002, permissions: 2 }],
          constituents: [{ address: BigInt(sp), page_count: 1 }],
        },
        "1.2",
      );
      const out = runner.run(
        boot,
        [
          { by: "optee", x: regs(FFA_MEM_LEND_32, d.length, d.length), tx: d, handle: null },
          { by: "normal", x: regs(FFA_MEM_RECLAIM_32), tx: null, handle: { from: 0, xor: 0n, at: "w1" } },
        ],
        true,
      );
      expect(out.violation).toBeNull();
      expect(Number(out.calls[0].reply![0])).toBe(FFA_SUCCESS_32);
      expect(out.calls[1].rule).toBe("reclaimer-mode");
    });

    it("the normal world's mailbox pages are out of its page tables while mapped: a send naming them is refused, known finding or not", () => {
      // arch_other_world_vm_configure_rxtx_map() unmaps them (helper-43's review: the model did not, and a
      // share of [partition page, TX page] was filed as the known finding where Hafnium refuses it).
      const tx = 0x8020_0000; // FUZZ_NWD_TX
      const alone = runner.run(boot, [share([owned, tx])], true);
      expect(alone.known).toBeNull();
      expect(alone.calls[0].rule).toBe("device-as-normal"); // the last constituent reads as absent
      const behind = runner.run(boot, [share([sp, tx])], true);
      expect(behind.known).toBeNull();
      expect(Number(BigInt.asIntN(32, behind.calls[0].reply![2]))).toBe(FFA_DENIED);
    });

    it("a mailbox page before an owned one passes, and FFA_RXTX_UNMAP maps it back into the normal world's tables while shared (known finding)", () => {
      // fuzz seeds 7 and 18 (helper-45): the share passes with the RX page unchecked; the violation shows
      // at the unmap, which arch_other_world_vm_configure_rxtx_unmap() makes R|W|X|NS again.
      const rx = 0x8020_1000; // FUZZ_NWD_TX's RX page
      const unmap: FuzzCall = { by: "normal", x: regs(FFA_RXTX_UNMAP_32), tx: null, handle: null };
      const out = runner.run(boot, [share([rx, owned]), unmap], true);
      expect(Number(out.calls[0].reply![0])).toBe(FFA_SUCCESS_32);
      expect(Number(out.calls[1].reply![0])).toBe(FFA_SUCCESS_32);
      expect(out.violation).toBeNull();
      expect(out.known?.id).toBe("hafnium-first-fragment-modes");
      // The unmap alone after an ordinary share, and the same share unmapped by nothing, are clean.
      expect(runner.run(boot, [share([owned]), unmap], true).known).toBeNull();
      const kept = runner.run(boot, [share([rx, owned])], true);
      expect(kept.violation).toBeNull();
      expect(kept.known).toBeNull();
      // Only the pages the unmap mapped back count (helper-46): a page of the normal world's own made
      // R|W|X|NS in a transaction by a model bug is not this finding.
      const other = 0x8034_0000;
      const out2 = runner.run(boot, [share([other, owned])], true);
      const rig = runner.rigOf(boot);
      const hf = rig.spmc as HafniumSpmc;
      hf.pages.setSenderMode(0, hf.pages.first(other, 1), hf.pages.first(other, 1) + 1, MM_MODE_NWD_MEMORY);
      const x = BigUint64Array.from([BigInt(FFA_RXTX_UNMAP_32), 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
      const ok = BigUint64Array.from([BigInt(FFA_SUCCESS_32), 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
      expect(Number(out2.calls[0].reply![0])).toBe(FFA_SUCCESS_32);
      expect(knownFinding(rig, "normal", x, ok, { tx: 0x8020_0000, rx: rx, pages: 1 })).toBeNull();
      expect(knownFinding(rig, "normal", x, ok, { tx: other, rx: rx, pages: 1 })?.id).toBe(
        "hafnium-first-fragment-modes",
      );
    });

    it("only an overlap through a constituent Hafnium leaves unchecked is the known finding", () => {
      // A share of another page, its constituents then rewritten in the table as a model bug could leave
      // them: overlapping the lend through the first fragment's last (or only) constituent, whose mode
      // Hafnium does check, is no quirk of Hafnium's.
      const other = 0x8032_0000;
      const out = runner.run(boot, [first, share([other, owned])], true);
      expect(out.known).toBeNull();
      const rig = runner.rigOf(boot);
      const hf = rig.spmc as HafniumSpmc;
      const x = BigUint64Array.from(out.calls[1].x);
      const reply = BigUint64Array.from(out.calls[1].reply!);
      const state = hf.shares.get(reply[2] | (reply[3] << 32n))!;
      const known = (pages: number[]) => {
        state.fragments[0] = pages.map((address) => ({ address, pageCount: 1 }));
        state.all = null;
        return knownFinding(rig, "normal", x, reply)?.id ?? null;
      };
      expect(known([lent, owned])).toBe("hafnium-first-fragment-modes");
      expect(known([owned, lent])).toBeNull();
      expect(known([lent])).toBeNull();
      expect(known([other, owned])).toBeNull();
    });

    it("the lent page in a later fragment is compared, DENIED", () => {
      const out = runner.run(boot, [first, ...lendInTwo(lendOf([owned, lent]))], true);
      expect(out.violation).toBeNull();
      expect(out.known).toBeNull();
      expect(Number(BigInt.asIntN(32, out.calls[2].reply![2]))).toBe(FFA_DENIED);
      expect(out.calls[2].rule).toBe("sender-mode-uniform");
    });
  });
});
