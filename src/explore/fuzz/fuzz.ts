/**
 * `rstmem ffa fuzz`: stateful, structure-aware fuzzing of the SPMC models through their FF-A ABI.
 *
 * Each case starts from a base state (gen.ts buildBases()), makes 1–3 actions — valid calls in context,
 * most of them mutated field by field — and runs on every flavor asked for. The runner (runner.ts)
 * holds each call to the oracle (oracle.ts): a spec reply, no state change on rejection, ffa-consistency
 * after every change. The first violation stops the run; it is shrunk to the fewest mutations that
 * still show it. Cases that reach an answer no earlier case reached (function, reply, error code and
 * the SPMC's rule, per flavor) go to the corpus (corpus.ts): so a corpus holds one vector per rule
 * reached, with what each flavor answers.
 *
 * Deterministic: case i is a function of the seed and i (its own PRNG stream, "ffa-fuzz.i"), and what a
 * run reports is taken case by case in order, whichever thread made a case (fuzz_parallel.ts); the wall
 * clock, when given, only times the flavors and may stop the run early.
 */
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import { Prng, type RandomStream } from "../../sim/prng.ts";
import { HANDLE_SLOT, OFFSET_REG, type FuzzCall } from "./calls.ts";
import { corpusCase, type CorpusCase } from "./corpus.ts";
import {
  applyMutations,
  buildBases,
  describeMutation,
  pickAction,
  pickMutations,
  txnOf,
  type Action,
  type Base,
  type CaseSpec,
  type Mutation,
  type Txn,
} from "./gen.ts";
import { FlavorRunner, type CallOutcome, type CaseOutcome, type ViolationKind } from "./runner.ts";

export interface FuzzOptions {
  readonly flavors: readonly SpmcFlavorName[];
  /** Cases to make: first … first + runs − 1. */
  readonly runs: number;
  /**
   * The first case's index (default 0). Each case is drawn on its own (caseSpec()), so case 18667 alone
   * is what it is in a run of 20,000; what a run of them reports (coverage, the corpus) is of those.
   */
  readonly first?: number;
  readonly seed: number;
  /** Collect corpus cases (new coverage, and the violation). */
  readonly corpus?: boolean;
  /** Wall clock in ms, to time each flavor (reporting only). */
  readonly clock?: () => number;
  readonly shouldStop?: () => boolean;
  readonly onProgress?: (done: number) => void;
  /** Cases generated, then run grouped by base, at a time (default BATCH; 1: one by one). Same results. */
  readonly batch?: number;
}

export interface FlavorReport {
  readonly flavor: SpmcFlavorName;
  readonly cases: number;
  readonly calls: number;
  readonly rejections: number;
  readonly successes: number;
  readonly panics: number;
  readonly firstPanic: string | null;
  /**
   * The kinds of panic the run met (its message with addresses as `0x…`): Hafnium's clear_memory()
   * fault, OP-TEE's assertion on an invalid cookie, …; how often, the first case.
   */
  readonly panicKinds: readonly {
    readonly what: string;
    readonly count: number;
    readonly firstCase: number;
  }[];
  /** Known findings of the real implementation (known.ts) the run ran into: how often, the first case. */
  readonly known: readonly {
    readonly id: string;
    readonly what: string;
    readonly count: number;
    readonly firstCase: number;
  }[];
  /** Distinct (call, answer, code, rule) outcomes reached. */
  readonly outcomes: number;
  /** Time spent running this flavor's cases (0 without a clock). */
  readonly ms: number;
}

export interface FuzzViolation {
  readonly flavor: SpmcFlavorName;
  readonly kind: ViolationKind;
  readonly why: string;
  readonly caseIndex: number;
  readonly base: string;
  /** The failing call, as an index into the corpus case's calls. */
  readonly call: number;
  readonly actions: readonly string[];
  /** The shrunk mutation list, in words. */
  readonly mutations: readonly string[];
  readonly case: CorpusCase;
}

export interface FuzzResult {
  readonly seed: number;
  readonly cases: number;
  readonly flavors: readonly FlavorReport[];
  readonly violation: FuzzViolation | null;
  readonly corpus: readonly CorpusCase[];
  /** Time spent generating cases (0 without a clock). */
  readonly generateMs: number;
  /**
   * Threads that made cases (fuzz_parallel.ts): each flavor's `ms` and `generateMs` are summed over
   * them. Nothing else in the result depends on it.
   */
  readonly threads: number;
}

/**
 * Actions per case: mostly one (a mutated call on a setup state, whose rejection needs no restore),
 * sometimes a sequence.
 */
const ACTION_COUNTS = [1, 1, 1, 2, 2, 3];

/** Draws one case. */
export function generateCase(rnd: RandomStream, bases: readonly Base[]): CaseSpec {
  const base = rnd.int(0, bases.length - 1);
  const b = bases[base];
  const n = rnd.pick(ACTION_COUNTS);
  const sent: Txn[] = [...b.sent];
  const refs: number[] = [];
  for (const t of b.sent) refs.push(t.ref);
  if (b.stale) refs.push(b.stale.ref);
  if (b.pending) refs.push(b.pending.txn.ref);
  const actions: Action[] = [];
  const mutations: Mutation[][] = [];
  /** What OP-TEE's core holds: a drop only of those. */
  const held: Txn[] = b.held ? [b.held] : [];
  let at = b.calls.length;
  for (let i = 0; i < n; i++) {
    const a = pickAction(rnd, b, sent, at, held);
    actions.push(a);
    if (a.holds) {
      // An event of OP-TEE's core is not an FF-A call: nothing of it to mutate.
      if (a.holds.put) held.splice(held.indexOf(a.holds.txn), 1);
      else if (!a.holds.none) held.push(a.holds.txn);
      mutations.push([]);
    } else mutations.push(rnd.int(0, 9) < (a.mutated ?? 8) ? pickMutations(rnd, a, at, refs) : []);
    const t = txnOf(a, at);
    if (t) {
      sent.push(t);
      refs.push(t.ref);
    }
    at += a.calls.length;
  }
  return { base, actions, mutations };
}

/** The case's calls, mutations applied. */
export function caseCalls(spec: CaseSpec): readonly FuzzCall[] {
  if (spec.actions.length === 1) return applyMutations(spec.actions[0], spec.mutations[0]) as FuzzCall[];
  const out: FuzzCall[] = [];
  for (let i = 0; i < spec.actions.length; i++)
    for (const c of applyMutations(spec.actions[i], spec.mutations[i])) out.push(c);
  return out;
}

/**
 * The case's mutations in words, each once (a draw may repeat one), and marked where the call's handle
 * is written over what the mutation changed: that value never reached the SPMC.
 */
function mutationWords(spec: CaseSpec): string[] {
  const out: string[] = [];
  spec.actions.forEach((a, i) => {
    const calls = applyMutations(a, spec.mutations[i]);
    for (const m of spec.mutations[i]) {
      const lost = handleOverwrites(calls[m.call], a, m)
        ? ` (no effect: the ${m.k === "reg" && m.i === OFFSET_REG ? "offset" : "handle"} is written there)`
        : "";
      const w = `action ${i} (${a.what}): ${describeMutation(a, m)}${lost}`;
      if (!out.includes(w)) out.push(w);
    }
  });
  return out;
}

/**
 * Whether what mutation `m` changed in call `c` is written over before the call: by its handle
 * (patchHandle()) or by its offset (x3, `offsetFrom`).
 */
function handleOverwrites(c: FuzzCall, a: Action, m: Mutation): boolean {
  // x3 of a call whose offset comes from a retrieve response (runner.ts writes it, as the harness does).
  if (c.offsetFrom !== undefined && m.k === "reg" && m.i === OFFSET_REG) return true;
  if (c.handle === null) return false;
  const slot = HANDLE_SLOT[c.handle.at];
  if ("reg" in slot) return m.k === "reg" && (m.i === slot.reg || m.i === slot.reg + 1);
  const off = slot.tx;
  // patchHandle() writes only into a TX long enough to hold the handle.
  if (!c.tx || c.tx.length < off + 8) return false;
  const covered = (from: number, n: number) => from < off + 8 && off < from + n;
  if (m.k === "byte") return covered(m.off, 1);
  if (m.k === "field") {
    const f = a.fields[m.call].find((x) => x.name === m.field);
    return f !== undefined && covered(f.off, f.size);
  }
  return false;
}

/**
 * Drops mutations one at a time while the same kind of violation still shows on `runner`, and the
 * actions after the failing one.
 */
function shrink(runner: FlavorRunner, spec: CaseSpec, kind: ViolationKind, failingCall: number): CaseSpec {
  let s = spec;
  // The actions after the one holding the failing call cannot matter.
  let calls = 0;
  for (let i = 0; i < s.actions.length; i++) {
    calls += s.actions[i].calls.length;
    if (calls > failingCall) {
      s = { ...s, actions: s.actions.slice(0, i + 1), mutations: s.mutations.slice(0, i + 1) };
      break;
    }
  }
  const still = (c: CaseSpec) => runner.run(c.base, caseCalls(c)).violation?.kind === kind;
  for (let i = 0; i < s.actions.length; i++) {
    for (let j = s.mutations[i].length - 1; j >= 0; j--) {
      const ms = s.mutations.map((m, k) => (k === i ? m.filter((_, x) => x !== j) : m));
      const t = { ...s, mutations: ms };
      if (still(t)) s = t;
    }
  }
  return s;
}

/** Cases generated, then run, at a time (see the grouping by base in FuzzMaker.make()). */
const BATCH = 128;

/**
 * Cases per chunk: the unit a thread makes (fuzz_parallel.ts) and the merge takes in order. A chunk
 * takes ~20–50 ms; results never depend on it.
 */
export const FUZZ_CHUNK = 1024;

/** The RunnerStats fields the report gives: cases, calls, rejections, successes, panics. */
const STAT_FIELDS = 5;

/**
 * What the merge must hear of one case on one flavor: the coverage keys it reached that its maker had
 * not reached before (one its maker had reached came to the merge with an earlier case), its panic and
 * its known finding. A case with none of these sends nothing.
 */
export interface CaseNote {
  readonly i: number;
  readonly f: number;
  readonly keys: readonly string[];
  readonly panic: string | null;
  readonly known: { readonly id: string; readonly what: string } | null;
}

/** A run of consecutive cases, made by one maker: what the merge takes, in order of `start`. */
export interface FuzzChunk {
  readonly start: number;
  /** Cases asked for. */
  readonly count: number;
  /** Cases made from `start`: all asked for, unless the run was told to stop or a case violated. */
  readonly done: number;
  /** Per flavor (in the options' order), STAT_FIELDS counts summed over the chunk's cases. */
  readonly stats: Int32Array;
  readonly notes: readonly CaseNote[];
  /**
   * With a corpus: every case that reached something its maker had not seen, recorded. The merge keeps
   * those that are new to the whole run (a subset: what is new to the run is new to each maker).
   */
  readonly corpus: readonly CorpusCase[];
  /** The chunk's violating case (its last), shrunk and recorded. */
  readonly violation: FuzzViolation | null;
  /** Per flavor, ms spent running its cases; and ms spent generating (0 without a clock). */
  readonly ms: readonly number[];
  readonly generateMs: number;
}

/** What a maker needs besides the cases it is asked for: FuzzOptions' fixed part. */
export interface MakerOptions {
  readonly flavors: readonly SpmcFlavorName[];
  readonly seed: number;
  readonly corpus?: boolean;
  readonly batch?: number;
}

/**
 * Case `i` of a run on `seed`: drawn from a stream of its own ("ffa-fuzz.i"), as the explorer's run i is
 * (walk.ts), so that any thread makes any case without drawing the ones before it.
 */
export function caseSpec(seed: number, i: number, bases: readonly Base[]): CaseSpec {
  return generateCase(new Prng(seed).stream(`ffa-fuzz.${i}`), bases);
}

/**
 * Makes chunks of a run: its own booted runners, and what its own cases reached so far (the coverage
 * keys it tells the merge are those it had not reached: fewer to send). Any maker makes any chunk as
 * the one-thread run makes it (a case is a function of the seed and its index: caseSpec()).
 */
export class FuzzMaker {
  readonly bases: readonly Base[];
  readonly runners: readonly FlavorRunner[];
  /** The cases this maker has made end here: a chunk before it makes it forget what it reached. */
  #end = 0;
  /** Per flavor, the coverage keys and known findings this maker's cases reached (all before its next chunk). */
  readonly #seen: Set<string>[];
  readonly #knownSeen: Set<string>[];
  readonly #batch: number;
  readonly #specs: CaseSpec[] = [];
  readonly #calls: (readonly FuzzCall[])[] = [];
  readonly #outs: CaseOutcome[][];
  readonly #deltas: Int32Array[];
  readonly #order: Int32Array;
  readonly #perBase: Int32Array;

  constructor(readonly opts: MakerOptions) {
    this.bases = buildBases();
    this.runners = opts.flavors.map((f) => new FlavorRunner(f, this.bases));
    this.#seen = opts.flavors.map(() => new Set<string>());
    this.#knownSeen = opts.flavors.map(() => new Set<string>());
    this.#batch = opts.batch ?? BATCH;
    this.#outs = this.runners.map(() => new Array<CaseOutcome>(this.#batch));
    this.#deltas = this.runners.map(() => new Int32Array(this.#batch * STAT_FIELDS));
    this.#order = new Int32Array(this.#batch);
    this.#perBase = new Int32Array(this.bases.length + 1);
  }

  /** Makes cases start … start + count − 1 (fewer if `shouldStop` says so between batches, or one violates). */
  make(start: number, count: number, clock: () => number = () => 0, shouldStop?: () => boolean): FuzzChunk {
    const { runners, bases } = this;
    const nf = runners.length;
    const stats = new Int32Array(nf * STAT_FIELDS);
    const notes: CaseNote[] = [];
    const corpus: CorpusCase[] = [];
    const ms = new Array<number>(nf).fill(0);
    let violation: FuzzViolation | null = null;
    if (start < this.#end) {
      // An earlier chunk than the last: what this maker reached is no longer all before the chunk (a
      // key it reached later may be new to the run there).
      for (const s of this.#seen) s.clear();
      for (const s of this.#knownSeen) s.clear();
    }
    this.#end = start + count;
    let generateMs = 0;
    let done = 0;
    const specs = this.#specs;
    const batchCalls = this.#calls;
    const order = this.#order;
    const perBase = this.#perBase;
    batches: while (done < count) {
      if (shouldStop?.()) break;
      const n = Math.min(this.#batch, count - done);
      const g1 = clock();
      specs.length = 0;
      batchCalls.length = 0;
      for (let j = 0; j < n; j++) {
        const spec = caseSpec(this.opts.seed, start + done + j, bases);
        specs.push(spec);
        batchCalls.push(caseCalls(spec));
      }
      generateMs += clock() - g1;
      // The batch's cases run grouped by base (a counting sort, stable): consecutive cases on one base
      // restore nothing when a case changed nothing, and restore one base's own state when one did. Each
      // case starts from its base's snapshot, so what it does is the same in any order; what a case
      // reaches is then taken case by case, in order, as if they had run one after another.
      perBase.fill(0);
      for (let j = 0; j < n; j++) perBase[specs[j].base + 1]++;
      for (let b = 1; b <= bases.length; b++) perBase[b] += perBase[b - 1];
      for (let j = 0; j < n; j++) order[perBase[specs[j].base]++] = j;
      for (let k = 0; k < nf; k++) {
        const r = runners[k];
        const t0 = clock();
        const o = this.#outs[k];
        const d = this.#deltas[k];
        const s = r.stats;
        for (let x = 0; x < n; x++) {
          const j = order[x];
          const c0 = s.cases,
            k0 = s.calls,
            r0 = s.rejections,
            s0 = s.successes,
            p0 = s.panics;
          o[j] = r.run(specs[j].base, batchCalls[j]);
          const at = j * STAT_FIELDS;
          d[at] = s.cases - c0;
          d[at + 1] = s.calls - k0;
          d[at + 2] = s.rejections - r0;
          d[at + 3] = s.successes - s0;
          d[at + 4] = s.panics - p0;
        }
        ms[k] += clock() - t0;
      }
      for (let j = 0; j < n; j++) {
        const i = start + done;
        const spec = specs[j];
        let fresh = false;
        let failed: { runner: FlavorRunner; out: CaseOutcome } | null = null;
        for (let k = 0; k < nf; k++) {
          const out = this.#outs[k][j];
          const d = this.#deltas[k];
          for (let f = 0; f < STAT_FIELDS; f++) stats[k * STAT_FIELDS + f] += d[j * STAT_FIELDS + f];
          let keys: string[] | null = null;
          const reached = this.#seen[k];
          for (const key of out.keys) {
            if (!reached.has(key)) {
              reached.add(key);
              (keys ??= []).push(key);
            }
          }
          if (keys || out.panic || out.known) {
            if (keys) fresh = true;
            if (out.known && !this.#knownSeen[k].has(out.known.id)) {
              this.#knownSeen[k].add(out.known.id);
              fresh = true;
            }
            notes.push({
              i,
              f: k,
              keys: keys ?? NO_KEYS,
              panic: out.panic,
              known: out.known && { id: out.known.id, what: out.known.what },
            });
          }
          if (out.violation && !failed) failed = { runner: runners[k], out };
        }
        done++;
        if (failed) {
          violation = shrunkViolation(runners, bases, spec, i, this.opts.seed, failed.runner, failed.out);
          break batches;
        }
        if (fresh && this.opts.corpus) corpus.push(record(runners, bases, spec, i, this.opts.seed));
      }
    }
    return { start, count, done, stats, notes, corpus, violation, ms, generateMs };
  }
}

const NO_KEYS: readonly string[] = [];

/** Case `i`'s violation on `runner`: shrunk (shrink()), made once more, and recorded for the corpus. */
function shrunkViolation(
  runners: readonly FlavorRunner[],
  bases: readonly Base[],
  spec: CaseSpec,
  i: number,
  seed: number,
  runner: FlavorRunner,
  out: CaseOutcome,
): FuzzViolation {
  const v = out.violation!;
  const small = shrink(runner, spec, v.kind, v.call);
  const again = runner.run(small.base, caseCalls(small)).violation ?? v;
  const base = bases[small.base];
  const call = 2 + base.calls.length + again.call;
  const rec = record(runners, bases, small, i, seed, {
    flavor: runner.flavor,
    kind: again.kind,
    call,
    why: again.why,
  });
  return {
    flavor: runner.flavor,
    kind: again.kind,
    why: again.why,
    caseIndex: i,
    base: base.name,
    call,
    actions: small.actions.map((a) => a.what),
    mutations: mutationWords(small),
    case: rec,
  };
}

/**
 * Whether a chunk ends its run: a case in it violated, or the stop cut it short (the cases after it are
 * not the one thread's run).
 */
export function endsRun(c: FuzzChunk): boolean {
  return c.violation !== null || c.done < c.count;
}

/**
 * Takes a run's chunks in order of their cases, as one thread making them one after the other would
 * have met them: the coverage keys and known findings first reached, the corpus (the cases that reached
 * something first), panics and counts; it stops at the first violation.
 */
export class FuzzMerge {
  /** Cases taken. */
  done = 0;
  violation: FuzzViolation | null = null;
  generateMs = 0;
  readonly corpus: CorpusCase[] = [];
  readonly #stats: Int32Array;
  readonly #ms: number[];
  readonly #seen: Set<string>[];
  readonly #outcomes: number[];
  readonly #firstPanic: (string | null)[];
  readonly #panicKinds: Map<string, { what: string; count: number; firstCase: number }>[];
  readonly #known: Map<string, { id: string; what: string; count: number; firstCase: number }>[];

  constructor(
    readonly opts: MakerOptions,
    /** The run's first case (FuzzOptions.first). */
    readonly first = 0,
  ) {
    const nf = opts.flavors.length;
    this.#stats = new Int32Array(nf * STAT_FIELDS);
    this.#ms = new Array<number>(nf).fill(0);
    this.#seen = opts.flavors.map(() => new Set<string>());
    this.#outcomes = new Array<number>(nf).fill(0);
    this.#firstPanic = new Array<string | null>(nf).fill(null);
    this.#panicKinds = opts.flavors.map(() => new Map());
    this.#known = opts.flavors.map(() => new Map());
  }

  /** Takes the next chunk (its `start` must follow the cases taken so far); false when it ends the run (endsRun()). */
  add(c: FuzzChunk): boolean {
    if (this.violation !== null) return false;
    if (c.start !== this.first + this.done)
      throw new Error(`fuzz: chunk at case ${c.start} merged after ${this.done} cases from ${this.first}`);
    for (let x = 0; x < this.#stats.length; x++) this.#stats[x] += c.stats[x];
    c.ms.forEach((v, k) => (this.#ms[k] += v));
    this.generateMs += c.generateMs;
    let ci = 0;
    let n = 0;
    while (n < c.notes.length) {
      const i = c.notes[n].i;
      let fresh = false;
      for (; n < c.notes.length && c.notes[n].i === i; n++) {
        const { f, keys, panic, known } = c.notes[n];
        if (panic) {
          this.#firstPanic[f] ??= panic;
          const what = panic.replace(/0x[0-9a-f]+/g, "0x…");
          const pk = this.#panicKinds[f].get(what);
          if (pk) pk.count++;
          else this.#panicKinds[f].set(what, { what, count: 1, firstCase: i });
        }
        if (known) {
          const kn = this.#known[f].get(known.id);
          if (kn) kn.count++;
          else {
            this.#known[f].set(known.id, { id: known.id, what: known.what, count: 1, firstCase: i });
            fresh = true;
          }
        }
        const reached = this.#seen[f];
        for (const key of keys) {
          if (!reached.has(key)) {
            reached.add(key);
            fresh = true;
            this.#outcomes[f]++;
          }
        }
      }
      // The violating case goes to the corpus as the violation's (shrunk) case, below.
      if (fresh && this.opts.corpus && c.violation?.caseIndex !== i) {
        while (ci < c.corpus.length && c.corpus[ci].id < i) ci++;
        const rec = c.corpus[ci];
        if (rec?.id !== i)
          throw new Error(`fuzz: case ${i} is new to the run but its maker did not record it`);
        this.corpus.push(rec);
      }
    }
    this.done += c.done;
    if (c.violation) {
      this.violation = c.violation;
      if (this.opts.corpus) this.corpus.push(c.violation.case);
    }
    return !endsRun(c);
  }

  result(threads = 1): FuzzResult {
    return {
      threads,
      seed: this.opts.seed,
      cases: this.done,
      generateMs: this.generateMs,
      violation: this.violation,
      corpus: this.corpus,
      flavors: this.opts.flavors.map((flavor, k) => {
        const s = this.#stats.subarray(k * STAT_FIELDS, (k + 1) * STAT_FIELDS);
        return {
          flavor,
          cases: s[0],
          calls: s[1],
          rejections: s[2],
          successes: s[3],
          panics: s[4],
          firstPanic: this.#firstPanic[k],
          panicKinds: [...this.#panicKinds[k].values()],
          known: [...this.#known[k].values()],
          outcomes: this.#outcomes[k],
          ms: this.#ms[k],
        };
      }),
    };
  }
}

/** Runs the fuzzer in this thread: chunk after chunk from one maker (fuzz_parallel.ts spreads them over threads). */
export function fuzz(opts: FuzzOptions): FuzzResult {
  const clock = opts.clock ?? (() => 0);
  const maker = new FuzzMaker(opts);
  const first = opts.first ?? 0;
  const merge = new FuzzMerge(opts, first);
  const end = first + opts.runs;
  for (let start = first; start < end;) {
    if (opts.shouldStop?.()) break;
    const c = maker.make(start, Math.min(FUZZ_CHUNK, end - start), clock, opts.shouldStop);
    const more = merge.add(c);
    opts.onProgress?.(merge.done);
    if (!more) break;
    start += c.done;
  }
  return merge.result();
}

/** Runs a case again on every flavor, recording every register and byte, as a corpus case. */
function record(
  runners: readonly FlavorRunner[],
  bases: readonly Base[],
  spec: CaseSpec,
  id: number,
  seed: number,
  violation?: CorpusCase["violation"],
): CorpusCase {
  const b = bases[spec.base];
  const calls = caseCalls(spec);
  const outcomes: Partial<
    Record<SpmcFlavorName, { base: readonly CallOutcome[]; case: readonly CallOutcome[] }>
  > = {};
  const versionAnswers = {} as Record<SpmcFlavorName, bigint>;
  for (const r of runners) {
    const out = r.run(spec.base, calls, true);
    outcomes[r.flavor] = { base: r.baseOutcomes(spec.base), case: out.calls };
    versionAnswers[r.flavor] = r.bases[spec.base].versionAnswer;
  }
  return corpusCase({
    id,
    seed,
    base: b.name,
    version: b.version,
    partitionVersion: b.spVersion,
    baseCalls: b.calls,
    calls,
    actions: spec.actions.map((a) => a.what),
    mutations: mutationWords(spec),
    outcomes,
    versionAnswers,
    ...(violation ? { violation } : {}),
  });
}
