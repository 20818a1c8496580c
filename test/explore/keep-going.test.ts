/**
 * `rstmem explore --keep-going [N]`: the search goes on past violations, makes its whole budget, and
 * reports each distinct failure (violationKey(): its sentence without the numbers) by its first run —
 * made again, shrunk, written to replay.json, replay-2.json, … — with how many runs failed so. On
 * secure-video-session under upstream with faults, one search finds both the leak of a refused
 * RELEASE_PROTMEM and the WARN of CMA out of windows, where a search that stops finds the first only.
 * The same over worker threads, and under DFS to the end of its bound.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explore, violation, violationKey, type ExploreOptions } from "../../src/explore/explore.ts";
import { exploreParallel } from "../../src/explore/explore_parallel.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { rstmem } from "../helpers/rstmem.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const POOL_RACE = join(import.meta.dirname, "..", "..", "scenarios", "pool-race.yaml");
const SESSION = join(import.meta.dirname, "..", "..", "scenarios", "secure-video-session.yaml");
const sc = loadScenarioFile(SESSION, "secure-video-session");
const opts = (over: Partial<ExploreOptions> = {}): ExploreOptions => ({
  strategy: "random",
  runs: 40,
  seed: 1,
  windowNs: 100_000,
  faults: 2,
  keepGoing: 10,
  ...over,
});

describe("explore --keep-going", () => {
  const r = explore(sc, opts());

  it("makes the whole budget and keeps each distinct failure's first run, made again and shrunk", () => {
    expect(r.explored).toBe(40);
    // It ended on its budget: its violations end nothing.
    expect(r.ended).toBe("runs");
    const kg = r.keptGoing!;
    expect(kg.distinct.length).toBeGreaterThanOrEqual(2);
    const whys = kg.distinct.map((d) => d.why);
    expect(whys.some((w) => /expected 0 quiesce-clean findings/.test(w))).toBe(true);
    expect(whys.some((w) => /expected 0 kernel-warn findings/.test(w))).toBe(true);
    expect(new Set(whys.map(violationKey)).size).toBe(whys.length);
    // In run order; the first is the result's violation; each is a real run that violates so.
    expect(kg.distinct.map((d) => d.run)).toEqual([...kg.distinct.map((d) => d.run)].sort((a, b) => a - b));
    expect(kg.distinct[0].run).toBe(r.violation!.run);
    for (const d of kg.distinct) {
      expect(violation(sc, d.result)).toBe(d.why);
      expect(d.shrunk).not.toBeNull();
      expect(violationKey(d.shrunk!.why)).toBe(violationKey(d.why));
    }
    // Every violating run is counted under its failure (fewer distinct ones than the cap).
    expect(kg.distinct.reduce((n, d) => n + d.runs, 0)).toBe(kg.violatingRuns);
  });

  it("a search that stops ends at the first of them", () => {
    const stop = explore(sc, opts({ keepGoing: undefined, shrink: false }));
    expect(stop.explored).toBe(r.keptGoing!.distinct[0].run);
    expect(stop.violation!.why).toBe(r.keptGoing!.distinct[0].why);
    expect(stop.keptGoing).toBeNull();
  });

  it("N caps the failures kept, not the runs counted; those past it are counted as not kept", () => {
    const one = explore(sc, opts({ keepGoing: 1, shrink: false }));
    expect(one.keptGoing!.distinct).toHaveLength(1);
    expect(one.keptGoing!.violatingRuns).toBe(r.keptGoing!.violatingRuns);
    expect(one.keptGoing!.notKept).toBe(r.keptGoing!.distinct.length - 1);
    expect(r.keptGoing!.notKept).toBe(0);
  });

  it("a search stopped by the wall clock says so, its failures found so far beside it", () => {
    let asked = 0;
    const stopped = explore(sc, opts({ shrink: false, shouldStop: () => ++asked > 1 }));
    expect(stopped.ended).toBe("stopped");
    expect(stopped.explored).toBeLessThan(40);
    expect(stopped.violation!.run).toBe(r.violation!.run);
    expect(stopped.keptGoing!.violatingRuns).toBeGreaterThan(0);
  });

  it("a worker thread's chunks go on past violations too: --jobs 2 finds the same, run for run", async () => {
    // Chunks of 4 runs, the worker started at once: most of the 40 runs are made in the worker thread.
    const two = await exploreParallel(sc, {
      ...opts({ shrink: false }),
      jobs: 2,
      chunkRuns: 4,
      eagerWorkers: true,
    });
    const key = (x: typeof r) => ({
      explored: x.explored,
      states: x.states,
      violating: x.keptGoing!.violatingRuns,
      distinct: x.keptGoing!.distinct.map((d) => [d.run, d.why, d.runs, d.result.schedule]),
    });
    expect(two.violation!.run).toBe(r.violation!.run);
    expect(key(two)).toEqual(key(r));
  });

  it("a search whose one run is every run still reports that run's failure", () => {
    // One task, nothing to choose, no fault budget: run 1 is every run (firstRunIsEvery), and it fails.
    const one = loadScenarioText(
      `name: one-failure
platform: ${SMALL_BOARD}
policy: safe
steps:
  - proc: a
    open: /dev/dma_heap/no-such-heap
    expect: ok
`,
      "one-failure.yaml",
    );
    const k = explore(one, opts({ faults: 0, shrink: false }));
    expect(k.explored).toBe(1);
    expect(k.ended).toBe("exhausted");
    expect(k.violation!.run).toBe(1);
    expect(k.violation!.why).toMatch(/ENOENT/);
    expect(k.keptGoing).toMatchObject({ violatingRuns: 1, distinct: [{ run: 1, runs: 1 }] });
  });

  it("violationKey: one failure whatever its numbers", () => {
    expect(violationKey("expected 0 quiesce-clean findings (f.yaml:170), got 2")).toBe(
      violationKey("expected 0 quiesce-clean findings (f.yaml:170), got 5"),
    );
    expect(violationKey("kernel access at 0xc0000000")).toBe(violationKey("kernel access at 0xd3f00000"));
    expect(violationKey("expected 0 kernel-warn findings")).not.toBe(
      violationKey("expected 0 quiesce-clean findings"),
    );
    // The same step at another index of a repeat, another errno value, another address: one failure.
    const step = (i: number, task: string, line: number, got: string) =>
      `step ${i} (pool.yaml:${line}, task ${task}, ioctl) expected ok, got ${got}`;
    expect(violationKey(step(3, "a1", 40, "EBUSY (errno 16)"))).toBe(
      violationKey(step(5, "a1", 40, "EBUSY (errno 17)")),
    );
    // A metric's value, decimals and all; a task named after a cookie in hex.
    expect(violationKey("expected kernel_slowdown_pct <0.5 (f.yaml:12), got 0.7312")).toBe(
      violationKey("expected kernel_slowdown_pct <0.5 (f.yaml:12), got 0.9177"),
    );
    expect(violationKey("expected lent_idle_bytes <1 (f.yaml:12), got 2.25")).toBe(
      violationKey("expected lent_idle_bytes <1 (f.yaml:12), got 17"),
    );
    expect(violationKey("oops in task optee/ta-invoke:1a2b (f.yaml:9)")).toBe(
      violationKey("oops in task optee/ta-invoke:3c40 (f.yaml:9)"),
    );
    // Another task, another line, another file: another failure.
    expect(violationKey(step(3, "a1", 40, "EBUSY"))).not.toBe(violationKey(step(3, "a2", 40, "EBUSY")));
    expect(violationKey(step(3, "a1", 40, "EBUSY"))).not.toBe(violationKey(step(3, "a1", 52, "EBUSY")));
    expect(violationKey("expected 0 leak findings (f2.yaml:9), got 1")).not.toBe(
      violationKey("expected 0 leak findings (f3.yaml:9), got 1"),
    );
  });

  it("the CLI counts every distinct failure, and says how many it kept when N held fewer", async () => {
    const n = r.keptGoing!.distinct.length;
    expect(n).toBeGreaterThan(1);
    const dir = mkdtempSync(join(tmpdir(), "rstmem-keep-going-"));
    const out = await rstmem(
      "explore",
      SESSION,
      "--faults",
      "2",
      "--keep-going",
      "1",
      "--runs",
      "40",
      "--out",
      dir,
    );
    expect(out.out).toMatch(
      new RegExp(
        `^violations ${n} distinct failures in ${r.keptGoing!.violatingRuns} of 40 runs \\(--keep-going 1: the first 1 kept\\)$`,
        "m",
      ),
    );
  });

  it("the CLI prints each failure and writes replay.json, replay-2.json, …, each of which replays", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-keep-going-"));
    const args = ["explore", SESSION, "--faults", "2", "--keep-going", "--runs", "40", "--out", dir];
    const out = await rstmem(...args);
    expect(out.code).toBe(1);
    const n = r.keptGoing!.distinct.length;
    expect(out.out).toMatch(
      new RegExp(
        `^violations ${n} distinct failures in ${r.keptGoing!.violatingRuns} of 40 runs \\(--keep-going 10\\)$`,
        "m",
      ),
    );
    expect(out.out.match(/^VIOLATION {2}run \d+: .* \(\d+ runs? failed so\)$/gm)).toHaveLength(n);
    for (let i = 0; i < n; i++) {
      const path = join(dir, i === 0 ? "replay.json" : `replay-${i + 1}.json`);
      const rf = JSON.parse(readFileSync(path, "utf8"));
      expect(rf.found.run).toBe(r.keptGoing!.distinct[i].run);
      const replayed = await rstmem("replay", path);
      expect(replayed.code).toBe(1);
      expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);
    }
    // --json: the same failures, each with how many runs failed so and its replay file.
    const json = await rstmem(...args, "--json");
    expect(json.code).toBe(1);
    const j = JSON.parse(json.out);
    expect(j.keepGoing).toEqual({ most: 10, violatingRuns: r.keptGoing!.violatingRuns, notKept: 0 });
    expect(j.violations.map((v: { run: number; runs: number }) => [v.run, v.runs])).toEqual(
      r.keptGoing!.distinct.map((d) => [d.run, d.runs]),
    );
    j.violations.forEach((v: { replayFile: string; faults: unknown[]; faultsText: string[] }, i: number) => {
      expect(v.replayFile).toBe(join(dir, i === 0 ? "replay.json" : `replay-${i + 1}.json`));
      expect(v.faultsText.some((f) => f.endsWith("(injected)"))).toBe(true);
      expect(v.faults).toEqual(JSON.parse(readFileSync(v.replayFile, "utf8")).faults);
    });
  });

  it("DFS keeps going to the end of its bound, and its first failure is where a DFS that stops ends", () => {
    const base = loadScenarioFile(POOL_RACE, "pool-race");
    const race = { ...base, policy: namedPolicy("upstream", base.platform) };
    const dfs = (keepGoing?: number) =>
      explore(race, { strategy: "dfs", runs: 3000, seed: 1, windowNs: 100_000, keepGoing, shrink: false });
    const stop = dfs();
    const going = dfs(10);
    expect(stop.ended).toBe("violation");
    expect(going.dfs!.exhausted).toBe(true);
    expect(going.explored).toBeGreaterThan(stop.explored);
    const kg = going.keptGoing!;
    expect(kg.distinct[0]).toMatchObject({ run: stop.violation!.run, why: stop.violation!.why });
    expect(going.violation!.run).toBe(stop.violation!.run);
    expect(kg.violatingRuns).toBeGreaterThan(1);
    expect(kg.distinct.reduce((n, d) => n + d.runs, 0)).toBe(kg.violatingRuns);
  });
});
