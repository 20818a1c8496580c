import { describe, expect, it } from "vitest";
import fc from "fast-check";
import type { World } from "../../src/hw/platform.ts";
import {
  TZC_ALLOWED,
  TZC_DENIED,
  TZC_OVERLAP,
  TZC_REGION_S_NONE,
  TZC_REGION_S_RD,
  TZC_REGION_S_RDWR,
  TZC_REGION_S_WR,
  Tzc400,
  tzcAccessRd,
  tzcAccessRdWr,
  tzcAccessWr,
  type TzcRegionConfig,
} from "../../src/hw/tzc400.ts";

const PAGE = 4096;
/** A small window so random regions overlap often. */
const WINDOW_BASE = 0x8000_0000;
const WINDOW_PAGES = 64;
const EINVAL = -22;

interface RefRegion {
  readonly base: number;
  readonly top: number;
  readonly secAttr: number;
  readonly access: number;
}

/** The reference: hardware.md §1.4–1.5 applied page by page. */
function refCheck(
  region0: { secAttr: number; access: number },
  regions: readonly (RefRegion | null)[],
  world: World,
  nsaid: number,
  pa: number,
  length: number,
  write: boolean,
): number {
  let denied = false;
  for (let page = Math.floor(pa / PAGE); page <= Math.floor((pa + length - 1) / PAGE); page++) {
    const a = page * PAGE;
    const hits = regions.filter((r): r is RefRegion => r !== null && r.base <= a && r.top >= a + PAGE - 1);
    if (hits.length >= 2) return TZC_OVERLAP;
    const r = hits.length === 1 ? hits[0] : region0;
    let ok: boolean;
    if (world === "s") ok = (r.secAttr & (write ? TZC_REGION_S_WR : TZC_REGION_S_RD)) !== 0;
    else ok = ((r.access >>> (write ? 16 + nsaid : nsaid)) & 1) === 1;
    if (!ok) denied = true;
  }
  return denied ? TZC_DENIED : TZC_ALLOWED;
}

const accessBits = fc.integer({ min: 0, max: 0xffff_ffff });
const secAttr = fc.constantFrom(TZC_REGION_S_NONE, TZC_REGION_S_RD, TZC_REGION_S_WR, TZC_REGION_S_RDWR);

const regionArb: fc.Arbitrary<RefRegion | null> = fc.option(
  fc
    .tuple(
      fc.integer({ min: 0, max: WINDOW_PAGES - 1 }),
      fc.integer({ min: 1, max: 16 }),
      secAttr,
      accessBits,
    )
    .map(([first, pages, s, access]) => ({
      base: WINDOW_BASE + first * PAGE,
      top: WINDOW_BASE + Math.min(WINDOW_PAGES, first + pages) * PAGE - 1,
      secAttr: s,
      access,
    })),
  { nil: null, freq: 3 },
);

const accessArb = fc.record({
  world: fc.constantFrom<World>("ns", "s"),
  nsaid: fc.integer({ min: 0, max: 15 }),
  // Accesses may start a little below the window and run past it, into region 0.
  pa: fc.integer({ min: WINDOW_BASE - 2 * PAGE, max: WINDOW_BASE + (WINDOW_PAGES + 1) * PAGE }),
  length: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 3 * PAGE })),
  write: fc.boolean(),
});

function configure(tzc: Tzc400, regions: readonly (RefRegion | null)[]): void {
  regions.forEach((r, k) => {
    if (r) expect(tzc.configureRegion(k + 1, { ...r, nsDeviceAccess: r.access })).toBe(0);
  });
}

describe("Tzc400.check against a per-page reference", () => {
  it("random region sets (overlapping or not) decide every access as the reference does", () => {
    fc.assert(
      fc.property(
        secAttr,
        accessBits,
        fc.array(regionArb, { minLength: 8, maxLength: 8 }),
        fc.array(accessArb, { minLength: 1, maxLength: 20 }),
        (s0, a0, regions, accesses) => {
          const tzc = new Tzc400(8, "err");
          tzc.configureRegion0(s0, a0);
          configure(tzc, regions);
          for (const x of accesses) {
            const want = refCheck(
              { secAttr: s0, access: a0 },
              regions,
              x.world,
              x.nsaid,
              x.pa,
              x.length,
              x.write,
            );
            const before = tzc.fail ? { ...tzc.fail } : null;
            expect(tzc.check(x.world, x.nsaid, x.pa, x.length, x.write), JSON.stringify(x)).toBe(want);
            if (want === TZC_OVERLAP) expect(tzc.overlap).toBe(true);
            if (want === TZC_ALLOWED) {
              expect(tzc.fail).toEqual(before);
            } else if (before === null) {
              // The first failure is latched: its direction, security and ID, at an address inside the access.
              expect(tzc.fail).toMatchObject({ write: x.write, nonSecure: x.world === "ns", id: x.nsaid });
              expect(tzc.fail!.address).toBeGreaterThanOrEqual(x.pa);
              expect(tzc.fail!.address).toBeLessThan(x.pa + x.length);
            } else {
              expect(tzc.fail).toEqual(before);
              expect(tzc.overrun).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("non-overlapping region sets never report an overlap, and disabling a region hands its pages to region 0", () => {
    const disjoint = fc
      .uniqueArray(fc.integer({ min: 0, max: WINDOW_PAGES / 4 - 1 }), { minLength: 0, maxLength: 8 })
      .chain((slots) =>
        fc.tuple(
          ...slots.map((slot) =>
            fc.tuple(fc.integer({ min: 1, max: 4 }), secAttr, accessBits).map(([pages, s, access]) => ({
              base: WINDOW_BASE + slot * 4 * PAGE,
              top: WINDOW_BASE + (slot * 4 + pages) * PAGE - 1,
              secAttr: s,
              access,
            })),
          ),
        ),
      );
    fc.assert(
      fc.property(
        disjoint,
        fc.integer({ min: 0, max: 7 }),
        fc.array(accessArb, { minLength: 1, maxLength: 20 }),
        (regions, off, accesses) => {
          const tzc = new Tzc400(8, "err");
          configure(tzc, regions);
          const ref: (RefRegion | null)[] = [...regions];
          if (regions.length > 0) {
            const k = off % regions.length;
            tzc.disableRegion(k + 1);
            ref[k] = null;
          }
          for (const x of accesses) {
            const got = tzc.check(x.world, x.nsaid, x.pa, x.length, x.write);
            expect(got).not.toBe(TZC_OVERLAP);
            expect(got).toBe(
              refCheck({ secAttr: 0, access: 0 }, ref, x.world, x.nsaid, x.pa, x.length, x.write),
            );
          }
          expect(tzc.overlap).toBe(false);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("Tzc400 examples", () => {
  const region: TzcRegionConfig = {
    base: 0x8000_0000,
    top: 0x801f_ffff,
    secAttr: TZC_REGION_S_RDWR,
    nsDeviceAccess: tzcAccessRdWr(1),
  };

  it("configureRegion rejects an unaligned base or top and base >= top with -22, changing nothing", () => {
    const tzc = new Tzc400(8, "err");
    const bad: TzcRegionConfig[] = [
      { ...region, base: region.base + 0x800 },
      { ...region, top: region.top - 0x10 },
      { ...region, top: region.top + 1 },
      { ...region, base: region.top + 1 },
      { ...region, base: 0x8000_1000, top: 0x8000_0fff },
    ];
    for (const cfg of bad) expect(tzc.configureRegion(1, cfg), JSON.stringify(cfg)).toBe(EINVAL);
    expect(tzc.regions[1].enabled).toBe(false);
    expect(tzc.programmed).toBe(0);
    expect(tzc.freeRegion()).toBe(1);
  });

  it("configureRegion rejects region 0 and numbers past the last region with -22", () => {
    const tzc = new Tzc400(8, "err");
    expect(tzc.configureRegion(0, region)).toBe(EINVAL);
    expect(tzc.configureRegion(9, region)).toBe(EINVAL);
    expect(tzc.configureRegion(-1, region)).toBe(EINVAL);
  });

  it("region 0 only changes permissions: it still covers every address no other region covers", () => {
    const tzc = new Tzc400(8, "err");
    tzc.configureRegion0(TZC_REGION_S_RD, tzcAccessRd(3));
    expect(tzc.regions[0]).toMatchObject({ enabled: true, base: 0, top: Number.MAX_SAFE_INTEGER });
    expect(tzc.check("ns", 3, 0x1000, 4, false)).toBe(TZC_ALLOWED);
    expect(tzc.check("ns", 3, 0xf_ffff_f000, 4, false)).toBe(TZC_ALLOWED);
    expect(tzc.check("ns", 3, 0x1000, 4, true)).toBe(TZC_DENIED);
    expect(tzc.check("ns", 4, 0x1000, 4, false)).toBe(TZC_DENIED);
    expect(tzc.check("s", 0, 0x1000, 4, true)).toBe(TZC_DENIED);
    expect(tzc.check("s", 0, 0x1000, 4, false)).toBe(TZC_ALLOWED);
  });

  it("a region's top is inclusive: the byte after it falls to region 0", () => {
    const tzc = new Tzc400(8, "err");
    tzc.configureRegion0(TZC_REGION_S_NONE, 0);
    expect(tzc.configureRegion(1, { ...region, nsDeviceAccess: tzcAccessRd(0) })).toBe(0);
    expect(tzc.check("ns", 0, region.top, 1, false)).toBe(TZC_ALLOWED);
    expect(tzc.check("ns", 0, region.top + 1, 1, false)).toBe(TZC_DENIED);
    expect(tzc.check("ns", 0, region.top, 2, false)).toBe(TZC_DENIED);
  });

  it("NSAID write enables sit in bits 31:16, including NSAID 15's sign bit", () => {
    const tzc = new Tzc400(8, "err");
    expect(tzcAccessWr(15) >>> 0).toBe(0x8000_0000);
    expect(tzc.configureRegion(1, { ...region, nsDeviceAccess: tzcAccessWr(15) })).toBe(0);
    expect(tzc.check("ns", 15, region.base, 64, true)).toBe(TZC_ALLOWED);
    expect(tzc.check("ns", 15, region.base, 64, false)).toBe(TZC_DENIED);
  });

  it("the fail registers latch the first failure and set overrun on the next", () => {
    const tzc = new Tzc400(8, "err");
    tzc.configureRegion0(TZC_REGION_S_RDWR, 0);
    expect(tzc.check("ns", 2, 0x4000_1000, 8, true)).toBe(TZC_DENIED);
    expect(tzc.fail).toEqual({ address: 0x4000_1000, write: true, nonSecure: true, id: 2 });
    expect(tzc.overrun).toBe(false);
    expect(tzc.check("ns", 5, 0x4000_9000, 8, false)).toBe(TZC_DENIED);
    expect(tzc.fail).toEqual({ address: 0x4000_1000, write: true, nonSecure: true, id: 2 });
    expect(tzc.overrun).toBe(true);
    tzc.intClear();
    expect([tzc.fail, tzc.overrun, tzc.overlap]).toEqual([null, false, false]);
    expect(tzc.check("ns", 5, 0x4000_9000, 8, false)).toBe(TZC_DENIED);
    expect(tzc.fail).toMatchObject({ address: 0x4000_9000, write: false, id: 5 });
  });

  it("an allowed access latches nothing", () => {
    const tzc = new Tzc400(8, "err");
    tzc.configureRegion0(TZC_REGION_S_RDWR, tzcAccessRdWr(0));
    expect(tzc.check("ns", 0, 0x4000_0000, 4096, true)).toBe(TZC_ALLOWED);
    expect(tzc.fail).toBeNull();
  });

  it("an access to two overlapping enabled regions is denied as OVERLAP and latched", () => {
    const tzc = new Tzc400(8, "err");
    tzc.configureRegion0(TZC_REGION_S_RDWR, tzcAccessRdWr(1));
    expect(tzc.configureRegion(1, region)).toBe(0);
    expect(
      tzc.configureRegion(2, { ...region, base: region.base + 0x10_0000, top: region.top + 0x10_0000 }),
    ).toBe(0);
    expect(tzc.check("ns", 1, region.base, 64, false)).toBe(TZC_ALLOWED);
    expect(tzc.check("ns", 1, region.base + 0x10_0000, 64, false)).toBe(TZC_OVERLAP);
    expect(tzc.overlap).toBe(true);
    expect(tzc.fail).toMatchObject({ address: region.base + 0x10_0000 });
  });

  it("the region count is a limit: freeRegion() returns -1 once all 8 are in use, and a disabled one is free again", () => {
    const tzc = new Tzc400(8, "err");
    for (let n = 1; n <= 8; n++) {
      expect(tzc.freeRegion()).toBe(n);
      const base = 0x8000_0000 + n * 0x10_0000;
      expect(tzc.configureRegion(n, { ...region, base, top: base + 0xf_ffff })).toBe(0);
    }
    expect(tzc.freeRegion()).toBe(-1);
    expect(tzc.programmableRegions).toBe(8);
    tzc.disableRegion(3);
    expect(tzc.freeRegion()).toBe(3);
  });
});
