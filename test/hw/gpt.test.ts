import { describe, expect, it } from "vitest";
import fc from "fast-check";
import {
  GPT_EINVAL,
  GPT_EPERM,
  GPT_GPI_ANY,
  GPT_GPI_NO_ACCESS,
  GPT_GPI_NS,
  GPT_GPI_REALM,
  GPT_GPI_ROOT,
  GPT_GPI_SECURE,
  GranuleProtectionTable,
} from "../../src/hw/gpt.ts";
import type { World } from "../../src/hw/platform.ts";

const G = 4096;
const BASE = 0x8000_0000;
const BASE_PFN = BASE / G;
const GRANULES = 256;

const GPIS = [GPT_GPI_NO_ACCESS, GPT_GPI_SECURE, GPT_GPI_NS, GPT_GPI_ROOT, GPT_GPI_REALM, GPT_GPI_ANY];

function table(): GranuleProtectionTable {
  return new GranuleProtectionTable(BASE_PFN, GRANULES);
}

describe("GranuleProtectionTable transitions", () => {
  it("the secure world moves one granule NS -> SECURE and back, and nothing else changes", () => {
    const gpt = table();
    const pa = BASE + 10 * G;
    expect(gpt.transition(pa, GPT_GPI_SECURE, "s")).toBe(0);
    expect(gpt.gpiAt(pa)).toBe(GPT_GPI_SECURE);
    expect([gpt.gpiAt(pa - G), gpt.gpiAt(pa + G)]).toEqual([GPT_GPI_NS, GPT_GPI_NS]);
    expect(gpt.transitions).toBe(1);
    expect(gpt.transition(pa, GPT_GPI_NS, "s")).toBe(0);
    expect(gpt.gpiAt(pa)).toBe(GPT_GPI_NS);
    expect(gpt.transitions).toBe(2);
  });

  it("a transition by the normal world is EPERM and leaves the granule as it was", () => {
    const gpt = table();
    expect(gpt.transition(BASE, GPT_GPI_SECURE, "ns")).toBe(GPT_EPERM);
    expect(gpt.gpiAt(BASE)).toBe(GPT_GPI_NS);
    gpt.initRange(1, 1, GPT_GPI_SECURE);
    expect(gpt.transition(BASE + G, GPT_GPI_NS, "ns")).toBe(GPT_EPERM);
    expect(gpt.gpiAt(BASE + G)).toBe(GPT_GPI_SECURE);
    expect(gpt.transitions).toBe(0);
  });

  it("the secure world may not make Realm, Root, Any, No-access or same-GPI transitions (EPERM)", () => {
    const gpt = table();
    gpt.initRange(1, 1, GPT_GPI_ROOT);
    gpt.initRange(2, 1, GPT_GPI_REALM);
    gpt.initRange(3, 1, GPT_GPI_SECURE);
    const cases: [number, number][] = [
      [BASE, GPT_GPI_REALM],
      [BASE, GPT_GPI_ROOT],
      [BASE, GPT_GPI_ANY],
      [BASE, GPT_GPI_NO_ACCESS],
      [BASE, GPT_GPI_NS],
      [BASE + G, GPT_GPI_NS],
      [BASE + G, GPT_GPI_SECURE],
      [BASE + 2 * G, GPT_GPI_NS],
      [BASE + 3 * G, GPT_GPI_SECURE],
    ];
    for (const [pa, target] of cases)
      expect(gpt.transition(pa, target, "s"), `${pa.toString(16)} -> ${target}`).toBe(GPT_EPERM);
    expect([0, 1, 2, 3].map((k) => gpt.gpiAt(BASE + k * G))).toEqual([
      GPT_GPI_NS,
      GPT_GPI_ROOT,
      GPT_GPI_REALM,
      GPT_GPI_SECURE,
    ]);
    expect(gpt.transitions).toBe(0);
  });

  it("a misaligned address or one outside the table is EINVAL", () => {
    const gpt = table();
    for (const pa of [BASE + 0x800, BASE + G + 1, BASE - G, BASE + GRANULES * G, 0]) {
      expect(gpt.transition(pa, GPT_GPI_SECURE, "s"), pa.toString(16)).toBe(GPT_EINVAL);
    }
    expect(gpt.transitions).toBe(0);
  });

  it("random transition sequences agree with a table of allowed NS <-> SECURE moves, and the non-NS count with a scan", () => {
    const step = fc.record({
      granule: fc.integer({ min: -2, max: GRANULES + 1 }),
      target: fc.constantFrom(...GPIS),
      caller: fc.constantFrom<World>("s", "ns"),
    });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const gpt = table();
        const ref = new Uint8Array(GRANULES).fill(GPT_GPI_NS);
        let done = 0;
        for (const { granule, target, caller } of steps) {
          const rc = gpt.transition(BASE + granule * G, target, caller);
          if (granule < 0 || granule >= GRANULES) {
            expect(rc).toBe(GPT_EINVAL);
            continue;
          }
          const cur = ref[granule];
          const ok =
            caller === "s" &&
            ((cur === GPT_GPI_NS && target === GPT_GPI_SECURE) ||
              (cur === GPT_GPI_SECURE && target === GPT_GPI_NS));
          expect(rc).toBe(ok ? 0 : GPT_EPERM);
          if (ok) {
            ref[granule] = target;
            done++;
          }
        }
        expect(Array.from(gpt.gpi)).toEqual(Array.from(ref));
        expect(gpt.transitions).toBe(done);
        // The count quiesce-clean reads instead of scanning the table.
        expect(gpt.nonNsGranules).toBe(ref.filter((g) => g !== GPT_GPI_NS).length);
        // The normal world's access to each granule follows its GPI, whatever the fast path does.
        for (let k = 0; k < GRANULES; k++)
          expect(gpt.permits("ns", BASE + k * G, G)).toBe(ref[k] === GPT_GPI_NS);
      }),
      { numRuns: 200 },
    );
  });
});

describe("GranuleProtectionTable.permits", () => {
  /** Which GPIs each world may access (hardware.md §2.1: NS state NS PAS only; Secure state Secure and NS). */
  const ALLOWED: Record<World, readonly number[]> = {
    ns: [GPT_GPI_NS, GPT_GPI_ANY],
    s: [GPT_GPI_SECURE, GPT_GPI_NS, GPT_GPI_ANY],
  };

  for (const world of ["ns", "s"] as const) {
    it(`the ${world} world may access exactly the granules whose GPI its PAS reaches`, () => {
      const gpt = table();
      GPIS.forEach((gpi, k) => gpt.initRange(k, 1, gpi));
      for (const [k, gpi] of GPIS.entries()) {
        expect(gpt.permits(world, BASE + k * G, G), `GPI ${gpi}`).toBe(ALLOWED[world].includes(gpi));
        expect(gpt.permits(world, BASE + k * G + 100, 8), `GPI ${gpi}, inside the granule`).toBe(
          ALLOWED[world].includes(gpi),
        );
      }
    });
  }

  it("a range is permitted only if every granule it touches is", () => {
    const gpt = table();
    gpt.initRange(5, 1, GPT_GPI_SECURE);
    expect(gpt.permits("ns", BASE + 4 * G, G)).toBe(true);
    expect(gpt.permits("ns", BASE + 4 * G, G + 1)).toBe(false);
    expect(gpt.permits("ns", BASE + 6 * G - 1, 2)).toBe(false);
    expect(gpt.permits("ns", BASE, 5 * G)).toBe(true);
    expect(gpt.permits("s", BASE, 10 * G)).toBe(true);
  });

  it("with every granule NS the normal world passes everywhere in the table, and loses a granule once it turns SECURE", () => {
    const gpt = table();
    expect(gpt.permits("ns", BASE, GRANULES * G)).toBe(true);
    expect(gpt.transition(BASE + 7 * G, GPT_GPI_SECURE, "s")).toBe(0);
    expect(gpt.permits("ns", BASE, GRANULES * G)).toBe(false);
    expect(gpt.permits("ns", BASE + 7 * G, 1)).toBe(false);
    expect(gpt.permits("s", BASE + 7 * G, 1)).toBe(true);
    expect(gpt.transition(BASE + 7 * G, GPT_GPI_NS, "s")).toBe(0);
    expect(gpt.permits("ns", BASE, GRANULES * G)).toBe(true);
  });

  it("gpiAt outside the table is NO_ACCESS", () => {
    const gpt = table();
    expect(gpt.gpiAt(BASE - 1)).toBe(GPT_GPI_NO_ACCESS);
    expect(gpt.gpiAt(BASE + GRANULES * G)).toBe(GPT_GPI_NO_ACCESS);
  });

  it("permits() outside the table agrees with gpiAt's NO_ACCESS, whatever the granules inside hold", () => {
    const gpt = table();
    const outside = [BASE - G, BASE + GRANULES * G];
    // Before any granule leaves NS, and after one does: the answer about other addresses must not change.
    expect(outside.map((pa) => gpt.permits("ns", pa, G))).toEqual([false, false]);
    expect(gpt.transition(BASE, GPT_GPI_SECURE, "s")).toBe(0);
    expect(outside.map((pa) => gpt.permits("ns", pa, G))).toEqual([false, false]);
    expect(outside.map((pa) => gpt.permits("s", pa, G))).toEqual([false, false]);
  });
});
