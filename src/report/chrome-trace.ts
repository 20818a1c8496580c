/**
 * Chrome trace-event JSON (Object Format) that Perfetto and chrome://tracing open: one process, a
 * thread per task, an instant per event, global instants for findings, and metadata names.
 * ecosystem.md §1.1: `ts` in µs, small integer pid/tid, displayTimeUnit first.
 */
import type { RunResult } from "../scenario/runner.ts";
import type { TraceEvent } from "../sim/trace.ts";

interface ChromeEvent {
  name: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  cat?: string;
  s?: string;
  args?: Record<string, unknown>;
}

export function chromeTrace(events: readonly TraceEvent[], result: RunResult): Record<string, unknown> {
  const tids = new Map<string, number>();
  const tid = (task: string) => {
    let t = tids.get(task);
    if (t === undefined) {
      t = tids.size + 1;
      tids.set(task, t);
    }
    return t;
  };
  const out: ChromeEvent[] = [];
  for (const e of events) {
    const finding = e.layer === "check" && e.name === "finding";
    out.push({
      name: finding ? `finding: ${String(e.args.id)}` : `${e.layer}:${e.name}`,
      ph: "i",
      ts: e.t / 1000,
      pid: 1,
      tid: tid(e.task),
      cat: e.layer,
      s: finding ? "g" : "t",
      args: { ...e.args },
    });
  }
  const meta: ChromeEvent[] = [
    {
      name: "process_name",
      ph: "M",
      ts: 0,
      pid: 1,
      tid: 0,
      args: { name: `rstmem ${result.scenario} (${result.platform})` },
    },
    ...[...tids.entries()].map(([name, t]) => ({
      name: "thread_name",
      ph: "M",
      ts: 0,
      pid: 1,
      tid: t,
      args: { name },
    })),
  ];
  return {
    displayTimeUnit: "ns",
    traceEvents: [...meta, ...out],
    otherData: { seed: result.seed, schedule: result.schedule },
  };
}
