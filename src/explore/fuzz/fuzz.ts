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
 * Deterministic: the cases are a function of the seed (the PRNG stream "ffa-fuzz"); the wall clock,
 * when given, only times the flavors and may stop the run early.
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
import {
  FlavorRunner,
  type CallOutcome,
  type CaseOutcome,
  type RunnerStats,
  type ViolationKind,
} from "./runner.ts";

export interface FuzzOptions {
  readonly flavors: readonly SpmcFlavorName[];
  readonly runs: number;
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

/** Cases generated, then run, at a time (see the grouping by base in fuzz()). */
const BATCH = 128;

/** The RunnerStats fields the report gives: cases, calls, rejections, successes, panics. */
const STAT_FIELDS = 5;
/** Takes case `x`'s counts (deltas[x * STAT_FIELDS ...]) back out of `s`. */
function unstat(s: RunnerStats, deltas: Int32Array, x: number): void {
  const d = x * STAT_FIELDS;
  s.cases -= deltas[d];
  s.calls -= deltas[d + 1];
  s.rejections -= deltas[d + 2];
  s.successes -= deltas[d + 3];
  s.panics -= deltas[d + 4];
}

/**
 * `fn`'s runs — a case shrunk, or made again to record it for the corpus — left out of the runners'
 * counts: the report counts each case's calls once, whether a corpus is written or not.
 */
function uncounted<T>(runners: readonly FlavorRunner[], fn: () => T): T {
  const saved = runners.map((r) => ({ ...r.stats }));
  try {
    return fn();
  } finally {
    runners.forEach((r, k) => {
      const s = saved[k];
      r.stats.cases = s.cases;
      r.stats.calls = s.calls;
      r.stats.rejections = s.rejections;
      r.stats.successes = s.successes;
      r.stats.panics = s.panics;
    });
  }
}

/** Runs the fuzzer. */
export function fuzz(opts: FuzzOptions): FuzzResult {
  const clock = opts.clock ?? (() => 0);
  const bases = buildBases();
  const runners = opts.flavors.map((f) => new FlavorRunner(f, bases));
  const rnd = new Prng(opts.seed).stream("ffa-fuzz");
  /** Per flavor, the coverage keys reached. */
  const seen = new Map<SpmcFlavorName, Set<string>>(opts.flavors.map((f) => [f, new Set<string>()]));
  const outcomeCount = new Map<SpmcFlavorName, number>();
  const ms = new Map<SpmcFlavorName, number>();
  const firstPanic = new Map<SpmcFlavorName, string>();
  const panicKinds = new Map<
    SpmcFlavorName,
    Map<string, { what: string; count: number; firstCase: number }>
  >();
  const known = new Map<
    SpmcFlavorName,
    Map<string, { id: string; what: string; count: number; firstCase: number }>
  >();
  const corpus: CorpusCase[] = [];
  let generateMs = 0;
  let violation: FuzzViolation | null = null;
  let done = 0;
  const specs: CaseSpec[] = [];
  const batchCalls: (readonly FuzzCall[])[] = [];
  const batch = opts.batch ?? BATCH;
  const outs = runners.map(() => new Array<CaseOutcome>(batch));
  const deltas = runners.map(() => new Int32Array(batch * STAT_FIELDS));
  const order = new Int32Array(batch);
  const perBase = new Int32Array(bases.length + 1);
  batches: for (let start = 0; start < opts.runs; start += batch) {
    if (opts.shouldStop?.()) break;
    const n = Math.min(batch, opts.runs - start);
    const g0 = clock();
    specs.length = 0;
    batchCalls.length = 0;
    for (let j = 0; j < n; j++) {
      const spec = generateCase(rnd, bases);
      specs.push(spec);
      batchCalls.push(caseCalls(spec));
    }
    generateMs += clock() - g0;
    // The batch's cases run grouped by base (a counting sort, stable): consecutive cases on one base
    // restore nothing when a case changed nothing, and restore one base's own state when one did. Each
    // case starts from its base's snapshot, so what it does is the same in any order; what a case
    // reaches is then taken case by case, in order, as if they had run one after another.
    perBase.fill(0);
    for (let j = 0; j < n; j++) perBase[specs[j].base + 1]++;
    for (let b = 1; b <= bases.length; b++) perBase[b] += perBase[b - 1];
    for (let j = 0; j < n; j++) order[perBase[specs[j].base]++] = j;
    runners.forEach((r, k) => {
      const t0 = clock();
      const o = outs[k];
      const d = deltas[k];
      for (let x = 0; x < n; x++) {
        const j = order[x];
        const s = r.stats;
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
      ms.set(r.flavor, (ms.get(r.flavor) ?? 0) + clock() - t0);
    });
    for (let j = 0; j < n; j++) {
      const i = start + j;
      const spec = specs[j];
      let fresh = false;
      let failed: { runner: FlavorRunner; out: CaseOutcome } | null = null;
      runners.forEach((r, k) => {
        const out = outs[k][j];
        if (out.panic) {
          if (!firstPanic.has(r.flavor)) firstPanic.set(r.flavor, out.panic);
          let m = panicKinds.get(r.flavor);
          if (!m) panicKinds.set(r.flavor, (m = new Map()));
          const what = out.panic.replace(/0x[0-9a-f]+/g, "0x…");
          const pk = m.get(what);
          if (pk) pk.count++;
          else m.set(what, { what, count: 1, firstCase: i });
        }
        if (out.known) {
          let m = known.get(r.flavor);
          if (!m) known.set(r.flavor, (m = new Map()));
          const kn = m.get(out.known.id);
          if (kn) kn.count++;
          else {
            m.set(out.known.id, { id: out.known.id, what: out.known.what, count: 1, firstCase: i });
            fresh = true;
          }
        }
        const reached = seen.get(r.flavor)!;
        for (const key of out.keys) {
          if (!reached.has(key)) {
            reached.add(key);
            fresh = true;
            outcomeCount.set(r.flavor, (outcomeCount.get(r.flavor) ?? 0) + 1);
          }
        }
        if (out.violation && !failed) failed = { runner: r, out };
      });
      done++;
      if (failed) {
        // The cases after this one ran, but the run stops here: their counts go.
        runners.forEach((r, k) => {
          for (let x = j + 1; x < n; x++) unstat(r.stats, deltas[k], x);
        });
        const { runner, out } = failed as { runner: FlavorRunner; out: CaseOutcome };
        const v = out.violation!;
        // Shrinking makes the case again and again, and recording it once more: none of it counted.
        const { small, again, base, rec } = uncounted(runners, () => {
          const small = shrink(runner, spec, v.kind, v.call);
          const again = runner.run(small.base, caseCalls(small)).violation ?? v;
          const base = bases[small.base];
          const rec = record(runners, bases, small, i, opts.seed, {
            flavor: runner.flavor,
            kind: again.kind,
            call: 2 + base.calls.length + again.call,
            why: again.why,
          });
          return { small, again, base, rec };
        });
        violation = {
          flavor: runner.flavor,
          kind: again.kind,
          why: again.why,
          caseIndex: i,
          base: base.name,
          call: 2 + base.calls.length + again.call,
          actions: small.actions.map((a) => a.what),
          mutations: mutationWords(small),
          case: rec,
        };
        if (opts.corpus) corpus.push(rec);
        break batches;
      }
      if (fresh && opts.corpus)
        corpus.push(uncounted(runners, () => record(runners, bases, spec, i, opts.seed)));
      if ((i & 1023) === 0) opts.onProgress?.(done);
    }
  }
  opts.onProgress?.(done);
  return {
    seed: opts.seed,
    cases: done,
    generateMs,
    violation,
    corpus,
    flavors: runners.map((r) => ({
      flavor: r.flavor,
      cases: r.stats.cases,
      calls: r.stats.calls,
      rejections: r.stats.rejections,
      successes: r.stats.successes,
      panics: r.stats.panics,
      firstPanic: firstPanic.get(r.flavor) ?? null,
      panicKinds: [...(panicKinds.get(r.flavor)?.values() ?? [])],
      known: [...(known.get(r.flavor)?.values() ?? [])],
      outcomes: outcomeCount.get(r.flavor) ?? 0,
      ms: ms.get(r.flavor) ?? 0,
    })),
  };
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
