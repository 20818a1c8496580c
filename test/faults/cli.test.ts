/**
 * `--faults` on the command line: `rstmem explore --faults` lets its chooser inject faults, writes
 * the faults that struck into replay.json beside the schedule, and `rstmem replay` makes the same run;
 * `rstmem run --faults` picks its faults from the seed, so the same seed gives the same bytes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { replayCommand } from "../../src/cli/html.ts";
import { explore } from "../../src/explore/explore.ts";
import type { RunResult } from "../../src/scenario/runner.ts";
import { loadScenarioFile } from "../../src/scenario/loader.ts";
import { rstmem } from "../helpers/rstmem.ts";
import { strictExpectations } from "../helpers/strict-expect.ts";

const LEND = join(import.meta.dirname, "..", "..", "scenarios", "faults", "ffa-lend-errors.yaml");
const POOL_RACE = join(import.meta.dirname, "..", "..", "scenarios", "pool-race.yaml");
const SESSION = join(import.meta.dirname, "..", "..", "scenarios", "secure-video-session.yaml");

/**
 * pool-race with every step expecting exactly `[ok]` (the built-in accepts the errnos faults cause, and
 * runs clean under --faults), written into `dir`: a list is judged even after an injected fault, so
 * there any injected fault that fails a call is a violation.
 */
function strictPoolRace(dir: string): string {
  const file = join(dir, "pool-race-strict.yaml");
  writeFileSync(file, strictExpectations(readFileSync(POOL_RACE, "utf8")));
  return file;
}

describe("--faults", () => {
  it("explore --faults finds a run a fault breaks, and replay.json's faults make it again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-faults-"));
    const r = await rstmem("explore", strictPoolRace(dir), "--faults", "--runs", "4", "--out", dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^faults {5}\S/m);
    const rf = JSON.parse(readFileSync(join(dir, "replay.json"), "utf8"));
    expect(rf.faults.length).toBe(1);
    const replayed = await rstmem("replay", join(dir, "replay.json"));
    expect(replayed.code).toBe(1);
    expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);
  });

  it("explore without --faults injects nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-faults-"));
    const r = await rstmem("explore", "pool-race", "--runs", "2", "--out", dir);
    expect(r.code).toBe(0);
    expect(r.out).not.toMatch(/^faults/m);
  });

  it("run --faults N: the same seed strikes the same faults, byte for byte", async () => {
    const a = await rstmem("run", LEND, "--faults", "2", "--seed", "3", "--json");
    const b = await rstmem("run", LEND, "--faults", "2", "--seed", "3", "--json");
    expect(a.out).toBe(b.out);
    const faults = JSON.parse(a.out).faults as unknown[];
    // The scenario's three MEM_LEND faults strike, plus what the chooser added (at most 2).
    expect(faults.length).toBeGreaterThanOrEqual(3);
    expect(faults.length).toBeLessThanOrEqual(5);
  });

  it("a replay.json whose faults are not realistic is bad input (exit 2)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-faults-"));
    const r = await rstmem("explore", strictPoolRace(dir), "--faults", "--runs", "4", "--out", dir);
    expect(r.code).toBe(1);
    const path = join(dir, "replay.json");
    const rf = JSON.parse(readFileSync(path, "utf8"));
    rf.faults = [{ ffa: { call: "MEM_LEND", error: "RETRY", nth: 1 } }];
    writeFileSync(path, JSON.stringify(rf));
    const bad = await rstmem("replay", path);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("no real SPMC answers MEM_LEND with RETRY");
  });

  it("--fault-kinds keeps the explorer to those kinds: secure-video-session under safe without cma faults runs clean", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-faults-"));
    const args = [SESSION, "--policy", "safe", "--faults", "2", "--runs", "40", "--jobs", "1"];
    // Every kind: CMA out of windows makes dma-direct ask the page allocator for order 17 (a WARN).
    const all = await rstmem("explore", ...args, "--out", dir);
    expect(all.code).toBe(1);
    expect(all.out).toMatch(/^faults {5}cma pinned all #\d+ \(injected\)/m);
    const rest = await rstmem("explore", ...args, "--fault-kinds", "ffa,optee,kill,rx_busy", "--out", dir);
    expect(rest.code).toBe(0);
    expect(rest.out).toMatch(/^faults {5}struck in [1-9]\d* of 40 runs/m);
  });

  it("--fault-kinds: only those kinds strike, and the HTML report's replay command names them", () => {
    const sc = loadScenarioFile(SESSION, "secure-video-session");
    const kinds = new Set<string>();
    explore(sc, {
      strategy: "random",
      runs: 30,
      seed: 2,
      windowNs: 100_000,
      faults: 2,
      faultKinds: ["kill"],
      shrink: false,
      onResult: (_, r) => {
        for (const f of r?.faults ?? []) kinds.add(Object.keys(f)[0]);
      },
    });
    expect([...kinds]).toEqual(["kill"]);
    const r = { seed: 4 } as RunResult;
    expect(replayCommand("s.yaml", r, { faults: 2, faultKinds: ["kill", "ffa"] })).toBe(
      "rstmem run s.yaml --seed 4 --faults 2 --fault-kinds kill,ffa",
    );
  });

  it("--fault-kinds without --faults, or with a kind that does not exist, is a usage error (exit 2)", async () => {
    const alone = await rstmem("explore", "pool-race", "--fault-kinds", "ffa");
    expect(alone.code).toBe(2);
    expect(alone.err).toContain("--fault-kinds applies with --faults");
    const bogus = await rstmem("run", LEND, "--faults", "--fault-kinds", "ffa,bogus");
    expect(bogus.code).toBe(2);
    expect(bogus.err).toContain('"bogus": expected a comma-separated list of ffa, optee, cma, kill, rx_busy');
    const twice = await rstmem("run", LEND, "--faults", "--fault-kinds", "kill,kill");
    expect(twice.code).toBe(2);
  });

  it("run --faults --fault-kinds: the same seed gives the same bytes, and only those kinds strike", async () => {
    const a = await rstmem("run", SESSION, "--faults", "3", "--fault-kinds", "kill", "--seed", "4", "--json");
    const b = await rstmem("run", SESSION, "--faults", "3", "--fault-kinds", "kill", "--seed", "4", "--json");
    expect(a.out).toBe(b.out);
    const faults = JSON.parse(a.out).faults as Record<string, unknown>[];
    expect(faults.length).toBeGreaterThan(0);
    expect(faults.every((f) => "kill" in f)).toBe(true);
  });
});
