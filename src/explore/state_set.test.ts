import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StateSet } from "./state_set.ts";

describe("StateSet", () => {
  it("agrees with a Set on any sequence of 53-bit hashes, through its doublings", () => {
    const hash = fc.oneof(
      fc.integer({ min: 0, max: 2 ** 53 - 1 }),
      fc.integer({ min: 0, max: 50 }),
      // Values differing only in the high lane, or only in the low one.
      fc.integer({ min: 0, max: 2 ** 21 - 1 }).map((h) => h * 0x100000000),
    );
    fc.assert(
      fc.property(fc.array(hash, { maxLength: 6000 }), (hs) => {
        const ours = new StateSet();
        const ref = new Set<number>();
        for (const h of hs) {
          expect(ours.has(h)).toBe(ref.has(h));
          expect(ours.add(h)).toBe(!ref.has(h));
          ref.add(h);
        }
        expect(ours.size).toBe(ref.size);
        for (const h of ref) expect(ours.has(h)).toBe(true);
      }),
      { numRuns: 40 },
    );
  });

  it("keeps 200,000 hashes exactly (many doublings), and finds no one it was not given", () => {
    const ours = new StateSet();
    let x = 12345;
    const next = (): number => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return (x & 0x1fffff) * 0x100000000 + (Math.imul(x, 2654435761) >>> 0);
    };
    const all: number[] = [];
    for (let i = 0; i < 200_000; i++) all.push(next());
    for (const h of all) ours.add(h);
    expect(ours.size).toBe(new Set(all).size);
    expect(all.every((h) => ours.has(h))).toBe(true);
    expect(ours.has(2 ** 53 - 1)).toBe(all.includes(2 ** 53 - 1));
  });
});
