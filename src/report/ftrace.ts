/**
 * ftrace text (the `trace` file's format, Documentation/trace/ftrace.rst) of a run: the kernel's real
 * cma_* tracepoints byte for byte in their TP_printk formats (include/trace/events/cma.h), and every
 * other event as a `tracing_mark_write` atrace instant (`I|<tgid>|<name>`), which Perfetto shows.
 * One CPU, five flag columns, timestamps in seconds with microseconds.
 */
import type { TraceEvent } from "../sim/trace.ts";

type Args = Readonly<Record<string, unknown>>;

const hexl = (v: unknown) => `0x${Number(v).toString(16)}`;

/** TP_printk() of each cma tracepoint. */
const CMA_FORMATS: Record<string, (a: Args) => string> = {
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

/** The `comm-pid [cpu] flags timestamp: ` prefix. */
function prefix(comm: string, pid: number, tNs: number): string {
  const us = Math.floor(tNs / 1000);
  const sec = Math.floor(us / 1e6);
  const frac = String(us % 1e6).padStart(6, "0");
  return `${comm.slice(0, 16).padStart(16)}-${String(pid).padEnd(7)} [000] ..... ${String(sec).padStart(5)}.${frac}: `;
}

/** One line for an event, or null for events with no ftrace form. */
export function ftraceLine(e: TraceEvent, pid: number): string | null {
  const fmt = CMA_FORMATS[e.name];
  // Outside any task (boot) is the idle task, as ftrace names it.
  const comm = e.task === "-" ? "<idle>" : e.task;
  if (e.layer === "kernel" && fmt) return `${prefix(comm, pid, e.t)}${e.name}: ${fmt(e.args)}`;
  const what =
    e.layer === "check" && e.name === "finding" ? `finding:${String(e.args.id)}` : `${e.layer}:${e.name}`;
  return `${prefix(comm, pid, e.t)}tracing_mark_write: I|1|${what}`;
}

export function ftraceText(events: readonly TraceEvent[]): string {
  const pids = new Map<string, number>();
  const lines: string[] = [];
  for (const e of events) {
    let pid = pids.get(e.task);
    if (pid === undefined) {
      pid = e.task === "-" ? 0 : pids.size + 1;
      pids.set(e.task, pid);
    }
    const l = ftraceLine(e, pid);
    if (l !== null) lines.push(l);
  }
  const header = [
    "# tracer: nop",
    "#",
    `# entries-in-buffer/entries-written: ${lines.length}/${lines.length}   #P:1`,
    "#",
    "#                                _-----=> irqs-off/BH-disabled",
    "#                               / _----=> need-resched",
    "#                              | / _---=> hardirq/softirq",
    "#                              || / _--=> preempt-depth",
    "#                              ||| / _-=> migrate-disable",
    "#                              |||| /     delay",
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION",
    "#              | |         |   |||||     |         |",
  ];
  return [...header, ...lines].join("\n") + "\n";
}
