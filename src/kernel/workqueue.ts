/**
 * Delayed work — kernel/workqueue.c (struct delayed_work), as far as ordering is concerned.
 *
 * A work item is queued at most once: WORK_STRUCT_PENDING is set from queueing until its function
 * starts. schedule_delayed_work() of a pending item does nothing; mod_delayed_work() moves its timer
 * (try_to_grab_pending() takes it back even when the timer has already fired and the item waits on the
 * worklist). An item queued again while its function runs is pending again, and runs once more after
 * it: a work item never runs beside itself on one workqueue.
 *
 * The function runs in a kworker task spawned when the idle item is first queued; the timer is that
 * task's sleep, moved with the scheduler's retime(), so a re-armed timer costs no scheduling point a
 * real system does not have. The task ends when the item is idle again.
 */
import { sleep, type Sleeps, type Task, elapse } from "../sim/scheduler.ts";
import type { Sim } from "../sim/sim.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

export class DelayedWork implements Snapshottable {
  /** WORK_STRUCT_PENDING: queued (its timer armed, or fired), its function not yet started. */
  #pending = false;
  /** Its function is running (in #worker). */
  #running = false;
  /** When the armed timer fires, virtual ns. */
  #at = 0;
  /** The kworker task that runs the item, while it is pending or running. */
  #worker: Task | null = null;

  constructor(
    private readonly sim: Sim,
    /** The kworker task's name. */
    readonly name: string,
    private readonly fn: () => Sleeps,
  ) {}

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#pending = saved.pending as boolean;
      this.#running = saved.running as boolean;
      this.#at = saved.at as number;
      this.#worker = saved.worker as Task | null;
    }
    return { pending: this.#pending, running: this.#running, at: this.#at, worker: this.#worker };
  }

  /** work_busy(): pending or running. */
  get busy(): boolean {
    return this.#pending || this.#running;
  }

  /** schedule_delayed_work(): queues the item to run `delayNs` from now, unless it is pending. Whether it queued it. */
  schedule(delayNs: number): boolean {
    if (this.#pending) return false;
    this.#queue(delayNs);
    return true;
  }

  /** mod_delayed_work(): the item runs `delayNs` from now, pending or not. Whether it was pending. */
  mod(delayNs: number): boolean {
    const was = this.#pending;
    this.#queue(delayNs);
    return was;
  }

  #queue(delayNs: number): void {
    const sched = this.sim.sched;
    this.#at = sched.now + delayNs;
    const wasPending = this.#pending;
    this.#pending = true;
    if (this.#worker === null) {
      this.#worker = sched.spawn(this.name, () => this.#work());
      // The kworker first runs when the timer fires: queueing arms a timer, no thread runs meanwhile.
      sched.retime(this.#worker, this.#at);
    } else if (wasPending && !this.#running) {
      // Its timer, armed or fired: moved (the worker waits in it, or to run).
      sched.retime(this.#worker, this.#at);
    }
    // Running: the worker runs the item again once it returns, from #at.
  }

  *#work(): Sleeps {
    const sched = this.sim.sched;
    while (this.#pending) {
      if (this.#at > sched.now && !elapse(this.#at - sched.now)) yield sleep(this.#at - sched.now);
      this.#pending = false;
      this.#running = true;
      yield* this.fn();
      this.#running = false;
    }
    this.#worker = null;
  }
}
