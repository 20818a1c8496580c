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
 *   bytes lent, FF-A calls per function and rejections, access faults, faults injected. Findings and
 *   FF-A calls enter as digests their owners keep as they count (Findings.digest(), Spmc.callsDigest:
 *   sums of a code per id times its count, so two orders of the same counts hash alike).
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
import { stringCode } from "../sim/string_code.ts";

const STATE_CODE = { runnable: 1, blocked: 2, done: 3 } as const;

/**
 * Two 32-bit FNV-1a lanes, seeded apart, in module state: a hash is taken at every scheduling point of
 * every explored run, so it allocates nothing (no hasher object, no entries arrays).
 */
let laneA = 0;
let laneB = 0;

function num(n: number): void {
  // Most values are 32-bit integers (ids, counts, states, delays): one multiply a lane.
  if ((n | 0) === n) {
    laneA = Math.imul(laneA ^ n, 0x01000193);
    laneB = Math.imul(laneB ^ n, 0x5bd1e995) ^ (laneA >>> 15);
    return;
  }
  const lo = n | 0;
  const hi = (n / 0x100000000) | 0;
  laneA = Math.imul(laneA ^ lo, 0x01000193);
  laneB = Math.imul(laneB ^ hi ^ lo, 0x01000193) ^ (laneA >>> 15);
  laneA = Math.imul(laneA ^ hi, 0x01000193);
}

function str(s: string): void {
  for (let i = 0; i < s.length; i++) num(s.charCodeAt(i));
  num(s.length);
}

function reset(): void {
  laneA = 0x811c9dc5;
  laneB = 0x01000193 ^ 0x5bd1e995;
}

/** The lanes' value: 53 bits, a JS number for a cheap set. */
function value(): number {
  return (laneA >>> 0) * 0x200000 + (laneB >>> 11);
}

/** The same two lanes over a string (the explorer counts distinct schedules by their text's hash). */
export function stringHash(s: string): number {
  reset();
  str(s);
  return value();
}

export function stateHash(system: System, candidates: readonly Task[]): number {
  const { sim, machine, spmc } = system;
  reset();
  const now = sim.sched.now;
  const tasks = sim.sched.tasks;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i];
    if (t.daemon || t.state === "done") continue;
    // STATE_CODE's value by comparison (a keyed lookup by the state's name costs more, at every choice).
    const runnable = t.state === "runnable";
    num(t.id);
    num(runnable ? STATE_CODE.runnable : STATE_CODE.blocked);
    num(t.runs);
    if (runnable) num(Math.max(0, t.readyAt - now));
    else if (t.blockedOn) num(stringCode(t.blockedOn.name));
  }
  num(-1);
  for (let i = 0; i < candidates.length; i++) num(candidates[i].id);
  num(-2);
  num(sim.findings.digest());
  const pool = system.kernel.optee?.protmemPool as
    { stats?: { lends: number; reclaims: number; lentBytes: number } } | null | undefined;
  if (pool?.stats) {
    num(pool.stats.lends);
    num(pool.stats.reclaims);
    num(pool.stats.lentBytes);
  }
  num(spmc.callsDigest);
  num(spmc.rejections.size);
  num(machine.stats.faults);
  num(sim.faults.struck.length);
  return value();
}
