/**
 * Chrome trace-event JSON (Object Format) that Perfetto and chrome://tracing open: one process, a
 * thread per task, a complete slice per scenario step (from its start to its end), an instant per
 * event, global instants for findings, a counter of the pages lent to the secure world, and metadata
 * names.
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
  dur?: number;
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
  // Steps as slices: each starts at its trace event and ends at its outcome's time.
  const ends = new Map(result.steps.map((o) => [o.n, o]));
  let lent = 0;
  for (const e of events) {
    if (e.layer === "scenario" && e.name === "step") {
      const o = ends.get(Number(e.args.n));
      if (o) {
        out.push({
          name: `step ${String(e.args.index)}: ${String(e.args.kind)}`,
          ph: "X",
          ts: e.t / 1000,
          dur: Math.max(0, o.t - e.t) / 1000,
          pid: 1,
          tid: tid(e.task),
          cat: "scenario",
          args: { line: e.args.line, got: o.got, expected: o.expected, ok: o.ok, detail: o.detail },
        });
        continue;
      }
    }
    if (e.layer === "hw" && e.name === "owner") {
      lent += (e.args.owner === 1 ? 1 : -1) * Number(e.args.pages);
      out.push({ name: "restricted memory", ph: "C", ts: e.t / 1000, pid: 1, tid: 0, args: { pages: lent } });
    }
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
