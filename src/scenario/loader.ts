/**
 * Loads a scenario from YAML or JSON text (JSON is parsed as YAML 1.2, so both keep positions),
 * validates it against the schema, resolves the platform, and checks what the schema alone cannot
 * (masters that exist on the platform, CMA inside DRAM). Every problem is a ScenarioError with
 * file:line:column.
 */
import type { PlatformDesc } from "../hw/platform.ts";
import type { MutationId } from "../sim/mutations.ts";
import { INVARIANT_IDS } from "../check/invariants.ts";
import { METRIC_NAMES, parseMetricBound, type MetricBound, type MetricName } from "./metrics.ts";
import { namedPolicy, POLICY_PRESET_NAMES, policyProblem, resolvePolicy, type Policy } from "./policies.ts";
import { withProtmemCarveout } from "./system.ts";
import { issueToError, parseYamlWithPositions, readInputFile, SourceMap } from "./errors.ts";
import { resolvePlatform } from "./platform.ts";
import {
  findingCountSchema,
  REPEAT_KIND,
  scenarioSchema,
  STEP_KINDS,
  type ScenarioParsed,
  type StepKind,
  type StepParsed,
} from "./schema.ts";
import { stepDef } from "./steps/index.ts";
import { resolveWorkloads } from "./workloads.ts";
import { resolveFaults } from "./faults.ts";
import type { FaultSpec } from "../sim/faults.ts";
import type { WorkloadSpec } from "../user/workloads/index.ts";

export interface ScenarioStep {
  /** Position in its list (`steps`, a task's list, or a repeat's steps). */
  readonly index: number;
  /** 1-based line of the step in its file. */
  readonly line: number;
  /** A step kind, or "repeat". */
  readonly kind: StepKind;
  readonly spec: StepParsed;
  /** For "repeat": how many times, and the steps. */
  readonly count?: number;
  readonly children?: readonly ScenarioStep[];
}

/** A top-level step list and the task that runs it: `steps` (task "steps") or one of `tasks`. */
export interface ScenarioTask {
  readonly name: string;
  readonly steps: readonly ScenarioStep[];
}

export interface FindingExpectation {
  readonly id: string;
  readonly op: "=" | ">" | "<";
  readonly n: number;
  readonly line: number;
  /** The compared policy it applies to, or null: every run. */
  readonly policy: string | null;
}

export interface MetricExpectation extends MetricBound {
  readonly name: MetricName;
  readonly line: number;
  /** The compared policy it applies to, or null: every run. */
  readonly policy: string | null;
}

export interface Scenario {
  readonly file: string;
  readonly name: string;
  readonly description: string;
  readonly platform: PlatformDesc;
  readonly policy: Policy;
  readonly seed: number;
  readonly untilNs: number | null;
  /** The `steps` list (the task named "steps"). */
  readonly steps: readonly ScenarioStep[];
  /** `tasks:`, in file order. */
  readonly tasks: readonly ScenarioTask[];
  /** `workloads:`, resolved with their defaults, in file order. */
  readonly workloads: readonly WorkloadSpec[];
  /** `schedule:`, a recorded schedule to replay, or null. */
  readonly schedule: string | null;
  readonly expectFindings: readonly FindingExpectation[];
  /** `faults:`, with their defaults (scenario/faults.ts). */
  readonly faults: readonly FaultSpec[];
  /**
   * Planted bugs to switch on (sim/mutations.ts): set through the API by the mutants test and bench,
   * never from a scenario file. Absent: none.
   */
  readonly mutations?: readonly MutationId[];
  readonly expectMetrics: readonly MetricExpectation[];
  /** `compare:`: the named policies to run side by side, or null (run under `policy` alone). */
  readonly compare: readonly string[] | null;
  /** Positions, for errors found while running. */
  readonly source: SourceMap;
}

export function loadScenarioText(text: string, file: string): Scenario {
  const { data, map } = parseYamlWithPositions(text, file);
  if (data === null || typeof data !== "object" || Array.isArray(data)) {
    throw map.error([], "expected a mapping with keys such as name, platform, steps");
  }
  const parsed = scenarioSchema.safeParse(data);
  if (!parsed.success) throw issueToError(map, scenarioSchema, data, parsed.error.issues[0]);
  return build(parsed.data, file, map);
}

/** Loads a file; `displayName` is what messages and summaries call it (default: the path). */
export function loadScenarioFile(path: string, displayName = path): Scenario {
  return loadScenarioText(readInputFile(path, displayName), displayName);
}

function build(sc: ScenarioParsed, file: string, map: SourceMap): Scenario {
  const platform = resolvePlatform(sc.platform ?? "qemu-virt", map);
  const buildSteps = (list: readonly unknown[], path: (string | number)[]): ScenarioStep[] =>
    list.map((raw, index): ScenarioStep => {
      const spec = raw as StepParsed;
      const at = [...path, index];
      const line = map.locate(at).line;
      if (REPEAT_KIND in spec) {
        const children = buildSteps(spec.steps as unknown[], [...at, "steps"]);
        return { index, line, kind: REPEAT_KIND, spec, count: spec.repeat as number, children };
      }
      const kind = STEP_KINDS.find((k) => k in spec)!;
      stepDef(kind).check?.(spec, platform, at, map);
      return { index, line, kind, spec };
    });
  const steps = buildSteps(sc.steps ?? [], ["steps"]);
  const tasks = Object.entries(sc.tasks ?? {}).map(([name, list]): ScenarioTask => {
    if (name === "steps") throw map.error(["tasks", name], 'the task name "steps" is taken by `steps`', true);
    return { name, steps: buildSteps(list, ["tasks", name]) };
  });
  const workloads = resolveWorkloads(sc.workloads, map);
  const compare = resolveCompare(sc.compare, platform, map);
  const expectFindings = expectations(sc.expect?.findings, "findings", compare, map, (id, v, at) => {
    if (!(INVARIANT_IDS as readonly string[]).includes(id))
      throw map.error(at, `unknown key "${id}"; expected one of: ${INVARIANT_IDS.join(", ")}`, true);
    const c = findingCountSchema.safeParse(v);
    if (!c.success) throw map.error(at, 'expected a count: N, ">N" or "<N"');
    const line = map.locate(at).line;
    if (typeof c.data === "number") return { id, op: "=" as const, n: c.data, line };
    const t = c.data.trim();
    return { id, op: t[0] as ">" | "<", n: parseInt(t.slice(1).trim(), 10), line };
  });
  const expectMetrics = expectations(sc.expect?.metrics, "metrics", compare, map, (name, v, at) => {
    if (!(METRIC_NAMES as readonly string[]).includes(name))
      throw map.error(at, `unknown metric "${name}"; expected one of: ${METRIC_NAMES.join(", ")}`, true);
    const b = parseMetricBound(name as MetricName, v);
    if (typeof b === "string") throw map.error(at, b);
    return { name: name as MetricName, ...b, line: map.locate(at).line };
  });
  const policy = resolvePolicy(sc.policy, platform);
  const problem = policyProblem(policy, platform);
  if (problem) {
    const at = sc.policy !== undefined && typeof sc.policy === "object" && problem.field in sc.policy;
    throw map.error(at ? ["policy", problem.field] : ["policy"], problem.why);
  }
  const carveout = carveoutProblem(policy, platform);
  if (carveout) throw map.error(["policy"], carveout);
  return {
    file,
    name: sc.name ?? file.replace(/^.*\//, "").replace(/\.(ya?ml|json)$/, ""),
    description: sc.description ?? "",
    platform,
    policy,
    seed: sc.seed ?? 1,
    untilNs: sc.until ?? null,
    steps,
    tasks,
    workloads,
    schedule: sc.schedule ?? null,
    expectFindings,
    faults: checkKillTargets(
      resolveFaults(sc.faults, map, platform.spmc),
      allSteps(steps, tasks),
      workloads,
      map,
    ),
    expectMetrics,
    compare,
    source: map,
  };
}

/** Every step of `steps` and the tasks, those inside a `repeat` included (the repeats themselves not). */
function allSteps(steps: readonly ScenarioStep[], tasks: readonly ScenarioTask[]): ScenarioStep[] {
  const out: ScenarioStep[] = [];
  const walk = (list: readonly ScenarioStep[]): void => {
    for (const st of list) {
      if (st.children) walk(st.children);
      else out.push(st);
    }
  };
  walk(steps);
  for (const t of tasks) walk(t.steps);
  return out;
}

/**
 * A `kill:` names a process the run makes: one a `proc` step names, or one of a workload's session
 * processes (`KIND.INDEX.sN`, N below its `sessions`: pipeline.ts). Any other name would never strike — most likely a typo — so it is
 * refused at its line, with the names the scenario has.
 */
function checkKillTargets(
  faults: FaultSpec[],
  steps: readonly ScenarioStep[],
  workloads: readonly WorkloadSpec[],
  map: SourceMap,
): FaultSpec[] {
  const procs = killTargets(steps, workloads);
  faults.forEach((f, i) => {
    const why = killTargetProblem(f, procs);
    if (why !== null) throw map.error(["faults", i, "kill", "proc"], why);
  });
  return faults;
}

/** The processes a run makes: those `proc` steps name, and each session-based workload's. */
function killTargets(steps: readonly ScenarioStep[], workloads: readonly WorkloadSpec[]): Set<string> {
  const procs = new Set<string>();
  for (const st of steps) if (st.kind === "proc") procs.add((st.spec as { proc: string }).proc);
  // Each session-based workload's processes: KIND.INDEX.s0 … s<sessions − 1> (pipeline.ts).
  for (const w of workloads)
    if (w.kind !== "background")
      for (let s = 0; s < w.spec.sessions; s++) procs.add(`${w.kind}.${w.index}.s${s}`);
  return procs;
}

/** Why a fault's `kill:` names none of `procs` (killTargets()), or null. */
function killTargetProblem(f: FaultSpec, procs: ReadonlySet<string>): string | null {
  if (!("kill" in f) || procs.has(f.kill.proc)) return null;
  const known = [...procs];
  return (
    `no process "${f.kill.proc}" in this scenario; expected ` +
    (known.length === 0
      ? "a process a `proc` step or a workload makes (it has none)"
      : `one of: ${known.length > 12 ? `${known.slice(0, 12).join(", ")}, …` : known.join(", ")}`)
  );
}

/**
 * Why each fault's `kill:` names no process the loaded scenario makes (its steps, its tasks' and its
 * workloads'), or null, in the faults' order: a replay.json's faults, which a hand edit may have changed,
 * checked as checkKillTargets() checks a scenario's.
 */
export function scenarioKillProblems(faults: readonly FaultSpec[], sc: Scenario): (string | null)[] {
  const procs = killTargets(allSteps(sc.steps, sc.tasks), sc.workloads);
  return faults.map((f) => killTargetProblem(f, procs));
}

/** Why a static pool's carveout cannot be placed on this platform, or null (it fits, or no carveout). */
export function carveoutProblem(policy: Policy, platform: PlatformDesc): string | null {
  if (policy.pool !== "static") return null;
  try {
    withProtmemCarveout(platform, platform.protmemSizes);
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

/** `compare:`: named policies, each one the platform can carry out, each once. */
function resolveCompare(names: readonly string[] | undefined, platform: PlatformDesc, map: SourceMap) {
  if (names === undefined) return null;
  names.forEach((n, i) => {
    if (!POLICY_PRESET_NAMES.includes(n))
      throw map.error(
        ["compare", i],
        `unknown policy "${n}"; expected one of ${POLICY_PRESET_NAMES.join(", ")}`,
      );
    if (names.indexOf(n) !== i) throw map.error(["compare", i], `"${n}" is listed twice`);
    const p = namedPolicy(n, platform);
    const problem = policyProblem(p, platform)?.why ?? carveoutProblem(p, platform);
    if (problem) throw map.error(["compare", i], `${n} on ${platform.name}: ${problem}`);
  });
  return names;
}

/**
 * One `expect:` block's entries: `KEY: VALUE` for every run, and, when policies are compared,
 * `POLICY: {KEY: VALUE}` for that policy's run only.
 */
function expectations<T>(
  block: Record<string, unknown> | undefined,
  what: "findings" | "metrics",
  compare: readonly string[] | null,
  map: SourceMap,
  one: (key: string, value: unknown, at: (string | number)[]) => T,
): (T & { policy: string | null })[] {
  const out: (T & { policy: string | null })[] = [];
  for (const [key, value] of Object.entries(block ?? {})) {
    if (compare?.includes(key)) {
      if (value === null || typeof value !== "object" || Array.isArray(value))
        throw map.error(["expect", what, key], `expected a mapping of ${what} for the ${key} run`);
      for (const [k, v] of Object.entries(value))
        out.push({ ...one(k, v, ["expect", what, key, k]), policy: key });
    } else out.push({ ...one(key, value, ["expect", what, key]), policy: null });
  }
  return out;
}
