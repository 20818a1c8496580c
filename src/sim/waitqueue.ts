/**
 * wait_queue_head_t and struct completion — include/linux/wait.h, kernel/sched/completion.c.
 */
import { WaitList, type Sleeps } from "./scheduler.ts";
import type { Sim } from "./sim.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** A wait queue: tasks sleep until a condition holds; wake_up() makes them re-check. */
export class WaitQueue implements Snapshottable {
  readonly #list: WaitList;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { list: this.#list };
  }
  constructor(
    private readonly sim: Sim,
    readonly name: string,
  ) {
    this.#list = new WaitList(`wq:${name}`, true);
  }

  get waiters(): number {
    return this.#list.length;
  }

  /** wait_event(): sleeps until cond() is true; cond is re-checked after every wake-up. */
  *waitEvent(cond: () => boolean): Sleeps {
    while (!cond()) yield { kind: "block", list: this.#list };
  }

  /** wake_up_all(): every sleeper re-checks its condition. */
  wakeUpAll(): void {
    for (const t of this.#list.drain()) this.sim.sched.wake(t);
  }

  /** wake_up() on a queue of exclusive waiters: one sleeper. */
  wakeUpOne(): void {
    const t = this.#list.shift();
    if (t) this.sim.sched.wake(t);
  }
}

/** struct completion: `done` counts completions not yet consumed. */
export class Completion implements Snapshottable {
  done = 0;
  readonly #list: WaitList;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { list: this.#list };
  }
  constructor(
    private readonly sim: Sim,
    readonly name: string,
  ) {
    this.#list = new WaitList(`completion:${name}`, true);
  }

  /** complete(): lets one waiter (present or future) through. */
  complete(): void {
    if (this.done !== Infinity) this.done++;
    const t = this.#list.shift();
    if (t) this.sim.sched.wake(t);
  }

  /** complete_all(): lets every waiter through, now and later (until reinit). */
  completeAll(): void {
    this.done = Infinity;
    for (const t of this.#list.drain()) this.sim.sched.wake(t);
  }

  /** wait_for_completion() */
  *wait(): Sleeps {
    while (this.done === 0) yield { kind: "block", list: this.#list };
    if (this.done !== Infinity) this.done--;
  }

  /** reinit_completion() */
  reinit(): void {
    this.done = 0;
  }
}
