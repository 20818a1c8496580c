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

  it("answers the same when hashes are queued by note(), whatever reads come between and however many", () => {
    const op = fc.oneof(
      fc.record({ note: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ add: fc.integer({ min: 0, max: 3000 }) }),
      fc.record({ has: fc.integer({ min: 0, max: 3000 }) }),
      fc.constant("size" as const),
      fc.constant("values" as const),
      fc.record({ addAll: fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 50 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 4000 }), (ops) => {
        const ours = new StateSet();
        const ref = new Set<number>();
        for (const o of ops) {
          if (o === "size") expect(ours.size).toBe(ref.size);
          else if (o === "values")
            expect([...ours.values()].sort((a, b) => a - b)).toEqual([...ref].sort((a, b) => a - b));
          else if ("note" in o) {
            ours.note(o.note);
            ref.add(o.note);
          } else if ("add" in o) {
            expect(ours.add(o.add)).toBe(!ref.has(o.add));
            ref.add(o.add);
          } else if ("has" in o) expect(ours.has(o.has)).toBe(ref.has(o.has));
          else {
            ours.addAll(Float64Array.from(o.addAll));
            for (const h of o.addAll) ref.add(h);
          }
        }
        expect(ours.size).toBe(ref.size);
      }),
      { numRuns: 60 },
    );
  });

  it("takes more than a queue's worth of note()s without a read in between", () => {
    const ours = new StateSet();
    for (let i = 0; i < 5000; i++) ours.note(i % 3001);
    expect(ours.size).toBe(3001);
    expect(ours.has(3000) && !ours.has(3001)).toBe(true);
  });
});
