import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OWNER_NORMAL, OWNER_SECURE, PageFrames } from "../../src/hw/frames.ts";

const FRAMES = 64;

/** The runs the owner and use-case arrays imply: maximal stretches of one non-normal owner and use case. */
function runsOf(f: PageFrames): number[] {
  const out: number[] = [];
  for (let i = 0; i < f.count;) {
    if (f.owner[i] === OWNER_NORMAL) {
      i++;
      continue;
    }
    let j = i + 1;
    while (j < f.count && f.owner[j] === f.owner[i] && f.useCase[j] === f.useCase[i]) j++;
    out.push(i, j, f.owner[i], f.useCase[i]);
    i = j;
  }
  return out;
}

describe("PageFrames restricted runs", () => {
  it("after any sequence of setOwner calls, the runs index exactly the restricted frames, merged", () => {
    const op = fc.record({
      i0: fc.integer({ min: 0, max: FRAMES - 1 }),
      n: fc.integer({ min: 0, max: 16 }),
      secure: fc.boolean(),
      useCase: fc.integer({ min: 0, max: 2 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const f = new PageFrames(0x8000_0000, FRAMES * 4096);
        for (const o of ops) {
          const n = Math.min(o.n, FRAMES - o.i0);
          f.setOwner(o.i0, n, o.secure ? OWNER_SECURE : OWNER_NORMAL, o.useCase);
          expect(f.restrictedRuns).toEqual(runsOf(f));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("returning the middle of a run splits it, and lending it back with the same use case joins it again", () => {
    const f = new PageFrames(0x8000_0000, FRAMES * 4096);
    f.setOwner(4, 8, OWNER_SECURE, 1);
    f.setOwner(6, 2, OWNER_NORMAL, 0);
    expect(f.restrictedRuns).toEqual([4, 6, OWNER_SECURE, 1, 8, 12, OWNER_SECURE, 1]);
    expect(f.firstRestricted(6, 7)).toBe(-1);
    f.setOwner(6, 2, OWNER_SECURE, 1);
    expect(f.restrictedRuns).toEqual([4, 12, OWNER_SECURE, 1]);
  });
});
