/**
 * Shrinking a violation shrinks its fault set too (issue 11: "a minimal schedule and fault set"): the
 * faults that struck are dropped while the run still breaks the same expectation — the explorer's own
 * and the scenario's `faults:` alike — and replay.json holds exactly the rest, an empty list included.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { BootedScenario } from "../../src/explore/booted.ts";
import { explore, failureSignature } from "../../src/explore/explore.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { strictExpectations } from "../helpers/strict-expect.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { isBootFault } from "../../src/sim/faults.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const CMA_PINNED = join(ROOT, "scenarios", "faults", "cma-pinned.yaml");

describe("shrinking a violation's faults", () => {
  it("drops what the failure does not need, and each fault left is needed", () => {
    // cma-pinned lists two pinned-page faults; --faults adds a kill, which breaks its step 3 (each step
    // expecting a list of one: judged after an injected fault too).
    const sc = loadScenarioText(strictExpectations(readFileSync(CMA_PINNED, "utf8")), CMA_PINNED);
    const r = explore(sc, { strategy: "random", runs: 20, seed: 1, windowNs: 100_000, faults: 1 });
    const v = r.violation!;
    const sh = r.shrunk!;
    expect(v.result.faults).toHaveLength(3);
    expect(sh.faultsBefore).toBe(3);
    expect(sh.faults).toBeLessThan(3);
    expect(sh.result.faults).toHaveLength(sh.faults);
    // The kill is what breaks the step: it stays.
    expect(sh.result.faults.some((f) => "kill" in f)).toBe(true);
    // 1-minimal: without any one of the faults left, the run no longer breaks the same expectation.
    const booted = new BootedScenario(sc);
    const want = failureSignature(sc, sh.result);
    expect(want).toBe(failureSignature(sc, v.result));
    const left = sh.result.faults;
    for (let i = 0; i < left.length; i++) {
      if (isBootFault(left[i])) continue;
      const without = left.filter((_, j) => j !== i);
      expect(
        failureSignature(sc, booted.madeAgain({ schedule: sh.result.schedule, faults: without })),
      ).not.toBe(want);
    }
  });

  it("drops the scenario's own faults too; replay.json's empty list replays the run without them", async () => {
    // pool-race under upstream with a pinned page at the first cma_alloc(): harmless (the area has other
    // windows), the race happens all the same.
    const dir = mkdtempSync(join(tmpdir(), "rstmem-shrink-faults-"));
    const text = readFileSync(join(ROOT, "scenarios", "pool-race.yaml"), "utf8").replace(
      "policy: safe\n",
      "policy: upstream\nfaults:\n  - cma: { pinned: 1, nth: 1 }\n",
    );
    const file = join(dir, "pool-race-pinned.yaml");
    writeFileSync(file, text);
    const r = await rstmem("explore", file, "--out", dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^shrunk {5}\d+ → \d+ non-default choices, \d+ → \d+ choices up to the last of them, 1 → 0 faults \(/m,
    );
    // `rstmem run --schedule` would strike the scenario's fault again: only replay.json is offered.
    expect(r.out).not.toMatch(/^replay {5}rstmem run /m);
    const rf = JSON.parse(readFileSync(join(dir, "replay.json"), "utf8"));
    expect(rf.faults).toEqual([]);
    const replayed = await rstmem("replay", join(dir, "replay.json"));
    expect(replayed.code).toBe(1);
    expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);
    // Made without the scenario's fault: none struck.
    expect(replayed.out).not.toMatch(/^faults {5}/m);
    expect(replayed.out).not.toContain("cma pinned");
  });

  it("says nothing of faults for a run without any", async () => {
    const sc = loadScenarioFile(join(ROOT, "scenarios", "pool-race.yaml"), "pool-race");
    const r = explore(
      { ...sc, policy: namedPolicy("upstream", sc.platform) },
      { strategy: "random", runs: 5, seed: 1, windowNs: 100_000 },
    );
    expect(r.shrunk!.faultsBefore).toBe(0);
    expect(r.shrunk!.faults).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), "rstmem-shrink-faults-"));
    const out = await rstmem("explore", "pool-race", "--policy", "upstream", "--out", dir);
    expect(out.out).toMatch(
      /^shrunk {5}\d+ → \d+ non-default choices, \d+ → \d+ choices up to the last of them \(\d+ replays\): /m,
    );
    expect(out.out).toMatch(/^replay {5}rstmem run /m);
  });
});
