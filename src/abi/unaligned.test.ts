import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getUnalignedLe32, getUnalignedLe64 } from "./unaligned.ts";

describe("get_unaligned_le32/64", () => {
  it("read what a little-endian DataView reads, at any offset of any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 40 }), fc.nat(), (bytes, at) => {
        const off = at % (bytes.length - 7);
        const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        expect(getUnalignedLe32(bytes, off)).toBe(v.getUint32(off, true));
        expect(getUnalignedLe64(bytes, off)).toBe(v.getBigUint64(off, true));
      }),
      { numRuns: 500 },
    );
  });

  it("read the top bit as a value, not a sign", () => {
    const b = new Uint8Array(8).fill(0xff);
    expect(getUnalignedLe32(b, 0)).toBe(0xffff_ffff);
    expect(getUnalignedLe64(b, 0)).toBe(0xffff_ffff_ffff_ffffn);
  });
});
