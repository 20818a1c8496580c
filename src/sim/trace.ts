/**
 * The trace bus: typed events (time, task, layer, name, args) delivered to subscribers.
 *
 * Free when nobody listens: emitters test `trace.listening` before building an event's args, so a run
 * without subscribers allocates nothing for tracing. The one per-page event stream, every successful
 * memory access (`hw:access` with result "ok"), is emitted only while a subscriber asks for it
 * (`perAccess`): the trace files count those accesses instead, and a long run makes millions of them.
 */
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** The layer an event comes from (ARCHITECTURE.md §1). */
export type Layer = "sim" | "hw" | "firmware" | "secure" | "kernel" | "user" | "scenario" | "check";

/**
 * Whether an event opens ("B") or closes ("E") a span on its task (a syscall from entry to exit, a
 * workload's session or frame, a scenario step); absent for a point event. Spans on one task nest: the
 * emitter closes the innermost open span first, with the same layer and name.
 */
export type Span = "B" | "E";

export interface TraceEvent {
  /** Virtual time, ns. */
  readonly t: number;
  readonly task: string;
  readonly layer: Layer;
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly span?: Span;
}

export type TraceListener = (e: TraceEvent) => void;

export interface SubscribeOptions {
  /** Receive every successful memory access (default true); trace files say false and count them. */
  readonly perAccess?: boolean;
}

interface Subscriber {
  readonly l: TraceListener;
  readonly perAccess: boolean;
}

export class TraceBus implements Snapshottable {
  #listeners: Subscriber[] = [];
  /** True while anyone subscribes; test it before building args. */
  listening = false;
  /** True while a subscriber wants every successful memory access; test it before emitting one. */
  perAccess = false;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#listeners = saved.listeners as Subscriber[];
      this.#update();
    }
    return { listeners: this.#listeners };
  }
  constructor(
    private readonly now: () => number,
    private readonly taskName: () => string,
  ) {}

  /** Adds a subscriber; returns the function that removes it. */
  subscribe(listener: TraceListener, opts: SubscribeOptions = {}): () => void {
    const entry = { l: listener, perAccess: opts.perAccess ?? true };
    this.#listeners = [...this.#listeners, entry];
    this.#update();
    return () => {
      this.#listeners = this.#listeners.filter((e) => e !== entry);
      this.#update();
    };
  }

  #update(): void {
    this.listening = this.#listeners.length > 0;
    this.perAccess = this.#listeners.some((e) => e.perAccess);
  }

  emit(layer: Layer, name: string, args: Record<string, unknown> = {}, span?: Span): void {
    if (!this.listening) return;
    const e: TraceEvent =
      span === undefined
        ? { t: this.now(), task: this.taskName(), layer, name, args }
        : { t: this.now(), task: this.taskName(), layer, name, args, span };
    for (const { l, perAccess } of this.#listeners) {
      if (!perAccess && layer === "hw" && name === "access" && args.result === "ok") continue;
      l(e);
    }
  }
}
