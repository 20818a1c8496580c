/**
 * Findings: what a run found wrong, counted per invariant id (ARCHITECTURE.md §8).
 *
 * Any layer may report one (the access checkpoint, a refcount that saturates, genalloc's BUG); the
 * check/ layer names the ids and the reports print them. Details are kept for the first few of each id
 * so a long run stays small.
 */
import { hiddenState, type Snapshottable } from "./snapshot.ts";
import { stringCode } from "./string_code.ts";

/** One finding as reported. */
export interface Finding {
  /** Invariant id, e.g. "ns-no-access" or "kernel-warn". */
  readonly id: string;
  /** Virtual time, ns. */
  readonly t: number;
  /** The task that was running, or "-" outside any task. */
  readonly task: string;
  readonly message: string;
  readonly data?: Readonly<Record<string, unknown>>;
}

/** How many details are kept per id; counts are always exact. */
export const FINDING_DETAILS_KEPT = 20;

export class Findings implements Snapshottable {
  readonly #counts = new Map<string, number>();
  /** Σ code(id) × count(id) mod 2^32: the counts in one number, kept as they change (Findings.digest). */
  #digest = 0;
  readonly #details: Finding[] = [];
  readonly #listeners: ((f: Finding) => void)[] = [];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) this.#digest = saved.digest as number;
    return { counts: this.#counts, details: this.#details, listeners: this.#listeners, digest: this.#digest };
  }
  constructor(
    private readonly now: () => number = () => 0,
    private readonly taskName: () => string = () => "-",
  ) {}

  report(id: string, message: string, data?: Record<string, unknown>): void {
    const n = (this.#counts.get(id) ?? 0) + 1;
    this.#counts.set(id, n);
    this.#digest = (this.#digest + stringCode(id)) | 0;
    const f: Finding = { id, t: this.now(), task: this.taskName(), message, ...(data ? { data } : {}) };
    if (n <= FINDING_DETAILS_KEPT) this.#details.push(f);
    for (const l of this.#listeners) l(f);
  }

  /**
   * `n` findings of one kind at once, counted in bulk by a model that does not step through them (the
   * speculation model's denied fills once their details are kept): the count grows by n, listeners
   * hear one finding whose data carries `bulk: n`.
   */
  reportMany(id: string, n: number, message: string, data?: Record<string, unknown>): void {
    if (n <= 0) return;
    if (n === 1) return this.report(id, message, data);
    const c = (this.#counts.get(id) ?? 0) + n;
    this.#counts.set(id, c);
    this.#digest = (this.#digest + Math.imul(stringCode(id), n)) | 0;
    const f: Finding = { id, t: this.now(), task: this.taskName(), message, data: { ...data, bulk: n } };
    if (c - n < FINDING_DETAILS_KEPT) this.#details.push(f);
    for (const l of this.#listeners) l(f);
  }

  /** Called for every finding as it is reported (the trace bus, a test). */
  onFinding(listener: (f: Finding) => void): void {
    this.#listeners.push(listener);
  }

  /** Called before any read of the counts or details: models that count lazily settle first. */
  beforeRead: (() => void) | null = null;

  count(id: string): number {
    this.beforeRead?.();
    return this.#counts.get(id) ?? 0;
  }

  /**
   * The counts per id folded into one 32-bit number, independent of the order findings came in (the
   * explorer's state hash reads it at every scheduling point: no allocation, no sort).
   */
  digest(): number {
    this.beforeRead?.();
    return this.#digest;
  }

  /** Counts per id, ids sorted. */
  counts(): Record<string, number> {
    this.beforeRead?.();
    return Object.fromEntries([...this.#counts.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  details(): readonly Finding[] {
    this.beforeRead?.();
    return this.#details;
  }
}
