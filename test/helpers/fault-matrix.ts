/**
 * The fault matrix (test/explore/fault-matrix-*.test.ts): every shipped scenario under every named
 * policy its platform runs, explored with faults as `rstmem explore --faults 2` injects them. What it
 * holds each pair to: the model never throws on a fault path; a run made after faulted runs on the
 * same booted system is byte-identical to the same run made before them (a restore leaves nothing of
 * the faults behind: a pending signal, a half-migrated window, a refused reclaim's retry); and a policy
 * the platform cannot run is refused with the reason, as `--policy` refuses it.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import { UsageError } from "../../src/cli/io.ts";
import { withPolicy } from "../../src/cli/scenario_args.ts";
import { BootedScenario } from "../../src/explore/booted.ts";
import { seededFaults } from "../../src/explore/walk.ts";
import { loadScenarioFile, type Scenario } from "../../src/scenario/loader.ts";
import { POLICY_PRESET_NAMES } from "../../src/scenario/policies.ts";
import type { RunResult } from "../../src/scenario/runner.ts";
import { Prng } from "../../src/sim/prng.ts";
import { randomChooser, type Chooser } from "../../src/sim/scheduler.ts";

const ROOT = join(import.meta.dirname, "..", "..");
/**
 * Seconds a run, covered by their own tests: ten minutes of media (default, cma-pressure), and page
 * cache churned over 3.5 GiB (kill-during-cma-migration).
 */
const LONG = new Set([
  "scenarios/default.yaml",
  "scenarios/cma-pressure.yaml",
  "scenarios/faults/kill-during-cma-migration.yaml",
]);
/** Faulted runs on the booted system between a run and the same run made again. */
const RUNS = 4;
/** At most this many faults a run, as `--faults 2`. */
const BUDGET = 2;

const chooser = (i: number): Chooser => {
  const w = new Prng(1).stream(`matrix.${i}`);
  return randomChooser((n) => w.int(0, n - 1), 100_000);
};
const faults = (i: number) => seededFaults(1, `matrix.faults.${i}`, BUDGET);
const json = (r: RunResult): string => JSON.stringify(r);

/** The scenario files under `dirs` (relative to the repository), the long ones left out. */
function scenarioFiles(dirs: readonly string[]): string[] {
  return dirs.flatMap((d) =>
    readdirSync(join(ROOT, d))
      .filter((f) => f.endsWith(".yaml"))
      .map((f) => `${d}/${f}`)
      .filter((f) => !LONG.has(f)),
  );
}

/**
 * One test per scenario file under `dirs` (each policy, run or refused), and at the end the check of
 * the whole: the matrix made runs on many pairs, and the injected faults struck in a good share of them
 * (a scenario's own `faults:` list strikes too), of every kind the chooser draws from.
 */
export function faultMatrix(dirs: readonly string[]): void {
  /** What the matrix saw over its pairs. */
  const tally = { pairs: 0, runs: 0, struck: 0, kinds: new Set<string>() };
  afterAll(() => {
    expect(tally.pairs).toBeGreaterThan(80);
    expect(tally.struck).toBeGreaterThan(tally.runs / 3);
    expect([...tally.kinds].sort()).toEqual(
      expect.arrayContaining(["cma", "ffa", "kill", "optee", "rx_busy"]),
    );
  });
  it.each(scenarioFiles(dirs))(
    "%s: every policy, faults struck, a run made again after faulted ones is the same",
    (file) => {
      const base: Scenario = { ...loadScenarioFile(join(ROOT, file), file), schedule: null };
      for (const policy of POLICY_PRESET_NAMES) {
        let sc: Scenario;
        try {
          sc = withPolicy(base, policy);
        } catch (e) {
          // Refused as the command refuses it: a usage error naming the policy, the platform and why.
          expect(e).toBeInstanceOf(UsageError);
          expect((e as Error).message).toMatch(
            new RegExp(`^--policy ${policy} on ${base.platform.name}: .+`),
          );
          continue;
        }
        const booted = new BootedScenario(sc);
        const where = `${file} under ${policy}`;
        // Runs on the booted system, each from its snapshot: a clean one first, then faulted ones.
        const clean = json(booted.run(chooser(RUNS)));
        const faulted: string[] = [];
        for (let i = 0; i < RUNS; i++) {
          const r = booted.run(chooser(i), faults(i));
          faulted.push(json(r));
          tally.runs++;
          if (r.faults.length > 0) tally.struck++;
          for (const f of r.faults) tally.kinds.add(Object.keys(f)[0]);
        }
        // After them, the same runs again: byte-identical, so a restore left nothing of the faults behind
        // (snapshot.test.ts holds a restored run to a fresh boot's).
        expect(json(booted.run(chooser(0), faults(0))), `${where}: faulted run 1, made again`).toBe(
          faulted[0],
        );
        expect(json(booted.run(chooser(RUNS))), `${where}: the clean run, after faulted ones`).toBe(clean);
        tally.pairs++;
      }
    },
  );
}
