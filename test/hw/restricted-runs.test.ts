import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OWNER_NORMAL, OWNER_SECURE, PageFrames } from "../../src/hw/frames.ts";
import { Snapshot } from "../../src/sim/snapshot.ts";

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

  it("between reads, runs returned from the front wait to be dropped, and every query and snapshot still sees the runs as they are", () => {
    // Lends of scattered pages, then returns in ascending order (a reclaim's), with a query only now
    // and then: the dropped runs are taken off the front lazily (PageFrames.#dead).
    const op = fc.record({
      lend: fc.array(fc.integer({ min: 0, max: FRAMES / 2 - 1 }), { maxLength: 20 }),
      useCase: fc.integer({ min: 0, max: 2 }),
      queryEvery: fc.integer({ min: 1, max: 8 }),
      at: fc.integer({ min: 0, max: FRAMES - 1 }),
    });
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 6 }), (ops) => {
        const f = new PageFrames(0x8000_0000, FRAMES * 4096);
        f.setOwner(FRAMES - 8, 2, OWNER_SECURE, 1);
        f.setOwner(FRAMES - 4, 2, OWNER_SECURE, 2);
        const snap = Snapshot.take(f);
        const taken = f.restrictedRuns.slice();
        // The first run returned with no read since: dropped lazily, then the snapshot restored.
        f.setOwner(FRAMES - 8, 2, OWNER_NORMAL, 0);
        snap.restore();
        expect(f.restrictedRuns).toEqual(taken);
        for (const o of ops) {
          const pages = [...new Set(o.lend.map((p) => p * 2))].sort((a, b) => a - b);
          for (const p of pages) f.setOwner(p, 1, OWNER_SECURE, o.useCase);
          pages.forEach((p, k) => {
            f.setOwner(p, 1, OWNER_NORMAL, 0);
            if (k % o.queryEvery === 0) {
              const want = runsOf(f);
              const first = want.findIndex((x, j) => j % 4 === 1 && x > o.at);
              const k4 = first < 0 ? want.length : first - 1;
              expect(f.runAfter(o.at)).toBe(k4);
            }
          });
          expect(f.restrictedRuns).toEqual(runsOf(f));
        }
        // A restore puts back the runs and the count of dropped ones together.
        expect(snap.restore()).toBeUndefined();
        expect(f.restrictedRuns).toEqual(runsOf(f));
      }),
      { numRuns: 200 },
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
