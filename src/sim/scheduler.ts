/**
 * Tasks and the scheduler (ARCHITECTURE.md §2).
 *
 * A task is a generator: each `yield` is a scheduling point (sleep, block on a wait list, or a bare
 * preemption point), and code that can sleep is itself a generator called with `yield*`. The scheduler
 * asks a chooser which runnable task goes next, records every real choice (two or more candidates) in
 * a compact schedule string, and a replay chooser plays such a string back exactly.
 */
import { assert, fail } from "./assert.ts";
import { Oops } from "./oops.ts";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** What a task yields to the scheduler. */
export type Op =
  | { readonly kind: "sleep"; readonly ns: number }
  | { readonly kind: "yield" }
  | { readonly kind: "block"; readonly list: WaitList };

/** A computation that can sleep, returning T. */
export type Sleeps<T = void> = Generator<Op, T, unknown>;

const YIELD: Op = { kind: "yield" };

/** Sleep for `ns` of virtual time (a task's work takes time this way too). */
export function sleep(ns: number): Op {
  // The message is built only when the check fails: sleep() runs on every modelled cost.
  if (!(Number.isFinite(ns) && ns >= 0)) assert(false, `sleep of ${ns} ns`);
  return { kind: "sleep", ns: Math.round(ns) };
}

/** The scheduler whose run() is on the stack (run() is synchronous): elapse() asks it. */
let running: Scheduler | null = null;

/**
 * A scheduling point taken without a switch when it cannot be one (Scheduler.elapse()): true, and the
 * current task goes on `ns` later; false, and the caller yields as ever. Every modelled cost sleeps so:
 *   if (!elapse(ns)) yield sleep(ns);      if (!elapse(0)) yield preempt();
 */
export function elapse(ns: number): boolean {
  return running !== null && running.elapse(ns);
}

/**
 * Runs a call chain to its end outside the scheduler, ignoring its sleeps: boot-time calls, before any
 * task (they must not block), and the FF-A fuzz rigs' calls. No scheduler counts as running meanwhile,
 * so elapse() leaves a task's time alone if one is current.
 */
export function drainSync<T>(gen: Sleeps<T>, what: string): T {
  const outer = running;
  running = null;
  try {
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
      if (r.value.kind === "block") throw new Error(`${what} blocked`);
    }
  } finally {
    running = outer;
  }
}

/** A preemption point: the task stays runnable, another may run first. */
export function preempt(): Op {
  return YIELD;
}

export type TaskState = "runnable" | "blocked" | "done";

export class Task {
  /** The generator the task runs; a restored snapshot starts it again from `body`. */
  gen: Generator<Op, unknown, unknown>;
  state: TaskState = "runnable";
  /** Virtual time at which the task may run next. */
  readyAt = 0;
  /** FIFO order among tasks ready at the same time: when it last became runnable. */
  seq = 0;
  result: unknown = undefined;
  /** Tasks waiting for this one to finish. */
  readonly exited: WaitList;
  /** Times the task has run (a context switch each): khungtaskd compares it across its checks. */
  runs = 0;
  /** Virtual time the task last blocked. */
  blockedSince = 0;
  /** The wait list it is blocked on, while blocked. */
  blockedOn: WaitList | null = null;
  /** Why the task was ended from outside (an oops, the run's `until`), or null. */
  killedBy: string | null = null;
  /** fatal_signal_pending(): a SIGKILL is pending (sim/faults.ts `kill`); killable waits give up. */
  fatalSignal = false;

  constructor(
    readonly id: number,
    readonly name: string,
    readonly body: () => Generator<Op, unknown, unknown>,
    /**
     * A daemon (a device, the speculation engine, khungtaskd) does not keep the run alive, and runs at
     * its own times: the scheduler never offers it to a chooser (so explored schedules, PCT's n and k,
     * and DFS's branching count only the scenario's tasks).
     */
    readonly daemon: boolean,
  ) {
    this.gen = body();
    this.exited = new WaitList(`exit:${name}`);
  }
}

/** Tasks blocked on something, woken in FIFO order. The base of every sync primitive. */
export class WaitList implements Snapshottable {
  #tasks: Task[] = [];
  constructor(
    readonly name: string,
    /**
     * A sleep in TASK_UNINTERRUPTIBLE (D state): mutex_lock(), wait_event(), wait_for_completion().
     * Only such sleepers are what khungtaskd reports (kernel/hung_task.c).
     */
    readonly uninterruptible = false,
  ) {}

  get length(): number {
    return this.#tasks.length;
  }

  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) this.#tasks = saved.tasks as Task[];
    return { tasks: this.#tasks };
  }

  add(t: Task): void {
    this.#tasks.push(t);
  }

  /** Removes and returns the longest waiter (killed tasks are dropped). */
  shift(): Task | undefined {
    let t = this.#tasks.shift();
    while (t && t.state === "done") t = this.#tasks.shift();
    return t;
  }

  /** Takes one task off the list (a timer that fires instead of a wake-up); whether it was there. */
  remove(t: Task): boolean {
    const k = this.#tasks.indexOf(t);
    if (k < 0) return false;
    this.#tasks.splice(k, 1);
    return true;
  }

  /** Removes and returns every live waiter, oldest first. */
  drain(): Task[] {
    const all = this.#tasks.filter((t) => t.state !== "done");
    this.#tasks = [];
    return all;
  }
}

/** Picks the next task among candidates sorted by (readyAt, seq). Returns an index. */
export interface Chooser {
  readonly name: string;
  /** Candidates are the runnable tasks with readyAt ≤ earliest + windowNs. */
  readonly windowNs: number;
  /** `candidates` is the scheduler's own array, valid for this call only: copy what you keep. */
  choose(candidates: readonly Task[], now: number): number;
}

/** Earliest virtual time, then FIFO: always the first candidate. */
export const defaultChooser: Chooser = { name: "default", windowNs: 0, choose: () => 0 };

/** Plays a recorded schedule back (with the window it was recorded with); fails loudly if the run diverges. */
export function replayChooser(schedule: string): Chooser {
  const { windowNs, choices } = parseSchedule(schedule);
  let i = 0;
  return {
    name: "replay",
    windowNs,
    choose(candidates) {
      if (i >= choices.length) return 0; // past the recording: the default
      const c = choices[i++];
      if (c >= candidates.length) {
        throw new ScheduleDivergence(
          `choice ${i - 1} is ${c} but only ${candidates.length} tasks are runnable`,
        );
      }
      return c;
    },
  };
}

export class ScheduleDivergence extends Error {
  override name = "ScheduleDivergence";
}

const BASE36: readonly string[] = Array.from({ length: 36 }, (_, i) => i.toString(36));

/** Encodes choices as comma-separated base-36 numbers, with runs written `v*n`: "0*12,1,0*3". */
export function encodeSchedule(choices: readonly number[]): string {
  // Built by concatenation, digits from a table: the explorer encodes every run's schedule.
  let out = "";
  for (let i = 0; i < choices.length;) {
    const c = choices[i];
    let j = i + 1;
    while (j < choices.length && choices[j] === c) j++;
    const v = BASE36[c] ?? c.toString(36);
    const n = j - i;
    if (i > 0) out += ",";
    out += n >= 3 ? `${v}*${n}` : n === 2 ? `${v},${v}` : v;
    i = j;
  }
  return out;
}

/** A schedule string is `w<window-ns>:` (when the window is not 0) followed by the encoded choices. */
export function parseSchedule(text: string): { windowNs: number; choices: number[] } {
  const m = /^\s*w(\d+):(.*)$/s.exec(text);
  return m
    ? { windowNs: parseInt(m[1], 10), choices: decodeSchedule(m[2]) }
    : { windowNs: 0, choices: decodeSchedule(text) };
}

/**
 * Choices a schedule may hold (its runs expanded): far more than any run makes (a ten-minute default
 * run makes a few hundred thousand), and a bound on what a hand-edited `0*999999999` would allocate.
 */
export const MAX_SCHEDULE_CHOICES = 50_000_000;

export function decodeSchedule(text: string): number[] {
  const out: number[] = [];
  const trimmed = text.trim();
  if (trimmed === "") return out;
  for (const part of trimmed.split(",")) {
    const m = /^([0-9a-z]+)(?:\*(\d+))?$/.exec(part);
    if (!m) throw new ScheduleDivergence(`bad schedule token "${part}"`);
    const v = parseInt(m[1], 36);
    const n = m[2] === undefined ? 1 : parseInt(m[2], 10);
    if (out.length + n > MAX_SCHEDULE_CHOICES)
      throw new ScheduleDivergence(`schedule of more than ${MAX_SCHEDULE_CHOICES} choices (at "${part}")`);
    for (let k = 0; k < n; k++) out.push(v);
  }
  return out;
}

/** Why `run` returned. */
export type RunEnd =
  | "done" // every non-daemon task finished
  | "until" // virtual time reached the limit
  | "deadlock" // non-daemon tasks remain, all blocked
  | "stopped" // someone called stop() (e.g. the machine hung)
  | "paused"; // the step budget of this call ran out; call run again

/**
 * A binary min-heap of runnable tasks ordered by (readyAt, seq). Its length is its own (`n`), not the
 * array's: V8 trims an array's store when pop() leaves it less than half full and allocates a new one
 * on the next push, and the heap empties and refills at almost every step.
 */
class ReadyHeap {
  readonly items: Task[] = [];
  n = 0;

  get size(): number {
    return this.n;
  }

  peek(): Task | undefined {
    return this.n > 0 ? this.items[0] : undefined;
  }

  static less(a: Task, b: Task): boolean {
    return a.readyAt < b.readyAt || (a.readyAt === b.readyAt && a.seq < b.seq);
  }

  push(t: Task): void {
    const k = this.n++;
    if (k < this.items.length) this.items[k] = t;
    else this.items.push(t);
    this.#siftUp(k);
  }

  pop(): Task | undefined {
    const a = this.items;
    if (this.n === 0) return undefined;
    const top = a[0];
    const last = a[--this.n];
    if (this.n > 0) {
      a[0] = last;
      this.#siftDown(0);
    }
    return top;
  }

  /** Takes t out of the heap wherever it is; whether it was there. */
  remove(t: Task): boolean {
    const a = this.items;
    let k = -1;
    for (let i = 0; i < this.n; i++)
      if (a[i] === t) {
        k = i;
        break;
      }
    if (k < 0) return false;
    const last = a[--this.n];
    if (k < this.n) {
      a[k] = last;
      if (this.#siftUp(k) === k) this.#siftDown(k);
    }
    return true;
  }

  /** Moves the item at `from` up while it is less than its parent; returns where it ends. */
  #siftUp(from: number): number {
    const a = this.items;
    let i = from;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!ReadyHeap.less(a[i], a[p])) break;
      const x = a[i];
      a[i] = a[p];
      a[p] = x;
      i = p;
    }
    return i;
  }

  #siftDown(from: number): void {
    const a = this.items;
    const n = this.n;
    let i = from;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && ReadyHeap.less(a[l], a[m])) m = l;
      if (r < n && ReadyHeap.less(a[r], a[m])) m = r;
      if (m === i) break;
      const x = a[i];
      a[i] = a[m];
      a[m] = x;
      i = m;
    }
  }
}

export class Scheduler implements Snapshottable {
  /** Virtual time in integer nanoseconds. */
  now = 0;
  current: Task | null = null;
  /** Task switches so far (a step of one task = one switch). */
  switches = 0;

  readonly #heap = new ReadyHeap();
  readonly #choices: number[] = [];
  readonly #tasks: Task[] = [];
  #nextId = 0;
  #seq = 0;
  #liveNonDaemon = 0;
  /** Live non-daemon tasks that are blocked: when it equals #liveNonDaemon only daemons can run. */
  #blockedNonDaemon = 0;
  #stopReason: string | null = null;
  /** The running run() call's limit and step budget (elapse() stands in for its loop). */
  #until = Infinity;
  #budget = Infinity;
  /** The task whose scheduling point elapse() showed onSchedPoint without taking it (#step skips it). */
  #hookSaw: Task | null = null;
  /**
   * Scratch list of #pick, never shrunk: setting an array's length to 0 drops its store, and the next
   * push allocates one (at every scheduling point). The candidates are offered to the chooser in an
   * array of their exact length, one kept per length.
   */
  readonly #candidates: Task[] = [];
  readonly #offered: Task[][] = [];
  /** Called when an oops kills a task (the task is already dead). */
  onOops: ((t: Task, oops: Oops) => void) | null = null;
  /**
   * Whether elapse() may take a scheduling point without a switch. False: every point yields (the
   * reference elapse() is tested against, and a way to rule it out when a run looks wrong).
   */
  inlinePoints = true;
  /** Called after each step that ended at a scheduling point (the task yielded): fault injection's `kill`. */
  onSchedPoint: ((t: Task) => void) | null = null;
  /**
   * Called whenever virtual time moves forward (#advance(): the run loop, up to the run's limit, or a
   * sleep elapse() takes in place), with the old time and the new: nothing runs in between, so the state
   * now is the state all along. A windowed run's timeline samples there (scenario/timeline.ts). A reader
   * only.
   */
  onTimeAdvance: ((from: number, to: number) => void) | null = null;

  constructor(private chooser: Chooser = defaultChooser) {}

  setChooser(c: Chooser): void {
    this.chooser = c;
  }

  /**
   * Snapshot support: the scheduler's private state. Tasks that exist at a snapshot must not have
   * started (a generator cannot be copied); on restore each is started again from its body.
   */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextId = saved.nextId as number;
      this.#seq = saved.seq as number;
      this.#liveNonDaemon = saved.liveNonDaemon as number;
      this.#blockedNonDaemon = saved.blockedNonDaemon as number;
      this.#stopReason = saved.stopReason as string | null;
      this.#hookSaw = null;
      this.#heap.n = saved.heapLength as number;
      for (const t of this.#tasks) t.gen = t.body();
    } else {
      for (const t of this.#tasks)
        if (t.runs !== 0) fail(`snapshot with task ${t.name} started: its generator cannot be copied`);
    }
    return {
      heap: this.#heap.items,
      heapLength: this.#heap.n,
      choices: this.#choices,
      tasks: this.#tasks,
      nextId: this.#nextId,
      seq: this.#seq,
      liveNonDaemon: this.#liveNonDaemon,
      blockedNonDaemon: this.#blockedNonDaemon,
      stopReason: this.#stopReason,
    };
  }

  /** Starts a task; it first runs at the current virtual time. */
  spawn(name: string, body: () => Generator<Op, unknown, unknown>, opts: { daemon?: boolean } = {}): Task {
    const t = new Task(this.#nextId++, name, body, opts.daemon ?? false);
    this.#tasks.push(t);
    if (!t.daemon) this.#liveNonDaemon++;
    this.#makeRunnable(t);
    return t;
  }

  get tasks(): readonly Task[] {
    return this.#tasks;
  }

  /** The recorded choices, replayable with replayChooser. */
  schedule(): string {
    const w = this.chooser.windowNs;
    return (w > 0 ? `w${w}:` : "") + encodeSchedule(this.#choices);
  }

  /** Makes a blocked task runnable now (wait-list primitives call this). A killed task stays dead. */
  wake(t: Task): void {
    if (t.state === "done") return;
    if (t.state !== "blocked") assert(false, `wake of ${t.name} in state ${t.state}`);
    if (!t.daemon) this.#blockedNonDaemon--;
    t.blockedOn = null;
    this.#makeRunnable(t);
  }

  /**
   * Re-arms a task's timer: it next runs at `atNs` (≥ now) instead of when its sleep ends, or (a daemon)
   * instead of staying blocked. A hardware model that computes when its next event is due uses this when
   * what it depends on changes, and mod_delayed_work() to move a pending work's timer
   * (kernel/workqueue.ts). The task's own run (it is current) re-arms itself and is left alone.
   */
  retime(t: Task, atNs: number): void {
    if (t.state === "done" || t === this.current) return;
    if (t.state === "blocked") {
      // A blocked task waits for a wake-up, not a time: only a daemon's wait doubles as its timer.
      if (!t.daemon) fail(`retime of ${t.name}, which is blocked, not sleeping`);
      t.blockedOn?.remove(t);
      t.blockedOn = null;
    } else if (!this.#heap.remove(t)) return;
    t.state = "runnable";
    t.readyAt = Math.max(atNs, this.now);
    t.seq = this.#seq++;
    this.#heap.push(t);
  }

  /** Ends a task where it stands (an oops, or the run's `until` cut it short); it never runs again. */
  kill(t: Task, why = "killed"): void {
    if (t.state === "done") return;
    if (t.state === "blocked" && !t.daemon) this.#blockedNonDaemon--;
    t.state = "done";
    t.killedBy = why;
    if (!t.daemon) this.#liveNonDaemon--;
    for (const w of t.exited.drain()) this.wake(w);
  }

  /** Live non-daemon tasks blocked on something (khungtaskd's candidates, among others). */
  blockedTasks(): Task[] {
    return this.#tasks.filter((t) => t.state === "blocked");
  }

  /** Ends the run at the next scheduling point. */
  stop(reason: string): void {
    this.#stopReason = reason;
  }

  get stopReason(): string | null {
    return this.#stopReason;
  }

  /** Waits for a task to finish and returns its result. */
  *join(t: Task): Sleeps<unknown> {
    while (t.state !== "done") yield { kind: "block", list: t.exited };
    return t.result;
  }

  #makeRunnable(t: Task): void {
    t.state = "runnable";
    t.readyAt = Math.max(t.readyAt, this.now);
    t.seq = this.#seq++;
    this.#heap.push(t);
  }

  /**
   * Where the chooser's window ends for a first candidate ready at `readyAt`: tasks ready by then may
   * be chosen instead. It never reaches past the run's limit; the default chooser has none.
   */
  #windowEnd(readyAt: number, until: number): number {
    return this.chooser === defaultChooser ? readyAt : Math.min(readyAt + this.chooser.windowNs, until);
  }

  /** Virtual time is now `to`: onTimeAdvance hears of every move forward (every move of time is here). */
  #advance(to: number): void {
    if (to > this.now) this.onTimeAdvance?.(this.now, to);
    this.now = to;
  }

  #pick(until: number): Task {
    const heap = this.#heap;
    // The earliest ready (the loop dropped killed ones off the top).
    const first = heap.peek()!;
    // A daemon runs at its own time: it is never a choice, and never offered to a chooser.
    if (first.daemon) return heap.pop()!;
    const byDefault = this.chooser === defaultChooser;
    const limit = this.#windowEnd(first.readyAt, until);
    // The other candidates are read off the heap's array (a handful of tasks), not popped and pushed
    // back: the live scenario tasks ready within the window, put in (readyAt, seq) order behind the
    // first, which is the least of all. Killed ones stay where they are, for the loop to drop.
    const items = heap.items;
    const scratch = this.#candidates;
    let n = 1;
    scratch[0] = first;
    for (let j = 1; j < heap.n; j++) {
      const c = items[j];
      if (c.readyAt > limit || c.daemon || c.state === "done") continue;
      let k = n++;
      while (k > 1 && ReadyHeap.less(c, scratch[k - 1])) {
        scratch[k] = scratch[k - 1];
        k--;
      }
      scratch[k] = c;
    }
    if (n === 1) return heap.pop()!;
    let candidates = this.#offered[n];
    if (candidates === undefined) {
      candidates = [];
      this.#offered[n] = candidates;
    }
    for (let k = 0; k < n; k++) candidates[k] = scratch[k];
    const i = byDefault ? 0 : this.chooser.choose(candidates, this.now);
    if (!(Number.isInteger(i) && i >= 0 && i < n)) fail(`chooser ${this.chooser.name} chose ${i}`);
    this.#choices.push(i);
    const chosen = candidates[i];
    if (i === 0) heap.pop();
    else heap.remove(chosen);
    return chosen;
  }

  /**
   * Runs tasks until every non-daemon task is done, virtual time passes `untilNs`, nothing can run,
   * stop() is called, or `maxSteps` steps have run ("paused").
   */
  run(opts: { untilNs?: number; maxSteps?: number } = {}): RunEnd {
    const outer = running;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the one module-level reference elapse() reads
    running = this;
    try {
      return this.#loop(opts.untilNs ?? Infinity, opts.maxSteps ?? Infinity);
    } finally {
      running = outer;
    }
  }

  #loop(until: number, maxSteps: number): RunEnd {
    this.#until = until;
    this.#budget = maxSteps;
    for (;;) {
      if (this.#stopReason !== null) return "stopped";
      if (this.#liveNonDaemon === 0) return "done";
      const top = this.#heap.peek();
      // Only daemons could run: nothing will ever wake the blocked tasks (no daemon completes a
      // task's wait in this model), so running the daemons on would only spin.
      if (!top || this.#blockedNonDaemon === this.#liveNonDaemon) return "deadlock";
      if (top.readyAt > until) {
        this.#advance(until);
        return "until";
      }
      if (top.state === "done") {
        this.#heap.pop(); // killed while runnable
        continue;
      }
      if (this.#budget-- <= 0) return "paused";
      const t = this.#pick(until);
      if (t.readyAt > this.now) this.#advance(t.readyAt);
      this.#step(t);
    }
  }

  /**
   * The current task's scheduling point, taken without a switch when it cannot be one: the task sleeps
   * `ns` (0: a bare preemption point) and, that long from now, would be the next to run with no choice
   * to make — no other task ready by then, no other scenario task inside the chooser's window, the run
   * not ending. The fault hook (onSchedPoint) is called here first, once, as the loop would call it.
   * Then this does what the loop would (time, the FIFO stamp, the switch and step counts) and returns
   * true: the caller goes on instead of yielding, and its generators are not unwound and resumed for
   * nothing. False: `yield sleep(ns)` (or preempt()) as ever. Outcomes, schedules and state hashes are
   * the same either way (test/sim/elapse.test.ts). Models call it through the module's elapse():
   *   if (!elapse(ns)) yield sleep(ns);
   */
  elapse(ns: number): boolean {
    const t = this.current;
    // Only while this scheduler's run() is on the stack (a drain outside it leaves time alone).
    if (running !== this || t === null || !this.inlinePoints) return false;
    const at = this.now + Math.round(ns);
    if (!(at <= this.#until) || this.#budget <= 1) return false;
    const hook = this.onSchedPoint;
    if (hook !== null) {
      // The hook sees this point here, as #step would show it (no task current), and only here:
      // #step skips it at this task's next yield when the point is not taken after all.
      this.current = null;
      hook(t);
      this.current = t;
      this.#hookSaw = t;
    }
    if (this.#stopReason !== null) return false;
    // The run loop's own ends: nothing left but daemons, or only daemons could run.
    if (this.#liveNonDaemon === 0 || this.#blockedNonDaemon === this.#liveNonDaemon) return false;
    // A daemon is never a choice: only a task ready by then would go first.
    const limit = t.daemon ? at : this.#windowEnd(at, this.#until);
    const heap = this.#heap;
    const items = heap.items;
    for (let i = 0; i < heap.n; i++) {
      const o = items[i];
      // A killed one is dropped by the loop when it comes up.
      if (o.state === "done") continue;
      // Ready by then: it would run first.
      if (o.readyAt <= at) return false;
      // A candidate beside this task: a choice.
      if (o.readyAt <= limit && !o.daemon) return false;
    }
    this.#hookSaw = null;
    t.readyAt = at;
    t.seq = this.#seq++;
    // The task sleeps in place until `at`, and nothing else runs meanwhile: time moves on as in the loop.
    this.#advance(at);
    this.#budget--;
    this.switches++;
    t.runs++;
    return true;
  }

  #step(t: Task): void {
    this.current = t;
    this.switches++;
    t.runs++;
    let r: IteratorResult<Op, unknown>;
    try {
      r = t.gen.next();
    } catch (e) {
      this.current = null;
      if (e instanceof Oops) {
        // make_task_dead(): the task ends here, with whatever it holds still held.
        this.kill(t, e.message);
        this.onOops?.(t, e);
        return;
      }
      if (e instanceof Error) e.message = `in task ${t.name}: ${e.message}`;
      throw e;
    }
    this.current = null;
    if (r.done) {
      t.state = "done";
      t.result = r.value;
      if (!t.daemon) this.#liveNonDaemon--;
      for (const w of t.exited.drain()) this.wake(w);
      return;
    }
    const op = r.value;
    if (this.#hookSaw === t) this.#hookSaw = null;
    else this.onSchedPoint?.(t);
    switch (op.kind) {
      case "yield":
        this.#makeRunnable(t);
        break;
      case "sleep":
        t.readyAt = this.now + op.ns;
        this.#makeRunnable(t);
        break;
      case "block":
        t.state = "blocked";
        t.blockedSince = this.now;
        t.blockedOn = op.list;
        if (!t.daemon) this.#blockedNonDaemon++;
        op.list.add(t);
        break;
    }
  }
}

/** Picks uniformly among the candidates from a seeded stream; `windowNs` widens who may be picked. */
export function randomChooser(next: (n: number) => number, windowNs = 0): Chooser {
  return { name: "random", windowNs, choose: (candidates) => next(candidates.length) };
}
