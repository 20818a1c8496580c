/**
 * The explorer (ARCHITECTURE.md §2): runs one scenario many times, each under a different schedule
 * from a chooser — a seeded random walk, or PCT — and stops at the first run that violates, or when
 * the budget of runs (or the caller's wall-clock stop) is spent. What it finds depends only on
 * (scenario, strategy, seed, window): the wall clock may end the search early, never change a run.
 */
import { assert } from "../sim/assert.ts";
import { randomFaultChooser } from "../sim/faults.ts";
import { Prng } from "../sim/prng.ts";
import { randomChooser, type Chooser } from "../sim/scheduler.ts";
import { bootScenario, runOnSystem, type RunOptions, type RunResult } from "../scenario/runner.ts";
import type { Scenario } from "../scenario/loader.ts";
import type { System } from "../scenario/system.ts";
import { Snapshot } from "../sim/snapshot.ts";
import type { TraceEvent } from "../sim/trace.ts";
import { pctBound, pctChooser } from "./pct.ts";

export const STRATEGIES = ["random", "pct"] as const;
export type Strategy = (typeof STRATEGIES)[number];

export interface ExploreOptions {
  readonly strategy: Strategy;
  /** Schedules to try at most. */
  readonly runs: number;
  /** The explorer's seed: it picks the schedules (the scenario's own seed stays the run seed). */
  readonly seed: number;
  /** PCT's depth d (priority-change points d − 1). */
  readonly depth?: number;
  /** The chooser's window (Chooser.windowNs): tasks ready within it of the earliest may go first. */
  readonly windowNs?: number;
  /**
   * Fault budget (`--faults N`): in each run a seeded fault chooser may strike at up to N fault points
   * the scenario's `faults:` does not name (sim/faults.ts); 0 or absent: only the scenario's faults.
   */
  readonly faults?: number;
  /** Asked before each run after the first; true ends the search (the CLI's --time). */
  readonly shouldStop?: () => boolean;
  /** Called after each run. */
  readonly onRun?: (done: number, result: RunResult) => void;
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

export interface ExploreResult {
  readonly strategy: Strategy;
  readonly seed: number;
  readonly windowNs: number;
  /** Runs made (the violating one included). */
  readonly explored: number;
  readonly distinct: number;
  /** Why the search ended. */
  readonly ended: "violation" | "runs" | "stopped";
  /** The first violating run, its 1-based number, and why it violates. */
  readonly violation: { readonly run: number; readonly result: RunResult; readonly why: string } | null;
  readonly pct: PctInfo | null;
}

/**
 * Whether a run violates, and why: the scenario's expectations decide when it has any (so it can
 * accept the findings it knows of); without `expect`, any finding of any invariant is a violation.
 */
export function violation(sc: Scenario, r: RunResult): string | null {
  if (!r.passed) return r.failure ?? "the run failed";
  if (sc.expectFindings.length > 0) return null;
  const found = Object.entries(r.findings).filter(([, n]) => n > 0);
  return found.length === 0
    ? null
    : `the scenario has no expect, and the run has findings: ${found.map(([id, n]) => `${id} ${n}`).join(", ")}`;
}

/**
 * The scenario's platform booted once (after firmware boot and driver probe, before any scenario task
 * exists) and kept as a snapshot: every run restores it and runs from there, which is exactly a run
 * from a fresh boot (test/explore/snapshot.test.ts compares them byte for byte) at a fraction of the cost.
 */
export class BootedScenario {
  readonly system: System;
  readonly snapshot: Snapshot;

  constructor(readonly scenario: Scenario) {
    this.system = bootScenario(scenario, scenario.seed);
    // The boot baseline quiesce-clean compares against is never written after boot: no copy needed.
    this.snapshot = Snapshot.take(this.system, { skip: [this.system.boot] });
  }

  /** One run under `chooser` (and the fault chooser, if any), from the booted state. */
  run(chooser: Chooser, faults?: RunOptions["faults"]): RunResult {
    this.snapshot.restore();
    return this.runOnSystem(chooser, undefined, faults);
  }

  /** One run on the system as it stands (restored by the caller), with an optional trace listener. */
  readonly runOnSystem = (
    chooser: Chooser,
    trace?: (e: TraceEvent) => void,
    faults?: RunOptions["faults"],
  ): RunResult => runOnSystem(this.scenario, this.system, { chooser, trace, faults });
}

/** Top-level tasks the scenario runs: `steps` and each of `tasks:` (PCT's n). */
function taskCount(sc: Scenario): number {
  return 1 + sc.tasks.filter((t) => t.steps.length > 0).length;
}

/** Choices recorded in a schedule string (PCT's k). */
function choiceCount(schedule: string): number {
  const body = schedule.replace(/^w\d+:/, "");
  if (body === "") return 0;
  return body.split(",").reduce((n, p) => n + (p.includes("*") ? parseInt(p.split("*")[1], 10) : 1), 0);
}

export function explore(sc: Scenario, opts: ExploreOptions): ExploreResult {
  assert(Number.isSafeInteger(opts.runs) && opts.runs >= 1, `runs ${opts.runs}`);
  const windowNs = opts.windowNs ?? 0;
  const depth = opts.depth ?? 3;
  assert(Number.isSafeInteger(depth) && depth >= 1, `depth ${depth}`);
  const prng = new Prng(opts.seed);
  const walk = prng.stream(`explore.${opts.strategy}`);
  const seen = new Set<string>();
  let pct: PctInfo | null = null;
  let k = 0;
  let explored = 0;
  let ended: ExploreResult["ended"] = "runs";
  let found: ExploreResult["violation"] = null;

  const booted = new BootedScenario(sc);
  // Faults come from a stream of their own, so a fault budget leaves the schedules the walk picks alone.
  const faultStream = prng.stream("explore.faults");
  const faultBudget = opts.faults ?? 0;
  const run = (chooser: Chooser): RunResult => {
    const faults =
      faultBudget > 0
        ? { chooser: randomFaultChooser((n) => faultStream.int(0, n - 1)), budget: faultBudget }
        : undefined;
    const r = booted.run(chooser, faults);
    explored++;
    seen.add(r.schedule);
    opts.onRun?.(explored, r);
    const why = violation(sc, r);
    if (why !== null) found = { run: explored, result: r, why };
    return r;
  };

  if (opts.strategy === "pct") {
    // k is not known before a run: the first run, PCT with random priorities and no change point
    // (depth 1), measures it, and counts as a run.
    const first = run(pctChooser(walk, 1, 1, windowNs));
    k = Math.max(1, choiceCount(first.schedule));
    pct = { depth, tasks: taskCount(sc), steps: k, bound: pctBound(taskCount(sc), k, depth) };
  }
  while (found === null && explored < opts.runs) {
    if (explored > 0 && opts.shouldStop?.()) {
      ended = "stopped";
      break;
    }
    const chooser =
      opts.strategy === "pct"
        ? pctChooser(walk, depth, k, windowNs)
        : randomChooser((n) => walk.int(0, n - 1), windowNs);
    run(chooser);
  }
  if (found !== null) ended = "violation";
  return {
    strategy: opts.strategy,
    seed: opts.seed,
    windowNs,
    explored,
    distinct: seen.size,
    ended,
    violation: found,
    pct,
  };
}
