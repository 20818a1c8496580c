import { describe, expect, it } from "vitest";
import { FFA_MEM_RW, FFA_NORMAL_MEM_REG_ATTR } from "./attributes.ts";
import { FFA_MEM_SHARE_64 } from "./func.ts";
import { describeDescriptor, describeRelinquish, parseHexOrBytes } from "./json.ts";
import { encodeMemRegion } from "./mem_region.ts";
import { encodeRelinquish } from "./relinquish.ts";

const bytes = encodeMemRegion(
  {
    sender_id: 0x0001,
    attributes: FFA_NORMAL_MEM_REG_ATTR,
    flags: 0,
    handle: 0x8000_0000_0000_0007n,
    emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
    constituents: [{ address: 0x8800_0000n, page_count: 16 }],
  },
  "1.2",
);

describe("describeDescriptor", () => {
  it("names every field, with hex handles and addresses and typed forms beside the raw numbers", () => {
    const out = describeDescriptor(bytes, "1.2");
    expect(out).toMatchObject({
      descriptor: "ffa_mem_region",
      version: "1.2",
      length: 112,
      decoded: true,
      header: {
        sender_id: "0x0001",
        attributes: {
          raw: 0x2f,
          type: "normal",
          cacheability: "write-back",
          shareability: "inner",
          ns: false,
        },
        flags: { raw: 0, transaction_type: "unspecified", zero_memory: false },
        handle: "0x8000000000000007",
        handle_allocator: "hypervisor",
        emad_size: 32,
        emad_count: 1,
        emad_offset: 48,
        reserved: [0, 0, 0],
      },
      emads: [
        {
          offset: 48,
          receiver_id: "0x8001",
          permissions: { raw: 2, data: "rw", instruction: "not-specified" },
          composite_offset: 80,
          impdef: ["0x0000000000000000", "0x0000000000000000"],
        },
      ],
      composite: {
        offset: 80,
        total_page_count: 16,
        address_range_count: 1,
        constituents: [
          { offset: 96, address: "0x0000000088000000", page_count: 16, end: "0x0000000088010000" },
        ],
      },
      problems: [],
    });
  });

  it("defaults to v1.2 and lists validate()'s problems, with the call's rules when given", () => {
    expect(describeDescriptor(bytes).version).toBe("1.2");
    const asV11 = describeDescriptor(bytes, "1.1");
    expect(asV11.problems).toContainEqual(
      expect.objectContaining({ rule: "emad-size-for-version", offset: 24 }),
    );
    const ns = encodeMemRegion(
      {
        sender_id: 1,
        attributes: 0x6f,
        flags: 0,
        emads: [{ receiver_id: 2, permissions: 2 }],
        constituents: [],
      },
      "1.2",
    );
    expect(describeDescriptor(ns, "1.2", { func: FFA_MEM_SHARE_64 }).problems).toContainEqual(
      expect.objectContaining({ rule: "ns-bit-mbz" }),
    );
  });

  it("reports an undecodable buffer as decoded: false with the decode error as its problem", () => {
    const out = describeDescriptor(bytes.subarray(0, 20), "1.2");
    expect(out).toEqual({
      descriptor: "ffa_mem_region",
      version: "1.2",
      length: 20,
      decoded: false,
      problems: [expect.objectContaining({ field: "header", offset: 0, rule: "header-in-bounds" })],
    });
  });

  it("describes relinquish descriptors too", () => {
    const out = describeRelinquish(encodeRelinquish({ handle: 7n, flags: 1, endpoints: [0x8001] }));
    expect(out).toMatchObject({
      decoded: true,
      handle: "0x0000000000000007",
      handle_allocator: "spmc",
      flags: { raw: 1, zero_after_relinquish: true },
      endpoint_count: 1,
      endpoints: ["0x8001"],
      problems: [],
    });
  });
});

describe("parseHexOrBytes", () => {
  it.each([
    ["2f0001ff", [0x2f, 0x00, 0x01, 0xff]],
    ["0x2F0001FF", [0x2f, 0x00, 0x01, 0xff]],
    ["2f 00\n01\tff", [0x2f, 0x00, 0x01, 0xff]],
    ["2f:00:01:ff", [0x2f, 0x00, 0x01, 0xff]],
    ["[0x2f, 0x00, 0x01, 0xff]", [0x2f, 0x00, 0x01, 0xff]],
    ["  ", []],
  ])("parses %j", (text, want) => {
    expect(parseHexOrBytes(text)).toEqual({ ok: true, value: new Uint8Array(want) });
  });

  it("rejects a non-hex character with its position, and an odd digit count", () => {
    const bad = parseHexOrBytes("2f0g");
    expect(!bad.ok && bad.error.offset).toBe(3);
    const odd = parseHexOrBytes("2f0");
    expect(odd.ok).toBe(false);
  });

  it("parses an @FILE's bytes as hex when they are hex text, else passes them through", () => {
    const text = new TextEncoder().encode("2f 00\n");
    expect(parseHexOrBytes(text)).toEqual({ ok: true, value: new Uint8Array([0x2f, 0x00]) });
    expect(parseHexOrBytes(bytes)).toEqual({ ok: true, value: bytes });
  });

  it("hex of an encoded descriptor decodes to the same description", () => {
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    const parsed = parseHexOrBytes(hex);
    expect(parsed.ok && describeDescriptor(parsed.value)).toEqual(describeDescriptor(bytes));
  });
});
