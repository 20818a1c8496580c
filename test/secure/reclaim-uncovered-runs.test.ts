import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { uncovered, uncoveredByPage } from "../../src/firmware/optee_sel1/mobj_ffa.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";

const BASE = 0x8000_0000;
/** Addresses near BASE, page aligned or not (the fuzzer sends both), and small page counts. */
const addr = fc.oneof(
  fc.integer({ min: -8, max: 72 }).map((p) => BASE + p * PAGE_SIZE),
  fc.integer({ min: -8 * PAGE_SIZE, max: 72 * PAGE_SIZE }).map((o) => BASE + o),
);
const range = fc.record({ address: addr, pages: fc.integer({ min: 0, max: 40 }) });

describe("reclaim: the pages no other lent object still holds", () => {
  it("are the runs the page-by-page walk finds, for any held ranges (aligned or not, overlapping or not)", () => {
    fc.assert(
      fc.property(range, fc.array(range, { maxLength: 6 }), (r, held) => {
        expect(uncovered(r, held)).toEqual(uncoveredByPage(r, held));
      }),
      { numRuns: 2000 },
    );
  });

  it("splits a range around a held middle and keeps the ends", () => {
    const r = { address: BASE, pages: 10 };
    expect(uncovered(r, [{ address: BASE + 3 * PAGE_SIZE, pages: 4 }])).toEqual([
      { address: BASE, pages: 3 },
      { address: BASE + 7 * PAGE_SIZE, pages: 3 },
    ]);
  });
});
