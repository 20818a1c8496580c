/**
 * Runs a scenario: builds the machine for its platform, runs its steps in order as one task (with the
 * machine's daemons beside it), stops at the first failed step expectation, then checks the scenario's
 * finding expectations. The result is a pure function of (scenario, seed, schedule).
 */
import { ffaFuncName } from "../abi/ffa/index.ts";
import { INVARIANT_IDS } from "../check/invariants.ts";
import type { FaultChooser, FaultSpec } from "../sim/faults.ts";
import type { Finding } from "../sim/findings.ts";
import { replayChooser, type Chooser, type RunEnd, type Sleeps, type Task } from "../sim/scheduler.ts";
import { fail } from "../sim/assert.ts";
import { Sim } from "../sim/sim.ts";
import { mutations } from "../sim/mutations.ts";
import type { TraceEvent } from "../sim/trace.ts";
import type { Scenario, ScenarioStep } from "./loader.ts";
import { stepDef } from "./steps/index.ts";
import type { StepContext } from "./steps/types.ts";
import { buildSystem, type System } from "./system.ts";
import { quiesceProblems } from "../check/quiesce.ts";
import { userSpaceOf, type Process } from "../user/process.ts";
import { sysExit } from "../user/syscalls.ts";
import type { LendStats } from "../kernel/optee/protmem_lend.ts";
import { spawnWorkloads, type WorkloadReport } from "../user/workloads/index.ts";
import { workloadEnv } from "./workloads.ts";
import { TimelineSampler, type Timeline, type TimelineOptions } from "./timeline.ts";
import { boundHolds, runMetrics, type MetricName, type Metrics } from "./metrics.ts";
import { afterInjectedFault, expectedText, expectMet, type StepExpect } from "./steps/expect.ts";
import { checkPoolsAtEnd } from "../check/pool_consistency.ts";
import { armFfaFreedPagesStillMapped } from "../kernel/firmware/arm_ffa/driver.ts";
import { FFA_NWD_ID } from "../firmware/spmc/endpoint.ts";

/** Whether an outcome is an errno name: `E` and one or more of A–Z, 0–9 (no regex: every run counts them). */
function isErrnoName(got: string): boolean {
  if (got.length < 2 || got.charCodeAt(0) !== 69) return false;
  for (let i = 1; i < got.length; i++) {
    const c = got.charCodeAt(i);
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57))) return false;
  }
  return true;
}

function countErrnos(outcomes: readonly StepOutcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) if (isErrnoName(o.got)) out[o.got] = (out[o.got] ?? 0) + 1;
  return out;
}

/** Map entries as an object, keys in code-unit order (as sorting the entries and Object.fromEntries()). */
function sortedRecord<K>(m: ReadonlyMap<K, number>, name: (k: K) => string): Record<string, number> {
  const pairs: [string, number][] = [];
  for (const [k, n] of m) pairs.push([name(k), n]);
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Record<string, number> = {};
  for (const [k, n] of pairs) out[k] = n;
  return out;
}

function sumOf(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}

/** A process's exit at the end of a run, after the one before it (a module-level generator: see runList()). */
function* exitAfter(sim: Sim, before: Task | null, p: Process): Sleeps {
  if (before) yield* sim.sched.join(before);
  yield* sysExit(p);
}

/**
 * The end of a run (ARCHITECTURE.md §8): every process exits and the system settles; then
 * conservation and quiesce-clean are checked. A hung or panicked machine does not settle: nothing is
 * checked. A process whose thread sleeps in the kernel cannot exit (SIGKILL does not wake a D-state
 * sleep): it is left as it is, and quiesce-clean shows what it holds. Returns how the last run ended.
 */
function settle(system: System, end: RunEnd, cut: { at: boolean }): RunEnd {
  const { sim, machine, kernel } = system;
  if (machine.hung !== null || end === "stopped") return end;
  // `until` starts no new step, but the one in flight completes, as a killed process finishes its
  // syscall: cutting kernel code in the middle would leave state no real system can reach.
  cut.at = true;
  const runAll = (): RunEnd => {
    for (;;) {
      const e = sim.sched.run({ maxSteps: 1 << 20 });
      if (e !== "paused") return e;
    }
  };
  end = runAll();
  if (machine.hung !== null || end === "stopped") return end;
  // One exit after another, in process order; each its own task, so an oops in one exit (a release
  // that meets broken state) does not keep the others from exiting.
  let prev: Task | null = null;
  for (const p of userSpaceOf(kernel).live()) {
    // Any of its threads asleep in a call holds the files (the last one out releases them).
    if (p.inKernel.some((t) => t.state === "blocked")) continue;
    const before: Task | null = prev;
    prev = sim.sched.spawn(`exit:${p.name}`, () => exitAfter(sim, before, p));
  }
  end = runAll();
  if (machine.hung !== null || end === "stopped") return end;
  // One count of the page states serves both checks (the frames written since boot: PageFrames.dirty).
  const histogram = machine.frames.stateHistogram(system.boot.state);
  const c = kernel.mm.conservation(system.boot.state, histogram);
  if (!c.ok) sim.findings.report("conservation", c.why ?? "page states do not add up");
  for (const p of quiesceProblems(system.boot, machine, kernel.mm, histogram))
    sim.findings.report("quiesce-clean", p);
  // A fragmented send left incomplete (a failed FFA_MEM_FRAG_TX: Linux's ffa_setup_and_transmit() gives
  // up and never reclaims, and the SPMC would refuse to) holds a share-state slot for good.
  const incomplete = system.spmc.incompleteSends();
  if (incomplete > 0)
    sim.findings.report(
      "quiesce-clean",
      `the SPMC holds ${incomplete} share state(s) of sends whose last fragment never came (nobody can reclaim them)`,
    );
  // Linux 6.18.0's ffa_init() frees its RX/TX pages without FFA_RXTX_UNMAP when it gives up
  // (arm_ffa/driver.ts armFfaInitcall()): the SPMC keeps them as the normal world's mailbox.
  const nwd = system.spmc.endpoint(FFA_NWD_ID);
  const stale = nwd ? armFfaFreedPagesStillMapped(kernel, nwd) : 0;
  if (stale > 0)
    sim.findings.report(
      "quiesce-clean",
      `the SPMC still maps ${stale} pages freed by the kernel as the normal world's RX/TX buffers (ffa_init() gave up without FFA_RXTX_UNMAP: the SPMC may write a later RX message into pages Linux reused)`,
    );
  checkPoolsAtEnd(kernel);
  return end;
}

/** Estimated slowdown of memory-heavy kernel work from 4 KiB entries the run added to the linear map, %. */
function lostReachSlowdownPct(system: System): number {
  const { machine } = system;
  const extra = Math.max(0, machine.directMap.counters.valid4K - system.linearMap4KAtBoot);
  const share = (extra * 4096) / machine.platform.dram.size;
  return Math.round(share * machine.costs.linearMapPagesSlowdownPct * 1000) / 1000;
}

/** The machine's counters at the end of a run (RunResult.machine). */
function machineStats(system: System): Record<string, number> {
  const { machine } = system;
  const dm = machine.directMap.counters;
  const out: Record<string, number> = {};
  // Copied key by key, in the counters' own order (as a spread would, without its cost every run).
  const stats = machine.stats as unknown as Record<string, number>;
  for (const k in stats) out[k] = stats[k];
  let cmaMigrations = 0;
  for (const c of system.kernel.mm.cmaAreas) cmaMigrations += c.migrated;
  let tzcRegionsUsed = 0;
  if (machine.tzc) {
    const regions = machine.tzc.regions;
    for (let i = 1; i < regions.length; i++) if (regions[i].enabled) tzcRegionsUsed++;
  }
  // Assigned one by one after the counters, in this order (as Object.assign() of a literal would, at a
  // fraction of its cost every run).
  out.dirtyPages = machine.caches.dirtyPages;
  out.directMapValid4K = dm.valid4K;
  out.directMapValid2M = dm.valid2M;
  out.directMapValid1G = dm.valid1G;
  out.directMapSplits = dm.splits1G + dm.splits2M;
  // 4 KiB entries that replaced blocks at run time: TLB reach lost for the rest of the run.
  out.directMapSplitPtes = dm.splitPtes;
  // Lost TLB reach: 4 KiB entries beyond the platform's own boot mapping, as a share of the linear
  // map, times the cost of an all-pages linear map (costs.linearMapPagesSlowdownPct, with its source).
  out.estimatedKernelSlowdownPct = lostReachSlowdownPct(system);
  out.directMapAttrChanges = dm.attrChanges;
  out.bytesCleaned = machine.maintenance.bytesCleaned;
  out.bytesZeroed = machine.maintenance.bytesZeroed;
  out.cmaMigrations = cmaMigrations;
  out.stage2Hypercalls = machine.stage2 ? machine.stage2.counters.hypercalls : 0;
  out.tlbFlushRange = dm.flushRange;
  out.tlbFlushAll = dm.flushAll;
  out.tzcRegionsUsed = tzcRegionsUsed;
  out.smcCalls = sumOf(machine.smc.calls.values());
  return out;
}

/** The protected-memory pool's lend counters, whichever pool the policy built. */
function protmemStats(system: System): Omit<LendStats, "history"> | null {
  const pool = system.kernel.optee?.protmemPool as { stats?: LendStats } | null | undefined;
  if (!pool?.stats) return null;
  const { history: _history, ...stats } = pool.stats;
  return stats;
}

/** Every protected-memory pool's lend counters (one per pool the driver built). */
function protmemPools(system: System): LendStats[] {
  const pools = (system.kernel.optee?.protmemPools ?? []) as { stats?: LendStats }[];
  const out: LendStats[] = [];
  for (const p of pools) if (p.stats) out.push(p.stats);
  return out;
}

/** Saved values a task sees: its own saves first, then the latest save by any task (README). */
class TaskVars extends Map<string, bigint> {
  constructor(private readonly shared: Map<string, bigint>) {
    super();
  }
  override get(k: string): bigint | undefined {
    return super.has(k) ? super.get(k) : this.shared.get(k);
  }
  override has(k: string): boolean {
    return super.has(k) || this.shared.has(k);
  }
  override set(k: string, v: bigint): this {
    this.shared.set(k, v);
    return super.set(k, v);
  }
}

/** Steps a list runs, repeats unrolled. */
function stepCount(list: readonly ScenarioStep[]): number {
  return list.reduce((n, s) => n + (s.children ? (s.count ?? 1) * stepCount(s.children) : 1), 0);
}

/** What a step expected (`expect:` at its top, or inside its kind's mapping), for a killed step. */
function expectedOf(step: ScenarioStep): StepExpect | null {
  const spec = step.spec as Record<string, { expect?: unknown } | unknown>;
  const inner = spec[step.kind];
  const e =
    spec.expect ?? (inner && typeof inner === "object" ? (inner as { expect?: unknown }).expect : null);
  return e === undefined || e === null ? null : Array.isArray(e) ? e.map(String) : String(e);
}

export interface StepOutcome {
  /** The step's number among every step the run executed (unique; repeats count each time). */
  readonly n: number;
  /** The task that ran it: "steps", or a name under `tasks:`. */
  readonly task: string;
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
  /**
   * Present (true) when the step missed its expectation after an injected fault struck, and so was not
   * judged (sim/faults.ts isInjected(), steps/expect.ts yieldsToInjectedFault()): `ok` is then true.
   */
  readonly afterInjectedFault?: true;
}

export interface ExpectationOutcome {
  readonly id: string;
  readonly expected: string;
  readonly actual: number;
  readonly ok: boolean;
  readonly line: number;
  /** Present (true) when an injected fault struck and the bound was read as a fault reads it (judgeFindings()). */
  readonly afterInjectedFault?: true;
}

export interface MetricOutcome {
  readonly name: MetricName;
  readonly expected: string;
  readonly actual: number;
  readonly ok: boolean;
  readonly line: number;
  /** Present (true) when an injected fault struck: a fault changes what a run measures, so not judged. */
  readonly afterInjectedFault?: true;
}

/**
 * What decides a run and makes it again — whether it passed, why not, its findings, its schedule and
 * the faults that struck — without the rest of RunResult: what the explorer needs of each of its
 * runs (violation()), where the report's counters, statistics and sorted records would cost a run's
 * worth of work for nothing. RunResult has the same fields, built the same way.
 */
export interface RunVerdict {
  readonly passed: boolean;
  readonly failure: string | null;
  readonly findings: Readonly<Record<string, number>>;
  readonly schedule: string;
  readonly faults: readonly FaultSpec[];
}

export interface RunResult extends RunVerdict {
  readonly scenario: string;
  readonly file: string;
  readonly platform: string;
  /** The policy's name (`upstream`, `safe`, `safe+custom` for overrides). */
  readonly policy: string;
  readonly seed: number;
  readonly passed: boolean;
  /** 0: every expectation held; 1: one did not. */
  readonly exitCode: 0 | 1;
  readonly end: RunEnd;
  /** Tasks an oops killed: the task, its step in flight (if any) and the oops. */
  readonly killed: readonly { task: string; line: number | null; what: string }[];
  /** Tasks still blocked when the run ended, and what they wait on. */
  readonly blocked: readonly { task: string; on: string; sinceNs: number }[];
  /** The kernel panicked (panic_on_oops), or null. */
  readonly panic: string | null;
  /** The OP-TEE driver's protected-memory pool: lends and reclaims of chunks, bytes lent at peak and at the end. */
  readonly protmem: Readonly<Omit<LendStats, "history">> | null;
  /** Calls the SPMC rejected, by "FUNCTION: rule". */
  readonly ffaRejections: Readonly<Record<string, number>>;
  readonly simTimeNs: number;
  readonly stepsTotal: number;
  readonly steps: readonly StepOutcome[];
  /** The first failed expectation, as a sentence naming its line. */
  readonly failure: string | null;
  readonly findings: Readonly<Record<string, number>>;
  readonly findingDetails: readonly Finding[];
  readonly expectations: readonly ExpectationOutcome[];
  /** The run's metrics by name (scenario/metrics.ts), and the scenario's bounds on them. */
  readonly metrics: Metrics;
  readonly metricExpectations: readonly MetricOutcome[];
  readonly hung: string | null;
  readonly machine: Readonly<Record<string, number>>;
  /** FF-A calls the SPMC handled, by function name (FFA_MEM_LEND_32: 1, …). */
  readonly ffaCalls: Readonly<Record<string, number>>;
  /** Steps that got an errno, by errno name. */
  readonly errnos: Readonly<Record<string, number>>;
  readonly schedule: string;
  readonly taskSwitches: number;
  /** Faults that struck, in order, as a `faults:` list: given back as the run's faults, they replay it. */
  readonly faults: readonly FaultSpec[];
  /** Per `workloads:` entry: allocation latencies, failures by errno, frames shown (absent without workloads). */
  readonly workloads?: readonly WorkloadReport[];
  /** Memory by state over time and the memory map per sample (only when RunOptions.timeline asked). */
  readonly timeline?: Timeline;
}

export interface RunOptions {
  /** Overrides the scenario's seed. */
  readonly seed?: number;
  /** Replays a recorded schedule. */
  readonly schedule?: string;
  /** Chooses among runnable tasks (the explorer's random, PCT, … choosers); overrides `schedule`. */
  readonly chooser?: Chooser;
  /** Receives every trace event. */
  readonly trace?: (e: TraceEvent) => void;
  /** With `trace`: whether it receives every successful memory access too (default true; see sim/trace.ts). */
  readonly tracePerAccess?: boolean;
  /** Called every few thousand task switches with the virtual time and the steps done so far. */
  readonly onProgress?: (simTimeNs: number, stepsDone: number) => void;
  /** Faults (sim/faults.ts): `list` replaces the scenario's `faults:`; `chooser` may strike at other points, `budget` times at most. */
  readonly faults?: {
    readonly list?: readonly FaultSpec[];
    readonly chooser?: FaultChooser;
    readonly budget?: number;
  };
  /** Samples memory by state and the memory map over the run into RunResult.timeline (scenario/timeline.ts). */
  readonly timeline?: TimelineOptions;
}

/** What the scenario's step lists share while a run makes them (runList()). */
interface StepsRun {
  readonly sc: Scenario;
  readonly sim: Sim;
  /** Each step's outcome, in the order the steps ended. */
  readonly outcomes: StepOutcome[];
  /** The step each task has in flight, and its number. */
  readonly inFlight: Map<string, { step: ScenarioStep; n: number }>;
  /** Steps begun so far (the next step's number). */
  executed: number;
  /** The first step expectation that failed, as a sentence. */
  failure: string | null;
  /** Set when the run's `until` cut it: no step begins after. */
  readonly cut: { at: boolean };
}

/**
 * Whether the findings meet a bound of the scenario's `expect:`. After an injected fault the bound is
 * read as a fault reads it: a fault may make a run find less of what the scenario expects (the run is
 * cut short, an allocation fails), never more, so `N` holds up to N and `>N` holds whatever the count;
 * `<N` stands as written. Not counted at all, a finding breaks `0`: what the hunt is for.
 */
function judgeFindings(e: { op: "=" | ">" | "<"; n: number }, actual: number, injected: boolean): boolean {
  if (injected) return e.op === "=" ? actual <= e.n : e.op === ">" ? true : actual < e.n;
  return e.op === "=" ? actual === e.n : e.op === ">" ? actual > e.n : actual < e.n;
}

/** Where a step is, for a failure's sentence. */
function stepWhere(sc: Scenario, task: string, step: ScenarioStep): string {
  return `step ${step.index} (${sc.file}:${step.line}, ${task === "steps" ? "" : `task ${task}, `}${step.kind})`;
}

/**
 * One task's step list (`steps`, or a list under `tasks:`). A module-level generator, not one made
 * inside runOnSystem(): V8 gives each generator function object the hidden class of its generators,
 * in old space, pointing back at the function, so a generator function made per run kept everything
 * its run captured alive through every minor GC until the next full one (~1 MB copied and promoted
 * at each scavenge of an explorer's search; arrows that call this are not affected).
 */
function* runList(
  run: StepsRun,
  task: string,
  ctx: StepContext,
  top: readonly ScenarioStep[],
): Sleeps<boolean> {
  const { sim, outcomes, inFlight, cut } = run;
  // Repeats unroll on a stack of frames, not by recursion: every scheduling point of a step passes
  // through each generator between the scheduler and the call, so a nested runList would cost at
  // every yield of every step inside the repeat.
  const frames: { list: readonly ScenarioStep[]; at: number; left: number }[] = [
    { list: top, at: 0, left: 1 },
  ];
  while (frames.length > 0) {
    const f = frames[frames.length - 1];
    if (f.at === f.list.length) {
      if (--f.left > 0) f.at = 0;
      else frames.pop();
      continue;
    }
    const step = f.list[f.at++];
    if (cut.at) return false;
    if (step.children) {
      const count = step.count ?? 1;
      if (count > 0) frames.push({ list: step.children, at: 0, left: count });
      continue;
    }
    const n = run.executed++;
    inFlight.set(task, { step, n });
    if (sim.trace.listening)
      sim.trace.emit("scenario", "step", { index: step.index, kind: step.kind, line: step.line, n }, "B");
    const o = yield* stepDef(step.kind).run(ctx, step.spec);
    inFlight.delete(task);
    const unjudged = !o.ok && afterInjectedFault(sim.faults, expectedOf(step));
    const ok = o.ok || unjudged;
    if (sim.trace.listening)
      sim.trace.emit(
        "scenario",
        "step",
        { n, got: o.got, ok, ...(unjudged ? { afterInjectedFault: true } : {}) },
        "E",
      );
    outcomes.push({
      n,
      task,
      index: step.index,
      line: step.line,
      kind: step.kind,
      t: sim.now,
      got: o.got,
      expected: o.expected,
      ok,
      detail: o.detail,
      ...(unjudged ? { afterInjectedFault: true } : {}),
    });
    if (!ok) {
      // A step with no `expect:` fails only when it could not do its work: say that, not "expected null".
      run.failure ??=
        `${stepWhere(run.sc, task, step)} ${o.expected === null ? "failed:" : `expected ${o.expected}, got`} ${o.got}` +
        (o.detail ? ` (${o.detail})` : "");
      return false;
    }
  }
  return true;
}

export function runScenario(sc: Scenario, opts: RunOptions = {}): RunResult {
  // The trace of a fresh run covers its boot too (the drivers' probe, OP-TEE's config calls).
  const system = bootScenario(
    sc,
    opts.seed ?? sc.seed,
    opts.trace && { listener: opts.trace, perAccess: opts.tracePerAccess ?? true },
  );
  return runOnSystem(sc, system, { ...opts, trace: undefined });
}

/**
 * Boots the scenario's platform under its policy with run seed `seed`: the state every run starts
 * from. `trace` hears the boot (and stays subscribed for the run).
 */
export function bootScenario(
  sc: Scenario,
  seed: number,
  trace?: { listener: (e: TraceEvent) => void; perAccess: boolean },
): System {
  const sim = new Sim(seed);
  if (trace) sim.trace.subscribe(trace.listener, { perAccess: trace.perAccess });
  // Faults marked `boot: true` strike while the drivers probe; the others once the run starts.
  sim.faults.configureBoot(sc.faults);
  return buildSystem(sim, sc.platform, {
    policy: sc.policy,
    protmemSizes: sc.platform.protmemSizes,
    tee: sc.platform.tee ?? true,
  });
}

/**
 * Runs the scenario on a system just booted by bootScenario() (or restored to that state from a
 * snapshot: the explorer's runs). `opts.seed` must be the seed the system was booted with.
 */
export function runOnSystem(sc: Scenario, system: System, opts: RunOptions = {}): RunResult {
  return runMade(sc, system, opts, false);
}

/** runOnSystem()'s verdict alone (RunVerdict): the same run, without building the rest of the result. */
export function runVerdictOnSystem(sc: Scenario, system: System, opts: RunOptions = {}): RunVerdict {
  return runMade(sc, system, opts, true);
}

function runMade(sc: Scenario, system: System, opts: RunOptions, verdictOnly: true): RunVerdict;
function runMade(sc: Scenario, system: System, opts: RunOptions, verdictOnly: false): RunResult;
function runMade(
  sc: Scenario,
  system: System,
  opts: RunOptions,
  verdictOnly: boolean,
): RunResult | RunVerdict {
  const sim = system.sim;
  const seed = sim.prng.seed;
  if (opts.seed !== undefined && opts.seed !== seed)
    fail(`run seed ${opts.seed} on a system booted with ${seed}`);
  const schedule = opts.schedule ?? sc.schedule ?? undefined;
  const chooser = opts.chooser ?? (schedule !== undefined ? replayChooser(schedule) : undefined);
  if (chooser) sim.sched.setChooser(chooser);
  if (opts.trace) sim.trace.subscribe(opts.trace, { perAccess: opts.tracePerAccess ?? true });
  const machine = system.machine;
  // Faults strike from here on, never during boot. A kill strikes at a process's scheduling points.
  sim.faults.configure(
    opts.faults?.list ?? sc.faults,
    opts.faults?.chooser ?? null,
    opts.faults?.budget ?? 0,
  );
  sim.faults.arm();
  sim.mutations = mutations(sc.mutations);
  if (sim.faults.mayStrike("kill")) {
    const users = userSpaceOf(system.kernel);
    sim.sched.onSchedPoint = users.schedPointHook;
  }
  const shared = new Map<string, bigint>();
  const lists = [{ name: "steps", steps: sc.steps }, ...sc.tasks];
  const run: StepsRun = {
    sc,
    sim,
    outcomes: [],
    inFlight: new Map(),
    executed: 0,
    failure: null,
    cut: { at: false },
  };
  const { outcomes, inFlight, cut } = run;

  const tasks = lists
    .filter((l) => l.steps.length > 0 || l.name === "steps")
    .map((l) => {
      const ctx: StepContext = { system, vars: new TaskVars(shared), file: sc.file };
      return sim.sched.spawn(l.name, () => runList(run, l.name, ctx, l.steps));
    });
  // A background load alone (no step, no other workload) runs until `until`; otherwise until the rest is done.
  const loadAlone =
    sc.untilNs !== null &&
    lists.every((l) => l.steps.length === 0) &&
    sc.workloads.every((w) => w.kind === "background");
  const workloads = spawnWorkloads(
    workloadEnv(system, () => cut.at, sc.untilNs),
    sc.workloads,
    () => (loadAlone ? false : tasks.every((t) => t.state === "done")),
  );

  let end: RunEnd;
  const until = sc.untilNs ?? undefined;
  const timeline = opts.timeline
    ? new TimelineSampler(system, opts.timeline, sc.untilNs, (chooser?.windowNs ?? 0) > 0)
    : null;
  // A windowed run cannot pause at sample times (a pause would narrow the window): it samples as the
  // scheduler moves time past them. Samples where memory changed are taken as time moves on, too.
  if (timeline !== null && (!timeline.exact || timeline.changes))
    sim.sched.onTimeAdvance = (from, to) => timeline.advanced(from, to);
  try {
    for (;;) {
      const limit = timeline ? timeline.limit(until) : until;
      end = sim.sched.run({ untilNs: limit, maxSteps: 4096 });
      timeline?.reached(sim.now, end === "paused");
      if (end === "until" && limit !== until) continue;
      if (end !== "paused") break;
      opts.onProgress?.(sim.now, outcomes.length);
    }
  } finally {
    sim.sched.onTimeAdvance = null;
  }
  opts.onProgress?.(sim.now, outcomes.length);
  timeline?.final(sim.now);
  end = settle(system, end, cut);
  timeline?.final(sim.now);
  // Every task is blocked: the machine idles, and khungtaskd goes on checking.
  if (end === "deadlock") system.hungTask?.idleChecks(until ?? Infinity);

  // A task an oops killed: its step in flight ends there ("killed").
  const killed: RunResult["killed"][number][] = [];
  for (const t of sim.sched.tasks) {
    if (t.killedBy === null) continue;
    const f = inFlight.get(t.name);
    const own = tasks.includes(t) && f;
    killed.push({ task: t.name, line: own ? f.step.line : null, what: t.killedBy });
    if (!own) continue;
    // Judged even after an injected fault: an oops is what a fault must not cause.
    const e = expectedOf(f.step);
    const ok = expectMet(e, "killed");
    const expected = expectedText(e);
    outcomes.push({
      n: f.n,
      task: t.name,
      index: f.step.index,
      line: f.step.line,
      kind: f.step.kind,
      t: sim.now,
      got: "killed",
      expected,
      ok,
      detail: t.killedBy,
    });
    if (!ok)
      run.failure ??= `${stepWhere(sc, t.name, f.step)} expected ${expected}, got killed (${t.killedBy})`;
  }
  // In the order the steps began (they end in another order when tasks interleave): each step's
  // number is its own, below `executed`, so they go by it into place (a sort, without the comparator).
  for (let i = 1; i < outcomes.length && !verdictOnly; i++)
    if (outcomes[i - 1].n > outcomes[i].n) {
      const byN = new Array<StepOutcome | undefined>(run.executed);
      for (const o of outcomes) byN[o.n] = o;
      let k = 0;
      for (const o of byN) if (o !== undefined) outcomes[k++] = o;
      break;
    }
  const blockedNow = () =>
    sim.sched
      .blockedTasks()
      .filter((t) => !t.daemon)
      .map((t) => ({ task: t.name, on: t.blockedOn?.name ?? "?", sinceNs: t.blockedSince }));
  const blocked = verdictOnly ? null : blockedNow();

  const findings: Record<string, number> = {};
  for (const id of INVARIANT_IDS) findings[id] = sim.findings.count(id);
  for (const [id, n] of Object.entries(sim.findings.counts())) findings[id] = n;

  const mine = (e: { policy: string | null }) => e.policy === null || e.policy === sc.policy.name;
  const injected = sim.faults.injectedStruck();
  const expectations = sc.expectFindings.filter(mine).map((e): ExpectationOutcome => {
    const actual = findings[e.id] ?? 0;
    const ok = judgeFindings(e, actual, injected);
    const expected = e.op === "=" ? String(e.n) : `${e.op}${e.n}`;
    // Marked where the reading differs from the scenario's: its `N` above 0, and `>N`.
    const read =
      injected && ((e.op === "=" && e.n > 0) || e.op === ">") ? { afterInjectedFault: true as const } : {};
    return { id: e.id, expected, actual, ok, line: e.line, ...read };
  });
  const metricsNeeded = !verdictOnly || sc.expectMetrics.length > 0;
  const machineCounters = metricsNeeded ? machineStats(system) : null;
  const metrics = machineCounters
    ? runMetrics({
        simTimeNs: sim.now,
        workloads: workloads.metrics,
        pools: protmemPools(system),
        machine: machineCounters,
        ffaCalls: sumOf(system.spmc.calls.values()),
        findings: sumOf(Object.values(findings)),
        tzcPeakRegions: machine.tzc?.peakEnabled ?? 0,
      })
    : null;
  const metricOutcomes = sc.expectMetrics.filter(mine).map((e): MetricOutcome => ({
    name: e.name,
    expected: `${e.op === "=" ? "" : e.op}${e.value}`,
    actual: metrics![e.name],
    ok: injected || boundHolds(e, metrics![e.name]),
    line: e.line,
    ...(injected ? { afterInjectedFault: true as const } : {}),
  }));
  let failure = run.failure;
  // A deadlock fails the run, unless the scenario expects it (it asserts on hung-task findings).
  if (failure === null && end === "deadlock" && !sc.expectFindings.some((e) => e.id === "hung-task")) {
    failure =
      "every task is blocked: the run deadlocked (" +
      (blocked ?? blockedNow()).map((b) => `${b.task} on ${b.on}`).join(", ") +
      ")";
  }
  if (failure === null && sim.panicked !== null) failure = sim.panicked;
  const stepsTotal = lists.reduce((n, l) => n + stepCount(l.steps), 0);
  if (failure === null && machine.hung !== null && stepsTotal > outcomes.length) {
    failure = `the machine hung before step ${outcomes.length} could run: ${machine.hung}`;
  }
  const badExpect = expectations.find((e) => !e.ok);
  if (failure === null && badExpect) {
    failure = `expected ${badExpect.expected} ${badExpect.id} findings (${sc.file}:${badExpect.line}), got ${badExpect.actual}`;
  }
  const badMetric = metricOutcomes.find((e) => !e.ok);
  if (failure === null && badMetric) {
    failure = `expected ${badMetric.name} ${badMetric.expected} (${sc.file}:${badMetric.line}), got ${badMetric.actual}`;
  }
  const passed = failure === null;
  if (verdictOnly)
    return { passed, failure, findings, schedule: sim.sched.schedule(), faults: sim.faults.record() };
  // The whole result: what a verdict leaves out was made above (metricsNeeded, blocked).
  return {
    scenario: sc.name,
    file: sc.file,
    platform: sc.platform.name,
    policy: sc.policy.name,
    seed,
    passed,
    exitCode: passed ? 0 : 1,
    end,
    killed,
    blocked: blocked!,
    panic: sim.panicked,
    protmem: protmemStats(system),
    ffaRejections: sortedRecord(system.spmc.rejections, (k) => k),
    simTimeNs: sim.now,
    stepsTotal,
    steps: outcomes,
    failure,
    findings,
    // A copy: the system (and its findings) may be restored and run again (the explorer).
    findingDetails: sim.findings.details().slice(),
    expectations,
    metrics: metrics!,
    metricExpectations: metricOutcomes,
    hung: machine.hung,
    machine: machineCounters!,
    ffaCalls: sortedRecord(system.spmc.calls, (fid) => ffaFuncName(fid) ?? `0x${fid.toString(16)}`),
    errnos: countErrnos(outcomes),
    schedule: sim.sched.schedule(),
    taskSwitches: sim.sched.switches,
    faults: sim.faults.record(),
    ...(sc.workloads.length > 0 ? { workloads: workloads.reports() } : {}),
    ...(timeline ? { timeline: timeline.result() } : {}),
  };
}
