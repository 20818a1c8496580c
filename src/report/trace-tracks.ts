/**
 * What both trace files share: the run's tasks grouped into processes and threads with small ids, the
 * spans each task opens and closes (nested per task, whatever the emitters did), and the cap that keeps
 * frequent point events from flooding a ten-minute trace (the first few of a kind are events, the rest
 * a counter).
 *
 * Processes (ecosystem.md §1.1: pid/tid small integers): pid 1 "machine" holds the memory counters,
 * the findings and every task that is not a workload or a step list (the boot, kernel daemons, the
 * CPU's speculation, the end-of-run exits); pid 2 "scenario steps" holds the step lists, one thread
 * each; each workload entry (task `workload:NAME`) is a process of its own. A simulated user process
 * (a player's session) is a slice on its workload's thread, named after it, so its syscalls nest inside.
 */
import type { Layer, TraceEvent } from "../sim/trace.ts";
import { IOCTL_REQUESTS } from "../user/requests.ts";

export const PID_MACHINE = 1;
export const PID_STEPS = 2;

export interface Thread {
  readonly pid: number;
  readonly tid: number;
  /** The task's name as the simulator has it. */
  readonly name: string;
}

export interface Process {
  readonly pid: number;
  readonly name: string;
}

/** The task outside any task (boot, the end of the run): the kernel's idle task. */
export const NO_TASK = "-";

/** Tasks → threads, grouped into processes in order of first appearance (deterministic). */
export class Threads {
  readonly #threads = new Map<string, Thread>();
  readonly #procs = new Map<string, Process>();
  #nextTid = 1;
  #nextPid = PID_STEPS + 1;

  constructor(
    /** Names of the scenario's step lists ("steps" and those under `tasks:`). */
    private readonly stepLists: ReadonlySet<string>,
    machineName: string,
  ) {
    this.#procs.set("\0machine", { pid: PID_MACHINE, name: machineName });
  }

  of(task: string): Thread {
    let t = this.#threads.get(task);
    if (t) return t;
    let pid = PID_MACHINE;
    if (this.stepLists.has(task)) pid = this.#proc("\0steps", "scenario steps", PID_STEPS).pid;
    else if (task.startsWith("workload:")) pid = this.#proc(task, task.slice("workload:".length)).pid;
    t = { pid, tid: this.#nextTid++, name: task === NO_TASK ? "boot and end of run" : task };
    this.#threads.set(task, t);
    return t;
  }

  #proc(key: string, name: string, pid?: number): Process {
    let p = this.#procs.get(key);
    if (!p) {
      p = { pid: pid ?? this.#nextPid++, name };
      this.#procs.set(key, p);
    }
    return p;
  }

  threads(): Thread[] {
    return [...this.#threads.values()];
  }

  processes(): Process[] {
    return [...this.#procs.values()].sort((a, b) => a.pid - b.pid);
  }
}

/** One open span on a task. */
export interface OpenSpan {
  readonly layer: Layer;
  readonly name: string;
  readonly t: number;
  readonly args: Record<string, unknown>;
}

/** A span that ended: its begin, its end time and the end event's args (null when the run ended it). */
export interface ClosedSpan extends OpenSpan {
  readonly end: number;
  readonly endArgs: Readonly<Record<string, unknown>> | null;
}

/**
 * The open spans of every task. An end closes the innermost open span of the same layer and name,
 * closing the spans inside it first (ended where it ends, marked unfinished): what reaches the file
 * nests on every thread, even when an oops cut a task short or an emitter forgot an end.
 */
export class Spans {
  readonly #open = new Map<string, OpenSpan[]>();

  begin(e: TraceEvent, args: Record<string, unknown>): void {
    let s = this.#open.get(e.task);
    if (!s) this.#open.set(e.task, (s = []));
    s.push({ layer: e.layer, name: e.name, t: e.t, args });
  }

  /** The spans `e` closes, innermost first; none when no open span matches (a stray end). */
  end(e: TraceEvent): ClosedSpan[] {
    const s = this.#open.get(e.task);
    if (!s) return [];
    let k = s.length - 1;
    while (k >= 0 && !(s[k].layer === e.layer && s[k].name === e.name)) k--;
    if (k < 0) return [];
    const out: ClosedSpan[] = [];
    while (s.length > k + 1) out.push({ ...s.pop()!, end: e.t, endArgs: null });
    out.push({ ...s.pop()!, end: e.t, endArgs: e.args });
    return out;
  }

  /** The innermost open span of a task. */
  top(task: string): OpenSpan | undefined {
    const s = this.#open.get(task);
    return s?.[s.length - 1];
  }

  /** Closes every span still open at `t` (the end of the run), innermost first, task by task. */
  closeAll(t: number): { task: string; span: ClosedSpan }[] {
    const out: { task: string; span: ClosedSpan }[] = [];
    for (const [task, s] of this.#open) {
      while (s.length > 0) out.push({ task, span: { ...s.pop()!, end: t, endArgs: null } });
    }
    return out;
  }
}

/**
 * Point events of one kind (layer:name, or the finding's id) beyond the first `cap` are not written one
 * by one: they are counted, and the count is written as a counter sampled at most every `intervalNs`
 * of virtual time, and once more at the end.
 */
export class Overflow {
  readonly #seen = new Map<string, number>();
  readonly #lastSample = new Map<string, number>();

  constructor(
    readonly cap: number,
    /** The cap of findings, per invariant id: their messages are long, and the summary keeps their first ones. */
    readonly findingCap: number,
    readonly intervalNs: number,
  ) {}

  /**
   * Counts one event of `kind` (standing for `weight` events: a finding counted in bulk carries `bulk`):
   * "event" to write it, "sample" to write the counter now, or "count".
   */
  note(kind: string, t: number, weight = 1): "event" | "sample" | "count" {
    const n = (this.#seen.get(kind) ?? 0) + weight;
    this.#seen.set(kind, n);
    if (n <= (kind.startsWith("finding ") ? this.findingCap : this.cap)) return "event";
    const last = this.#lastSample.get(kind);
    if (last !== undefined && t - last < this.intervalNs) return "count";
    this.#lastSample.set(kind, t);
    return "sample";
  }

  count(kind: string): number {
    return this.#seen.get(kind) ?? 0;
  }

  /** Kinds that overflowed, with their final counts, in first-overflow order. */
  overflowed(): [string, number][] {
    return [...this.#lastSample.keys()].map((k) => [k, this.#seen.get(k) ?? 0]);
  }
}

/** How many events a point event stands for: a finding counted in bulk (Findings.reportMany) says so. */
export function weightOf(e: TraceEvent): number {
  const n = e.layer === "check" && e.name === "finding" ? e.args?.bulk : undefined;
  return typeof n === "number" && n > 1 ? n : 1;
}

/** The kind a point event is capped by: a finding by its invariant id, anything else by layer and name. */
export function kindOf(e: TraceEvent): string {
  return e.layer === "check" && e.name === "finding"
    ? `finding ${String(e.args.id)}`
    : `${e.layer}:${e.name}`;
}

/** A memory sample for the counters: virtual time and bytes per page state. */
export interface MemorySample {
  readonly t: number;
  readonly bytes: Readonly<Record<string, number>>;
}

const IOCTL_NAMES = new Map(Object.entries(IOCTL_REQUESTS).map(([name, r]) => [r.request >>> 0, name]));

/**
 * A span's name on a track: a session after its simulated process, a step after its index and kind,
 * an ioctl after its request's uAPI name, anything else its own name.
 */
export function spanName(span: OpenSpan): string {
  const a = span.args;
  if (span.layer === "user" && span.name === "session" && a.proc !== undefined)
    return `session ${String(a.proc)}`;
  if (span.layer === "scenario" && span.name === "step") return `step ${String(a.index)}: ${String(a.kind)}`;
  if (span.layer === "user" && span.name === "ioctl" && typeof a.request === "number") {
    const n = IOCTL_NAMES.get(a.request >>> 0);
    return n ? `ioctl ${n}` : `ioctl 0x${(a.request >>> 0).toString(16)}`;
  }
  return span.name;
}

const clip = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/**
 * A point event's name on a track: what a reader looks for first (the FF-A call and its result, the
 * kernel's message, the finding's invariant id (its message in the args), the fault), else layer:name.
 */
export function pointName(e: TraceEvent): string {
  const a = e.args;
  const str = (v: unknown) => (typeof v === "string" ? v : String(v));
  if (e.layer === "check" && e.name === "finding") return `finding ${str(a.id)}`;
  if (e.layer === "firmware" && e.name === "ffa") return `${str(a.call)} → ${str(a.result)}`;
  if (e.layer === "hw" && e.name === "smc" && typeof a.fid === "number")
    return `smc 0x${(a.fid >>> 0).toString(16)} → ${str(a.to)}`;
  if (e.layer === "hw" && e.name === "access")
    return `${str(a.master)} ${str(a.op)} ${str(a.pa)}: ${str(a.result)}`;
  if (e.layer === "kernel" && (typeof a.msg === "string" || typeof a.text === "string"))
    return clip(`${e.name}: ${str(a.msg ?? a.text)}`);
  return `${e.layer}:${e.name}`;
}
