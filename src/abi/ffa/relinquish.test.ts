import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRelinquish, encodeRelinquish, validateRelinquish } from "./relinquish.ts";

describe("relinquish descriptor (reference/ffa.md §3.6)", () => {
  it("is handle @0, flags @8, endpoint_count @12, u16 endpoints @16: 18 bytes for one endpoint", () => {
    const b = encodeRelinquish({ handle: 0x0102_0304_0506_0708n, flags: 1, endpoints: [0x8001] });
    expect([...b]).toEqual([8, 7, 6, 5, 4, 3, 2, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0x01, 0x80]);
  });

  it("round-trips any handle, flags and endpoint list", () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        fc.integer({ min: 0, max: 0xffff_ffff }),
        fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 20 }),
        (handle, flags, endpoints) => {
          const b = encodeRelinquish({ handle, flags, endpoints });
          expect(b.length).toBe(16 + 2 * endpoints.length);
          expect(decodeRelinquish(b)).toEqual({
            ok: true,
            value: { handle, flags, endpoint_count: endpoints.length, endpoints },
          });
        },
      ),
    );
  });

  it("a header shorter than 16 bytes, or a count past the end, fails on the field that cannot be read", () => {
    const b = encodeRelinquish({ handle: 1n, endpoints: [2, 3] });
    const short = decodeRelinquish(b.subarray(0, 15));
    expect(!short.ok && [short.error.field, short.error.offset]).toEqual(["header", 0]);
    const cut = decodeRelinquish(b.subarray(0, 19));
    expect(!cut.ok && [cut.error.field, cut.error.offset]).toEqual(["endpoint_count", 12]);
    const lie = decodeRelinquish(
      encodeRelinquish({ handle: 1n, endpoints: [2] }, { endpoint_count: 0xffff_ffff }),
    );
    expect(!lie.ok && lie.error.field).toBe("endpoint_count");
  });

  it("validation reports flags bits[31:2], no endpoints, and a repeated endpoint", () => {
    const check = (flags: number, endpoints: number[]): string[] => {
      const d = decodeRelinquish(encodeRelinquish({ handle: 1n, flags, endpoints }));
      return d.ok
        ? validateRelinquish(d.value).map((p) => `${p.rule}:${p.field}@${p.offset}`)
        : ["decode failed"];
    };
    expect(check(3, [0x8001])).toEqual([]);
    expect(check(4, [0x8001])).toEqual(["flags-mbz:flags@8"]);
    expect(check(0, [])).toEqual(["endpoint-count-nonzero:endpoint_count@12"]);
    expect(check(0, [5, 6, 5])).toEqual(["endpoint-duplicate:endpoints[2]@20"]);
  });

  it("values that do not fit their field throw", () => {
    expect(() => encodeRelinquish({ handle: -1n, endpoints: [] })).toThrow(RangeError);
    expect(() => encodeRelinquish({ handle: 0n, endpoints: [0x10000] })).toThrow(RangeError);
  });
});
