import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { SECTION_SIZE } from "../../src/kernel/mm/direct_map.ts";
import {
  bootPteRegion,
  remapAfterReclaim,
  UNMAP_KINDS,
  unmapForLend,
  unmapSupport,
  type UnmapKind,
} from "../../src/kernel/mm/unmap.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { runTask } from "./mm-fixture.ts";
import {
  bootUnmap,
  CMA_BASE,
  CMA_SIZE,
  PAGE,
  translationRuns,
  unmapPlatform,
  type UnmapPlatform,
} from "./unmap-fixture.ts";

const PLATFORMS: readonly { label: string; p: UnmapPlatform }[] = [
  { label: "rodata=full", p: {} },
  { label: "rodata=full + BBML2 (blocks)", p: { mmu: { bbml2: true } } },
  { label: "rodata=on + ll-map CMA", p: { mmu: { rodataFull: false }, llMap: true } },
  { label: "rodata=on + BBML3 + pKVM", p: { mmu: { rodataFull: false, bbml3: true }, hypervisor: "pkvm" } },
];

interface Plan {
  /** Disjoint chunks [pa, pa + size) in the CMA area. */
  readonly chunks: readonly { pa: number; size: number }[];
  /** Lend and reclaim events in the order they run: chunk index, and whether it is the lend. */
  readonly events: readonly { chunk: number; lend: boolean }[];
}

/** Random disjoint chunks (whole sections for linear-remove), each lent then reclaimed, in a random interleaving. */
function planArb(kind: UnmapKind): fc.Arbitrary<Plan> {
  const unit = kind === "linear-remove" ? SECTION_SIZE : PAGE;
  const maxUnits = CMA_SIZE / unit;
  const piece =
    kind === "linear-remove"
      ? fc.record({ gap: fc.integer({ min: 0, max: 1 }), units: fc.constant(1) })
      : fc.record({ gap: fc.integer({ min: 0, max: 700 }), units: fc.integer({ min: 1, max: 1100 }) });
  return fc
    .record({
      pieces: fc.array(piece, { minLength: 1, maxLength: 6 }),
      keys: fc.array(fc.tuple(fc.nat(1000), fc.nat(1000)), { minLength: 6, maxLength: 6 }),
    })
    .map(({ pieces, keys }) => {
      const chunks: { pa: number; size: number }[] = [];
      let cursor = 0;
      for (const { gap, units } of pieces) {
        cursor += gap;
        if (cursor + units > maxUnits) break;
        chunks.push({ pa: CMA_BASE + cursor * unit, size: units * unit });
        cursor += units;
      }
      const ev = chunks.flatMap((_, i) => [
        { chunk: i, lend: true, key: keys[i][0] },
        { chunk: i, lend: false, key: keys[i][0] + keys[i][1] + 1 },
      ]);
      ev.sort((a, b) => a.key - b.key || a.chunk - b.chunk);
      return { chunks, events: ev.map(({ chunk, lend }) => ({ chunk, lend })) };
    })
    .filter((plan) => plan.chunks.length > 0);
}

function desc(p: UnmapPlatform): PlatformDesc {
  return { ...PRESETS["tzc400-board"], ...unmapPlatform(p) } as PlatformDesc;
}

describe("after any sequence of lends and reclaims the linear map, its memory types and the host stage-2 are as at boot", () => {
  for (const { label, p } of PLATFORMS) {
    const kinds = UNMAP_KINDS.filter((k) => unmapSupport(desc(p), k) === null);
    for (const kind of kinds) {
      it(`${kind} on ${label}`, () => {
        fc.assert(
          fc.property(planArb(kind), (plan) => {
            const b = bootUnmap(p);
            const m = b.machine;
            if (kind === "boot-pte-region") bootPteRegion(m, CMA_BASE, CMA_SIZE);
            const atBoot = translationRuns(m);
            runTask(b.sim, function* () {
              for (const { chunk, lend } of plan.events) {
                const { pa, size } = plan.chunks[chunk];
                if (!lend) {
                  expect(yield* remapAfterReclaim(b.mm, kind, pa, size)).toBe(0);
                  continue;
                }
                expect(yield* unmapForLend(b.mm, kind, pa, size)).toBe(0);
                // While lent, the CPU cannot speculate into it (lend-pool: not through the tables; its TLB is the finding).
                for (const a of [pa, pa + size - PAGE]) {
                  const i = m.frames.indexOf(a);
                  if (kind === "none") expect(m.cacheableInNormalWorld(i)).toBe(true);
                  else if (kind === "lend-pool") expect(m.directMap.mappedCacheable(a)).toBe(false);
                  else expect(m.cacheableInNormalWorld(i)).toBe(false);
                }
              }
            });
            expect(translationRuns(m)).toEqual(atBoot);
            expect(m.stage2?.holeCount ?? 0).toBe(0);
            expect(b.count("no-stale-tlb")).toBe(0);
          }),
          { numRuns: 20, seed: 7 },
        );
      });
    }
  }
});
