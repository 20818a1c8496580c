/**
 * Test-only: fast-check arbitraries for FF-A descriptors, shared by the *.test.ts files beside this
 * one. Not exported from index.ts.
 */

import fc from "fast-check";
import type { ConstituentInput, EmadInput, MemRegion, MemRegionInput } from "./mem_region.ts";
import { compositeOffsetFor, emadArrayOffset, emadSize, mtdTotalSize } from "./layout.ts";
import type { FfaVersion } from "./version.ts";

export const versionArb: fc.Arbitrary<FfaVersion> = fc.constantFrom("1.0", "1.1", "1.2");
export const u8 = fc.integer({ min: 0, max: 0xff });
export const u16 = fc.integer({ min: 0, max: 0xffff });
export const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
export const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

/** Attributes with only defined encodings and the NS bit clear (valid in every version and call). */
export const cleanAttributesArb: fc.Arbitrary<number> = fc.oneof(
  fc.constant(0),
  fc.tuple(fc.constantFrom(0, 1, 2, 3), fc.constantFrom(0, 2, 3)).map(([dev, sh]) => 0x10 | (dev << 2) | sh),
  fc.tuple(fc.constantFrom(1, 3), fc.constantFrom(0, 2, 3)).map(([cache, sh]) => 0x20 | (cache << 2) | sh),
);

/** Permissions with defined data and instruction encodings and bits[7:4] clear. */
export const cleanPermissionsArb: fc.Arbitrary<number> = fc
  .tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))
  .map(([d, x]) => d | (x << 2));

/** A well-formed descriptor: distinct receivers ≠ sender, page-aligned disjoint constituents. */
export const cleanInputArb: fc.Arbitrary<MemRegionInput> = fc
  .record({
    sender_id: u16,
    attributes: cleanAttributesArb,
    flags: fc.integer({ min: 0, max: 0x3ff }),
    handle: u64,
    tag: u64,
    receivers: fc.uniqueArray(u16, { minLength: 1, maxLength: 4 }),
    perms: fc.array(cleanPermissionsArb, { minLength: 4, maxLength: 4 }),
    selfBorrower: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
    impdef: fc.array(fc.tuple(u64, u64), { minLength: 4, maxLength: 4 }),
    basePage: fc.bigInt({ min: 0n, max: 1n << 40n }),
    ranges: fc.array(fc.tuple(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 1, max: 1 << 20 })), {
      minLength: 1,
      maxLength: 8,
    }),
  })
  .filter((r) => !r.receivers.includes(r.sender_id))
  .map((r) => {
    const emads: EmadInput[] = r.receivers.map((id, i) => ({
      receiver_id: id,
      permissions: r.perms[i],
      flags: r.selfBorrower[i] ? 1 : 0,
      impdef: r.impdef[i],
    }));
    let page = r.basePage;
    const constituents: ConstituentInput[] = r.ranges.map(([gap, count]) => {
      page += BigInt(gap);
      const c = { address: page << 12n, page_count: count };
      page += BigInt(count);
      return c;
    });
    return {
      sender_id: r.sender_id,
      attributes: r.attributes,
      flags: r.flags,
      handle: r.handle,
      tag: r.tag,
      emads,
      constituents,
    };
  });

/** Any encodable descriptor, reserved fields included: what encode→decode must carry bit for bit. */
export function anyInputArb(version: FfaVersion): fc.Arbitrary<MemRegionInput> {
  const emad: fc.Arbitrary<EmadInput> = fc.record({
    receiver_id: u16,
    permissions: u8,
    flags: u8,
    impdef: fc.tuple(u64, u64),
    reserved: u64,
  });
  const constituent: fc.Arbitrary<ConstituentInput> = fc.record({
    address: u64,
    page_count: fc.integer({ min: 0, max: 1 << 24 }),
    reserved: u32,
  });
  return fc.record({
    sender_id: u16,
    attributes: version === "1.0" ? u8 : u16,
    flags: u32,
    handle: u64,
    tag: u64,
    emads: fc.array(emad, { minLength: 1, maxLength: 4 }),
    constituents: fc.option(fc.array(constituent, { maxLength: 8 }), { nil: null }),
  });
}

/** The MemRegion decode must return for `encodeMemRegion(input, version)` (no overrides). */
export function expectedDecode(input: MemRegionInput, version: FfaVersion): MemRegion {
  const n = input.emads.length;
  const comp = compositeOffsetFor(version, n);
  const cs = input.constituents;
  const length = cs === null ? comp : mtdTotalSize(version, n, cs.length);
  return {
    sender_id: input.sender_id,
    attributes: input.attributes,
    flags: input.flags,
    handle: input.handle ?? 0n,
    tag: input.tag ?? 0n,
    emad_size: emadSize(version),
    emad_count: n,
    emad_offset: emadArrayOffset(version),
    reserved: version === "1.0" ? [0, 0] : [0, 0, 0],
    emads: input.emads.map((e) => ({
      receiver_id: e.receiver_id,
      permissions: e.permissions,
      flags: e.flags ?? 0,
      composite_offset: e.composite_offset ?? (cs === null ? 0 : comp),
      impdef: version === "1.2" ? (e.impdef ?? [0n, 0n]) : null,
      reserved: e.reserved ?? 0n,
    })),
    composite:
      cs === null
        ? null
        : {
            offset: comp,
            total_page_count: cs.reduce((s, c) => s + c.page_count, 0),
            address_range_count: cs.length,
            reserved: 0n,
            constituents: cs.map((c) => ({
              address: c.address,
              page_count: c.page_count,
              reserved: c.reserved ?? 0,
            })),
          },
    length,
  };
}
