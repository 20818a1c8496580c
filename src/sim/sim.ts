/**
 * The engine context one run shares: virtual clock and scheduler, random streams, trace bus, findings.
 * Every layer receives it; nothing else is global.
 */
import { FaultPlan } from "./faults.ts";
import { Findings } from "./findings.ts";
import { NO_MUTATIONS, type Mutations } from "./mutations.ts";
import { Oops } from "./oops.ts";
import { Prng } from "./prng.ts";
import { Scheduler, type Chooser, type Task } from "./scheduler.ts";
import { TraceBus } from "./trace.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

export class Sim implements Snapshottable {
  readonly sched: Scheduler;
  readonly prng: Prng;
  readonly trace: TraceBus;
  readonly findings: Findings;
  /** Which fault points strike in this run (sim/faults.ts); nothing strikes until the runner arms it. */
  readonly faults: FaultPlan;
  /**
   * Planted bugs switched on for this run (sim/mutations.ts), set by the runner as it starts the run,
   * like the faults: NO_MUTATIONS outside the mutants test.
   */
  mutations: Mutations = NO_MUTATIONS;
  /** The kernel's panic_on_oops: an oops stops the machine instead of killing one task. */
  panicOnOops = false;
  /** Why the kernel panicked, or null. */
  panicked: string | null = null;
  /** WARN_ONCE() sites that have fired (each warns once per boot). */
  readonly #warnedOnce = new Set<string>();
  readonly #oopsListeners: ((t: Task, oops: Oops) => void)[] = [];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { warnedOnce: this.#warnedOnce, oopsListeners: this.#oopsListeners };
  }
  constructor(seed: number, chooser?: Chooser) {
    this.sched = new Scheduler(chooser);
    this.prng = new Prng(seed);
    const now = () => this.sched.now;
    const task = () => this.sched.current?.name ?? "-";
    this.trace = new TraceBus(now, task);
    this.findings = new Findings(now, task);
    this.faults = new FaultPlan(now);
    this.sched.onOops = (t, oops) => {
      if (this.panicOnOops) {
        // panic("Fatal exception") from oops_end(): every CPU stops, nothing runs after it.
        this.panicked = `Kernel panic - not syncing: Fatal exception (${oops.message}, task ${t.name})`;
        this.sched.stop(this.panicked);
        return;
      }
      for (const l of this.#oopsListeners) l(t, oops);
    };
    this.findings.onFinding((f) => {
      if (this.trace.listening)
        this.trace.emit("check", "finding", { id: f.id, message: f.message, ...f.data });
    });
  }

  get now(): number {
    return this.sched.now;
  }

  /** Reports a WARN or BUG the real kernel would print (invariant `kernel-warn`). */
  kernelWarn(kind: "WARN" | "BUG" | "Oops", message: string, data?: Record<string, unknown>): void {
    this.findings.report("kernel-warn", `${kind}: ${message}`, data);
  }

  /**
   * WARN_ONCE() / WARN_ON_ONCE(): reported the first time `site` fires in this boot, silent after.
   * `site` names the call site (one static flag per site in the kernel).
   */
  warnOnce(site: string, message: string, data?: Record<string, unknown>): void {
    if (this.#warnedOnce.has(site)) return;
    this.#warnedOnce.add(site);
    this.kernelWarn("WARN", message, data);
  }

  /**
   * BUG()/BUG_ON() hit in kernel function `fn`: reported (`kernel-warn`, kind BUG), then the current
   * task dies in place (sim/oops.ts). Never returns.
   */
  bug(fn: string, message: string, data?: Record<string, unknown>): never {
    this.kernelWarn("BUG", message, { function: fn, ...data });
    throw new Oops(fn, message);
  }

  /**
   * Any other fatal kernel fault (a NULL-pointer dereference, a bad paging request) in `fn`: "Oops"
   * with the kernel's message, then as bug().
   */
  oops(fn: string, message: string, data?: Record<string, unknown>): never {
    this.kernelWarn("Oops", message, { function: fn, ...data });
    throw new Oops(fn, message);
  }

  /** Called after an oops killed task `t` (not on panic): do_exit() of its process, for one. */
  onOops(listener: (t: Task, oops: Oops) => void): void {
    this.#oopsListeners.push(listener);
  }
}
