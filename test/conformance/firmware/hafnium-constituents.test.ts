/**
 * Hafnium's checks of a send's constituents as its 64-bit C makes them — src/ffa_memory.c v2.15.0
 * ffa_send_check_update(): ffa_memory_check_overlap() (a range of no pages, or one past 2^64, ends a
 * constituent's scan without an overlap), the page counts' sum in a uint32_t (it wraps), then
 * constituents_get_mode(): page alignment of begin and end (INVALID_PARAMETERS), and mm_vm_get_mode(),
 * which finds no mode for an empty range or one beyond the VM's address space (DENIED).
 * Addresses above 2^53 are held exactly (a double cannot): a page-aligned one is denied as unmapped,
 * not refused as unaligned.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_RW,
  FFA_SUCCESS_32,
} from "../../../src/abi/ffa/index.ts";
import type { System } from "../../../src/scenario/system.ts";
import { boot, lend, run, w } from "./testing.ts";

const PAGE = 0x9000_0000n;

/** A lend to OP-TEE (0x8001) of these constituents, `total` pages in the composite (default: their sum). */
function lendOf(sys: System, constituents: { address: bigint; pages: number }[], total?: number) {
  const bytes = encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      tag: 1n,
      emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
      constituents: constituents.map((c) => ({ address: c.address, page_count: c.pages })),
    },
    "1.2",
    total !== undefined ? { total_page_count: total } : {},
  );
  return run(sys, () => lend(sys, bytes));
}

function answer(sys: System, out: ReturnType<typeof lendOf>): { code: string; rule: string | null } {
  if (w(out, 0) === FFA_SUCCESS_32) return { code: "SUCCESS", rule: null };
  expect(w(out, 0)).toBe(FFA_ERROR_32);
  const code = w(out, 2) | 0;
  return {
    code:
      code === FFA_DENIED ? "DENIED" : code === FFA_INVALID_PARAMETERS ? "INVALID_PARAMETERS" : String(code),
    rule: sys.spmc.lastRejectionOf.get(0)?.rule ?? null,
  };
}

describe("Hafnium: a constituent's address in 64 bits", () => {
  for (const address of [0x20_0000_0000_0000n, 0x85_0000_8055_8000n, 0xffff_ffff_ffff_f000n]) {
    it(`a page-aligned ${address.toString(16)} is denied as not mapped, not refused as unaligned`, () => {
      const sys = boot("fvp-rme");
      const r = answer(sys, lendOf(sys, [{ address, pages: 1 }]));
      expect(r).toEqual({ code: "DENIED", rule: "sender-mode" });
      expect(sys.spmc.lastRejectionOf.get(0)?.why).toContain(`0x${address.toString(16)}`);
    });
  }

  it("an unaligned one above 2^53 is refused as unaligned, naming its address", () => {
    const sys = boot("fvp-rme");
    const r = answer(sys, lendOf(sys, [{ address: 0x20_0000_0000_0800n, pages: 1 }]));
    expect(r).toEqual({ code: "INVALID_PARAMETERS", rule: "constituent-aligned" });
    expect(sys.spmc.lastRejectionOf.get(0)?.why).toContain("0x20000000000800");
  });

  it("two ranges above 2^53 that share a page overlap; two that do not, do not", () => {
    const sys = boot("fvp-rme");
    const base = 0x40_0000_0000_0000n;
    const overlap = answer(
      sys,
      lendOf(sys, [
        { address: base, pages: 2 },
        { address: base + 0x1000n, pages: 1 },
      ]),
    );
    expect(overlap).toEqual({ code: "INVALID_PARAMETERS", rule: "constituents-overlap" });
    const apart = answer(
      sys,
      lendOf(sys, [
        { address: base, pages: 1 },
        { address: base + 0x1000n, pages: 1 },
      ]),
    );
    expect(apart).toEqual({ code: "DENIED", rule: "sender-mode" });
  });

  it("a range that would wrap past 2^64 is skipped by the overlap check and denied as not mapped", () => {
    const sys = boot("fvp-rme");
    const r = answer(sys, lendOf(sys, [{ address: 0xffff_ffff_ffff_f000n, pages: 2 }]));
    expect(r).toEqual({ code: "DENIED", rule: "sender-mode" });
  });
});

describe("Hafnium: page counts", () => {
  it("a constituent of no pages passes the overlap and sum checks and is denied: an empty range has no mode", () => {
    const sys = boot("fvp-rme");
    const r = answer(
      sys,
      lendOf(sys, [
        { address: PAGE, pages: 1 },
        { address: PAGE + 0x10000n, pages: 0 },
      ]),
    );
    expect(r).toEqual({ code: "DENIED", rule: "sender-mode" });
    // The same memory without the empty constituent is lent.
    expect(answer(sys, lendOf(sys, [{ address: PAGE, pages: 1 }])).code).toBe("SUCCESS");
  });

  it("the page counts' sum wraps at 2^32, as Hafnium's uint32_t does", () => {
    const sys = boot("fvp-rme");
    // 0x8000_0000 + 0x8000_0001 pages sum to 1 in 32 bits: the composite's 1 matches, and the send goes on
    // to the mode lookup (denied: such ranges are not mapped).
    const r = answer(
      sys,
      lendOf(
        sys,
        [
          { address: 0x1_0000_0000_0000n, pages: 0x8000_0000 },
          { address: 0x2_0000_0000_0000n, pages: 0x8000_0001 },
        ],
        1,
      ),
    );
    expect(r).toEqual({ code: "DENIED", rule: "sender-mode" });
  });
});
