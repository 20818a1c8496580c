/**
 * The run's fault plan (ARCHITECTURE.md §2, issue #11 "Fault injection"): which fault points strike.
 *
 * A fault point is a place where the real system can fail for reasons outside the model — an SPMC
 * that answers an FF-A call with an error, OP-TEE failing a command, a pinned page in a CMA window, a
 * SIGKILL, an RX buffer owned by the other world. Each layer asks the plan at its point:
 *
 *   const error = sim.faults.at("ffa", "MEM_LEND", ["NO_MEMORY", "DENIED", "ABORTED"]);
 *
 * and, when an answer comes back, fails there the way the real code fails. The plan counts every
 * point by (kind, key): the n-th time a point is reached it strikes when the scenario's `faults:`
 * lists it (`{ffa: {call: MEM_LEND, error: NO_MEMORY, nth: n}}`), or when the explorer's fault
 * chooser says so (while the run's fault budget lasts). Every fault that struck is recorded in that
 * same scenario syntax, so the record, given back as the plan, makes the run again exactly (with the
 * same schedule): replay.json keeps it as `faults`.
 *
 * Deterministic: counts and choices depend only on the order points are reached, which the schedule
 * fixes. Nothing is counted before arm() or when the plan can never strike (the fast path), except the
 * boot faults (`boot: true`): they count and strike between armBoot() and endBoot(), while the normal
 * world's drivers probe (scenario/system.ts), and the run's points count from 1 after.
 */
import { assert, fail } from "./assert.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

export const FAULT_KINDS = ["ffa", "optee", "cma", "kill", "rx_busy"] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault, as a scenario's `faults:` lists it and as a run records it (JSON-ready). */
export type FaultSpec =
  | {
      readonly ffa: {
        readonly call: string;
        readonly error: string;
        readonly nth: number;
        /** Strikes while the normal world probes its drivers at boot (counted from there), not after. */
        readonly boot?: true;
        /**
         * Strikes inside the call, where the named real function fails (firmware/spmc/faults.ts
         * FFA_FAULT_SITES: `ffa_memory_send_complete`), not at the call's entry; counted apart.
         */
        readonly in?: string;
        readonly injected?: true;
      };
    }
  | {
      readonly optee: {
        readonly cmd: string;
        readonly error: string;
        readonly nth: number;
        readonly boot?: true;
        readonly injected?: true;
      };
    }
  | {
      readonly cma: { readonly pinned: number | "all"; readonly nth: number; readonly injected?: true };
    }
  | {
      readonly kill: {
        readonly proc: string;
        readonly at: number;
        /** Count every scheduling point of the process — in user space too (between its steps, in a sleep) — not only those inside a system call. */
        readonly anywhere?: true;
        readonly injected?: true;
      };
    }
  | { readonly rx_busy: { readonly nth: number; readonly injected?: true } };

/**
 * Whether the fault is one the scenario did not plan (`injected: true`): the explorer's chooser
 * (`--faults`) struck it, or a replay gives it back as such. Once one has struck, the run is judged on
 * what a fault must not do, not on what the scenario expected of a run without it (scenario/runner.ts).
 */
export function isInjected(f: FaultSpec): boolean {
  return faultBody(f).injected === true;
}

/** The kind's mapping of a spec (`{call, error, nth, …}` of `{ffa: …}`). */
function faultBody(f: FaultSpec): { readonly injected?: true } {
  if ("ffa" in f) return f.ffa;
  if ("optee" in f) return f.optee;
  if ("cma" in f) return f.cma;
  if ("kill" in f) return f.kill;
  return f.rx_busy;
}

/** A point as the chooser sees it: its kind, its key (call, command, process…), and its count. */
export interface FaultPoint {
  /** Reached while the normal world's drivers probe at boot (FaultPlan.armBoot()). */
  readonly boot?: true;
  readonly kind: FaultKind;
  readonly key: string;
  /** 1-based: the how-many-th time this (kind, key) is reached in the run. */
  readonly nth: number;
}

/** Decides, at a point no scripted fault names, whether to strike: an index into `options`, or −1. */
export interface FaultChooser {
  pick(point: FaultPoint, options: readonly string[]): number;
}

/** The key rx_busy counts under: every call that needs the caller's RX buffer, together. */
export const RX_KEY = "rx";
/** Appended to a process's name: the key of its kill points anywhere (`kill: {anywhere: true}`). */
export const KILL_ANYWHERE = "\u0001anywhere";
/** Between an `ffa` point's call and the site inside it (`ffa: {in}`) in the point's key. */
export const FFA_SITE_SEP = "\u0001in\u0001";
/** The key every cma_alloc() counts under. */
export const CMA_KEY = "cma_alloc";

/** The (kind, key, nth) a spec names, and the value it strikes with. */
export function faultSpecPoint(f: FaultSpec): { point: FaultPoint; value: string } {
  if ("ffa" in f) {
    const key = f.ffa.in === undefined ? f.ffa.call : f.ffa.call + FFA_SITE_SEP + f.ffa.in;
    const point: FaultPoint = { kind: "ffa", key, nth: f.ffa.nth };
    return { point: f.ffa.boot ? { ...point, boot: true } : point, value: f.ffa.error };
  }
  if ("optee" in f) {
    const point: FaultPoint = { kind: "optee", key: f.optee.cmd, nth: f.optee.nth };
    return { point: f.optee.boot ? { ...point, boot: true } : point, value: f.optee.error };
  }
  if ("cma" in f)
    return { point: { kind: "cma", key: CMA_KEY, nth: f.cma.nth }, value: String(f.cma.pinned) };
  if ("kill" in f) {
    const key = f.kill.anywhere ? f.kill.proc + KILL_ANYWHERE : f.kill.proc;
    return { point: { kind: "kill", key, nth: f.kill.at }, value: "SIGKILL" };
  }
  return { point: { kind: "rx_busy", key: RX_KEY, nth: f.rx_busy.nth }, value: "BUSY" };
}

/**
 * The spec that says "strike `value` at `point`" (the inverse of faultSpecPoint()), marked
 * `injected: true` when the scenario did not plan it (isInjected()).
 */
export function faultSpecOf(point: FaultPoint, value: string, injected = false): FaultSpec {
  const spec = plannedSpecOf(point, value);
  return injected ? markInjected(spec) : spec;
}

/** The spec marked `injected: true` (isInjected()). */
export function markInjected(spec: FaultSpec): FaultSpec {
  if ("ffa" in spec) return { ffa: { ...spec.ffa, injected: true } };
  if ("optee" in spec) return { optee: { ...spec.optee, injected: true } };
  if ("cma" in spec) return { cma: { ...spec.cma, injected: true } };
  if ("kill" in spec) return { kill: { ...spec.kill, injected: true } };
  return { rx_busy: { ...spec.rx_busy, injected: true } };
}

function plannedSpecOf(point: FaultPoint, value: string): FaultSpec {
  switch (point.kind) {
    case "ffa": {
      const sep = point.key.indexOf(FFA_SITE_SEP);
      const call = sep < 0 ? point.key : point.key.slice(0, sep);
      return {
        ffa: {
          call,
          ...(sep < 0 ? {} : { in: point.key.slice(sep + FFA_SITE_SEP.length) }),
          error: value,
          nth: point.nth,
          ...(point.boot ? { boot: true } : {}),
        },
      };
    }
    case "optee":
      return {
        optee: { cmd: point.key, error: value, nth: point.nth, ...(point.boot ? { boot: true } : {}) },
      };
    case "cma":
      return { cma: { pinned: value === "all" ? "all" : Number(value), nth: point.nth } };
    case "kill":
      return point.key.endsWith(KILL_ANYWHERE)
        ? { kill: { proc: point.key.slice(0, -KILL_ANYWHERE.length), at: point.nth, anywhere: true } }
        : { kill: { proc: point.key, at: point.nth } };
    case "rx_busy":
      return { rx_busy: { nth: point.nth } };
  }
}

/** A fault that struck, for the trace and the run's result. */
export interface FaultStruck {
  readonly spec: FaultSpec;
  /** Virtual time it struck, ns. */
  readonly t: number;
}

const scriptedKey = (kind: FaultKind, key: string, nth: number): string => `${kind}\u0000${key}\u0000${nth}`;

/** Whether a fault strikes at boot (`boot: true`, kinds `ffa` and `optee`). */
export function isBootFault(f: FaultSpec): boolean {
  return faultSpecPoint(f).point.boot === true;
}

/** Where the plan is: before boot's probes, in them (boot faults strike), between, or in the run. */
type Phase = "idle" | "boot" | "run";

export class FaultPlan implements Snapshottable {
  readonly #scripted = new Map<string, string>();
  /** Keys of #scripted whose fault is marked `injected: true` (isInjected()). */
  readonly #scriptedInjected = new Set<string>();
  readonly #scriptedKinds = new Set<FaultKind>();
  readonly #bootScripted = new Map<string, string>();
  readonly #bootKinds = new Set<FaultKind>();
  /**
   * Where each (kind, key) reached so far keeps its count in #counts, by kind, then key (two levels,
   * not one map on a joined key: no string to build at a point). A slot once given stays the key's for
   * the run, so a caller that comes to the same point again and again keeps the slot and counts
   * through atSlot() without a lookup: a process's kill points, one at every scheduling point of its
   * thread.
   */
  readonly #slots = new Map<FaultKind, Map<string, number>>();
  /** Points reached so far, by slot. */
  readonly #counts: number[] = [];
  #chooser: FaultChooser | null = null;
  #budget = 0;
  #phase: Phase = "idle";
  #injectedStruck = false;
  /** Faults that struck, in order. */
  readonly struck: FaultStruck[] = [];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#chooser = saved.chooser as FaultChooser | null;
      this.#budget = saved.budget as number;
      this.#phase = saved.phase as Phase;
      this.#injectedStruck = saved.injectedStruck as boolean;
    }
    return {
      scripted: this.#scripted,
      scriptedInjected: this.#scriptedInjected,
      scriptedKinds: this.#scriptedKinds,
      bootScripted: this.#bootScripted,
      bootKinds: this.#bootKinds,
      slots: this.#slots,
      counts: this.#counts,
      chooser: this.#chooser,
      budget: this.#budget,
      phase: this.#phase,
      injectedStruck: this.#injectedStruck,
    };
  }

  constructor(private readonly now: () => number = () => 0) {}

  /**
   * Sets what strikes: the listed faults, and at other points whatever `chooser` picks, at most
   * `budget` times. Called before arm().
   */
  configure(scripted: readonly FaultSpec[], chooser: FaultChooser | null = null, budget = 0): void {
    assert(this.#phase === "idle", "fault plan configured after arm()");
    if (!(Number.isSafeInteger(budget) && budget >= 0)) fail(`fault budget ${budget}`);
    this.#scripted.clear();
    this.#scriptedInjected.clear();
    this.#scriptedKinds.clear();
    this.#injectedStruck = false;
    for (const f of scripted) {
      const { point, value } = faultSpecPoint(f);
      // Boot faults struck (or not) while the system booted (configureBoot()); a run does not repeat them.
      if (point.boot) continue;
      const key = scriptedKey(point.kind, point.key, point.nth);
      this.#scripted.set(key, value);
      if (isInjected(f)) this.#scriptedInjected.add(key);
      this.#scriptedKinds.add(point.kind);
    }
    this.#chooser = budget > 0 ? chooser : null;
    this.#budget = budget;
  }

  /**
   * The boot faults of a run (`boot: true`; others in the list are ignored here), set before the system
   * boots. They strike between armBoot() and endBoot(): while the normal world's drivers probe.
   */
  configureBoot(scripted: readonly FaultSpec[]): void {
    assert(this.#phase === "idle", "boot faults configured after arm()");
    this.#bootScripted.clear();
    this.#bootKinds.clear();
    for (const f of scripted) {
      const { point, value } = faultSpecPoint(f);
      if (!point.boot) continue;
      this.#bootScripted.set(scriptedKey(point.kind, point.key, point.nth), value);
      this.#bootKinds.add(point.kind);
    }
  }

  /** The normal world starts probing its drivers (scenario/system.ts): boot faults count and strike. */
  armBoot(): void {
    if (this.#phase === "idle" && this.#bootKinds.size > 0) this.#phase = "boot";
  }

  /** Boot is over: boot faults strike no more, and the run's points count from 1 again. */
  endBoot(): void {
    if (this.#phase !== "boot") return;
    this.#phase = "idle";
    this.#counts.fill(0);
  }

  /** From now on points count and strike (the runner arms the plan once the system has booted). */
  arm(): void {
    this.#phase = "run";
  }

  /** Whether a point of this kind can ever strike in this run (lets a hook skip its bookkeeping). */
  mayStrike(kind: FaultKind): boolean {
    if (this.#phase === "boot") return this.#bootKinds.has(kind);
    return (
      this.#phase === "run" && (this.#scriptedKinds.has(kind) || (this.#chooser !== null && this.#budget > 0))
    );
  }

  /** Whether a fault chooser may still strike (the run's points are counted for it). */
  choosing(): boolean {
    return this.#phase === "run" && this.#chooser !== null && this.#budget > 0;
  }

  /** Whether the scenario lists a fault at (kind, key) in the current phase (any nth). */
  hasScripted(kind: FaultKind, key: string): boolean {
    const prefix = `${kind}\u0000${key}\u0000`;
    for (const k of (this.#phase === "boot" ? this.#bootScripted : this.#scripted).keys())
      if (k.startsWith(prefix)) return true;
    return false;
  }

  /** How many times (kind, key) has been reached so far. */
  count(kind: FaultKind, key: string): number {
    const i = this.#slots.get(kind)?.get(key);
    return i === undefined ? 0 : this.#counts[i];
  }

  /** The slot that counts (kind, key)'s points, for atSlot(): the key's from then on in this run. */
  slot(kind: FaultKind, key: string): number {
    let byKey = this.#slots.get(kind);
    if (byKey === undefined) {
      byKey = new Map();
      this.#slots.set(kind, byKey);
    }
    let i = byKey.get(key);
    if (i === undefined) {
      i = this.#counts.length;
      this.#counts.push(0);
      byKey.set(key, i);
    }
    return i;
  }

  /**
   * A fault point is reached: counts it, and returns the value to strike with (one of `options`, or
   * what the scenario lists), or null to go on as normal.
   */
  at(kind: FaultKind, key: string, options: readonly string[]): string | null {
    if (!this.mayStrike(kind)) return null;
    return this.#reached(this.slot(kind, key), kind, key, options);
  }

  /** at(), for a point whose slot (slot(kind, key)) the caller kept. */
  atSlot(slot: number, kind: FaultKind, key: string, options: readonly string[]): string | null {
    if (!this.mayStrike(kind)) return null;
    return this.#reached(slot, kind, key, options);
  }

  #reached(slot: number, kind: FaultKind, key: string, options: readonly string[]): string | null {
    const nth = ++this.#counts[slot];
    const boot = this.#phase === "boot";
    // The scripted list is looked up only for a kind it names; the point is made only when used.
    const sKey = (boot ? this.#bootKinds : this.#scriptedKinds).has(kind)
      ? scriptedKey(kind, key, nth)
      : null;
    let value = sKey === null ? null : ((boot ? this.#bootScripted : this.#scripted).get(sKey) ?? null);
    let injected = value !== null && !boot && this.#scriptedInjected.has(sKey!);
    let point: FaultPoint | null = null;
    if (!boot && value === null && this.#chooser !== null && this.#budget > 0 && options.length > 0) {
      point = { kind, key, nth };
      const i = this.#chooser.pick(point, options);
      if (!(Number.isInteger(i) && i >= -1 && i < options.length)) fail(`fault chooser picked ${i}`);
      if (i >= 0) {
        value = options[i];
        injected = true;
        this.#budget--;
      }
    }
    if (value !== null) {
      point ??= boot ? { kind, key, nth, boot } : { kind, key, nth };
      this.struck.push({ spec: faultSpecOf(point, value, injected), t: this.now() });
      if (injected) this.#injectedStruck = true;
    }
    return value;
  }

  /**
   * Whether a fault the scenario did not plan (isInjected(): the explorer's, or given back as such)
   * has struck in this run so far.
   */
  injectedStruck(): boolean {
    return this.#injectedStruck;
  }

  /** The faults that struck, as a `faults:` list (what replays them). */
  record(): FaultSpec[] {
    return this.struck.map((s) => s.spec);
  }
}

/**
 * The explorer's random fault chooser: at each point, strike with probability `rate`, picking the value
 * uniformly. Kill points strike with `rate / 8`: they come at every scheduling point of a process —
 * inside a system call (`kill: {at}`) and in user space, between its steps and in a sleep (`kill: {at,
 * anywhere: true}`, user/process.ts) — far more often than the others, and each is as likely as the
 * next, so a run is cut short now and then, not at its start. `next(n)` is a seeded stream's integer
 * in [0, n). `kinds`: strike only at points of these kinds (null: every kind).
 */
export function randomFaultChooser(
  next: (n: number) => number,
  rate = 1 / 8,
  kinds: readonly FaultKind[] | null = null,
): FaultChooser {
  const scale = 1 << 20;
  return {
    pick(point, options) {
      // `--fault-kinds`: a point of another kind is passed by, without a draw.
      if (kinds !== null && !kinds.includes(point.kind)) return -1;
      const r = point.kind === "kill" ? rate / 8 : rate;
      if (next(scale) >= r * scale) return -1;
      return next(options.length);
    },
  };
}
