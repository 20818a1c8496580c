import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FFA_DEV_nGnRE,
  FFA_MEM_DEVICE,
  FFA_MEM_EXEC,
  FFA_MEM_INNER_SHAREABLE,
  FFA_MEM_NON_CACHEABLE,
  FFA_MEM_NORMAL,
  FFA_MEM_NO_EXEC,
  FFA_MEM_OUTER_SHAREABLE,
  FFA_MEM_RO,
  FFA_MEM_RW,
  FFA_MEM_WRITE_BACK,
  FFA_NORMAL_MEM_REG_ATTR,
  packMemAccessPermissions,
  packMemAttributes,
  unpackMemAccessPermissions,
  unpackMemAttributes,
  type MemAccessPermissions,
  type MemAttributes,
} from "./attributes.ts";
import {
  FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID,
  FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH,
  FFA_MEMORY_REGION_FLAG_TIME_SLICE,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_MEM_RECLAIM_FLAGS_MBZ_MASK,
  packMemRegionFlags,
  packReclaimFlags,
  packRelinquishFlags,
  unpackMemRegionFlags,
  unpackReclaimFlags,
  unpackRelinquishFlags,
} from "./flags.ts";
import { cleanAttributesArb, cleanPermissionsArb } from "./arbitraries.ts";

describe("memory region attributes", () => {
  it("0x2F is Normal, write-back, inner-shareable (what Linux and OP-TEE send for SHARE)", () => {
    expect(FFA_NORMAL_MEM_REG_ATTR).toBe(0x2f);
    expect(FFA_MEM_NORMAL | FFA_MEM_WRITE_BACK | FFA_MEM_INNER_SHAREABLE).toBe(0x2f);
    expect(unpackMemAttributes(0x2f)).toEqual({
      type: "normal",
      cacheability: "write-back",
      device: null,
      shareability: "inner",
      ns: false,
    });
  });

  it("decodes each field from its bits (reference/ffa.md §3.7)", () => {
    expect(
      unpackMemAttributes(FFA_MEM_NORMAL | FFA_MEM_NON_CACHEABLE | FFA_MEM_OUTER_SHAREABLE),
    ).toMatchObject({
      type: "normal",
      cacheability: "non-cacheable",
      shareability: "outer",
    });
    expect(unpackMemAttributes(FFA_MEM_DEVICE | FFA_DEV_nGnRE)).toMatchObject({
      type: "device",
      device: "nGnRE",
      cacheability: null,
    });
    expect(unpackMemAttributes(0)).toMatchObject({
      type: "not-specified",
      shareability: "non-shareable",
      ns: false,
    });
    expect(unpackMemAttributes(0x30).type).toBe("reserved");
    expect(unpackMemAttributes(0x01).shareability).toBe("reserved");
    expect(unpackMemAttributes(0x20).cacheability).toBe("reserved");
    expect(unpackMemAttributes(0x40).ns).toBe(true);
  });

  it("pack(unpack(x)) is x for every attribute byte with defined encodings", () => {
    fc.assert(
      fc.property(cleanAttributesArb, fc.boolean(), (raw, ns) => {
        const x = raw | (ns ? 0x40 : 0);
        expect(packMemAttributes(unpackMemAttributes(x))).toBe(x);
      }),
    );
  });

  it("unpack(pack(t)) is t for every typed attribute", () => {
    const typed: fc.Arbitrary<MemAttributes> = fc.oneof(
      fc.record({
        type: fc.constant("normal" as const),
        cacheability: fc.constantFrom("non-cacheable" as const, "write-back" as const),
        device: fc.constant(null),
        shareability: fc.constantFrom("non-shareable" as const, "outer" as const, "inner" as const),
        ns: fc.boolean(),
      }),
      fc.record({
        type: fc.constant("device" as const),
        cacheability: fc.constant(null),
        device: fc.constantFrom("nGnRnE" as const, "nGnRE" as const, "nGRE" as const, "GRE" as const),
        shareability: fc.constantFrom(
          "non-shareable" as const,
          "reserved" as const,
          "outer" as const,
          "inner" as const,
        ),
        ns: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(typed, (t) => {
        expect(unpackMemAttributes(packMemAttributes(t))).toEqual(t);
      }),
    );
  });
});

describe("memory access permissions", () => {
  it("use Linux's bit values: RO bit0, RW bit1, NX bit2, X bit3", () => {
    expect([FFA_MEM_RO, FFA_MEM_RW, FFA_MEM_NO_EXEC, FFA_MEM_EXEC]).toEqual([1, 2, 4, 8]);
    expect(unpackMemAccessPermissions(FFA_MEM_RW)).toEqual({ data: "rw", instruction: "not-specified" });
    expect(unpackMemAccessPermissions(FFA_MEM_RO | FFA_MEM_EXEC)).toEqual({ data: "ro", instruction: "x" });
    expect(unpackMemAccessPermissions(FFA_MEM_RW | FFA_MEM_NO_EXEC)).toEqual({
      data: "rw",
      instruction: "nx",
    });
    expect(unpackMemAccessPermissions(0x0f)).toEqual({ data: "reserved", instruction: "reserved" });
    expect(packMemAccessPermissions({ data: "rw", instruction: "nx" })).toBe(0x06);
  });

  it("pack(unpack(x)) is x and unpack(pack(t)) is t over the defined encodings", () => {
    fc.assert(
      fc.property(cleanPermissionsArb, (x) => {
        expect(packMemAccessPermissions(unpackMemAccessPermissions(x))).toBe(x);
      }),
    );
    const typed: fc.Arbitrary<MemAccessPermissions> = fc.record({
      data: fc.constantFrom("not-specified" as const, "ro" as const, "rw" as const, "reserved" as const),
      instruction: fc.constantFrom(
        "not-specified" as const,
        "nx" as const,
        "x" as const,
        "reserved" as const,
      ),
    });
    fc.assert(
      fc.property(typed, (t) => {
        expect(unpackMemAccessPermissions(packMemAccessPermissions(t))).toEqual(t);
      }),
    );
  });
});

describe("transaction descriptor flags", () => {
  it("have the reference/ffa.md §3.9 bit positions", () => {
    expect(FFA_MEMORY_REGION_FLAG_CLEAR).toBe(1);
    expect(FFA_MEMORY_REGION_FLAG_TIME_SLICE).toBe(2);
    expect(FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH).toBe(4);
    expect(FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE).toBe(0x08);
    expect(FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND).toBe(0x10);
    expect(FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE).toBe(0x18);
    expect(FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID).toBe(0x200);
    expect(FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK).toBe(0x400);
    expect(packMemRegionFlags({ transactionType: "lend", zeroMemory: true })).toBe(0x11);
    expect(packMemRegionFlags({ alignmentHint: 3, alignmentHintValid: true })).toBe((3 << 5) | 0x200);
    expect(unpackMemRegionFlags(0x1c)).toMatchObject({
      zeroAfterRelinquish: true,
      transactionType: "donate",
    });
  });

  it("pack(unpack(x)) is x for every value of bits[10:0]", () => {
    for (let x = 0; x <= 0x7ff; x++) expect(packMemRegionFlags(unpackMemRegionFlags(x))).toBe(x);
  });

  it("relinquish and reclaim flags: bit0 zero, bit1 time slicing", () => {
    expect(packRelinquishFlags({ zeroAfterRelinquish: true })).toBe(1);
    expect(packRelinquishFlags({ timeSlicing: true })).toBe(2);
    expect(unpackRelinquishFlags(3)).toEqual({ zeroAfterRelinquish: true, timeSlicing: true });
    expect(packReclaimFlags({ zeroMemory: true, timeSlicing: true })).toBe(3);
    expect(unpackReclaimFlags(1)).toEqual({ zeroMemory: true, timeSlicing: false });
    expect(FFA_MEM_RECLAIM_FLAGS_MBZ_MASK).toBe(0xfffffffc);
  });
});
