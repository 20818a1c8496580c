/**
 * The policy table (rstmem policies --table): each named policy × each platform runs the same
 * secure-video session and reports exactly its expected findings and no others; docs/policies.md holds
 * the table as generated.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { normaliseTable, tableOf } from "../../src/report/policy_doc.ts";
import { policyTable, policyTableMarkdown, type PolicyTableRow } from "../../src/report/policy_table.ts";

const rows = policyTable();
const cell = (policy: string, platform: string): PolicyTableRow =>
  rows.find((r) => r.policy === policy && r.platform === platform)!;
const found = (r: PolicyTableRow): Record<string, number> =>
  Object.fromEntries(Object.entries(r.result!.findings).filter(([, n]) => n > 0));
const ids = (r: PolicyTableRow): string[] => Object.keys(found(r)).sort();

/** Every cell's findings (ids with a count above 0), or the refusal: the whole table, no others. */
const HAZARDS = ["no-dirty-lend", "no-speculation-hazard", "scrub-before-return"];
const EXPECTED: Record<string, Record<string, string[] | "refused">> = {
  upstream: {
    "qemu-virt": ["protected-when-lent"],
    "tzc400-board": HAZARDS,
    "fvp-rme": [],
    "tzc400-board+bbml2": HAZARDS,
    "tzc400-board+pkvm": HAZARDS,
  },
  safe: {
    "qemu-virt": ["protected-when-lent"],
    "tzc400-board": [],
    "fvp-rme": [],
    "tzc400-board+bbml2": [],
    "tzc400-board+pkvm": [],
  },
  carveout: {
    "qemu-virt": ["protected-when-lent"],
    "tzc400-board": [],
    "fvp-rme": [],
    "tzc400-board+bbml2": [],
    "tzc400-board+pkvm": [],
  },
  "lend-pool": {
    "qemu-virt": ["protected-when-lent"],
    "tzc400-board": ["no-dirty-lend", "no-speculation-hazard", "no-stale-tlb", "scrub-before-return"],
    "fvp-rme": ["scrub-before-return"],
    "tzc400-board+bbml2": "refused",
    "tzc400-board+pkvm": ["no-dirty-lend", "no-speculation-hazard", "no-stale-tlb", "scrub-before-return"],
  },
  "tegra-vpr": {
    "qemu-virt": ["break-before-make", "protected-when-lent", "scrub-before-return"],
    "tzc400-board": ["break-before-make", ...HAZARDS],
    "fvp-rme": ["break-before-make", "scrub-before-return"],
    "tzc400-board+bbml2": ["break-before-make", ...HAZARDS],
    "tzc400-board+pkvm": ["break-before-make", ...HAZARDS],
  },
};

describe("each policy on each platform", () => {
  it("reports exactly its expected findings and no others, in every cell", () => {
    const got: Record<string, Record<string, string[] | "refused">> = {};
    for (const r of rows) (got[r.policy] ??= {})[r.platform] = r.result ? ids(r) : "refused";
    expect(got).toEqual(EXPECTED);
  });

  it("upstream breaks what the review feared, per platform", () => {
    expect(ids(cell("upstream", "tzc400-board"))).toEqual([
      "no-dirty-lend",
      "no-speculation-hazard",
      "scrub-before-return",
    ]);
    expect(ids(cell("upstream", "qemu-virt"))).toEqual(["protected-when-lent"]);
    // On fvp-rme OP-TEE 4.9's retrieve is refused: nothing is ever lent, every allocation fails.
    expect(ids(cell("upstream", "fvp-rme"))).toEqual([]);
    expect(cell("upstream", "fvp-rme").result!.errnos).toEqual({ EINVAL: 1 });
  });

  it("safe closes every finding, except protected-when-lent where nothing can protect", () => {
    for (const p of ["tzc400-board", "fvp-rme", "tzc400-board+bbml2", "tzc400-board+pkvm"])
      expect(ids(cell("safe", p))).toEqual([]);
    // Under a hypervisor, safe unmaps at stage 2: one hypercall to take the chunk away, one to give it back.
    expect(cell("safe", "tzc400-board+pkvm").result!.machine.stage2Hypercalls).toBe(2);
    expect(ids(cell("safe", "qemu-virt"))).toEqual(["protected-when-lent"]);
    for (const p of ["tzc400-board", "fvp-rme", "qemu-virt"])
      expect(cell("safe", p).result!.errnos).toEqual({});
  });

  it("carveout is safe and lends once, never reclaiming", () => {
    for (const p of ["tzc400-board", "fvp-rme"]) {
      expect(ids(cell("carveout", p))).toEqual([]);
      expect(cell("carveout", p).result!.protmem).toMatchObject({ lends: 1, reclaims: 0 });
    }
  });

  it("lend-pool as written leaves a stale TLB entry and dirty lines on a bus-side firewall", () => {
    expect(ids(cell("lend-pool", "tzc400-board"))).toEqual([
      "no-dirty-lend",
      "no-speculation-hazard",
      "no-stale-tlb",
      "scrub-before-return",
    ]);
    expect(cell("lend-pool", "tzc400-board+bbml2").refused).toMatch(
      /`lend-pool` needs its region last-level mapped/,
    );
  });

  it("tegra-vpr changes live entries' memory type without break-before-make", () => {
    const r = cell("tegra-vpr", "tzc400-board");
    expect(found(r)["break-before-make"]).toBe(2);
    expect(ids(cell("tegra-vpr", "fvp-rme"))).toEqual(["break-before-make", "scrub-before-return"]);
  });

  it("every cell either runs or says why it cannot", () => {
    for (const r of rows) expect(r.result !== null || (r.refused ?? "").length > 0).toBe(true);
  });
});

describe("docs/policies.md", () => {
  it("holds the table as generated (npm run docs:policies)", () => {
    const doc = readFileSync(join(import.meta.dirname, "../../docs/policies.md"), "utf8");
    expect(normaliseTable(tableOf(doc))).toBe(normaliseTable(policyTableMarkdown(rows)));
  });
});
