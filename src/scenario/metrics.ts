/**
 * A run's metrics: the numbers the main job compares across policies (issue "The main job"), by stable
 * snake_case names — the names `expect: {metrics: …}` asserts on, `--json` prints and sweeps tabulate.
 * Each is computed from what the run already counted; none costs anything while the run goes.
 */
import type { WorkloadMetrics } from "../user/workloads/index.ts";
import { summarize } from "../user/workloads/index.ts";
import { parseDuration, parseSize } from "./units.ts";

/** What a metric counts, and in which unit its value is (ns, bytes, a count, a percentage). */
export const METRICS = {
  simulated_ns: { unit: "ns", text: "virtual time the run lasted" },
  sessions: { unit: "count", text: "sessions the foreground workloads started" },
  first_frame_alloc_p50_ns: { unit: "ns", text: "allocation latency of a session's first frame buffer, p50" },
  first_frame_alloc_p99_ns: { unit: "ns", text: "allocation latency of a session's first frame buffer, p99" },
  first_frame_alloc_max_ns: { unit: "ns", text: "allocation latency of a session's first frame buffer, max" },
  alloc_p50_ns: { unit: "ns", text: "allocation latency of every restricted buffer, p50" },
  alloc_p99_ns: { unit: "ns", text: "allocation latency of every restricted buffer, p99" },
  alloc_max_ns: { unit: "ns", text: "allocation latency of every restricted buffer, max" },
  alloc_failures: { unit: "count", text: "failed heap opens and allocations of the foreground workloads" },
  frames_shown: { unit: "count", text: "frames the reading device (display, encoder) read" },
  device_faults: { unit: "count", text: "device DMAs to a frame that the machine refused" },
  lent_peak_bytes: { unit: "bytes", text: "restricted memory lent to the secure world at peak" },
  lent_idle_bytes: {
    unit: "bytes",
    text: "restricted memory lent while no session runs (time-weighted mean over the gaps between sessions)",
  },
  returned_bytes: {
    unit: "bytes",
    text: "restricted memory reclaimed and given back to Linux before the last session ended",
  },
  stuck_chunks: { unit: "count", text: "chunks whose reclaim failed: lent for good" },
  cma_migrations: { unit: "count", text: "pages CMA migrated to make room" },
  ffa_calls: { unit: "count", text: "FF-A calls the SPMC handled (boot probe included)" },
  linear_map_splits: { unit: "count", text: "linear-map blocks split into smaller entries" },
  tlb_flushes: { unit: "count", text: "kernel TLB flushes (by range and all)" },
  firewall_regions: { unit: "count", text: "TZC-400 regions in use at once, at most" },
  kernel_slowdown_pct: {
    unit: "pct",
    text: "estimated slowdown of memory-heavy kernel work from TLB reach lost to linear-map splits",
  },
  findings: { unit: "count", text: "invariant findings, all invariants" },
} as const;

export type MetricName = keyof typeof METRICS;
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];
export type Metrics = Readonly<Record<MetricName, number>>;

/** What the metrics are computed from: the runner's counters at the end of a run. */
export interface MetricInputs {
  readonly simTimeNs: number;
  readonly workloads: readonly WorkloadMetrics[];
  readonly pools: readonly {
    readonly peakLentBytes: number;
    readonly reclaimedBytes: number;
    readonly stuck: number;
    readonly history: readonly number[];
  }[];
  readonly machine: Readonly<Record<string, number>>;
  readonly ffaCalls: number;
  readonly findings: number;
  readonly tzcPeakRegions: number;
}

/** [start, end) spans of the foreground sessions, merged and in order. */
function sessionSpans(workloads: readonly WorkloadMetrics[]): [number, number][] {
  const spans: [number, number][] = [];
  for (const w of workloads) {
    if (w.kind === "background") continue;
    for (let i = 0; i < w.spans.length; i += 2) spans.push([w.spans[i], w.spans[i + 1]]);
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  return merged;
}

/** Bytes lent over time, summed over pools: a step function as [t, bytes] changes in time order. */
function lentSteps(pools: MetricInputs["pools"]): [number, number][] {
  const changes: [number, number, number][] = [];
  pools.forEach((p, k) => {
    for (let i = 0; i < p.history.length; i += 2) changes.push([p.history[i], k, p.history[i + 1]]);
  });
  changes.sort((a, b) => a[0] - b[0]);
  const now = pools.map(() => 0);
  return changes.map(([t, k, bytes]) => {
    now[k] = bytes;
    return [t, now.reduce((a, b) => a + b, 0)];
  });
}

/** Time-weighted mean of a step function over the gaps between spans (0 when there is no gap). */
function idleMean(steps: readonly [number, number][], spans: readonly [number, number][]): number {
  let area = 0;
  let span = 0;
  for (let g = 0; g + 1 < spans.length; g++) {
    const from = spans[g][1];
    const to = spans[g + 1][0];
    if (to <= from) continue;
    span += to - from;
    // The value at `from`, then each change inside the gap.
    let v = 0;
    let t = from;
    for (const [ct, cv] of steps) {
      if (ct <= from) {
        v = cv;
        continue;
      }
      if (ct >= to) break;
      area += v * (ct - t);
      t = ct;
      v = cv;
    }
    area += v * (to - t);
  }
  return span === 0 ? 0 : Math.round(area / span);
}

export function runMetrics(m: MetricInputs): Metrics {
  const fg = m.workloads.filter((w) => w.kind !== "background");
  const first = summarize(fg.flatMap((w) => w.first));
  const all = summarize(fg.flatMap((w) => w.all));
  const spans = sessionSpans(m.workloads);
  const lastEnd = spans.length > 0 ? spans[spans.length - 1][1] : 0;
  const steps = lentSteps(m.pools);
  // What went back to Linux while sessions came and went: every drop in lent bytes before the last end.
  let returned = 0;
  for (let i = 0, prev = 0; i < steps.length; i++) {
    const [t, v] = steps[i];
    if (t <= lastEnd && v < prev) returned += prev - v;
    prev = v;
  }
  const sum = (f: (w: WorkloadMetrics) => number) => fg.reduce((n, w) => n + f(w), 0);
  return {
    simulated_ns: m.simTimeNs,
    sessions: sum((w) => w.sessions),
    first_frame_alloc_p50_ns: first.p50,
    first_frame_alloc_p99_ns: first.p99,
    first_frame_alloc_max_ns: first.max,
    alloc_p50_ns: all.p50,
    alloc_p99_ns: all.p99,
    alloc_max_ns: all.max,
    alloc_failures: sum((w) => Object.values(w.failures).reduce((a, b) => a + b, 0)),
    frames_shown: sum((w) => w.framesShown),
    device_faults: sum((w) => w.deviceFaults),
    lent_peak_bytes: steps.reduce((a, [, v]) => Math.max(a, v), 0),
    lent_idle_bytes: idleMean(steps, spans),
    returned_bytes: returned,
    stuck_chunks: m.pools.reduce((n, p) => n + p.stuck, 0),
    cma_migrations: m.machine.cmaMigrations ?? 0,
    ffa_calls: m.ffaCalls,
    linear_map_splits: m.machine.directMapSplits ?? 0,
    tlb_flushes: (m.machine.tlbFlushRange ?? 0) + (m.machine.tlbFlushAll ?? 0),
    firewall_regions: m.tzcPeakRegions,
    kernel_slowdown_pct: m.machine.estimatedKernelSlowdownPct ?? 0,
    findings: m.findings,
  };
}

/** A metric bound in `expect: {metrics: …}`: `N`, `">N"` or `"<N"`, N in the metric's unit (`<20ms`, `<512MiB`). */
export interface MetricBound {
  readonly op: "=" | ">" | "<";
  readonly value: number;
}

/** Parses a bound for `name`, or returns what was expected. */
export function parseMetricBound(name: MetricName, raw: unknown): MetricBound | string {
  const unit = METRICS[name].unit;
  const expected =
    unit === "ns"
      ? 'a duration or bound such as 20ms, "<20ms" or ">1s"'
      : unit === "bytes"
        ? 'a size or bound such as 512MiB, "<512MiB" or ">0"'
        : 'a number or bound such as 0, "<10" or ">2"';
  if (typeof raw === "number") return Number.isFinite(raw) ? { op: "=", value: raw } : `expected ${expected}`;
  if (typeof raw !== "string") return `expected ${expected}`;
  const m = /^\s*([<>]?)\s*(.+?)\s*$/.exec(raw);
  if (!m) return `expected ${expected}`;
  const op = (m[1] || "=") as MetricBound["op"];
  const body = m[2];
  const p =
    unit === "ns"
      ? parseDuration(body)
      : unit === "bytes"
        ? parseSize(body)
        : /^\d+(\.\d+)?$/.test(body)
          ? { ok: true as const, value: Number(body) }
          : { ok: false as const, why: "" };
  return p.ok ? { op, value: p.value } : `expected ${expected}, got "${raw}"`;
}

export function boundHolds(b: MetricBound, actual: number): boolean {
  return b.op === "=" ? actual === b.value : b.op === ">" ? actual > b.value : actual < b.value;
}
