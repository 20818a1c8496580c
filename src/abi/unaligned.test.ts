import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { getUnalignedLe32, getUnalignedLe64, putUnalignedLe32 } from "./unaligned.ts";

describe("get_unaligned_le32/64, put_unaligned_le32", () => {
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

  it("put_unaligned_le32 writes what a little-endian DataView writes, and nothing around it", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 40 }), fc.nat(), fc.integer(), (bytes, at, v) => {
        const off = at % (bytes.length - 3);
        const want = bytes.slice();
        new DataView(want.buffer).setUint32(off, v >>> 0, true);
        putUnalignedLe32(v, bytes, off);
        expect(bytes).toEqual(want);
      }),
      { numRuns: 500 },
    );
  });
});
