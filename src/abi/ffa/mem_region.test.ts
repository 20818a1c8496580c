import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { anyInputArb, cleanInputArb, expectedDecode, versionArb } from "./arbitraries.ts";
import { FFA_MEM_RW, FFA_NORMAL_MEM_REG_ATTR } from "./attributes.ts";
import { compositeOffsetFor, emadSize, mtdHeaderSize, mtdTotalSize } from "./layout.ts";
import { decodeMemRegion, encodeMemRegion, type MemRegionInput } from "./mem_region.ts";
import type { FfaVersion } from "./version.ts";

const oneReceiverOnePage: MemRegionInput = {
  sender_id: 0x0001,
  attributes: FFA_NORMAL_MEM_REG_ATTR,
  flags: 0,
  handle: 0x1122_3344_5566_7788n,
  tag: 0x99n,
  emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW, impdef: [0xaan, 0xbbn] }],
  constituents: [{ address: 0x8800_0000n, page_count: 16 }],
};

function le(bytes: Uint8Array, off: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i]);
  return v;
}

describe("descriptor sizes and offsets (reference/ffa.md §3)", () => {
  it.each([
    ["1.2", 80, 112],
    ["1.1", 64, 96],
    ["1.0", 48, 80],
  ] as const)(
    "v%s with 1 receiver and 1 constituent: composite at %i, %i bytes in all",
    (version, comp, total) => {
      const bytes = encodeMemRegion(oneReceiverOnePage, version);
      expect(bytes.length).toBe(total);
      expect(compositeOffsetFor(version, 1)).toBe(comp);
      expect(mtdTotalSize(version, 1, 1)).toBe(total);
      const d = decodeMemRegion(bytes, version);
      expect(d.ok && d.value.composite?.offset).toBe(comp);
      expect(le(bytes, mtdHeaderSize(version) + 4, 4)).toBe(BigInt(comp)); // EMAD composite offset
    },
  );

  it("a 4K fragment holds 250 constituents for v1.2 with 1 receiver, 252 for v1.0", () => {
    expect(Math.floor((4096 - compositeOffsetFor("1.2", 1) - 16) / 16)).toBe(250);
    expect(Math.floor((4096 - compositeOffsetFor("1.0", 1) - 16) / 16)).toBe(252);
  });

  it("header, EMAD, composite and constituent fields sit at the reference offsets (v1.2)", () => {
    const b = encodeMemRegion(oneReceiverOnePage, "1.2");
    expect(le(b, 0, 2)).toBe(0x0001n); // sender
    expect(le(b, 2, 2)).toBe(0x2fn); // attributes (16-bit)
    expect(le(b, 4, 4)).toBe(0n); // flags
    expect(le(b, 8, 8)).toBe(0x1122_3344_5566_7788n); // handle
    expect(le(b, 16, 8)).toBe(0x99n); // tag
    expect(le(b, 24, 4)).toBe(32n); // EMAD size
    expect(le(b, 28, 4)).toBe(1n); // EMAD count
    expect(le(b, 32, 4)).toBe(48n); // EMAD offset
    expect(le(b, 36, 12)).toBe(0n); // reserved[3]
    expect(le(b, 48, 2)).toBe(0x8001n); // receiver
    expect(b[50]).toBe(FFA_MEM_RW); // permissions
    expect(b[51]).toBe(0); // receiver flags
    expect(le(b, 52, 4)).toBe(80n); // composite offset
    expect(le(b, 56, 8)).toBe(0xaan); // impdef[0]
    expect(le(b, 64, 8)).toBe(0xbbn); // impdef[1]
    expect(le(b, 72, 8)).toBe(0n); // EMAD reserved
    expect(le(b, 80, 4)).toBe(16n); // total_page_count
    expect(le(b, 84, 4)).toBe(1n); // address_range_count
    expect(le(b, 88, 8)).toBe(0n); // composite reserved
    expect(le(b, 96, 8)).toBe(0x8800_0000n); // address
    expect(le(b, 104, 4)).toBe(16n); // page count
    expect(le(b, 108, 4)).toBe(0n); // constituent reserved
  });

  it("v1.0 has an 8-bit attributes byte, reserved_0, reserved_1 where v1.1 has the EMAD size, and EMADs at 32", () => {
    const b = encodeMemRegion(oneReceiverOnePage, "1.0", { reserved: [0x5a, 0x1234] });
    expect(b[2]).toBe(0x2f);
    expect(b[3]).toBe(0x5a); // reserved_0
    expect(le(b, 24, 4)).toBe(0x1234n); // reserved_1
    expect(le(b, 28, 4)).toBe(1n); // EMAD count, same offset as v1.1
    expect(le(b, 32, 2)).toBe(0x8001n); // EMAD[0] starts at 32
    expect(le(b, 36, 4)).toBe(48n);
    const d = decodeMemRegion(b, "1.0");
    expect(d.ok && d.value.reserved).toEqual([0x5a, 0x1234]);
    expect(() => encodeMemRegion({ ...oneReceiverOnePage, attributes: 0x100 }, "1.0")).toThrow(RangeError);
  });

  it("v1.1 and v1.0 drop the v1.2 impdef field; v1.2 carries it", () => {
    for (const v of ["1.0", "1.1"] as const) {
      const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, v), v);
      expect(d.ok && d.value.emads[0].impdef).toBeNull();
    }
    const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, "1.2"), "1.2");
    expect(d.ok && d.value.emads[0].impdef).toEqual([0xaan, 0xbbn]);
  });

  it("a retrieve request (no constituents) ends after the EMADs, with composite offset 0", () => {
    for (const v of ["1.0", "1.1", "1.2"] as const) {
      const b = encodeMemRegion({ ...oneReceiverOnePage, constituents: null }, v);
      expect(b.length).toBe(mtdHeaderSize(v) + emadSize(v));
      const d = decodeMemRegion(b, v);
      expect(d.ok && d.value.composite).toBeNull();
      expect(d.ok && d.value.emads[0].composite_offset).toBe(0);
    }
  });
});

describe("encode → decode round trip", () => {
  it("a well-formed descriptor decodes to exactly what was encoded, in every version", () => {
    fc.assert(
      fc.property(cleanInputArb, versionArb, (input, version) => {
        const d = decodeMemRegion(encodeMemRegion(input, version), version);
        expect(d).toEqual({ ok: true, value: expectedDecode(input, version) });
      }),
      { numRuns: 300 },
    );
  });

  it.each(["1.0", "1.1", "1.2"] as const)(
    "any encodable v%s field values, reserved ones included, survive bit for bit",
    (version) => {
      fc.assert(
        fc.property(anyInputArb(version), (input) => {
          const bytes = encodeMemRegion(input, version);
          const d = decodeMemRegion(bytes, version);
          expect(d).toEqual({ ok: true, value: expectedDecode(input, version) });
          // Encoding is deterministic.
          expect(encodeMemRegion(input, version)).toEqual(bytes);
        }),
        { numRuns: 200 },
      );
    },
  );

  it("decode reads a descriptor inside a larger buffer (byteOffset ≠ 0)", () => {
    const b = encodeMemRegion(oneReceiverOnePage, "1.1");
    const big = new Uint8Array(b.length + 37);
    big.set(b, 21);
    const d = decodeMemRegion(big.subarray(21, 21 + b.length), "1.1");
    expect(d).toEqual(decodeMemRegion(b, "1.1"));
  });
});

describe("raw overrides build malformed descriptors on purpose", () => {
  const v: FfaVersion = "1.2";
  it("each override lands in its field and nowhere else", () => {
    const base = encodeMemRegion(oneReceiverOnePage, v);
    const cases: [Parameters<typeof encodeMemRegion>[2], number, number, bigint][] = [
      [{ emad_size: 16 }, 24, 4, 16n],
      [{ emad_count: 7 }, 28, 4, 7n],
      [{ emad_offset: 64 }, 32, 4, 64n],
      [{ reserved: [0, 0xdead] }, 40, 4, 0xdeadn],
      [{ composite_offset: 0x55 }, 52, 4, 0x55n],
      [{ emad_reserved: 3n }, 72, 8, 3n],
      [{ total_page_count: 99 }, 80, 4, 99n],
      [{ address_range_count: 9 }, 84, 4, 9n],
      [{ composite_reserved: 0x77n }, 88, 8, 0x77n],
    ];
    for (const [ov, off, size, value] of cases) {
      const b = encodeMemRegion(oneReceiverOnePage, v, ov);
      expect(b.length).toBe(base.length);
      expect(le(b, off, size)).toBe(value);
      const diff = [...b].flatMap((x, i) => (x !== base[i] ? [i] : []));
      for (const i of diff) expect(i >= off && i < off + size).toBe(true);
    }
  });

  it("per-EMAD composite offset and reserved beat the global override", () => {
    const input: MemRegionInput = {
      ...oneReceiverOnePage,
      emads: [
        { receiver_id: 2, permissions: 2 },
        { receiver_id: 3, permissions: 2, composite_offset: 0x40, reserved: 9n },
      ],
    };
    const d = decodeMemRegion(encodeMemRegion(input, v, { emad_reserved: 1n, composite_offset: 112 }), v);
    expect(d.ok && d.value.emads.map((e) => [e.composite_offset, e.reserved])).toEqual([
      [112, 1n],
      [0x40, 9n],
    ]);
  });

  it("values that do not fit their field are a caller bug and throw", () => {
    expect(() => encodeMemRegion({ ...oneReceiverOnePage, sender_id: 0x10000 }, v)).toThrow(RangeError);
    expect(() => encodeMemRegion({ ...oneReceiverOnePage, handle: 1n << 64n }, v)).toThrow(RangeError);
    expect(() => encodeMemRegion(oneReceiverOnePage, v, { emad_count: -1 })).toThrow(RangeError);
    expect(() => encodeMemRegion(oneReceiverOnePage, v, { reserved: [0, 0, 0, 1] })).toThrow(RangeError);
  });
});

describe("decode of a cut-short or inconsistent buffer names the structure it could not read", () => {
  const b = encodeMemRegion(oneReceiverOnePage, "1.1"); // 96 bytes: header 48, EMAD 48..64, composite 64..80, constituent 80..96

  it.each([
    [0, "header", 0],
    [47, "header", 0],
    [60, "emad_count", 28],
    [70, "emads[0].composite_offset", 52],
    [90, "composite.address_range_count", 68],
  ])("truncated to %i bytes → %s at offset %i", (len, field, offset) => {
    const d = decodeMemRegion(b.subarray(0, len), "1.1");
    expect(d.ok).toBe(false);
    if (!d.ok) expect([d.error.field, d.error.offset]).toEqual([field, offset]);
  });

  it("an EMAD size below 16 cannot be read", () => {
    const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, "1.1", { emad_size: 8 }), "1.1");
    expect(!d.ok && [d.error.field, d.error.offset, d.error.rule]).toEqual([
      "emad_size",
      24,
      "emad-size-readable",
    ]);
  });

  it("an EMAD array offset past the end is reported on emad_offset", () => {
    const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, "1.1", { emad_offset: 4096 }), "1.1");
    expect(!d.ok && [d.error.field, d.error.offset]).toEqual(["emad_offset", 32]);
  });

  it("a huge EMAD count does not allocate: it fails on bounds", () => {
    const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, "1.2", { emad_count: 0xffff_ffff }), "1.2");
    expect(!d.ok && d.error.field).toBe("emad_count");
  });

  it("a zero EMAD count decodes with no EMADs and no composite", () => {
    const d = decodeMemRegion(encodeMemRegion(oneReceiverOnePage, "1.2", { emad_count: 0 }), "1.2");
    expect(d.ok && [d.value.emads.length, d.value.composite]).toEqual([0, null]);
  });
});
