/**
 * The random and PCT searches in chunks (explore.ts): run i of a search (0-based) draws its schedule —
 * and its faults, under a fault budget — from streams of its own, named after i, so a run is the same
 * whichever thread makes it and whatever ran before it in that thread. A chunk is CHUNK_RUNS runs in a
 * row; it ends early at a violation. The search's result is the chunks merged in order up to the first
 * violation: the same for one thread or many (explore_parallel.ts), run for run.
 */
import { isInjected, randomFaultChooser, type FaultKind, type FaultSpec } from "../sim/faults.ts";
import { Prng } from "../sim/prng.ts";
import { parseSchedule, randomChooser, type Chooser } from "../sim/scheduler.ts";
import type { RunOptions, RunResult, RunVerdict } from "../scenario/runner.ts";
import type { BootedScenario } from "./booted.ts";
import { pctChooser } from "./pct.ts";
import { stateHash, stringHash } from "./state_hash.ts";
import { StateSet } from "./state_set.ts";

/** A stop that says yes from wall-clock time `deadline` (Date.now(), ms) on. */
export function deadlineStop(deadline: number): () => boolean {
  return () => Date.now() >= deadline;
}

/** Runs per chunk: the unit one thread takes at a time. Results never depend on it being 32. */
export const CHUNK_RUNS = 32;

/** What a chunk needs to know of the search. */
export interface WalkParams {
  readonly strategy: "random" | "pct";
  readonly seed: number;
  readonly windowNs: number;
  /** PCT's depth d. */
  readonly depth: number;
  /** PCT's k (from run 0, which calibrates with depth 1); 0 for random. */
  readonly k: number;
  /** Fault budget per run (0: only the scenario's faults). */
  readonly faults: number;
  /** The kinds of fault the budget may strike (`--fault-kinds`); null: every kind. */
  readonly faultKinds: readonly FaultKind[] | null;
  /** Chunks go on past violations and tally them by failure (`--keep-going`); false: a violation ends its chunk. */
  readonly keepGoing: boolean;
}

export interface ChunkTask extends WalkParams {
  /** Index of the chunk's first run (0-based). */
  readonly start: number;
  readonly count: number;
  /**
   * Wall-clock time (Date.now(), ms) from which a worker thread's chunk makes no more runs: the search's
   * `--time` (ExploreOptions.deadline). A chunk of slow runs would otherwise overrun it by a chunk's worth.
   */
  readonly deadline?: number;
}

/** A violating run, as it can be made again: its number (1-based), schedule and the faults that struck. */
export interface FoundRun {
  readonly run: number;
  readonly why: string;
  readonly schedule: string;
  readonly faults: readonly FaultSpec[];
}

/** A failure a chunk met (keepGoing): its first run in the chunk, and how many of the chunk's runs failed so. */
export interface ChunkFailure {
  readonly key: string;
  readonly found: FoundRun;
  readonly runs: number;
}

export interface ChunkResult {
  readonly start: number;
  /** Runs made (fewer than count when one violated and the chunk did not keep going). */
  readonly done: number;
  /** The violating run that ended the chunk; always null when the chunk kept going. */
  readonly found: FoundRun | null;
  /** keepGoing: each distinct failure the chunk met (violationKey()), in the order of their first runs. */
  readonly failures: readonly ChunkFailure[];
  /** State hashes the chunk's runs met (state_hash.ts). */
  readonly states: Float64Array;
  /** Hashes of the chunk's schedules (distinct schedules). */
  readonly schedules: Float64Array;
  /** Runs in which one of the explorer's faults struck. */
  readonly faulted: number;
  /** The chunk holds the search's first run, and that run met no scheduling choice. */
  readonly firstChoiceless: boolean;
}

/**
 * The explorer's faults for a run: a random fault chooser drawing from the seed's stream `stream`, at
 * most `budget` a run, of `kinds` only (null: any); none without a budget.
 */
export function seededFaults(
  seed: number,
  stream: string,
  budget: number,
  kinds: readonly FaultKind[] | null = null,
): RunOptions["faults"] {
  if (budget === 0) return undefined;
  const draws = new Prng(seed).stream(stream);
  return { chooser: randomFaultChooser((n) => draws.int(0, n - 1), undefined, kinds), budget };
}

/**
 * What makes two violations the same failure, for a search that keeps going and for a shrink: the
 * sentence that says why, its numbers (counts, addresses, step indexes, run-specific values) set aside
 * — but not the scenario line a number names (`f.yaml:170`), nor the digits of a name (task `a2`,
 * process `t10`). `expected 0 quiesce-clean findings (f.yaml:170), got 2` and `…, got 3` are one failure;
 * a WARN and a leak are two, and so are one step failing in task a1 and in task a2.
 */
export function violationKey(why: string): string {
  return (
    why
      .replace(/0x[0-9a-f]+/gi, "#")
      // A hex value after a colon that is not a scenario line: a task named after a cookie (ta-invoke:1a2b).
      .replace(/(?<!\.(?:ya?ml|json)):[0-9a-f]*\d[0-9a-f]*\b/gi, ":#")
      // A number and its decimals (got 0.7312), not the digits of a name nor a scenario line.
      .replace(/(?<![\w:.-])\d+(?:\.\d+)?/g, "#")
  );
}

/** Choices recorded in a schedule string (PCT's k; none: the run had nothing to choose). */
export function choiceCount(schedule: string): number {
  return parseSchedule(schedule).choices.length;
}

/** Run i's chooser, hashing the state at each choice into `states`. */
function chooserFor(p: WalkParams, i: number, booted: BootedScenario, states: StateSet): Chooser {
  const walk = new Prng(p.seed).stream(`explore.${p.strategy}.${i}`);
  const inner =
    p.strategy === "random"
      ? randomChooser((n) => walk.int(0, n - 1), p.windowNs)
      : i === 0
        ? pctChooser(walk, 1, 1, p.windowNs) // the calibration run: random priorities, no change point
        : pctChooser(walk, p.depth, p.k, p.windowNs);
  const system = booted.system;
  return {
    name: inner.name,
    windowNs: inner.windowNs,
    choose(candidates, now) {
      states.note(stateHash(system, candidates));
      return inner.choose(candidates, now);
    },
  };
}

/** Run i of the search, on `booted`. */
export function walkRun(p: WalkParams, i: number, booted: BootedScenario, states: StateSet): RunVerdict;
/** Run i of the search, its whole result (`whole`: what ExploreOptions.onResult asks for). */
export function walkRun(
  p: WalkParams,
  i: number,
  booted: BootedScenario,
  states: StateSet,
  whole: true,
): RunResult;
export function walkRun(
  p: WalkParams,
  i: number,
  booted: BootedScenario,
  states: StateSet,
  whole = false,
): RunVerdict | RunResult {
  const faults = seededFaults(p.seed, `explore.faults.${i}`, p.faults, p.faultKinds);
  const chooser = chooserFor(p, i, booted, states);
  return whole ? booted.run(chooser, faults) : booted.verdict(chooser, faults);
}

/**
 * Runs a chunk on `booted`. `onRun` hears each run's verdict (the one-thread search reports progress
 * with it); `keep` receives the violating run's whole result, made again (in-process callers use it
 * instead of making it a third time); `whole`: every run's whole result instead of its verdict;
 * `into` are the search's own sets, when it runs in this thread. With `t.keepGoing` a violation does
 * not end the chunk: it is tallied under its failure (ChunkResult.failures), and `keep` is not called.
 */
export function runChunk(
  booted: BootedScenario,
  t: ChunkTask,
  violates: (r: RunVerdict) => string | null,
  onRun?: (r: RunVerdict) => void,
  keep?: (r: RunResult) => void,
  into?: { readonly states: StateSet; readonly schedules: StateSet },
  whole = false,
  stop: (() => boolean) | undefined = t.deadline === undefined ? undefined : deadlineStop(t.deadline),
): ChunkResult {
  // In-process, the search's own sets take the hashes directly (the chunk then returns none).
  const states = into?.states ?? new StateSet();
  const schedules = into?.schedules ?? new StateSet();
  let found: FoundRun | null = null;
  // Kept going: every failure the chunk meets (the search's tally caps them, merging chunks in order).
  const tally = t.keepGoing ? new FailureTally(Infinity) : null;
  let done = 0;
  let faulted = 0;
  let firstChoiceless = false;
  for (let i = t.start; i < t.start + t.count; i++) {
    // Asked before each run but the search's first (the budget's `--time`): a chunk may end short.
    if (i > 0 && stop?.()) break;
    const r = whole ? walkRun(t, i, booted, states, true) : walkRun(t, i, booted, states);
    done++;
    // The explorer's own faults (--faults): the scenario's listed ones strike in every run alike.
    if (r.faults.some(isInjected)) faulted++;
    if (i === 0) firstChoiceless = choiceCount(r.schedule) === 0;
    schedules.add(stringHash(r.schedule));
    onRun?.(r);
    const why = violates(r);
    if (why === null) continue;
    const run: FoundRun = { run: i + 1, why, schedule: r.schedule, faults: r.faults };
    if (tally !== null) {
      tally.note(run);
      continue;
    }
    found = run;
    if (keep) keep(whole ? (r as RunResult) : booted.madeAgain(r));
    break;
  }
  const none = new Float64Array(0);
  return {
    start: t.start,
    done,
    found,
    failures: tally?.chunkFailures() ?? [],
    states: into ? none : states.values(),
    schedules: into ? none : schedules.values(),
    faulted,
    firstChoiceless,
  };
}

/**
 * The distinct failures of a search that keeps going, from its chunks merged in order: each failure's
 * first run in the search, and how many runs failed so. Kept up to `most` failures; the runs of those
 * left out still count in `violatingRuns`. Merged in run order, so what it holds does not depend on
 * which thread made which chunk.
 */
export class FailureTally {
  readonly #first = new Map<string, { found: FoundRun; runs: number }>();
  /** Failures met once `most` were kept. */
  readonly #past = new Set<string>();
  violatingRuns = 0;

  constructor(readonly most: number) {}

  /** The tally of a search that keeps going up to `keepGoing` failures; null for one that stops at the first. */
  static of(keepGoing: number | undefined): FailureTally | null {
    return (keepGoing ?? 0) > 0 ? new FailureTally(keepGoing!) : null;
  }

  add(failures: readonly ChunkFailure[]): void {
    for (const { key, found, runs } of failures) {
      this.violatingRuns += runs;
      const seen = this.#first.get(key);
      if (seen) seen.runs += runs;
      else if (this.#first.size < this.most) this.#first.set(key, { found, runs });
      else this.#past.add(key);
    }
  }

  /** One violating run, tallied under its failure (violationKey() of why it violates). */
  note(found: FoundRun): void {
    this.add([{ key: violationKey(found.why), found, runs: 1 }]);
  }

  /** What a chunk hands on: its failures by key, each by its first run, in run order. */
  chunkFailures(): ChunkFailure[] {
    return Array.from(this.#first, ([key, f]) => ({ key, ...f }));
  }

  /** Distinct failures met past the cap: not kept, their runs counted in violatingRuns only. */
  get notKept(): number {
    return this.#past.size;
  }

  /** The failures kept, each by its first run, in run order. */
  get failures(): { found: FoundRun; runs: number }[] {
    return [...this.#first.values()];
  }
}

/** The search's result so far: chunks merged in order. */
export class WalkMerge {
  readonly states = new StateSet();
  readonly schedules = new StateSet();
  explored = 0;
  faulted = 0;
  found: FoundRun | null = null;
  /** The search's first run met no scheduling choice. */
  firstChoiceless = false;
  /** keepGoing: the distinct failures of the chunks merged; null for a search that stops at the first. */
  readonly tally: FailureTally | null;

  constructor(keepGoing?: number) {
    this.tally = FailureTally.of(keepGoing);
  }

  add(c: ChunkResult): void {
    this.states.addAll(c.states);
    this.schedules.addAll(c.schedules);
    this.explored += c.done;
    this.faulted += c.faulted;
    this.found ??= c.found;
    this.tally?.add(c.failures);
    if (c.start === 0) this.firstChoiceless = c.firstChoiceless;
  }
}
