/**
 * Planted bugs (issue 11; src/sim/mutations.ts, docs/mutants.md): the explorer finds every mutation of
 * the `safe` model within a fixed budget on test/mutants/pool-race.yaml, and names the invariant or the
 * step expectation it breaks; the model as designed runs the same budget clean. A mutation whose
 * ordering no schedule can expose under `safe` alone (the pool mutex covers it) is shown clean, on
 * purpose, and found once another planted bug lets a buffer live in a chunk being released.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explore, type ExploreOptions, type ExploreResult } from "../../src/explore/explore.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import { loadScenarioFile, type Scenario } from "../../src/scenario/loader.ts";
import { MUTATION_IDS, type MutationId } from "../../src/sim/mutations.ts";

const SCENARIO = loadScenarioFile(join(import.meta.dirname, "pool-race.yaml"), "mutants-pool-race");

/** The fixed budget: every planted bug is found within it, and the model as designed survives it. */
const BUDGET = 25;

const opts = (strategy: ExploreOptions["strategy"]): ExploreOptions => ({
  strategy,
  runs: BUDGET,
  seed: 1,
  windowNs: 100_000,
});

function search(strategy: ExploreOptions["strategy"], ids: readonly MutationId[]): ExploreResult {
  const sc: Scenario = { ...SCENARIO, mutations: ids };
  return explore(sc, opts(strategy));
}

/** The finding messages of invariant `id` in a run. */
function messages(r: RunResult, id: string): string[] {
  return r.findingDetails.filter((f) => f.id === id).map((f) => f.message);
}

/** What each planted bug breaks, as a check on the violating run. */
const CAUGHT_BY: Record<
  Exclude<MutationId, "reclaim-before-destroy">,
  (r: RunResult, why: string) => void
> = {
  // Two growers lend a chunk each: the firewall has one region for protected memory, so one of the
  // allocations fails (a step's `expect: ok`), or the grower whose new chunk the other released uses
  // its freed gen_pool (KASAN).
  "no-pool-mutex": (r, why) => {
    const kasan = messages(r, "kernel-warn").some((m) => m.includes("KASAN: slab-use-after-free"));
    expect(kasan || /DMA_HEAP_IOCTL_ALLOC|expected ok, got E/.test(why)).toBe(true);
  },
  // The release tears down a chunk that holds a buffer again: gen_pool_destroy()'s BUG_ON.
  "refcount-inc": (r) =>
    expect(messages(r, "kernel-warn").join("\n")).toMatch(/BUG.*gen_pool_destroy|gen_pool_destroy.*BUG/),
  "no-tlb-flush": (r) => expect(r.findings["no-stale-tlb"]).toBeGreaterThan(0),
  "no-cache-clean": (r) => expect(r.findings["no-dirty-lend"]).toBeGreaterThan(0),
  "no-scrub": (r) => expect(r.findings["scrub-before-return"]).toBeGreaterThan(0),
  // The reclaimed chunk goes back unmapped: the next lend's DC CIVAC faults on it, and the linear map
  // is not what it was at boot.
  "no-remap": (r) => expect(messages(r, "quiesce-clean").join("\n")).toMatch(/linear map/),
  // The registered buffer is never freed: its chunk stays lent, its pages owned by the secure world.
  "close-keeps-dmabuf": (r) =>
    expect(messages(r, "quiesce-clean").join("\n")).toMatch(/not owned by the world that owned them/),
  "lend-before-unmap": (r) => expect(r.findings["no-speculation-hazard"]).toBeGreaterThan(0),
};

describe("planted bugs on the safe model (test/mutants/pool-race.yaml)", () => {
  it("has a check for every mutation but the latent one", () => {
    expect([...Object.keys(CAUGHT_BY), "reclaim-before-destroy"].sort()).toEqual([...MUTATION_IDS].sort());
  });

  for (const strategy of ["random", "pct"] as const) {
    it(`the model as designed runs ${BUDGET} ${strategy} schedules clean`, () => {
      const r = search(strategy, []);
      expect(r.violation?.why ?? null).toBeNull();
      expect(r.explored).toBe(BUDGET);
      expect(r.distinct).toBeGreaterThan(1);
    });
  }

  for (const [id, check] of Object.entries(CAUGHT_BY)) {
    for (const strategy of ["random", "pct"] as const) {
      it(`${strategy} finds ${id} within ${BUDGET} schedules`, () => {
        const r = search(strategy, [id as MutationId]);
        expect(r.ended).toBe("violation");
        const v = r.violation!;
        expect(v.run).toBeLessThanOrEqual(BUDGET);
        check(v.result, v.why);
      });
    }
  }

  it("refcount-inc needs the explorer: the default schedule runs it clean, a search finds it", () => {
    const sc: Scenario = { ...SCENARIO, mutations: ["refcount-inc"] };
    expect(runScenario(sc).failure).toBeNull();
    expect(explore(sc, opts("random")).violation).not.toBeNull();
  });

  for (const strategy of ["random", "pct"] as const) {
    it(`${strategy} finds reclaim-before-destroy together with refcount-inc: a chunk reclaimed while a buffer lives in it`, () => {
      const both = search(strategy, ["refcount-inc", "reclaim-before-destroy"]);
      expect(both.ended).toBe("violation");
      expect(both.violation!.run).toBeLessThanOrEqual(BUDGET);
      expect(messages(both.violation!.result, "pool-consistency").join("\n")).toMatch(
        /growable pool, use case 1: chunk 0x[0-9a-f]+ \(\+0x[0-9a-f]+\) is reclaimed while [1-9]\d* buffer\(s\) still live in it/,
      );
      // refcount-inc alone tears the chunk down too, but gen_pool_destroy()'s BUG stops the release
      // before the reclaim: the buffer's memory never leaves it (pool-consistency may still see the
      // counts disagree, never a reclaim under a live buffer).
      const alone = search(strategy, ["refcount-inc"]);
      expect(alone.ended).toBe("violation");
      expect(messages(alone.violation!.result, "kernel-warn").join("\n")).toMatch(/gen_pool_destroy/);
      expect(messages(alone.violation!.result, "pool-consistency").join("\n")).not.toMatch(
        /is reclaimed while/,
      );
    });
  }

  it("reclaim-before-destroy stays latent: the pool mutex covers the whole release, so no schedule shows it", () => {
    let reclaims = 0;
    const r = explore(
      { ...SCENARIO, mutations: ["reclaim-before-destroy"] },
      { ...opts("random"), onResult: (_, run) => (reclaims += run?.protmem?.reclaims ?? 0) },
    );
    expect(r.violation?.why ?? null).toBeNull();
    // The mutated release did run, in every schedule: each run reclaims its chunk at least once.
    expect(reclaims).toBeGreaterThanOrEqual(BUDGET);
  });
});
