/**
 * byteHistogram() (hw/frames.ts), the page-state histogram's scan a word at a time: the same counts as
 * a byte at a time, for any bytes, any length, any offset into the buffer (runs of equal words, as page
 * states come, included).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { byteHistogram } from "../../src/hw/frames.ts";

const naive = (a: Uint8Array): number[] => {
  const h = new Array<number>(256).fill(0);
  for (const v of a) h[v]++;
  return h;
};

describe("byteHistogram", () => {
  it("counts what a byte-at-a-time scan counts, for any bytes at any offset", () => {
    // Runs of a few values, so equal words come in runs and break at any byte.
    const runs = fc.array(fc.tuple(fc.constantFrom(0, 1, 7, 255), fc.integer({ min: 1, max: 40 })), {
      maxLength: 30,
    });
    fc.assert(
      fc.property(runs, fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 7 }), (rs, off, cut) => {
        const bytes = rs.flatMap(([v, n]) => new Array<number>(n).fill(v));
        const buf = new Uint8Array(off + bytes.length + cut);
        buf.set(bytes, off);
        const a = buf.subarray(off, off + bytes.length);
        expect(byteHistogram(a)).toEqual(naive(a));
      }),
    );
  });

  it("counts every value of a word, not the word's low byte alone", () => {
    const a = new Uint8Array([1, 2, 3, 4, 1, 2, 3, 4, 9]);
    const h = byteHistogram(a);
    expect([h[1], h[2], h[3], h[4], h[9]]).toEqual([2, 2, 2, 2, 1]);
  });
});
