/**
 * The explorer (ARCHITECTURE.md §2): runs one scenario many times, each under a different schedule
 * from a chooser — a seeded random walk, PCT, or bounded DFS — and stops at the first run that
 * violates, or when the budget of runs (or the caller's wall-clock stop) is spent. What it finds
 * depends only on (scenario, strategy, seed, window, fault budget): the wall clock may end the search
 * early, never change a run; nor does the number of threads making the runs (walk.ts,
 * explore_parallel.ts).
 */
import { fail } from "../sim/assert.ts";
import { isBootFault, isInjected, type FaultKind, type FaultSpec } from "../sim/faults.ts";
import {
  encodeSchedule,
  parseSchedule,
  replayChooser,
  ScheduleDivergence,
  type Chooser,
} from "../sim/scheduler.ts";
import type { RunOptions, RunResult, RunVerdict } from "../scenario/runner.ts";
import type { Scenario } from "../scenario/loader.ts";
import { pctBound } from "./pct.ts";
import { stateHash, stringHash } from "./state_hash.ts";
import { StateSet } from "./state_set.ts";
import { BootedScenario } from "./booted.ts";
import {
  choiceCount,
  CHUNK_RUNS,
  runChunk,
  seededFaults,
  walkRun,
  WalkMerge,
  FailureTally,
  type FoundRun,
  type WalkParams,
  violationKey,
} from "./walk.ts";

export { BootedScenario } from "./booted.ts";
export { violationKey } from "./walk.ts";

export const STRATEGIES = ["random", "pct", "dfs"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface ExploreOptions {
  readonly strategy: Strategy;
  /** Schedules to try at most. */
  readonly runs: number;
  /** The explorer's seed: it picks the schedules (the scenario's own seed stays the run seed). */
  readonly seed: number;
  /** DFS's preemption bound: choices other than the default a run may make (default 2). */
  readonly preemptions?: number;
  /** Shrink the violation found (default true). */
  readonly shrink?: boolean;
  /** PCT's depth d (priority-change points d − 1). */
  readonly depth?: number;
  /** The chooser's window (Chooser.windowNs): tasks ready within it of the earliest may go first. */
  readonly windowNs?: number;
  /**
   * Fault budget (`--faults N`): in each run a seeded fault chooser may strike at up to N fault points
   * the scenario's `faults:` does not name (sim/faults.ts); 0 or absent: only the scenario's faults.
   */
  readonly faults?: number;
  /** The kinds of fault that budget may strike (`--fault-kinds`); absent: every kind. */
  readonly faultKinds?: readonly FaultKind[];
  /**
   * Go on past violations (`--keep-going N`): the search makes its whole budget (DFS: its bound) and
   * keeps the first violating run of each distinct failure (violationKey()), up to this many, each made
   * again and shrunk; the first is `violation`. On any number of threads (explore_parallel.ts), with the
   * same result. Absent or 0: stop at the first violation.
   */
  readonly keepGoing?: number;
  /** Asked before each run after the first; true ends the search (the CLI's --time). */
  readonly shouldStop?: () => boolean;
  /**
   * The same budget as a wall-clock time (Date.now(), ms), for the worker threads of a search on several
   * (explore_parallel.ts), which cannot call shouldStop: each stops its chunk there.
   */
  readonly deadline?: number;
  /** Called after each run with its verdict (null: a DFS run abandoned at a state already explored). */
  readonly onRun?: (done: number, result: RunVerdict | null) => void;
  /**
   * Called after each run with its whole result (null as for onRun). Asking for it makes every run's
   * whole result — the report's counters and records — where the search otherwise makes verdicts.
   */
  readonly onResult?: (done: number, result: RunResult | null) => void;
}

/** PCT's parameters and its per-run guarantee. */
export interface PctInfo {
  readonly depth: number;
  /** n: tasks the scenario runs concurrently (`steps` and each of `tasks:`). */
  readonly tasks: number;
  /** k: scheduling choices in a run (the most the calibration run made). */
  readonly steps: number;
  /** 1/(n·k^(d−1)). */
  readonly bound: number;
}

/** DFS's bound and what its state caching saved. */
export interface DfsInfo {
  readonly preemptions: number;
  /** Runs abandoned at a state already explored. */
  readonly pruned: number;
  /** Every schedule within the bound was explored (or pruned as known). */
  readonly exhausted: boolean;
}

export interface ExploreResult {
  readonly strategy: Strategy;
  readonly seed: number;
  readonly windowNs: number;
  /** Runs made (the violating one included). */
  readonly explored: number;
  /** Distinct schedules among the runs. */
  readonly distinct: number;
  /** Distinct states hashed at scheduling points (state_hash.ts). */
  readonly states: number;
  /** Runs in which an injected fault (--faults) struck (DFS: of its whole runs, not those cut short). */
  readonly faulted: number;
  /**
   * Why the search ended: a violation, the run budget, the wall-clock stop, or it ran out of schedules
   * (DFS within its bound; random and PCT when run 1 met no scheduling choice and no fault budget
   * varies the runs: every run would be run 1 again). A search that kept going never ends at a
   * violation: its `violation` and `keptGoing` say what it found.
   */
  readonly ended: "violation" | "runs" | "stopped" | "exhausted";
  /** The first violating run, its 1-based number, and why it violates. */
  readonly violation: { readonly run: number; readonly result: RunResult; readonly why: string } | null;
  /** The violation shrunk to a minimal schedule (null without a violation, or with shrink: false). */
  readonly shrunk: Shrunk | null;
  /**
   * With keepGoing: the runs that violated, and the first run of each distinct failure in run order
   * (the first of them is `violation`, shrunk as `shrunk`). Null without keepGoing.
   */
  readonly keptGoing: {
    readonly violatingRuns: number;
    readonly distinct: readonly DistinctViolation[];
    /** Distinct failures met past the cap (keepGoing): their runs count in violatingRuns only. */
    readonly notKept: number;
  } | null;
  readonly pct: PctInfo | null;
  readonly dfs: DfsInfo | null;
}

/** A distinct failure a search that kept going met: its first run, made again and shrunk, and how many runs failed so. */
export interface DistinctViolation {
  readonly run: number;
  readonly why: string;
  readonly result: RunResult;
  readonly shrunk: Shrunk | null;
  /** Runs of the search that failed the same way (violationKey()). */
  readonly runs: number;
}

/** Tells onRun (and onResult, which made the run whole) of run `done`. */
export function heard(opts: ExploreOptions, done: number, r: RunVerdict | null): void {
  opts.onRun?.(done, r);
  opts.onResult?.(done, r as RunResult | null);
}

/**
 * Whether a run violates, and why: the scenario's expectations decide when it has any (so it can
 * accept the findings it knows of); without `expect`, any finding of any invariant is a violation.
 */
export function violation(sc: Scenario, r: RunVerdict): string | null {
  if (!r.passed) return r.failure ?? "the run failed";
  if (sc.expectFindings.length > 0) return null;
  const found = Object.entries(r.findings).filter(([, n]) => n > 0);
  return found.length === 0
    ? null
    : `the scenario has no expect, and the run has findings: ${found.map(([id, n]) => `${id} ${n}`).join(", ")}`;
}

/** Top-level tasks the scenario runs: `steps` and each of `tasks:` (PCT's n). */
function taskCount(sc: Scenario): number {
  return 1 + sc.tasks.filter((t) => t.steps.length > 0).length;
}

/** Fault patterns DFS tries for one that strikes (dfsFaultStream()). */
const DFS_FAULT_PATTERNS = 16;

/**
 * The stream DFS draws its fault pattern from: `explore.faults`, or when that pattern strikes no fault
 * on the default schedule (the search's first run), the first of `explore.faults.1`, `.2`, … that
 * does. Without it `--faults` could explore nothing but clean runs: a pattern decides at each fault
 * point in the order they come, and some seeds' pattern (seed 1's on pool-race) passes every one of
 * them. Made by runs of their own, before the search: the search's runs, states and result are those
 * of the stream chosen.
 */
function dfsFaultStream(
  booted: BootedScenario,
  windowNs: number,
  budget: number,
  faultsOf: (stream: string) => RunOptions["faults"],
): string {
  const first = "explore.faults";
  if (budget === 0) return first;
  // DFS's first run: the default (index 0) at every choice, in the search's window.
  const byDefault: Chooser = { name: "dfs", windowNs, choose: () => 0 };
  for (let k = 0; k < DFS_FAULT_PATTERNS; k++) {
    const stream = k === 0 ? first : `${first}.${k}`;
    if (booted.verdict(byDefault, faultsOf(stream)).faults.some(isInjected)) return stream;
  }
  return first;
}

/** Thrown by DFS's chooser when a run reaches a state already explored: the run is abandoned. */
class KnownState extends Error {}

/** One DFS run to make: replay `prefix`, then take the default (earliest-ready, FIFO) at every choice. */
interface DfsItem {
  readonly prefix: readonly number[];
  /** Preemptions in the prefix: choices other than the default (index 0). */
  readonly preemptions: number;
}

/** Checks the options every search takes; returns the window, PCT depth and DFS bound. */
export function searchParams(opts: ExploreOptions): { windowNs: number; depth: number; bound: number } {
  if (!(Number.isSafeInteger(opts.runs) && opts.runs >= 1)) fail(`runs ${opts.runs}`);
  const windowNs = opts.windowNs ?? 0;
  const depth = opts.depth ?? 3;
  const bound = opts.preemptions ?? 2;
  if (!(Number.isSafeInteger(depth) && depth >= 1)) fail(`depth ${depth}`);
  if (!(Number.isSafeInteger(bound) && bound >= 0)) fail(`preemptions ${bound}`);
  return { windowNs, depth, bound };
}

/** The chunk parameters of a random or PCT search; PCT's k from its calibration run (run 0) on `booted`. */
export function walkParams(sc: Scenario, booted: BootedScenario, opts: ExploreOptions): WalkParams {
  const { windowNs, depth } = searchParams(opts);
  const base: WalkParams = {
    strategy: opts.strategy === "pct" ? "pct" : "random",
    seed: opts.seed,
    windowNs,
    depth,
    k: 0,
    faults: opts.faults ?? 0,
    faultKinds: opts.faultKinds ?? null,
    keepGoing: (opts.keepGoing ?? 0) > 0,
  };
  if (base.strategy === "random") return base;
  // k is not known before a run: run 0, PCT with random priorities and no change point (depth 1),
  // measures it. It is made here to learn k, and again as the first run of the search (every thread
  // that makes chunks learns the same k from the coordinator: a run never depends on who makes it).
  const first = walkRun(base, 0, booted, new StateSet());
  return { ...base, k: Math.max(1, choiceCount(first.schedule)) };
}

/** PCT's report, from the search's k. */
export function pctInfo(sc: Scenario, p: WalkParams): PctInfo | null {
  if (p.strategy !== "pct") return null;
  const n = taskCount(sc);
  return { depth: p.depth, tasks: n, steps: p.k, bound: pctBound(n, p.k, p.depth) };
}

/** A violating run of a search, made again as `result` (its verdict must hold) and shrunk. */
function remade(sc: Scenario, booted: BootedScenario, opts: ExploreOptions, f: FoundRun, result: RunResult) {
  const why = violation(sc, result);
  if (why === null) fail(`run ${f.run} violated (${f.why}) but did not when made again`);
  const shrunk = opts.shrink !== false ? shrink(booted, result, why) : null;
  return { run: f.run, result, why, shrunk };
}

/**
 * Why a search ended: at its violation — unless it kept going past its violations, which end nothing:
 * it ended as it would have without them (its budget, the wall clock, or out of schedules).
 */
function endedBy(
  v: Pick<ExploreResult, "violation" | "keptGoing">,
  ended: ExploreResult["ended"],
): ExploreResult["ended"] {
  return v.violation !== null && v.keptGoing === null ? "violation" : ended;
}

/**
 * A search's violation, shrunk: the run that ended it (`found`, its whole result `kept` when the search
 * has it), or for a search that kept going (`tally`) the first of its distinct failures, each made
 * again and shrunk (`keptGoing`).
 */
function violationsOf(
  sc: Scenario,
  booted: BootedScenario,
  opts: ExploreOptions,
  found: FoundRun | null,
  kept: RunResult | null,
  tally: FailureTally | null,
): Pick<ExploreResult, "violation" | "shrunk" | "keptGoing"> {
  const distinct: DistinctViolation[] | null =
    tally?.failures.map(({ found: f, runs }) => ({
      ...remade(sc, booted, opts, f, booted.madeAgain(f)),
      runs,
    })) ?? null;
  const first =
    distinct !== null
      ? (distinct[0] ?? null)
      : found && remade(sc, booted, opts, found, kept ?? booted.madeAgain(found));
  return {
    violation: first && { run: first.run, result: first.result, why: first.why },
    shrunk: first?.shrunk ?? null,
    keptGoing: distinct && { violatingRuns: tally!.violatingRuns, distinct, notKept: tally!.notKept },
  };
}

/**
 * The result of a random or PCT search from its merged chunks: the violating run is made again on
 * `booted` (unless `kept` holds it) and shrunk. A search that kept going (m.tally) reports its first
 * failure so, and each of its distinct failures, made again and shrunk, in `keptGoing`.
 */
export function walkResult(
  sc: Scenario,
  booted: BootedScenario,
  p: WalkParams,
  m: WalkMerge,
  ended: ExploreResult["ended"],
  opts: ExploreOptions,
  kept: RunResult | null,
): ExploreResult {
  const v = violationsOf(sc, booted, opts, m.found, kept, m.tally);
  return {
    strategy: opts.strategy,
    seed: opts.seed,
    windowNs: p.windowNs,
    explored: m.explored,
    distinct: m.schedules.size,
    faulted: m.faulted,
    states: m.states.size,
    ended: endedBy(v, ended),
    ...v,
    pct: pctInfo(sc, p),
    dfs: null,
  };
}

export function explore(sc: Scenario, opts: ExploreOptions): ExploreResult {
  const { windowNs, bound } = searchParams(opts);
  const booted = new BootedScenario(sc);
  if (opts.strategy === "dfs") return exploreDfs(sc, booted, opts, windowNs, bound);
  // Random walk and PCT: chunk after chunk in this thread (explore_parallel.ts spreads them over
  // threads, with the same result).
  const p = walkParams(sc, booted, opts);
  const m = new WalkMerge(opts.keepGoing);
  let kept: RunResult | null = null;
  const chunk = (start: number, count: number): void => {
    let done = m.explored;
    const c = runChunk(
      booted,
      { ...p, start, count },
      (r) => violation(sc, r),
      (r) => heard(opts, ++done, r),
      (r) => (kept = r),
      m,
      opts.onResult !== undefined,
      opts.shouldStop,
    );
    m.add(c);
  };
  chunk(0, 1);
  if (firstRunIsEvery(p, m)) return walkResult(sc, booted, p, m, "exhausted", opts, kept);
  let ended: ExploreResult["ended"] = "runs";
  for (let start = 1; start < opts.runs && m.found === null; start += CHUNK_RUNS) {
    if (opts.shouldStop?.()) {
      ended = "stopped";
      break;
    }
    chunk(start, Math.min(CHUNK_RUNS, opts.runs - start));
  }
  // The last chunk may have ended short at the time budget.
  if (ended === "runs" && m.found === null && m.explored < opts.runs) ended = "stopped";
  return walkResult(sc, booted, p, m, ended, opts, kept);
}

/**
 * Whether every run of a random or PCT search would be its run 1 again, once that run alone is merged
 * into `m`: it met no scheduling choice (so neither chooser was ever asked) and no fault chooser varies
 * the runs (no fault budget; a scenario's own `faults:` strike in every run alike). The search then stops
 * as exhausted instead of making the same run `--runs` times.
 */
export function firstRunIsEvery(p: WalkParams, m: WalkMerge): boolean {
  return m.found === null && p.faults === 0 && m.firstChoiceless;
}

/**
 * Bounded exhaustive search (CHESS's preemption bounding, with state caching): each run replays a
 * prefix, then goes by default; every choice point past the prefix whose state is new adds its
 * alternatives (within the preemption bound) to the stack; a run that reaches a state already seen
 * past its prefix is abandoned there (its future was explored from the first visit).
 */
function exploreDfs(
  sc: Scenario,
  booted: BootedScenario,
  opts: ExploreOptions,
  windowNs: number,
  bound: number,
): ExploreResult {
  const seen = new StateSet();
  const states = new StateSet();
  let explored = 0;
  let ended: ExploreResult["ended"] = "runs";
  let found: FoundRun | null = null;
  let kept: RunResult | null = null;
  // Kept going (keepGoing): a violating run is tallied under its failure and the search goes on.
  const tally = FailureTally.of(opts.keepGoing);
  let faulted = 0;
  // Faults: every run draws them afresh from the same stream, so a run that replays a prefix makes the
  // same fault decisions along it and the prefix replays exactly (the faults are one fixed pattern, by
  // the order fault points are met, and DFS enumerates schedules under it).
  const faultBudget = opts.faults ?? 0;
  const faultsOf = (stream: string) => seededFaults(opts.seed, stream, faultBudget, opts.faultKinds ?? null);
  const faultStream = dfsFaultStream(booted, windowNs, faultBudget, faultsOf);
  const whole = opts.onResult !== undefined;
  const run = (chooser: Chooser): void => {
    const faults = faultsOf(faultStream);
    let r: RunVerdict;
    try {
      r = whole ? booted.run(chooser, faults) : booted.verdict(chooser, faults);
    } catch (e) {
      if (!(e instanceof KnownState)) throw e;
      explored++;
      heard(opts, explored, null);
      return;
    }
    explored++;
    seen.add(stringHash(r.schedule));
    if (r.faults.some(isInjected)) faulted++;
    heard(opts, explored, r);
    const why = violation(sc, r);
    if (why === null) return;
    const f: FoundRun = { run: explored, why, schedule: r.schedule, faults: r.faults };
    if (tally !== null) {
      tally.note(f);
      return;
    }
    found = f;
    if (whole) kept = r as RunResult;
  };
  const stop = (): boolean => {
    if (found !== null || explored >= opts.runs) return true;
    if (explored > 0 && opts.shouldStop?.()) {
      ended = "stopped";
      return true;
    }
    return false;
  };
  const stack: DfsItem[] = [{ prefix: [], preemptions: 0 }];
  let pruned = 0;
  while (stack.length > 0 && !stop()) {
    const item = stack.pop()!;
    const branches: { at: number; n: number }[] = [];
    const taken: number[] = [];
    const chooser: Chooser = {
      name: "dfs",
      windowNs,
      choose(candidates) {
        const i = taken.length;
        if (i < item.prefix.length) {
          const c = item.prefix[i];
          if (!(c < candidates.length)) fail(`dfs prefix choice ${c} of ${candidates.length}`);
          taken.push(c);
          return c;
        }
        const h = stateHash(booted.system, candidates);
        if (states.has(h)) {
          pruned++;
          throw new KnownState();
        }
        states.add(h);
        branches.push({ at: i, n: candidates.length });
        taken.push(0);
        return 0;
      },
    };
    run(chooser);
    if (item.preemptions >= bound) continue;
    // Deepest alternatives on top: the search goes depth first.
    for (const b of branches)
      for (let a = b.n - 1; a >= 1; a--)
        stack.push({ prefix: [...taken.slice(0, b.at), a], preemptions: item.preemptions + 1 });
  }
  if (found === null && stack.length === 0) ended = "exhausted";
  const v = violationsOf(sc, booted, opts, found, kept, tally);
  return {
    strategy: opts.strategy,
    seed: opts.seed,
    windowNs,
    explored,
    distinct: seen.size,
    faulted,
    states: states.size,
    ended: endedBy(v, ended),
    ...v,
    pct: null,
    dfs: { preemptions: bound, pruned, exhausted: stack.length === 0 },
  };
}

/**
 * Why a run fails, without its numbers (violationKey()): what a shrunk schedule must still break — the
 * expectation the violation names (the first that fails), not every one that fails with it: a run in
 * which the race still WARNs but the pool's accounting happens to come out right breaks the same
 * expectation, and is shorter (helper-44: PCT's upstream race stayed at 49 non-default choices where the
 * WARN alone needs 3).
 */
export function failureSignature(sc: Scenario, r: RunResult): string | null {
  const why = violation(sc, r);
  if (why === null) return null;
  const first = r.expectations.find((e) => !e.ok)?.id ?? "";
  // A metric bound the same way (helper-46: every metric failure had one signature, so a shrink could
  // drift from one bound to another).
  const metric = r.metricExpectations.find((e) => !e.ok)?.name ?? "";
  const stepFailure = r.failure !== null && !r.failure.startsWith("expected ") ? r.failure : "";
  // Without `expect`, the findings' names, not their counts: a shorter run may find fewer.
  return `${first}|${metric}|${violationKey(stepFailure).slice(0, 160)}|${r.passed ? violationKey(why) : ""}`;
}

/** The shrunk violation: its run, and what shrinking tried. */
export interface Shrunk {
  readonly result: RunResult;
  readonly why: string;
  /** Choices other than the default, before and after. */
  readonly preemptionsBefore: number;
  readonly preemptions: number;
  /** Length of the choice string up to its last non-default choice, before and after. */
  readonly choicesBefore: number;
  readonly choices: number;
  /** Faults that struck in the run (boot faults not counted: they struck before it), before and after. */
  readonly faultsBefore: number;
  readonly faults: number;
  /** Replays shrinking made. */
  readonly replays: number;
}

/** Replays shrinking may make at most. */
const SHRINK_REPLAYS = 300;

/** The run's faults a shrink may drop: all but those that struck at boot (before the snapshot). */
const runFaults = (faults: readonly FaultSpec[]): number => faults.filter((f) => !isBootFault(f)).length;

/**
 * Shrinks a violating run to a minimal schedule and fault set (delta debugging), while it still breaks
 * the same expectation (failureSignature):
 * 1. the schedule's shortest prefix that still violates (choices past it are the default);
 * 2. each remaining non-default choice set back to the default, in ever smaller groups;
 * 3. the faults that struck, dropped in ever smaller groups (the run given exactly the rest, as
 *    replay.json gives them: the scenario's own `faults:` only as far as they are in the list). Faults
 *    that struck at boot stay: the booted snapshot holds their effect.
 * When 3 drops a fault, 1 and 2 run again on the new fault set. Every candidate is a real replay from the
 * booted snapshot.
 */
export function shrink(booted: BootedScenario, r: RunResult, why: string): Shrunk {
  const sc = booted.scenario;
  const want = failureSignature(sc, r);
  const { windowNs, choices: original } = parseSchedule(r.schedule);
  let best = original.slice();
  // The faults the run is given: as it struck them (by their counts), or — none struck — the scenario's.
  let bestFaults: readonly FaultSpec[] | null = r.faults.length > 0 ? r.faults : null;
  let bestRun = r;
  let bestWhy = why;
  let replays = 0;
  const tryRun = (cand: number[], faults: readonly FaultSpec[] | null): boolean => {
    if (replays >= SHRINK_REPLAYS) return false;
    replays++;
    let res: RunResult;
    try {
      const schedule = (windowNs > 0 ? `w${windowNs}:` : "") + encodeSchedule(cand);
      res = booted.run(replayChooser(schedule), faults === null ? undefined : { list: faults });
    } catch (e) {
      if (e instanceof ScheduleDivergence) return false;
      throw e;
    }
    if (failureSignature(sc, res) !== want) return false;
    best = parseSchedule(res.schedule).choices;
    // What struck (a listed fault whose point the run no longer reaches is gone from it).
    bestFaults = faults === null ? bestFaults : res.faults;
    bestRun = res;
    bestWhy = violation(sc, res)!;
    return true;
  };
  const tryChoices = (cand: number[]): boolean => tryRun(cand, bestFaults);
  const significant = (c: readonly number[]): number => {
    let n = c.length;
    while (n > 0 && c[n - 1] === 0) n--;
    return n;
  };
  const shrinkSchedule = (): void => {
    // 1. The shortest prefix (binary search on its length; the default after it).
    const base = best;
    let lo = 0;
    let hi = significant(base);
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (tryChoices(base.slice(0, mid))) hi = mid;
      else lo = mid + 1;
    }
    // 2. Non-default choices back to the default, in groups halving down to one (ddmin).
    const nonDefault = (): number[] => best.flatMap((c, i) => (c !== 0 ? [i] : []));
    let group = Math.max(1, nonDefault().length >> 1);
    for (;;) {
      let progress = false;
      const idx = nonDefault();
      for (let s = 0; s < idx.length; s += group) {
        const cand = best.slice();
        for (const i of idx.slice(s, s + group)) if (i < cand.length) cand[i] = 0;
        if (tryChoices(cand)) {
          progress = true;
          break;
        }
      }
      if (progress) continue;
      if (group === 1 || replays >= SHRINK_REPLAYS) break;
      group = Math.max(1, group >> 1);
    }
  };
  /** 3. The run's faults dropped in groups halving down to one (ddmin); whether any went. */
  const shrinkFaults = (): boolean => {
    let dropped = false;
    let group = Math.max(1, runFaults(bestFaults ?? []) >> 1);
    for (;;) {
      let progress = false;
      const all = bestFaults ?? [];
      const droppable = all.flatMap((f, i) => (isBootFault(f) ? [] : [i]));
      for (let s = 0; s < droppable.length; s += group) {
        const gone = new Set(droppable.slice(s, s + group));
        if (
          tryRun(
            best,
            all.filter((_, i) => !gone.has(i)),
          )
        ) {
          progress = true;
          dropped = true;
          break;
        }
      }
      if (progress) continue;
      if (group === 1 || replays >= SHRINK_REPLAYS) return dropped;
      group = Math.max(1, group >> 1);
    }
  };
  shrinkSchedule();
  while (bestFaults !== null && runFaults(bestFaults) > 0 && replays < SHRINK_REPLAYS && shrinkFaults())
    shrinkSchedule();
  const count = (c: readonly number[]) => c.filter((x) => x !== 0).length;
  return {
    result: bestRun,
    why: bestWhy,
    preemptionsBefore: count(original),
    preemptions: count(best),
    choicesBefore: significant(original),
    choices: significant(best),
    faultsBefore: runFaults(r.faults),
    faults: runFaults(bestRun.faults),
    replays,
  };
}
