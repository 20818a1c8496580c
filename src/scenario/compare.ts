/**
 * One scenario under several policies, side by side (`rstmem compare`, a scenario's `compare:`, and the
 * default run). Each policy's run is an ordinary run of the same scenario, seed and schedule with only the
 * policy changed, so every difference between the columns is the policy's.
 */
import type { Scenario } from "./loader.ts";
import { namedPolicy } from "./policies.ts";
import { runScenario, type RunOptions, type RunResult } from "./runner.ts";

export interface CompareResult {
  readonly scenario: string;
  readonly file: string;
  readonly platform: string;
  readonly seed: number;
  /** The policies in the order given, one run each. */
  readonly policies: readonly string[];
  readonly runs: readonly RunResult[];
  /** Every run held its expectations. */
  readonly passed: boolean;
  readonly exitCode: 0 | 1;
}

/** The scenario under `policy` (a named policy the loader or the command line already checked). */
export function underPolicy(sc: Scenario, policy: string): Scenario {
  return { ...sc, policy: namedPolicy(policy, sc.platform) };
}

/**
 * Runs `sc` under each policy in turn. `perRun` gives each run its options (a trace sink per policy);
 * the options' seed and schedule apply to every run alike.
 */
export function runCompare(
  sc: Scenario,
  policies: readonly string[],
  opts: RunOptions = {},
  perRun?: (policy: string) => RunOptions,
): CompareResult {
  const runs = policies.map((p) => runScenario(underPolicy(sc, p), { ...opts, ...perRun?.(p) }));
  return compareResult(sc, policies, runs);
}

/** The comparison of runs already made, one per policy in order. */
export function compareResult(
  sc: Scenario,
  policies: readonly string[],
  runs: readonly RunResult[],
): CompareResult {
  const passed = runs.every((r) => r.passed);
  return {
    scenario: sc.name,
    file: sc.file,
    platform: sc.platform.name,
    seed: runs[0]?.seed ?? sc.seed,
    policies,
    runs,
    passed,
    exitCode: passed ? 0 : 1,
  };
}
