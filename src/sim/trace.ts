/**
 * The trace bus: typed events (time, task, layer, name, args) delivered to subscribers.
 *
 * Free when nobody listens: emitters test `trace.listening` before building an event's args, so a run
 * without subscribers allocates nothing for tracing.
 */
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** The layer an event comes from (ARCHITECTURE.md §1). */
export type Layer = "sim" | "hw" | "firmware" | "secure" | "kernel" | "user" | "scenario" | "check";

export interface TraceEvent {
  /** Virtual time, ns. */
  readonly t: number;
  readonly task: string;
  readonly layer: Layer;
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

export type TraceListener = (e: TraceEvent) => void;

export class TraceBus implements Snapshottable {
  #listeners: TraceListener[] = [];
  /** True while anyone subscribes; test it before building args. */
  listening = false;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#listeners = saved.listeners as TraceListener[];
    }
    return { listeners: this.#listeners };
  }
  constructor(
    private readonly now: () => number,
    private readonly taskName: () => string,
  ) {}

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(listener: TraceListener): () => void {
    this.#listeners = [...this.#listeners, listener];
    this.listening = true;
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
      this.listening = this.#listeners.length > 0;
    };
  }

  emit(layer: Layer, name: string, args: Record<string, unknown> = {}): void {
    if (!this.listening) return;
    const e: TraceEvent = { t: this.now(), task: this.taskName(), layer, name, args };
    for (const l of this.#listeners) l(e);
  }
}
