/**
 * OP-TEE 4.9.0 as its own SPMC (CFG_CORE_SEL1_SPMC): mobj_ffa_assign_protmem() (core/arch/arm/mm/
 * mobj_ffa.c) for a cookie on neither list answers TEE_SUCCESS — `res` starts as TEE_SUCCESS and only
 * the S-EL2 build retrieves — so Linux's do_call_lend_protmem() takes the buffer as assigned although
 * nothing is. And a protected object that 4.9's mobj_ffa_add_pages_at() let through with two ranges is,
 * for OP-TEE and its TAs, the pages from the first range onwards.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_RW,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import { TEE_ERROR_BUSY, TEE_ERROR_ITEM_NOT_FOUND, TEE_SUCCESS } from "../../src/abi/optee/index.ts";
import { FFA_MEMORY_HANDLE_NON_SECURE_BIT } from "../../src/firmware/optee_sel1/mobj_ffa.ts";
import { smcRegs } from "../../src/hw/smc.ts";
import { assign, boot, lend, LEND_PA, nwd, reclaim, release, run, shareArgPage, w } from "./helpers.ts";

/** A v1.2 LEND of `ranges` to OP-TEE with tag = use case. */
function lendBytes(ranges: readonly { pa: number; pages: number }[], useCase: number): Uint8Array {
  return encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      tag: BigInt(useCase),
      emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
      constituents: ranges.map((r) => ({ address: BigInt(r.pa), page_count: r.pages })),
    },
    "1.2",
  );
}

function cookieOf(w1: number, w2: number): bigint {
  return BigInt(w1) | (BigInt(w2) << 32n);
}

describe("ASSIGN_PROTMEM of a cookie OP-TEE (as SPMC) does not hold", () => {
  it("is TEE_SUCCESS, and nothing is assigned: no TA can use it, RELEASE_PROTMEM finds nothing", () => {
    const { sys, os } = boot("tzc400-board");
    const cookie = 0x1234n;
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* assign(sys, h, cookie, 1);
    });
    expect(rc).toBe(TEE_SUCCESS);
    // entry_std.c counts it as an assign that worked; Linux sees ret 0, as for a real one.
    expect(os.counters.assigns).toBe(1);
    expect(os.counters.assignFailures).toBe(0);
    expect(os.getProtmem(cookie)).toBeNull();
    // handle_unregister_shm(): ITEM_NOT_FOUND is answered as 0.
    expect(
      w(
        run(sys, () => release(sys, cookie)),
        3,
      ),
    ).toBe(0);
  });

  it("a reclaimed cookie is TEE_SUCCESS again", () => {
    const { sys } = boot("tzc400-board");
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      expect(w(yield* reclaim(sys, cookie), 0)).toBe(FFA_SUCCESS_32);
      return yield* assign(sys, h, cookie, 1);
    });
    expect(rc).toBe(TEE_SUCCESS);
  });

  it("an assign before the lend carries nothing over: the lend's own first assign succeeds, the second is BUSY", () => {
    const { sys } = boot("tzc400-board");
    const rcs = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      // mobj_ffa_sel1_spmc_new(): the next free bit of the bitmap (0 is the arg page's).
      const next = FFA_MEMORY_HANDLE_NON_SECURE_BIT | 1n;
      const early = yield* assign(sys, h, next, 1);
      const cookie = yield* lend(sys, 1);
      expect(cookie).toBe(next);
      return [early, yield* assign(sys, h, cookie, 1), yield* assign(sys, h, cookie, 1)];
    });
    expect(rcs).toEqual([TEE_SUCCESS, TEE_SUCCESS, TEE_ERROR_BUSY]);
  });

  it("a lend still waiting for FFA_MEM_FRAG_TX is on no list: TEE_SUCCESS, and the completed object is unassigned", () => {
    const { sys, os } = boot("tzc400-board");
    const bytes = lendBytes([{ pa: LEND_PA, pages: 16 }], 1);
    const rcs = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      // First fragment: header, EMAD and composite header (96 bytes); the range follows in FRAG_TX.
      const first = yield* nwd(sys, smcRegs(FFA_MEM_LEND_32, bytes.length, 96), bytes.subarray(0, 96));
      expect(w(first, 0)).toBe(FFA_MEM_FRAG_RX_32);
      const cookie = cookieOf(w(first, 1), w(first, 2));
      const pending = yield* assign(sys, h, cookie, 1);
      const done = yield* nwd(
        sys,
        smcRegs(FFA_MEM_FRAG_TX_32, cookie & 0xffff_ffffn, cookie >> 32n, bytes.length - 96),
        bytes.subarray(96),
      );
      expect(w(done, 0)).toBe(FFA_SUCCESS_32);
      expect(os.getProtmem(cookie)).toBeNull();
      return [pending, yield* assign(sys, h, cookie, 1), yield* assign(sys, h, cookie, 1)];
    });
    expect(rcs).toEqual([TEE_SUCCESS, TEE_SUCCESS, TEE_ERROR_BUSY]);
  });

  it("under Hafnium the same call retrieves, and the refused retrieve is ITEM_NOT_FOUND", () => {
    const { sys } = boot("fvp-rme", { opteeRetrieve: "fixed" });
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* assign(sys, h, 0x1234n, 1);
    });
    expect(rc).toBe(TEE_ERROR_ITEM_NOT_FOUND);
  });
});

describe("a two-range protected lend that OP-TEE 4.9 accepted, as its TAs see it", () => {
  it("the assigned buffer is [first range, + total_page_count pages), not the pages lent", () => {
    const { sys, os } = boot("tzc400-board");
    const P = LEND_PA + 0x1000;
    // The second range one page BELOW the first, total 3: mobj_ffa_add_pages_at() ends with idx 3.
    const bytes = lendBytes(
      [
        { pa: P, pages: 1 },
        { pa: P - 0x1000, pages: 1 },
      ],
      1,
    );
    new DataView(bytes.buffer).setUint32(80, 3, true); // composite total_page_count
    const cookie = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const out = yield* nwd(sys, smcRegs(FFA_MEM_LEND_32, bytes.length, bytes.length), bytes);
      expect(w(out, 0)).toBe(FFA_SUCCESS_32);
      const c = cookieOf(w(out, 2), w(out, 3));
      expect(yield* assign(sys, h, c, 1)).toBe(TEE_SUCCESS);
      return c;
    });
    const m = os.getProtmem(cookie)!;
    expect(m.ranges).toEqual([{ address: P, pages: 3 }]);
    expect(m.sizeBytes).toBe(3 * 4096);
    m.put();
  });
});
