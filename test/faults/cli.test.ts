/**
 * `--faults` on the command line: `rstmem explore --faults` lets its chooser inject faults, writes
 * the faults that struck into replay.json beside the schedule, and `rstmem replay` makes the same run;
 * `rstmem run --faults` picks its faults from the seed, so the same seed gives the same bytes.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { strictExpectations } from "../helpers/strict-expect.ts";

const LEND = join(import.meta.dirname, "..", "..", "scenarios", "faults", "ffa-lend-errors.yaml");
const POOL_RACE = join(import.meta.dirname, "..", "..", "scenarios", "pool-race.yaml");

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
});
