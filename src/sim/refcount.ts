/**
 * refcount_t — include/linux/refcount.h, lib/refcount.c.
 *
 * Same checks as the kernel: an increment from 0, a decrement below 1, or an overflow warns
 * (refcount_warn_saturate) and leaves the counter saturated at REFCOUNT_SATURATED, where it stays.
 * The warning is a `kernel-warn` finding, once per message site per boot (REFCOUNT_WARN is WARN_ONCE).
 */
import type { Sim } from "./sim.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** INT_MIN / 2, as in include/linux/refcount_types.h. */
export const REFCOUNT_SATURATED = -0x40000000;
const INT_MAX = 0x7fffffff;

/** The messages of refcount_warn_saturate(), lib/refcount.c. */
const REFCOUNT_MSG = {
  ADD_NOT_ZERO_OVF: "refcount_t: saturated; leaking memory.",
  ADD_OVF: "refcount_t: saturated; leaking memory.",
  ADD_UAF: "refcount_t: addition on 0; use-after-free.",
  SUB_UAF: "refcount_t: underflow; use-after-free.",
  DEC_LEAK: "refcount_t: decrement hit 0; leaking memory.",
} as const;

export class Refcount implements Snapshottable {
  #refs: number;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#refs = saved.refs as number;
    }
    return { refs: this.#refs };
  }
  constructor(
    private readonly sim: Sim,
    readonly name: string,
    initial = 1,
  ) {
    this.#refs = initial;
  }

  /** refcount_warn_saturate(): saturates, then REFCOUNT_WARN() — a WARN_ONCE per message site. */
  #saturate(kind: keyof typeof REFCOUNT_MSG): void {
    this.#refs = REFCOUNT_SATURATED;
    this.sim.warnOnce(`refcount_warn_saturate:${kind}`, REFCOUNT_MSG[kind], { refcount: this.name });
  }

  /** refcount_set() */
  set(n: number): void {
    this.#refs = n;
  }

  /** refcount_read() */
  read(): number {
    return this.#refs;
  }

  /** refcount_inc(): warns on 0 (use-after-free) and on overflow. */
  inc(): void {
    const old = this.#refs;
    this.#refs = old + 1;
    if (old === 0) this.#saturate("ADD_UAF");
    else if (old < 0 || old + 1 > INT_MAX) this.#saturate("ADD_OVF");
  }

  /** refcount_inc_not_zero(): false, and no change, when the count is 0. */
  incNotZero(): boolean {
    const old = this.#refs;
    if (old === 0) return false;
    this.#refs = old + 1;
    if (old < 0 || old + 1 > INT_MAX) this.#saturate("ADD_NOT_ZERO_OVF");
    return true;
  }

  /** refcount_dec_and_test(): true when this drop took the count to 0. */
  decAndTest(): boolean {
    const old = this.#refs;
    this.#refs = old - 1;
    if (old === 1) return true;
    if (old < 0 || old - 1 < 0) this.#saturate("SUB_UAF");
    return false;
  }

  /** refcount_dec(): dropping the last reference this way leaks, and warns. */
  dec(): void {
    const old = this.#refs;
    this.#refs = old - 1;
    if (old === 1) this.#saturate("DEC_LEAK");
    else if (old < 0 || old - 1 < 0) this.#saturate("SUB_UAF");
  }
}
