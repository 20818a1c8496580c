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

/** FNV-1a's offset basis and prime, and a second lane's multiplier (murmur's), for 53 bits in all. */
const BASIS = 0x811c9dc5 | 0;
const PRIME = 0x01000193;
const PRIME_B = 0x5bd1e995;

/**
 * The words a state hash covers, gathered first (one store each) and then mixed in one loop whose
 * two lanes stay in registers: mixing value by value through lanes kept in module variables cost a
 * context load and store per lane per value, at every choice of every run. Grown when a state has
 * more tasks than it holds.
 */
let words = new Int32Array(1 << 10);

/**
 * Mixes words[0, n) into two 32-bit FNV-1a lanes (the second one also takes the first's high bits)
 * and returns them as one 53-bit number, a JS number for a cheap set.
 */
function mix(w: Int32Array, n: number): number {
  let a = BASIS;
  let b = PRIME ^ PRIME_B;
  for (let i = 0; i < n; i++) {
    const x = w[i];
    a = Math.imul(a ^ x, PRIME);
    b = Math.imul(b ^ x, PRIME_B) ^ (a >>> 15);
  }
  return (a >>> 0) * 0x200000 + (b >>> 11);
}

/** The same two lanes over a string's UTF-16 units and its length (distinct schedules by their text). */
export function stringHash(s: string): number {
  let a = BASIS;
  let b = PRIME ^ PRIME_B;
  for (let i = 0; i <= s.length; i++) {
    const x = i < s.length ? s.charCodeAt(i) : s.length;
    a = Math.imul(a ^ x, PRIME);
    b = Math.imul(b ^ x, PRIME_B) ^ (a >>> 15);
  }
  return (a >>> 0) * 0x200000 + (b >>> 11);
}

/** Stores `v` at words[k] — two words (low, high) when it is not a 32-bit integer — and returns the next k. */
function put(w: Int32Array, k: number, v: number): number {
  if ((v | 0) === v) {
    w[k] = v;
    return k + 1;
  }
  w[k] = v | 0;
  w[k + 1] = (v / 0x100000000) | 0;
  return k + 2;
}

export function stateHash(system: System, candidates: readonly Task[]): number {
  const { sim, machine, spmc } = system;
  const now = sim.sched.now;
  const tasks = sim.sched.tasks;
  // At most 4 words a task (id, state, steps, a delay of two words), 1 a candidate, 17 for the rest.
  const need = 4 * tasks.length + candidates.length + 18;
  if (words.length < need) words = new Int32Array(2 * need);
  const w = words;
  let k = 0;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i];
    if (t.daemon || t.state === "done") continue;
    // STATE_CODE's value by comparison (a keyed lookup by the state's name costs more, at every choice).
    const runnable = t.state === "runnable";
    w[k++] = t.id;
    w[k++] = runnable ? STATE_CODE.runnable : STATE_CODE.blocked;
    k = put(w, k, t.runs);
    if (runnable) k = put(w, k, Math.max(0, t.readyAt - now));
    else if (t.blockedOn) w[k++] = stringCode(t.blockedOn.name);
  }
  w[k++] = -1;
  for (let i = 0; i < candidates.length; i++) w[k++] = candidates[i].id;
  w[k++] = -2;
  k = put(w, k, sim.findings.digest());
  const pool = system.kernel.optee?.protmemPool as
    { stats?: { lends: number; reclaims: number; lentBytes: number } } | null | undefined;
  if (pool?.stats) {
    k = put(w, k, pool.stats.lends);
    k = put(w, k, pool.stats.reclaims);
    k = put(w, k, pool.stats.lentBytes);
  }
  k = put(w, k, spmc.callsDigest);
  k = put(w, k, spmc.rejections.size);
  k = put(w, k, machine.stats.faults);
  k = put(w, k, sim.faults.struck.length);
  // Whether an injected fault has struck: the rest of the run is judged otherwise (runner.ts).
  w[k++] = sim.faults.injectedStruck() ? 1 : 0;
  return mix(w, k);
}
