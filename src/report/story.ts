/**
 * A run's story: its trace events one by one — time, task, layer, call, and what the call touched
 * (pages, addresses, handles, results). `rstmem replay` prints it line by line, and its `--html` report
 * shows the same events as a table.
 */
import type { TraceEvent } from "../sim/trace.ts";

export interface StoryEvent {
  /** Virtual time, ns. */
  readonly t: number;
  readonly task: string;
  readonly layer: string;
  readonly call: string;
  /** The event's arguments as `key=value`, addresses in hex, long values cut at 80 characters. */
  readonly what: string;
}

/** Argument names whose numbers read as addresses (hex above 0xffff). */
const ADDRESS_ARG = /(^pa$|addr|base|pfn|handle)/i;

export function storyEvent(e: TraceEvent): StoryEvent {
  const what = Object.entries(e.args ?? {})
    .map(([k, v]) => {
      const text =
        typeof v === "number" && ADDRESS_ARG.test(k) && v > 0xffff
          ? `0x${v.toString(16)}`
          : typeof v === "object"
            ? JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x))
            : String(v);
      return `${k}=${text.length > 80 ? text.slice(0, 77) + "..." : text}`;
    })
    .join(" ");
  return { t: e.t, task: e.task, layer: e.layer, call: e.name, what };
}

/** The event as a line of `rstmem replay`'s story. */
export function storyLine(s: StoryEvent): string {
  const t = (s.t / 1e6).toFixed(6).padStart(13);
  return `  ${t} ms  ${s.task.padEnd(14)} ${s.layer.padEnd(8)} ${s.call.padEnd(22)} ${s.what}\n`;
}
