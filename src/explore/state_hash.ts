/**
 * The state hash the explorer keeps at scheduling points (CHESS's and loom's state caching): two
 * schedules that reach the same hash are taken to continue alike, so a state already seen is not
 * explored again (DFS) and `distinct states` counts the hashes a search met.
 *
 * What it covers, and why that is sound enough:
 * - every live non-daemon task: its id, state, and step count (Task.runs). A task is a sequential
 *   program whose path depends only on what it reads; its step count is its program position up to
 *   that (tasks that block more, or take another branch, count differently);
 * - when each runnable task may run, relative to now (the window decides who is a candidate next),
 *   and the wait list each blocked task sleeps on (mutexes, wait queues, completions by name);
 * - the candidates offered at this point, in order (what a choice index means);
 * - the model's key counters: findings per invariant, the protected-memory pool's lends, reclaims and
 *   bytes lent, FF-A calls per function and rejections, access faults, faults injected.
 * Not covered: absolute virtual time (interleavings that reach the same state at different times are
 * merged: only daemons — speculation, khungtaskd — read it, and they run at their own times), and
 * model state no counter reflects (which pages a buffer got). Two schedules that differ only there
 * are merged: a bug that needs such a difference to show can be missed by DFS's pruning, never
 * reported falsely (every reported violation is a real run, replayed).
 *
 * 53 bits (two FNV-1a lanes), kept as a JS number for a cheap Set.
 */
import type { System } from "../scenario/system.ts";
import type { Task } from "../sim/scheduler.ts";

const STATE_CODE = { runnable: 1, blocked: 2, done: 3 } as const;

/** Two 32-bit FNV-1a lanes, seeded apart. */
class Fnv2 {
  a = 0x811c9dc5;
  b = 0x01000193 ^ 0x5bd1e995;
  num(n: number): void {
    const lo = n | 0;
    const hi = (n / 0x100000000) | 0;
    this.a = Math.imul(this.a ^ lo, 0x01000193);
    this.b = Math.imul(this.b ^ hi ^ lo, 0x01000193) ^ (this.a >>> 15);
    this.a = Math.imul(this.a ^ hi, 0x01000193);
  }
  str(s: string): void {
    for (let i = 0; i < s.length; i++) this.num(s.charCodeAt(i));
    this.num(s.length);
  }
  value(): number {
    return (this.a >>> 0) * 0x200000 + (this.b >>> 11);
  }
}

export function stateHash(system: System, candidates: readonly Task[]): number {
  const { sim, machine, spmc } = system;
  const h = new Fnv2();
  const now = sim.sched.now;
  for (const t of sim.sched.tasks) {
    if (t.daemon || t.state === "done") continue;
    h.num(t.id);
    h.num(STATE_CODE[t.state]);
    h.num(t.runs);
    if (t.state === "runnable") h.num(Math.max(0, t.readyAt - now));
    else if (t.blockedOn) h.str(t.blockedOn.name);
  }
  h.num(-1);
  for (const c of candidates) h.num(c.id);
  h.num(-2);
  for (const [id, n] of Object.entries(sim.findings.counts())) {
    h.str(id);
    h.num(n);
  }
  const pool = system.kernel.optee?.protmemPool as
    { stats?: { lends: number; reclaims: number; lentBytes: number } } | null | undefined;
  if (pool?.stats) {
    h.num(pool.stats.lends);
    h.num(pool.stats.reclaims);
    h.num(pool.stats.lentBytes);
  }
  for (const [fid, n] of spmc.calls) {
    h.num(fid);
    h.num(n);
  }
  h.num(spmc.rejections.size);
  h.num(machine.stats.faults);
  h.num(sim.faults.struck.length);
  return h.value();
}
