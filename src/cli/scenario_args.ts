/** Scenarios named on the command line: files or built-ins, with `--policy NAME` applied. */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { ScenarioError } from "../scenario/errors.ts";
import { carveoutProblem, loadScenarioFile, type Scenario } from "../scenario/loader.ts";
import { namedPolicy, POLICY_PRESET_NAMES, policyProblem } from "../scenario/policies.ts";
import { BUILTIN_SCENARIOS } from "./builtins.ts";
import { UsageError } from "./io.ts";

/** A scenario named on the command line: a file, else a built-in's name. */
export function scenarioArg(arg: string): { display: string; file: string } {
  const builtin = BUILTIN_SCENARIOS[arg];
  // A directory is never a scenario: a built-in's name then means the built-in (a folder named
  // pool-race in the working directory said "cannot read: EISDIR").
  if (existsSync(arg) && !(builtin && statSync(arg).isDirectory()))
    return { display: arg, file: resolve(arg) };
  if (builtin) return { display: arg, file: builtin };
  // A path (a slash or a scenario's extension) is a missing file; a bare word may be a mistyped built-in.
  const path = /[/\\]|\.(ya?ml|json)$/i.test(arg);
  throw new ScenarioError(
    arg,
    0,
    0,
    "",
    path
      ? "no such file"
      : `no such file or built-in scenario (built-ins: ${Object.keys(BUILTIN_SCENARIOS).join(", ")})`,
  );
}

/** A usage error unless `policy` names a named policy (`flag`: the option that gave it). */
export function checkPolicyName(policy: string, flag: string): void {
  if (!POLICY_PRESET_NAMES.includes(policy))
    throw new UsageError(
      `${flag}: unknown policy "${policy}"; expected one of ${POLICY_PRESET_NAMES.join(", ")}`,
    );
}

/** A named policy on this scenario's platform, or a usage error saying why it cannot run there. */
export function withPolicy(sc: Scenario, policy: string, flag = "--policy"): Scenario {
  checkPolicyName(policy, flag);
  const p = namedPolicy(policy, sc.platform);
  const problem = policyProblem(p, sc.platform)?.why ?? carveoutProblem(p, sc.platform);
  if (problem) throw new UsageError(`${flag} ${policy} on ${sc.platform.name}: ${problem}`);
  return { ...sc, policy: p };
}

/**
 * The named policies a command runs a scenario under (`--policies a,b,…`, or the scenario's `compare:`):
 * each must exist and suit the platform, and none may come twice — refused before anything runs.
 */
export function checkPolicies(sc: Scenario, policies: readonly string[], flag = "--policies"): void {
  const twice = policies.find((p, i) => policies.indexOf(p) !== i);
  if (twice) throw new UsageError(`${flag} names ${twice} twice`);
  for (const p of policies) withPolicy(sc, p, flag);
}

/** Loads a scenario, with `--policy NAME` in place of its own policy. */
export function loadWithPolicy(display: string, file: string, policy: string | null): Scenario {
  const sc = loadScenarioFile(file, display);
  return policy === null ? sc : withPolicy(sc, policy);
}
