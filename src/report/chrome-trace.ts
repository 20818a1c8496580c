/**
 * Chrome trace-event JSON (Object Format) that Perfetto (ui.perfetto.dev) and chrome://tracing open,
 * written while the run goes (ecosystem.md §1.1): `displayTimeUnit` first, `ts`/`dur` in µs, small
 * pid/tid with `process_name`/`thread_name` metadata (processes as trace-tracks.ts groups them).
 *
 * - `X` complete slices for every span the run traces, nested per thread: scenario steps, workload
 *   sessions (named after the simulated process) and their phases (allocate frames, seek, frame,
 *   teardown), each syscall from entry to exit (args: the call's arguments and its return value), and
 *   each cma_alloc() (from its cma_alloc_start to its cma_alloc_finish tracepoint; busy retries counted
 *   in its args, not one event each).
 * - `C` counters: restricted memory (pages lent to the secure world, at each change of ownership),
 *   memory by page state over the run (MiB, one track a state), and, for point events too frequent to
 *   write one by one, their running count.
 * - `i` instants for point events (FF-A calls, SMCs, faults, kernel messages), the first `instantCap`
 *   of each kind; findings as global instants, so they show above every track.
 * Successful memory accesses are not events here (the run does not even emit them for this writer):
 * a frame's DMA is its `frame` slice, a background load's page faults its args.
 */
import type { RunResult } from "../scenario/runner.ts";
import { OWNER_NORMAL } from "../hw/frames.ts";
import type { TraceEvent, TraceListener } from "../sim/trace.ts";
import {
  kindOf,
  weightOf,
  pointName,
  Overflow,
  PID_MACHINE,
  Spans,
  spanName,
  Threads,
  type ClosedSpan,
  type MemorySample,
  type Thread,
} from "./trace-tracks.ts";

export interface TraceWriterOptions {
  /** The machine process's name: the scenario, platform and policy. */
  readonly title: string;
  /** The scenario's step lists ("steps" and the names under `tasks:`): they form the steps process. */
  readonly stepLists?: readonly string[];
  /** Point events of one kind written as events before the rest are only counted (default 1000). */
  readonly instantCap?: number;
  /** The same for findings, per invariant id (default 100). */
  readonly findingCap?: number;
  /** How often an overflowed kind's count is sampled, virtual ns (default 100 ms). */
  readonly counterIntervalNs?: number;
}

/** How the run ended, for the writer's last events. */
export interface TraceEnd {
  /** Virtual time the run ended, ns: spans still open end here. */
  readonly t: number;
  /** Memory by page state over the run (bytes), in time order; each state a counter track. */
  readonly memory?: readonly MemorySample[];
  /** Copied into the file's `otherData` (seed, policy, …). */
  readonly otherData?: Readonly<Record<string, unknown>>;
}

/** Chunks of about this many characters go to the sink. */
const CHUNK = 1 << 16;

const us = (ns: number) => ns / 1000;
const MiB = 1024 * 1024;

interface ChromeEvent {
  name: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: string;
  dur?: number;
  args?: Record<string, unknown>;
}

export class ChromeTraceWriter {
  readonly #write: (chunk: string) => void;
  readonly #threads: Threads;
  readonly #spans = new Spans();
  readonly #overflow: Overflow;
  #buf = "";
  #first = true;
  #last = 0;
  #lentPages = 0;
  #finished = false;

  constructor(write: (chunk: string) => void, opts: TraceWriterOptions) {
    this.#write = write;
    this.#threads = new Threads(new Set(opts.stepLists ?? []), opts.title);
    this.#overflow = new Overflow(
      opts.instantCap ?? 1000,
      opts.findingCap ?? 100,
      opts.counterIntervalNs ?? 100_000_000,
    );
    // displayTimeUnit before any event: Perfetto must know it before it parses the first one.
    this.#buf = '{"displayTimeUnit":"ns","traceEvents":[\n';
  }

  /** Subscribe this to the run's trace bus (without per-access events). */
  readonly listener: TraceListener = (e) => this.#event(e);

  #put(ev: ChromeEvent): void {
    this.#buf += (this.#first ? "" : ",\n") + JSON.stringify(ev);
    this.#first = false;
    if (this.#buf.length >= CHUNK) {
      this.#write(this.#buf);
      this.#buf = "";
    }
  }

  #slice(th: Thread, span: ClosedSpan): void {
    const args: Record<string, unknown> = { ...span.args, ...(span.endArgs ?? { unfinished: true }) };
    this.#put({
      name: spanName(span),
      ph: "X",
      ts: us(span.t),
      dur: us(span.end - span.t),
      pid: th.pid,
      tid: th.tid,
      cat: span.layer,
      args,
    });
  }

  #event(e: TraceEvent): void {
    this.#last = e.t;
    const th = this.#threads.of(e.task);
    // cma_alloc() as a span: its start and finish tracepoints, busy retries counted on it.
    if (e.layer === "kernel") {
      if (e.name === "cma_alloc_start") {
        this.#spans.begin({ ...e, name: "cma_alloc" }, { ...e.args, busy_retries: 0 });
        return;
      }
      if (e.name === "cma_alloc_busy_retry") {
        const top = this.#spans.top(e.task);
        if (top?.name === "cma_alloc") {
          top.args.busy_retries = Number(top.args.busy_retries) + 1;
          return;
        }
      }
      if (e.name === "cma_alloc_finish") {
        const { name: _name, align: _align, ...rest } = e.args;
        for (const s of this.#spans.end({ ...e, name: "cma_alloc", args: rest })) this.#slice(th, s);
        return;
      }
    }
    if (e.span === "B") {
      this.#spans.begin(e, { ...e.args });
      return;
    }
    if (e.span === "E") {
      for (const s of this.#spans.end(e)) this.#slice(th, s);
      return;
    }
    // Ownership changes move the restricted-memory counter: pages lent to the secure world, exact.
    if (e.layer === "hw" && e.name === "owner") {
      this.#lentPages += (e.args.owner === OWNER_NORMAL ? -1 : 1) * Number(e.args.pages);
      this.#put({
        name: "restricted memory",
        ph: "C",
        ts: us(e.t),
        pid: PID_MACHINE,
        tid: 0,
        args: { pages: this.#lentPages },
      });
      return;
    }
    const kind = kindOf(e);
    const what = this.#overflow.note(kind, e.t, weightOf(e));
    const finding = e.layer === "check" && e.name === "finding";
    if (what === "event") {
      this.#put({
        name: pointName(e),
        ph: "i",
        ts: us(e.t),
        pid: th.pid,
        tid: th.tid,
        cat: e.layer,
        s: finding ? "g" : "t",
        args: { ...e.args },
      });
    } else if (what === "sample") {
      this.#counter(kind, e.t, this.#overflow.count(kind));
    }
  }

  #counter(kind: string, t: number, n: number): void {
    this.#put({ name: `${kind} (count)`, ph: "C", ts: us(t), pid: PID_MACHINE, tid: 0, args: { count: n } });
  }

  /** Ends open spans, writes the memory counters, the names and `otherData`, and closes the JSON. */
  finish(end: TraceEnd): void {
    if (this.#finished) return;
    this.#finished = true;
    const t = Math.max(end.t, this.#last);
    for (const { task, span } of this.#spans.closeAll(t)) this.#slice(this.#threads.of(task), span);
    for (const [kind, n] of this.#overflow.overflowed()) this.#counter(kind, t, n);
    for (const m of end.memory ?? []) {
      for (const [state, bytes] of Object.entries(m.bytes)) {
        this.#put({
          name: `memory: ${state}`,
          ph: "C",
          ts: us(m.t),
          pid: PID_MACHINE,
          tid: 0,
          args: { MiB: bytes / MiB },
        });
      }
    }
    for (const p of this.#threads.processes()) {
      this.#put({ name: "process_name", ph: "M", ts: 0, pid: p.pid, tid: 0, args: { name: p.name } });
      this.#put({
        name: "process_sort_index",
        ph: "M",
        ts: 0,
        pid: p.pid,
        tid: 0,
        args: { sort_index: p.pid },
      });
    }
    for (const th of this.#threads.threads()) {
      this.#put({ name: "thread_name", ph: "M", ts: 0, pid: th.pid, tid: th.tid, args: { name: th.name } });
    }
    const other = { ...(end.otherData ?? {}), overflowed: Object.fromEntries(this.#overflow.overflowed()) };
    this.#buf += `\n],"otherData":${JSON.stringify(other)}}\n`;
    this.#write(this.#buf);
    this.#buf = "";
  }
}

/** The whole trace of a list of events as one string (tests, small runs). */
export function chromeTraceText(
  events: readonly TraceEvent[],
  opts: TraceWriterOptions,
  end: TraceEnd,
): string {
  const chunks: string[] = [];
  const w = new ChromeTraceWriter((c) => chunks.push(c), opts);
  for (const e of events) w.listener(e);
  w.finish(end);
  return chunks.join("");
}

/**
 * A finished run's trace as an object (the public API's first form; small runs). The step lists are
 * the tasks that ran steps.
 */
export function chromeTrace(events: readonly TraceEvent[], result: RunResult): Record<string, unknown> {
  const text = chromeTraceText(
    events,
    {
      title: `${result.scenario} (${result.platform})`,
      stepLists: [...new Set(result.steps.map((s) => s.task))],
    },
    { t: result.simTimeNs, otherData: { seed: result.seed, schedule: result.schedule } },
  );
  return JSON.parse(text) as Record<string, unknown>;
}
