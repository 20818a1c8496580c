/**
 * hafniumOverlaps() against a literal bigint transcription of Hafnium v2.15 ffa_memory_check_overlap()
 * (is_memory_range_within() both ways on inclusive ends; 0 pages or past 2^64 ends a scan): the fast
 * version compares 32-bit halves in numbers and must answer the same for any constituents.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hafniumOverlaps } from "./validate_call_hafnium_region.ts";

const U64_MAX = (1n << 64n) - 1n;

function literal(cs: readonly { address: bigint; pages: number }[]): [number, number][] {
  const out: [number, number][] = [];
  const within = (b: bigint, e: bigint, ib: bigint, ie: bigint): boolean =>
    (b >= ib && b < ie) || (e <= ie && e > ib);
  const span = (k: number): [bigint, bigint] | null => {
    const size = BigInt(cs[k].pages) * 4096n;
    const b = cs[k].address;
    return size === 0n || size > U64_MAX - b ? null : [b, b + size - 1n];
  };
  for (let i = 0; i < cs.length; i++) {
    const cur = span(i);
    if (cur === null) continue;
    for (let j = i + 1; j < cs.length; j++) {
      const o = span(j);
      if (o === null) break;
      if (within(o[0], o[1], cur[0], cur[1]) || within(cur[0], cur[1], o[0], o[1])) {
        out.push([i, j]);
        break;
      }
    }
  }
  return out;
}

// Addresses near each other (so ranges meet), near 2^32 and 2^53 boundaries and near 2^64 (so they wrap).
const address = fc.oneof(
  fc.integer({ min: 0, max: 64 }).map((p) => 0x8000_0000n + BigInt(p) * 4096n),
  fc.integer({ min: 0, max: 64 }).map((p) => 0xffff_0000n + BigInt(p) * 2048n),
  fc.integer({ min: 0, max: 64 }).map((p) => (1n << 53n) - 32n * 4096n + BigInt(p) * 4096n),
  fc.integer({ min: 0, max: 64 }).map((p) => U64_MAX - BigInt(p) * 4096n),
  fc.bigInt({ min: 0n, max: U64_MAX }),
);
const pages = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 0xffff_ffff }));

describe("hafniumOverlaps()", () => {
  it("answers as Hafnium's bigint check does, pair for pair and range for range", () => {
    fc.assert(
      fc.property(fc.array(fc.record({ address, pages }), { maxLength: 12 }), (cs) => {
        const found = [
          ...hafniumOverlaps(
            cs.length,
            (k) => cs[k].address,
            (k) => cs[k].pages,
          ),
        ];
        expect(found.map((o) => [o.i, o.j])).toEqual(literal(cs));
        for (const o of found) {
          expect(o.cur).toEqual([cs[o.i].address, cs[o.i].address + BigInt(cs[o.i].pages) * 4096n - 1n]);
          expect(o.other).toEqual([cs[o.j].address, cs[o.j].address + BigInt(cs[o.j].pages) * 4096n - 1n]);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
