import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanInputArb, versionArb } from "./arbitraries.ts";
import { FFA_MEM_RW, FFA_NORMAL_MEM_REG_ATTR } from "./attributes.ts";
import {
  FFA_MEM_DONATE_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RETRIEVE_REQ_64,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_SHARE_64,
} from "./func.ts";
import {
  decodeMemRegion,
  encodeMemRegion,
  type MemRegionInput,
  type MemRegionOverrides,
} from "./mem_region.ts";
import type { FfaProblem } from "./problem.ts";
import { validateMemRegion } from "./validate.ts";
import type { FfaVersion } from "./version.ts";

/** A clean SHARE from VM 1 to SP 0x8001 of 16 pages, as Linux builds it. */
const share: MemRegionInput = {
  sender_id: 0x0001,
  attributes: FFA_NORMAL_MEM_REG_ATTR,
  flags: 0,
  emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
  constituents: [{ address: 0x8800_0000n, page_count: 16 }],
};

function problems(
  input: Partial<MemRegionInput>,
  version: FfaVersion = "1.2",
  overrides: MemRegionOverrides = {},
  func?: number,
): FfaProblem[] {
  const d = decodeMemRegion(encodeMemRegion({ ...share, ...input }, version, overrides), version);
  if (!d.ok) throw new Error(`decode failed: ${d.error.field}: ${d.error.why}`);
  return validateMemRegion(d.value, version, { func });
}

/** The problem list holds `rule` on `field` at `offset`. */
function expectProblem(list: FfaProblem[], rule: string, field: string, offset: number): void {
  expect(list.map((p) => [p.rule, p.field, p.offset])).toContainEqual([rule, field, offset]);
}

describe("validate() accepts what Linux and Hafnium build", () => {
  it("a Linux SHARE (0x2F, RW) and a Linux LEND (attributes 0) have no problems in any version", () => {
    for (const v of ["1.0", "1.1", "1.2"] as const) {
      expect(problems({}, v, {}, FFA_MEM_SHARE_64)).toEqual([]);
      expect(problems({ attributes: 0 }, v, {}, FFA_MEM_LEND_32)).toEqual([]);
    }
  });

  it("a Hafnium retrieve request (no composite) and a hypervisor retrieve request have no problems", () => {
    expect(problems({ constituents: null, handle: 5n }, "1.2", {}, FFA_MEM_RETRIEVE_REQ_64)).toEqual([]);
    const hyp = {
      sender_id: 0,
      attributes: 0,
      emads: [],
      constituents: null,
      handle: 0x8000_0000_0000_0001n,
    };
    expect(problems(hyp, "1.1", {}, FFA_MEM_RETRIEVE_REQ_64)).toEqual([]);
  });

  it("any well-formed descriptor has no problems (property)", () => {
    fc.assert(
      fc.property(cleanInputArb, versionArb, (input, version) => {
        expect(problems(input, version)).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe("validate() names each malformation with its field and byte offset", () => {
  it("header reserved words non-zero (v1.1+: reserved[3] at 36; v1.0: reserved_0 at 3, reserved_1 at 24)", () => {
    expectProblem(problems({}, "1.1", { reserved: [0, 7, 0] }), "reserved-mbz", "reserved[1]", 40);
    const v10 = problems({}, "1.0", { reserved: [1, 2] });
    expectProblem(v10, "reserved-mbz", "reserved_0", 3);
    expectProblem(v10, "reserved-mbz", "reserved_1", 24);
  });

  it("reserved attribute bits: [15:7] from v1.1, bit 7 in v1.0", () => {
    expectProblem(problems({ attributes: 0x12f }, "1.2"), "attributes-mbz", "attributes", 2);
    expectProblem(problems({ attributes: 0xaf }, "1.0"), "attributes-mbz", "attributes", 2);
  });

  it("reserved attribute encodings: type 0b11, shareability 0b01, Normal cacheability 0b00/0b10", () => {
    expectProblem(problems({ attributes: 0x3f }), "attributes-encoding", "attributes", 2);
    expectProblem(problems({ attributes: 0x2d }), "attributes-encoding", "attributes", 2);
    expectProblem(problems({ attributes: 0x23 }), "attributes-encoding", "attributes", 2);
    expectProblem(problems({ attributes: 0x2b }), "attributes-encoding", "attributes", 2);
  });

  it("the NS bit on a send or retrieve request, but not on a retrieve response", () => {
    expectProblem(problems({ attributes: 0x6f }, "1.2", {}, FFA_MEM_SHARE_64), "ns-bit-mbz", "attributes", 2);
    expect(problems({ attributes: 0x6f }, "1.2", {}, FFA_MEM_RETRIEVE_RESP_32)).toEqual([]);
  });

  it("flags outside the call's mask: bits[31:2] on send, [31:5] on response, [31:10] before v1.2", () => {
    expectProblem(problems({ flags: 0x4 }, "1.2", {}, FFA_MEM_LEND_64), "flags-mbz", "flags", 4);
    expectProblem(problems({ flags: 0x20 }, "1.2", {}, FFA_MEM_RETRIEVE_RESP_32), "flags-mbz", "flags", 4);
    expectProblem(problems({ flags: 0x400 }, "1.1"), "flags-mbz", "flags", 4);
    expect(problems({ flags: 0x400 }, "1.2")).toEqual([]);
    expectProblem(problems({ flags: 0x8000_0000 }, "1.2"), "flags-mbz", "flags", 4);
  });

  it("zero-memory on a SHARE, and in a retrieve request for a share", () => {
    expectProblem(problems({ flags: 1 }, "1.2", {}, FFA_MEM_SHARE_64), "clear-on-share", "flags", 4);
    const req = { constituents: null, flags: 0x08 | 0x4 };
    expectProblem(problems(req, "1.2", {}, FFA_MEM_RETRIEVE_REQ_64), "clear-on-share", "flags", 4);
  });

  it("EMAD size wrong for the version (Hafnium: 16 → v1.1, 32 → v1.2)", () => {
    expect(problems({}, "1.2", { emad_size: 16 })).toEqual([
      expect.objectContaining({ rule: "emad-size-for-version", field: "emad_size", offset: 24 }),
    ]);
    expectProblem(problems({}, "1.1", { emad_size: 32 }), "emad-size-for-version", "emad_size", 24);
  });

  it("EMAD array offset inside the header or not 16-aligned", () => {
    expectProblem(problems({}, "1.1", { emad_offset: 32 }), "emad-offset-after-header", "emad_offset", 32);
    expectProblem(problems({}, "1.1", { emad_offset: 56 }), "emad-offset-aligned", "emad_offset", 32);
  });

  it("zero receivers, and more than one receiver for DONATE", () => {
    expectProblem(problems({ emads: [], constituents: null }), "emad-count-nonzero", "emad_count", 28);
    const two = { emads: [share.emads[0], { receiver_id: 0x8002, permissions: FFA_MEM_RW }] };
    expectProblem(problems(two, "1.2", {}, FFA_MEM_DONATE_32), "donate-single-receiver", "emad_count", 28);
  });

  it("a hypervisor retrieve request (no receivers) with any field but the handle set", () => {
    const hyp = { sender_id: 0, attributes: 0, emads: [], constituents: null, tag: 3n };
    expectProblem(problems(hyp, "1.2", {}, FFA_MEM_RETRIEVE_REQ_64), "hypervisor-retrieve-zero", "tag", 16);
  });

  it("EMAD reserved non-zero, at +8 in a 16-byte EMAD and +24 in a 32-byte one", () => {
    expectProblem(problems({}, "1.1", { emad_reserved: 1n }), "reserved-mbz", "emads[0].reserved", 56);
    expectProblem(problems({}, "1.2", { emad_reserved: 1n }), "reserved-mbz", "emads[0].reserved", 72);
  });

  it("permissions: reserved bits[7:4], data access 0b11, instruction access 0b11", () => {
    const perm = (p: number): FfaProblem[] => problems({ emads: [{ receiver_id: 0x8001, permissions: p }] });
    expectProblem(perm(0x12), "permissions-mbz", "emads[0].permissions", 50);
    expectProblem(perm(0x03), "data-access-reserved", "emads[0].permissions", 50);
    expectProblem(perm(0x0e), "instruction-access-reserved", "emads[0].permissions", 50);
  });

  it("receiver flags bits[7:1] set", () => {
    const list = problems({ emads: [{ receiver_id: 0x8001, permissions: 2, flags: 2 }] });
    expectProblem(list, "emad-flags-mbz", "emads[0].flags", 51);
  });

  it("a receiver that is the sender, and a repeated receiver", () => {
    expectProblem(
      problems({ emads: [{ receiver_id: 1, permissions: 2 }] }),
      "receiver-is-sender",
      "emads[0].receiver_id",
      48,
    );
    const dup = { emads: [share.emads[0], share.emads[0]] };
    expectProblem(problems(dup, "1.2"), "receiver-duplicate", "emads[1].receiver_id", 80);
    expectProblem(problems(dup, "1.0"), "receiver-duplicate", "emads[1].receiver_id", 48);
  });

  it("repeated receivers among many EMADs are all found", () => {
    const emads = Array.from({ length: 40 }, (_, i) => ({ receiver_id: 0x8000 + (i % 30), permissions: 2 }));
    const list = problems({ emads }, "1.1").filter((p) => p.rule === "receiver-duplicate");
    expect(list.map((p) => p.field)).toEqual(
      Array.from({ length: 10 }, (_, i) => `emads[${30 + i}].receiver_id`),
    );
  });

  it("EMADs pointing at different composites", () => {
    const two = { emads: [share.emads[0], { receiver_id: 0x8002, permissions: 2, composite_offset: 0x100 }] };
    expectProblem(problems(two, "1.1"), "composite-offset-same", "emads[1].composite_offset", 68);
  });

  it("a retrieve request whose EMAD points at a composite", () => {
    expectProblem(
      problems({}, "1.2", {}, FFA_MEM_RETRIEVE_REQ_64),
      "retrieve-composite-offset-zero",
      "emads[0].composite_offset",
      52,
    );
  });

  it("a send or response without a composite", () => {
    expectProblem(
      problems({ constituents: null }, "1.2", {}, FFA_MEM_LEND_32),
      "composite-required",
      "emads[0].composite_offset",
      52,
    );
  });

  it("composite offset not 16-aligned, or before the end of the EMAD array", () => {
    expectProblem(
      problems({}, "1.1", { composite_offset: 72 }),
      "composite-offset-aligned",
      "emads[0].composite_offset",
      52,
    );
    // In v1.2 a composite read at 64 overlaps EMAD[0]'s impdef, which here spells a 1-range composite.
    const impdef = {
      emads: [{ receiver_id: 0x8001, permissions: 2, impdef: [0n, (1n << 32n) | 5n] as const }],
    };
    const early = problems(impdef, "1.2", { composite_offset: 64 });
    expectProblem(early, "composite-after-emads", "emads[0].composite_offset", 52);
  });

  it("composite reserved non-zero", () => {
    expectProblem(problems({}, "1.1", { composite_reserved: 5n }), "reserved-mbz", "composite.reserved", 72);
  });

  it("no constituents", () => {
    expect(problems({ constituents: [] }, "1.2")).toEqual([
      expect.objectContaining({
        rule: "constituents-nonzero",
        field: "composite.address_range_count",
        offset: 84,
      }),
    ]);
  });

  it("address_range_count disagreeing with the total length", () => {
    const two = { constituents: [share.constituents![0], { address: 0x9000_0000n, page_count: 1 }] };
    const list = problems(two, "1.2", { address_range_count: 1 });
    expectProblem(list, "constituents-fill-length", "composite.address_range_count", 84);
  });

  it("total_page_count not the sum of the constituents", () => {
    expect(problems({}, "1.2", { total_page_count: 15 })).toEqual([
      expect.objectContaining({
        rule: "total-page-count-sum",
        field: "composite.total_page_count",
        offset: 80,
      }),
    ]);
  });

  it("constituent reserved non-zero, address not 4K-aligned, range past 2^64", () => {
    const c = (address: bigint, page_count: number, reserved = 0): FfaProblem[] =>
      problems({ constituents: [{ address, page_count, reserved }] }, "1.2");
    expectProblem(c(0x8800_0000n, 1, 9), "reserved-mbz", "composite.constituents[0].reserved", 108);
    expectProblem(c(0x8800_0800n, 1), "constituent-address-aligned", "composite.constituents[0].address", 96);
    expectProblem(
      c(0xffff_ffff_ffff_f000n, 2),
      "constituent-range-wraps",
      "composite.constituents[0].page_count",
      104,
    );
    expect(c(0xffff_ffff_ffff_f000n, 1)).toEqual([]);
  });

  it("overlapping constituents, in any order", () => {
    const list = problems({
      constituents: [
        { address: 0x4000n, page_count: 1 },
        { address: 0x1000n, page_count: 4 },
        { address: 0x6000n, page_count: 1 },
      ],
    });
    expect(list).toEqual([
      expect.objectContaining({
        rule: "constituents-overlap",
        field: "composite.constituents[0].address",
        offset: 96,
      }),
    ]);
  });

  it("every problem is listed, not just the first", () => {
    const list = problems({ attributes: 0x3f, emads: [{ receiver_id: 1, permissions: 0xff }] }, "1.1", {
      reserved: [1, 1, 1],
      emad_reserved: 1n,
      total_page_count: 0,
    });
    expect(new Set(list.map((p) => p.rule))).toEqual(
      new Set([
        "reserved-mbz",
        "attributes-encoding",
        "permissions-mbz",
        "data-access-reserved",
        "instruction-access-reserved",
        "receiver-is-sender",
        "total-page-count-sum",
      ]),
    );
    expect(list.length).toBe(10); // 3 reserved words, 1 encoding, 3 permission rules, sender, EMAD reserved, sum
  });
});
