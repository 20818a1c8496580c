/**
 * struct mutex — kernel/locking/mutex.c, as far as ordering is concerned.
 *
 * Taking the mutex is a scheduling point. On unlock the longest waiter is woken and must retry, so a
 * task arriving meanwhile may take the lock first (the kernel's optimistic spinning allows that too;
 * we model no strict hand-off). Unlocking a mutex the task does not hold is the kernel's
 * DEBUG_LOCKS_WARN_ON, reported as a `kernel-warn` finding.
 */
import { fail } from "./assert.ts";
import { elapse, preempt, WaitList, type Sleeps, type Task } from "./scheduler.ts";
import type { Sim } from "./sim.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

export class Mutex implements Snapshottable {
  owner: Task | null = null;
  readonly #waiters: WaitList;
  /** Times a task found the mutex held and slept. */
  contended = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { waiters: this.#waiters };
  }
  constructor(
    private readonly sim: Sim,
    readonly name: string,
  ) {
    this.#waiters = new WaitList(`mutex:${name}`, true);
  }

  /** mutex_lock(): might sleep. */
  *lock(): Sleeps {
    const me = this.sim.sched.current;
    if (!me) fail(`mutex_lock(${this.name}) outside a task`);
    if (!elapse(0)) yield preempt();
    while (this.owner !== null) {
      if (this.owner === me) fail(`mutex_lock(${this.name}) recursion by ${me.name}`);
      this.contended++;
      yield { kind: "block", list: this.#waiters };
    }
    this.owner = me;
  }

  /** mutex_trylock(): 1 if taken, 0 if held by someone else. */
  trylock(): boolean {
    const me = this.sim.sched.current;
    if (!me) fail(`mutex_trylock(${this.name}) outside a task`);
    if (this.owner !== null) return false;
    this.owner = me;
    return true;
  }

  /** mutex_unlock(). */
  unlock(): void {
    const me = this.sim.sched.current;
    if (this.owner !== me) {
      this.sim.kernelWarn(
        "WARN",
        `DEBUG_LOCKS_WARN_ON(__owner_task(owner) != current) on mutex ${this.name}`,
      );
      return;
    }
    this.owner = null;
    const w = this.#waiters.shift();
    if (w) this.sim.sched.wake(w);
  }

  /**
   * mutex_unlock() in code that can sleep, followed by a preemption point: right after a release
   * another CPU may take the lock, or this task be preempted (CONFIG_PREEMPT), before its next line.
   * Every unlock in a task uses this, so the explorer can reach every interleaving around a lock.
   */
  *unlockPreempt(): Sleeps {
    this.unlock();
    if (this.sim.sched.current && !elapse(0)) yield preempt();
  }

  isLocked(): boolean {
    return this.owner !== null;
  }
}
