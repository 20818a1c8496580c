import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { uncovered } from "../../src/firmware/optee_sel1/mobj_ffa.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";

type Range = { address: number; pages: number };

/** The definition: walk r page by page, a page free when no held range contains its first byte. */
function byPage(r: Range, held: readonly Range[]): Range[] {
  const out: Range[] = [];
  let start = -1;
  for (let i = 0; i <= r.pages; i++) {
    const pa = r.address + i * PAGE_SIZE;
    const free = i < r.pages && !held.some((h) => pa >= h.address && pa < h.address + h.pages * PAGE_SIZE);
    if (free && start < 0) start = pa;
    if (!free && start >= 0) {
      out.push({ address: start, pages: (pa - start) / PAGE_SIZE });
      start = -1;
    }
  }
  return out;
}

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
        expect(uncovered(r, held)).toEqual(byPage(r, held));
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
