/**
 * Runs a scenario: builds the machine for its platform, runs its steps in order as one task (with the
 * machine's daemons beside it), stops at the first failed step expectation, then checks the scenario's
 * finding expectations. The result is a pure function of (scenario, seed, schedule).
 */
import { ffaFuncName } from "../abi/ffa/index.ts";
import { INVARIANT_IDS } from "../check/invariants.ts";
import type { Finding } from "../sim/findings.ts";
import { replayChooser, type RunEnd } from "../sim/scheduler.ts";
import { Sim } from "../sim/sim.ts";
import type { TraceEvent } from "../sim/trace.ts";
import type { Scenario } from "./loader.ts";
import { stepDef } from "./steps/index.ts";
import type { StepContext } from "./steps/types.ts";
import { buildSystem, type System } from "./system.ts";
import { quiesceProblems } from "../check/quiesce.ts";
import { userSpaceOf } from "../user/process.ts";

function countErrnos(outcomes: readonly StepOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) if (/^E[A-Z0-9]+$/.test(o.got)) out[o.got] = (out[o.got] ?? 0) + 1;
  return out;
}

/**
 * The end of a run (ARCHITECTURE.md §8): every process exits and the system settles; then
 * conservation and quiesce-clean are checked. A hung machine does not settle: nothing is checked.
 */
function settle(system: System, end: RunEnd, cut: { at: boolean }): void {
  const { sim, machine, kernel } = system;
  if (machine.hung !== null || end === "stopped") return;
  // `until` starts no new step, but the one in flight (a system call, an FF-A call) completes, as a
  // killed process finishes its syscall: cutting kernel code in the middle would leave state no real
  // system can reach.
  cut.at = true;
  for (;;) {
    const e = sim.sched.run({ maxSteps: 1 << 20 });
    if (e !== "paused") break;
  }
  if (machine.hung !== null) return;
  sim.sched.spawn("exit", function* () {
    yield* userSpaceOf(kernel).exitAll();
  });
  for (;;) {
    const e = sim.sched.run({ maxSteps: 1 << 20 });
    if (e !== "paused") break;
  }
  const c = kernel.mm.conservation();
  if (!c.ok) sim.findings.report("conservation", c.why ?? "page states do not add up");
  for (const p of quiesceProblems(system.boot, machine, kernel.mm)) sim.findings.report("quiesce-clean", p);
}

export interface StepOutcome {
  readonly index: number;
  readonly line: number;
  readonly kind: string;
  /** Virtual time the step ended, ns. */
  readonly t: number;
  /** What happened: "ok", "fault", … */
  readonly got: string;
  readonly expected: string | null;
  readonly ok: boolean;
  readonly detail: string | null;
}

export interface ExpectationOutcome {
  readonly id: string;
  readonly expected: string;
  readonly actual: number;
  readonly ok: boolean;
  readonly line: number;
}

export interface RunResult {
  readonly scenario: string;
  readonly file: string;
  readonly platform: string;
  readonly seed: number;
  readonly passed: boolean;
  /** 0: every expectation held; 1: one did not. */
  readonly exitCode: 0 | 1;
  readonly end: RunEnd;
  readonly simTimeNs: number;
  readonly stepsTotal: number;
  readonly steps: readonly StepOutcome[];
  /** The first failed expectation, as a sentence naming its line. */
  readonly failure: string | null;
  readonly findings: Readonly<Record<string, number>>;
  readonly findingDetails: readonly Finding[];
  readonly expectations: readonly ExpectationOutcome[];
  readonly hung: string | null;
  readonly machine: Readonly<Record<string, number>>;
  /** FF-A calls the SPMC handled, by function name (FFA_MEM_LEND_32: 1, …). */
  readonly ffaCalls: Readonly<Record<string, number>>;
  /** Steps that got an errno, by errno name. */
  readonly errnos: Readonly<Record<string, number>>;
  readonly schedule: string;
  readonly taskSwitches: number;
}

export interface RunOptions {
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Replays a recorded schedule. */
  readonly schedule?: string;
  /** Receives every trace event. */
  readonly trace?: (e: TraceEvent) => void;
  /** Called every few thousand task switches with the virtual time and the steps done so far. */
  readonly onProgress?: (simTimeNs: number, stepsDone: number) => void;
}

export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  const seed = opts.seed ?? sc.seed;
  const sim = new Sim(seed, opts.schedule !== undefined ? replayChooser(opts.schedule) : undefined);
  if (opts.trace) sim.trace.subscribe(opts.trace);
  const system = buildSystem(sim, sc.platform, {
    policy: sc.policy,
    protmemSizes: sc.platform.protmemSizes,
    tee: sc.platform.tee ?? true,
  });
  const machine = system.machine;
  const ctx: StepContext = { system, vars: new Map(), file: sc.file };
  const outcomes: StepOutcome[] = [];
  let failure: string | null = null;

  const cut = { at: false };
  sim.sched.spawn("steps", function* () {
    for (const step of sc.steps) {
      if (cut.at) return;
      if (sim.trace.listening)
        sim.trace.emit("scenario", "step", { index: step.index, kind: step.kind, line: step.line });
      const o = yield* stepDef(step.kind).run(ctx, step.spec);
      outcomes.push({ index: step.index, line: step.line, kind: step.kind, t: sim.now, ...o });
      if (!o.ok) {
        failure =
          `step ${step.index} (${sc.file}:${step.line}, ${step.kind}) expected ${o.expected}, got ${o.got}` +
          (o.detail ? ` (${o.detail})` : "");
        return;
      }
    }
  });

  let end: RunEnd;
  const until = sc.untilNs ?? undefined;
  for (;;) {
    end = sim.sched.run({ untilNs: until, maxSteps: 4096 });
    if (end !== "paused") break;
    opts.onProgress?.(sim.now, outcomes.length);
  }
  opts.onProgress?.(sim.now, outcomes.length);
  settle(system, end, cut);

  const findings: Record<string, number> = {};
  for (const id of INVARIANT_IDS) findings[id] = sim.findings.count(id);
  for (const [id, n] of Object.entries(sim.findings.counts())) findings[id] = n;

  const expectations = sc.expectFindings.map((e): ExpectationOutcome => {
    const actual = findings[e.id] ?? 0;
    const ok = e.op === "=" ? actual === e.n : e.op === ">" ? actual > e.n : actual < e.n;
    return { id: e.id, expected: e.op === "=" ? String(e.n) : `${e.op}${e.n}`, actual, ok, line: e.line };
  });
  if (failure === null && end === "deadlock") failure = "every task is blocked: the run deadlocked";
  if (failure === null && machine.hung !== null && sc.steps.length > outcomes.length) {
    failure = `the machine hung before step ${outcomes.length} could run: ${machine.hung}`;
  }
  const badExpect = expectations.find((e) => !e.ok);
  if (failure === null && badExpect) {
    failure = `expected ${badExpect.expected} ${badExpect.id} findings (${sc.file}:${badExpect.line}), got ${badExpect.actual}`;
  }
  const dm = machine.directMap.counters;
  const passed = failure === null;
  return {
    scenario: sc.name,
    file: sc.file,
    platform: sc.platform.name,
    seed,
    passed,
    exitCode: passed ? 0 : 1,
    end,
    simTimeNs: sim.now,
    stepsTotal: sc.steps.length,
    steps: outcomes,
    failure,
    findings,
    findingDetails: sim.findings.details(),
    expectations,
    hung: machine.hung,
    machine: {
      ...machine.stats,
      dirtyPages: machine.caches.dirtyPages,
      directMapValid4K: dm.valid4K,
      directMapValid2M: dm.valid2M,
      directMapValid1G: dm.valid1G,
      directMapSplits: dm.splits1G + dm.splits2M,
      tlbFlushRange: dm.flushRange,
      tlbFlushAll: dm.flushAll,
      tzcRegionsUsed: machine.tzc ? machine.tzc.regions.slice(1).filter((r) => r.enabled).length : 0,
      smcCalls: [...machine.smc.calls.values()].reduce((a, b) => a + b, 0),
    },
    ffaCalls: Object.fromEntries(
      [...system.spmc.calls.entries()]
        .map(([fid, n]) => [ffaFuncName(fid) ?? `0x${fid.toString(16)}`, n] as const)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ),
    errnos: countErrnos(outcomes),
    schedule: sim.sched.schedule(),
    taskSwitches: sim.sched.switches,
  };
}
