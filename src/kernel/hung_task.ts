/**
 * khungtaskd — kernel/hung_task.c: every `hung_task_timeout_secs` it looks at each task sleeping in
 * TASK_UNINTERRUPTIBLE (D state). A task whose context-switch count changed since the last check is
 * fine (its last switch time moves to now); one that has not run since and whose last switch is at
 * least the timeout ago is reported — "INFO: task NAME:PID blocked for more than N seconds." — at
 * every check, while the report budget lasts (hung_task_warnings, default 10). The finding is
 * `hung-task`.
 *
 * A run whose every task is blocked ends at once in the scheduler (nothing could wake them); the
 * machine would idle with khungtaskd still checking, so `idleChecks()` plays its checks forward over
 * that idle time, until each blocked task has been reported once (or the run's `until`).
 */
import { sleep, type Sleeps, type Task, elapse } from "../sim/scheduler.ts";
import type { Sim } from "../sim/sim.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

/** CONFIG_DEFAULT_HUNG_TASK_TIMEOUT */
export const DEFAULT_HUNG_TASK_TIMEOUT_SECS = 120;
/** sysctl_hung_task_warnings' default. */
export const HUNG_TASK_WARNINGS = 10;

const NS_PER_S = 1_000_000_000;

export class HungTaskDetector implements Snapshottable {
  readonly timeoutNs: number;
  /** Reports left (sysctl_hung_task_warnings). */
  warnings = HUNG_TASK_WARNINGS;
  /** Time of the last check. */
  lastCheckNs = 0;
  /** Per task: its switch count and the time khungtaskd last saw it change. */
  readonly #seen = new Map<Task, { runs: number; switchNs: number; reported: boolean }>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { seen: this.#seen };
  }

  constructor(
    private readonly sim: Sim,
    readonly timeoutSecs: number,
  ) {
    this.timeoutNs = timeoutSecs * NS_PER_S;
  }

  /** check_hung_uninterruptible_tasks() at virtual time `now`. */
  check(now: number): void {
    this.lastCheckNs = now;
    for (const t of this.sim.sched.blockedTasks()) {
      if (!t.blockedOn?.uninterruptible) continue;
      const s = this.#seen.get(t);
      if (!s || s.runs !== t.runs) {
        this.#seen.set(t, { runs: t.runs, switchNs: now, reported: s?.reported ?? false });
        continue;
      }
      if (now < s.switchNs + this.timeoutNs || this.warnings <= 0) continue;
      this.warnings--;
      s.reported = true;
      const secs = Math.floor((now - s.switchNs) / NS_PER_S);
      this.sim.findings.report(
        "hung-task",
        `INFO: task ${t.name}:${t.id} blocked for more than ${secs} seconds.`,
        {
          task: t.name,
          waitingOn: t.blockedOn.name,
          blockedSinceNs: t.blockedSince,
          t: now,
        },
      );
    }
  }

  /** The daemon: wakes every timeout (hung_task_check_interval_secs = 0 means the timeout). */
  *watchdog(): Sleeps {
    for (;;) {
      if (!elapse(this.timeoutNs)) yield sleep(this.timeoutNs);
      this.check(this.sim.sched.now);
    }
  }

  /**
   * Every task is blocked and nothing runs: play khungtaskd's checks forward until each uninterruptible
   * sleeper has been reported once, or the next check would pass `untilNs`. Advances the clock to the
   * last check made. Returns the number of checks.
   */
  idleChecks(untilNs = Infinity): number {
    let checks = 0;
    const sched = this.sim.sched;
    const pending = () =>
      sched.blockedTasks().some((t) => t.blockedOn?.uninterruptible && !this.#seen.get(t)?.reported);
    while (this.warnings > 0 && pending()) {
      const next = this.lastCheckNs + this.timeoutNs;
      if (next > untilNs) break;
      sched.now = Math.max(sched.now, next);
      this.check(next);
      checks++;
    }
    return checks;
  }
}

/** Starts khungtaskd on a booted system (nothing with a timeout of 0, as the sysctl disables it). */
export function startKhungtaskd(
  sim: Sim,
  timeoutSecs = DEFAULT_HUNG_TASK_TIMEOUT_SECS,
): HungTaskDetector | null {
  if (timeoutSecs <= 0) return null;
  const d = new HungTaskDetector(sim, timeoutSecs);
  sim.sched.spawn("khungtaskd", () => d.watchdog(), { daemon: true });
  return d;
}
