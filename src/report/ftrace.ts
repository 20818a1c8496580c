/**
 * ftrace text of a run, as the kernel's `trace` file prints it (Documentation/trace/ftrace.rst;
 * trace_print_context() in kernel/trace/trace_output.c: `"%16s-%-7d "`, `"[%03d] "`, five flag
 * characters, `" %5lu.%06lu: "`), which Perfetto and trace-cmd's text tools read (ecosystem.md §1.2):
 *
 * - the kernel's cma_* tracepoints byte for byte in their TP_printk() formats (include/trace/events/
 *   cma.h, Linux 6.18): cma_alloc_start, cma_alloc_busy_retry, cma_alloc_finish, cma_release — every one
 *   the run emits, as the kernel would;
 * - `tracing_mark_write` lines in the atrace format Perfetto turns into slices and counters: `B|tgid|name`
 *   and `E|tgid` for every span (scenario steps, workload sessions and their phases, syscalls from entry
 *   to exit), `C|tgid|name|value` for restricted memory (pages lent, at each change) and memory by page
 *   state (bytes), on the `rstmem` thread that samples them, `I|tgid|name` for point events (FF-A calls, findings, …), the first `instantCap` of a kind, then
 *   a `C` count of that kind.
 *
 * Each simulator task is a thread of its own thread group (pid = tgid, a small integer in order of first
 * appearance; comm its name, 15 characters as TASK_COMM_LEN keeps); outside any task is `<idle>-0`.
 * One CPU. Timestamps are the virtual time in seconds with microseconds, never decreasing.
 */
import { OWNER_NORMAL } from "../hw/frames.ts";
import type { TraceEvent, TraceListener } from "../sim/trace.ts";
import type { TraceEnd, TraceWriterOptions } from "./chrome-trace.ts";
import {
  kindOf,
  weightOf,
  NO_TASK,
  pointName,
  Overflow,
  spanName,
  Spans,
  Threads,
  type ClosedSpan,
} from "./trace-tracks.ts";

type Args = Readonly<Record<string, unknown>>;

const hexl = (v: unknown) => `0x${Number(v).toString(16)}`;

/** TP_printk() of each cma tracepoint — include/trace/events/cma.h. */
export const CMA_FORMATS: Readonly<Record<string, (a: Args) => string>> = {
  cma_alloc_start: (a) =>
    `name=${String(a.name)} request_count=${String(a.request_count)} available_count=${String(a.available_count)} ` +
    `total_count=${String(a.total_count)} align=${String(a.align)}`,
  cma_alloc_finish: (a) =>
    `name=${String(a.name)} pfn=${hexl(a.pfn)} page=${String(a.page)} count=${String(a.count)} align=${String(a.align)} ` +
    `errorno=${String(a.errorno)}`,
  cma_alloc_busy_retry: (a) =>
    `name=${String(a.name)} pfn=${hexl(a.pfn)} page=${String(a.page)} count=${String(a.count)} align=${String(a.align)}`,
  cma_release: (a) =>
    `name=${String(a.name)} pfn=${hexl(a.pfn)} page=${String(a.page)} count=${String(a.count)}`,
};

/** TASK_COMM_LEN − 1: the longest comm the kernel keeps. */
const COMM_MAX = 15;

/** The `comm-pid [cpu] flags timestamp: ` prefix. */
function prefix(comm: string, pid: number, tNs: number): string {
  const usTotal = Math.floor(tNs / 1000);
  const sec = Math.floor(usTotal / 1e6);
  const frac = String(usTotal % 1e6).padStart(6, "0");
  return `${comm.slice(0, COMM_MAX).padStart(16)}-${String(pid).padEnd(7)} [000] ..... ${String(sec).padStart(5)}.${frac}: `;
}

/** The ftrace header of a one-CPU nop tracer with `entries` lines. */
function header(entries: number): string {
  return [
    "# tracer: nop",
    "#",
    `# entries-in-buffer/entries-written: ${entries}/${entries}   #P:1`,
    "#",
    "#                                _-----=> irqs-off/BH-disabled",
    "#                               / _----=> need-resched",
    "#                              | / _---=> hardirq/softirq",
    "#                              || / _--=> preempt-depth",
    "#                              ||| / _-=> migrate-disable",
    "#                              |||| /     delay",
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
    "#              | |         |   |||||     |         |",
    "",
  ].join("\n");
}

/** The pseudo-task that writes the memory counters and the counts of frequent events. */
const SAMPLER = "rstmem";

/** A mark's name: `|` separates the fields of a tracing_mark_write, and a line ends at a newline. */
const markName = (s: string) => s.replace(/[|\n]/g, " ");

export class FtraceWriter {
  readonly #threads: Threads;
  readonly #spans = new Spans();
  readonly #overflow: Overflow;
  /** Lines so far with their times (events arrive in time order; the memory samples merge in at the end). */
  readonly #lines: string[] = [];
  readonly #times: number[] = [];
  #last = 0;
  #lentPages = 0;

  constructor(opts: Omit<TraceWriterOptions, "title"> = {}) {
    this.#threads = new Threads(new Set(opts.stepLists ?? []), "rstmem");
    this.#overflow = new Overflow(
      opts.instantCap ?? 1000,
      opts.findingCap ?? 100,
      opts.counterIntervalNs ?? 100_000_000,
    );
  }

  /** Subscribe this to the run's trace bus (without per-access events). */
  readonly listener: TraceListener = (e) => this.#event(e);

  #pid(task: string): number {
    return task === NO_TASK ? 0 : this.#threads.of(task).tid;
  }

  #line(task: string, t: number, body: string): void {
    const comm = task === NO_TASK ? "<idle>" : task.startsWith("workload:") ? task.slice(9) : task;
    this.#lines.push(prefix(comm, this.#pid(task), t) + body);
    this.#times.push(t);
  }

  #mark(task: string, t: number, what: string): void {
    this.#line(task, t, `tracing_mark_write: ${what}`);
  }

  #end(task: string, closed: readonly ClosedSpan[], t: number): void {
    for (const _ of closed) this.#mark(task, t, `E|${this.#pid(task)}`);
  }

  #event(e: TraceEvent): void {
    this.#last = e.t;
    const fmt = CMA_FORMATS[e.name];
    if (e.layer === "kernel" && fmt) {
      this.#line(e.task, e.t, `${e.name}: ${fmt(e.args)}`);
      return;
    }
    if (e.span === "B") {
      const span = { layer: e.layer, name: e.name, t: e.t, args: { ...e.args } };
      this.#spans.begin(e, span.args);
      this.#mark(e.task, e.t, `B|${this.#pid(e.task)}|${markName(spanName(span))}`);
      return;
    }
    if (e.span === "E") {
      this.#end(e.task, this.#spans.end(e), e.t);
      return;
    }
    if (e.layer === "hw" && e.name === "owner") {
      this.#lentPages += (e.args.owner === OWNER_NORMAL ? -1 : 1) * Number(e.args.pages);
      this.#mark(SAMPLER, e.t, `C|${this.#pid(SAMPLER)}|restricted memory pages|${this.#lentPages}`);
      return;
    }
    const kind = kindOf(e);
    const what = this.#overflow.note(kind, e.t, weightOf(e));
    if (what === "event") this.#mark(e.task, e.t, `I|${this.#pid(e.task)}|${markName(pointName(e))}`);
    else if (what === "sample") this.#count(kind, e.t);
  }

  #count(kind: string, t: number): void {
    this.#mark(SAMPLER, t, `C|${this.#pid(SAMPLER)}|${markName(kind)} (count)|${this.#overflow.count(kind)}`);
  }

  /** The whole file: ends open spans at the run's end, merges the memory counters in, adds the header. */
  finish(end: TraceEnd, write: (chunk: string) => void): void {
    const t = Math.max(end.t, this.#last);
    for (const { task, span } of this.#spans.closeAll(t)) this.#end(task, [span], t);
    for (const [kind] of this.#overflow.overflowed()) this.#count(kind, t);
    // Memory samples as C marks, merged by time with the lines so far (both in time order).
    const mem: { t: number; line: string }[] = [];
    const pid = this.#pid(SAMPLER);
    for (const m of end.memory ?? []) {
      for (const [state, bytes] of Object.entries(m.bytes))
        mem.push({
          t: m.t,
          line: prefix(SAMPLER, pid, m.t) + `tracing_mark_write: C|${pid}|mem.${markName(state)}|${bytes}`,
        });
    }
    write(header(this.#lines.length + mem.length));
    let chunk = "";
    const flush = (force: boolean) => {
      if (chunk.length >= 1 << 16 || (force && chunk.length > 0)) {
        write(chunk);
        chunk = "";
      }
    };
    let j = 0;
    for (let i = 0; i < this.#lines.length; i++) {
      while (j < mem.length && mem[j].t <= this.#times[i]) {
        chunk += mem[j++].line + "\n";
        flush(false);
      }
      chunk += this.#lines[i] + "\n";
      flush(false);
    }
    while (j < mem.length) {
      chunk += mem[j++].line + "\n";
      flush(false);
    }
    flush(true);
  }
}

/** The whole ftrace text of a list of events (tests, small runs). */
export function ftraceText(
  events: readonly TraceEvent[],
  end?: TraceEnd,
  opts?: Omit<TraceWriterOptions, "title">,
): string {
  const w = new FtraceWriter(opts);
  for (const e of events) w.listener(e);
  const chunks: string[] = [];
  w.finish(end ?? { t: events.length > 0 ? events[events.length - 1].t : 0 }, (c) => chunks.push(c));
  return chunks.join("");
}
