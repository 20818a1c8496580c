/**
 * `rstmem explore --json`: the search's result as one JSON object on stdout (for CI jobs and scripts),
 * with the same exit status and the same replay.json files as the text output; each violation carries
 * its run, why, shrink, schedule, faults, findings, the file written and the commands that replay it.
 * With --keep-going: test/explore/keep-going.test.ts.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.ts";
import { loadScenarioFile } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { rstmem } from "../helpers/rstmem.ts";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

describe("rstmem explore --json", () => {
  it("prints the violation the text output reports, shrunk, with its replay.json and commands", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-explore-json-"));
    const args = ["explore", "pool-race", "--policy", "upstream", "--runs", "6", "--out", dir];
    const r = await rstmem(...args, "--json");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    const base = loadScenarioFile(join(SCENARIOS, "pool-race.yaml"), "pool-race");
    const api = explore(
      { ...base, policy: namedPolicy("upstream", base.platform) },
      { strategy: "random", runs: 6, seed: 1, windowNs: 100_000 },
    );
    expect(j).toMatchObject({
      scenario: "pool-race",
      policy: "upstream",
      strategy: "random",
      seed: 1,
      windowNs: 100_000,
      explored: api.explored,
      distinct: api.distinct,
      states: api.states,
      ended: "violation",
      faults: null,
      keepGoing: null,
    });
    expect(j.schedulesPerSecond).toBeGreaterThan(0);
    expect(j.violations).toHaveLength(1);
    const v = j.violations[0];
    const sh = api.shrunk!;
    expect(v).toMatchObject({
      run: api.violation!.run,
      why: api.violation!.why,
      schedule: sh.result.schedule,
      faults: [],
      shrunk: {
        why: sh.why,
        preemptions: [sh.preemptionsBefore, sh.preemptions],
        choices: [sh.choicesBefore, sh.choices],
      },
      replayFile: join(dir, "replay.json"),
    });
    expect(v.findings["kernel-warn"]).toBeGreaterThan(0);
    expect(v.summary).toMatch(/^FAIL {2}pool-race/);
    expect(v.replay).toEqual([
      `rstmem run scenarios/pool-race.yaml --policy upstream --schedule ${sh.result.schedule}`,
      `rstmem replay ${join(dir, "replay.json")}`,
    ]);
    const rf = JSON.parse(readFileSync(v.replayFile, "utf8"));
    expect(rf.schedule).toBe(v.schedule);
    // The text output of the same search says the same.
    const text = await rstmem(...args);
    expect(text.code).toBe(1);
    expect(text.out).toContain(`VIOLATION  run ${v.run}: ${v.why}\n`);
    expect(text.out).toContain(`schedule   ${v.schedule}\n`);
  });

  it("a violation's faults are in the scenario's syntax, as replay.json holds them, and as the text shows them", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-explore-json-"));
    const r = await rstmem(
      "explore",
      "secure-video-session",
      "--faults",
      "2",
      "--runs",
      "3",
      "--json",
      "--out",
      dir,
    );
    expect(r.code).toBe(1);
    const v = JSON.parse(r.out).violations[0];
    const rf = JSON.parse(readFileSync(join(dir, "replay.json"), "utf8"));
    expect(v.faults.length).toBeGreaterThan(0);
    expect(v.faults).toEqual(rf.faults);
    expect(v.faultsText).toHaveLength(v.faults.length);
    for (const t of v.faultsText) expect(t).toMatch(/\(injected\)$/);
  });

  it("a clean search: exit 0, no violations, and how many runs the faults struck in", async () => {
    const r = await rstmem(
      "explore",
      "pool-race",
      "--runs",
      "20",
      "--faults",
      "--fault-kinds",
      "ffa,optee",
      "--json",
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ explored: 20, ended: "runs", violations: [] });
    expect(j.faults).toMatchObject({ budget: 1, kinds: ["ffa", "optee"], of: 20 });
    expect(j.faults.struckIn).toBeGreaterThan(0);
    expect(j.faults.struckIn).toBeLessThanOrEqual(20);
  });
});
