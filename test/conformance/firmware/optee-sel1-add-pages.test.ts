/**
 * OP-TEE 4.9.0's mobj_ffa_add_pages_at() (core/arch/arm/mm/mobj_ffa.c) on the S-EL1 SPMC flavor, rule
 * by rule, on objects made with mobj_ffa_sel1_spmc_new(): the prm contiguity check that compares the
 * wrong address, idx advanced by idx + num_pages, the u32 products, the empty buffer that "complies
 * with anything"; shm untouched by the bug. Then the same through FFA_MEM_LEND: what OP-TEE's object
 * covers when a two-range lend passes.
 */
import { describe, expect, it } from "vitest";
import { FFA_ERROR_32, FFA_INVALID_PARAMETERS, FFA_SUCCESS_32 } from "../../../src/abi/ffa/index.ts";
import { mobjFfaPages, type MobjFfa } from "../../../src/firmware/optee_sel1/mobj_ffa.ts";
import { OpteeSel1Spmc } from "../../../src/firmware/optee_sel1/optee_sel1.ts";
import { MOBJ_USE_CASE_NS_SHM, MOBJ_USE_CASE_SEC_VIDEO_PLAY } from "../../../src/abi/optee/protmem.ts";
import { TEE_ERROR_BAD_PARAMETERS, TEE_SUCCESS } from "../../../src/abi/optee/tee_result.ts";
import { boot, handleOf, lend, lendDescriptor, run, w } from "./testing.ts";

const P = 0x9000_0000;
const PAGE = 4096;

function table(): OpteeSel1Spmc {
  const sys = boot("tzc400-board");
  expect(sys.spmc).toBeInstanceOf(OpteeSel1Spmc);
  return sys.spmc as OpteeSel1Spmc;
}

function made(op: OpteeSel1Spmc, pageCount: number, useCase = MOBJ_USE_CASE_SEC_VIDEO_PLAY): MobjFfa {
  const r = op.mobjs.create(0n, pageCount, useCase, true);
  if ("why" in r) throw new Error(r.why);
  return r.mobj;
}

/** A non-secure check that records what it was asked. */
function recorder(): { calls: [number, number][]; check: (pa: number, size: number) => boolean } {
  const calls: [number, number][] = [];
  return {
    calls,
    check: (pa, size) => {
      calls.push([pa, size]);
      return true;
    },
  };
}

describe("mobj_ffa_add_pages_at() of OP-TEE 4.9 (S-EL1 SPMC)", () => {
  it("prm: a second range that continues the first exactly is BAD_PARAMETERS", () => {
    const op = table();
    const m = made(op, 4);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, P, 2, ns.check)).toBe(TEE_SUCCESS);
    expect(m.pagesAdded).toBe(2);
    expect(op.mobjs.addPagesAt(m, P + 2 * PAGE, 2, ns.check)).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("prm: a second range idx pages below the first passes, and idx becomes 2 × idx + num_pages", () => {
    const op = table();
    const m = made(op, 5);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, P, 2, ns.check)).toBe(TEE_SUCCESS);
    expect(op.mobjs.addPagesAt(m, P - 2 * PAGE, 1, ns.check)).toBe(TEE_SUCCESS);
    expect(m.pagesAdded).toBe(5);
    expect(m.pa).toBe(P);
    // OP-TEE's object: 5 pages from the first range, whatever was sent.
    expect(mobjFfaPages(m)).toEqual([{ address: P, pages: 5 }]);
    expect(m.ranges).toEqual([
      { address: P, pages: 2 },
      { address: P - 2 * PAGE, pages: 1 },
    ]);
  });

  it("the bound is checked on idx + num_pages before the address: too many pages is BAD_PARAMETERS", () => {
    const op = table();
    const m = made(op, 3);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, P, 4, ns.check)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(ns.calls).toEqual([]);
  });

  it("an empty range is not checked against memory (core_pbuf_is() of length 0) and leaves idx", () => {
    const op = table();
    const m = made(op, 1);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, 0x10, 0, ns.check)).toBe(TEE_SUCCESS);
    expect(ns.calls).toEqual([]);
    // idx is still 0: the next range sets mfr->pa again.
    expect(op.mobjs.addPagesAt(m, P, 1, ns.check)).toBe(TEE_SUCCESS);
    expect(m.pa).toBe(P);
    expect(m.pagesAdded).toBe(1);
  });

  it("num_pages × SMALL_PAGE_SIZE is a u32: a range of 2^20 + 1 pages (4 GiB + 4 KiB) is checked as one page", () => {
    const op = table();
    const m = made(op, 2 ** 20 + 1);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, P, 2 ** 20 + 1, ns.check)).toBe(TEE_SUCCESS);
    expect(ns.calls).toEqual([[P, PAGE]]);
  });

  it("idx × SMALL_PAGE_SIZE is a u32: after 2^20 pages a second range at the first one's address passes", () => {
    const op = table();
    const m = made(op, 3 * 2 ** 20 + 1);
    const ns = recorder();
    expect(op.mobjs.addPagesAt(m, P, 2 ** 20, ns.check)).toBe(TEE_SUCCESS);
    expect(op.mobjs.addPagesAt(m, P, 1, ns.check)).toBe(TEE_SUCCESS);
    expect(m.pagesAdded).toBe(2 * 2 ** 20 + 1);
  });

  it("shm keeps every range and advances idx by num_pages", () => {
    const op = table();
    const m = made(op, 4, MOBJ_USE_CASE_NS_SHM);
    const ns = recorder();
    for (const pa of [P, P + 0x10000, P + 0x4000, P + 0x20000])
      expect(op.mobjs.addPagesAt(m, pa, 1, ns.check)).toBe(TEE_SUCCESS);
    expect(m.pagesAdded).toBe(4);
    expect(mobjFfaPages(m)).toEqual(m.ranges);
  });
});

describe("FFA_MEM_LEND of protected memory in several ranges (OP-TEE 4.9 as SPMC)", () => {
  it("two contiguous ranges are INVALID_PARAMETERS; the cookie is freed and nothing is protected", () => {
    const sys = boot("tzc400-board");
    const op = sys.spmc as OpteeSel1Spmc;
    const before = op.mobjs.cookiesInUse;
    const enabled = () => sys.machine.tzc!.regions.filter((r) => r.enabled).length;
    const regions = enabled();
    const out = run(sys, () =>
      lend(
        sys,
        lendDescriptor([
          { address: P, pages: 1 },
          { address: P + PAGE, pages: 1 },
        ]),
      ),
    );
    expect(w(out, 0)).toBe(FFA_ERROR_32);
    expect(w(out, 2) | 0).toBe(FFA_INVALID_PARAMETERS);
    expect(sys.spmc.lastRejectionOf.get(0)?.rule).toBe("add-pages");
    expect(op.mobjs.cookiesInUse).toBe(before);
    expect(enabled()).toBe(regions);
  });

  it("a range below the first with a matching total is accepted: OP-TEE's object is the first range onwards", () => {
    const sys = boot("tzc400-board");
    const op = sys.spmc as OpteeSel1Spmc;
    const bytes = lendDescriptor([
      { address: P + PAGE, pages: 1 },
      { address: P, pages: 1 },
    ]);
    // composite total_page_count (offset 80 of a one-EMAD v1.2 descriptor) = 3, as 4.9's idx ends.
    new DataView(bytes.buffer).setUint32(80, 3, true);
    const out = run(sys, () => lend(sys, bytes));
    expect(w(out, 0)).toBe(FFA_SUCCESS_32);
    const m = op.mobjs.get(handleOf(out))!;
    expect(mobjFfaPages(m)).toEqual([{ address: P + PAGE, pages: 3 }]);
    const cpuNs = sys.machine.masterIndex("cpu-ns");
    expect(sys.machine.access(cpuNs, P + 3 * PAGE, 8, "read")).not.toBe(0);
    expect(sys.machine.access(cpuNs, P, 8, "read")).toBe(0);
    expect(sys.sim.findings.count("protected-when-lent")).toBe(1);
  });
});
