/**
 * The main metrics of one run, flat, as a sweep's row and the sizing search read them (issue 10,
 * "Sweeps" and "Sizing"): allocation latencies pooled over every workload, failures, memory lent, FF-A
 * calls, linear-map splits, TLB flushes, findings per invariant, simulated time. A pure function of the
 * RunResult: no wall time, so rows are byte-identical however the runs were scheduled.
 */
import { INVARIANT_IDS } from "../check/invariants.ts";
import type { RunResult } from "../scenario/runner.ts";
import type { LatencySummary } from "../user/workloads/env.ts";

export interface PointMetrics {
  /** Every buffer allocation of every workload (frames, bitstream, framebuffers), ns. */
  readonly alloc_p50_ns: number;
  readonly alloc_p99_ns: number;
  readonly alloc_max_ns: number;
  /** The first frame buffer of each session, over every workload's sessions, ns. */
  readonly first_frame_p99_ns: number;
  /** Failed opens and allocations of every workload (any errno). */
  readonly alloc_failures: number;
  /** Bytes the protected-memory pool had lent at most. */
  readonly peak_lent_bytes: number;
  /** Bytes still lent when the run ended, every process gone (a carveout keeps its memory; upstream gives it back). */
  readonly idle_lent_bytes: number;
  /** FF-A calls the SPMC handled. */
  readonly ffa_calls: number;
  /** Block entries of the kernel's linear map split at run time (1 GiB and 2 MiB). */
  readonly linear_map_splits: number;
  /** TLB flushes of the kernel's linear map: by range and whole. */
  readonly tlb_flushes: number;
  readonly simulated_ns: number;
  /** Every expectation held (the scenario's and the sweep's). */
  readonly passed: boolean;
  /** The first expectation that failed, as a sentence, or null. */
  readonly failure: string | null;
  /** Findings by invariant id: every invariant, then any other id the run reported, sorted. */
  readonly findings: Readonly<Record<string, number>>;
}

/** The scalar metrics in column order (findings and failure follow them in the CSV). */
export const METRIC_NAMES = [
  "alloc_p50_ns",
  "alloc_p99_ns",
  "alloc_max_ns",
  "first_frame_p99_ns",
  "alloc_failures",
  "peak_lent_bytes",
  "idle_lent_bytes",
  "ffa_calls",
  "linear_map_splits",
  "tlb_flushes",
  "simulated_ns",
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

/**
 * The nearest-rank percentile `p` over several workloads' latencies. A summary's `cdf` holds every
 * value when there are at most CDF_POINTS of them (then this is exact); otherwise its points stand
 * for count / cdf.length values each, and the result is the percentile of that weighted distribution.
 */
export function pooledPercentile(summaries: readonly LatencySummary[], p: number): number {
  const points: { v: number; w: number }[] = [];
  let total = 0;
  for (const s of summaries) {
    if (s.count === 0 || s.cdf.length === 0) continue;
    const w = s.count / s.cdf.length;
    for (const v of s.cdf) points.push({ v, w });
    total += s.count;
  }
  if (total === 0) return 0;
  points.sort((a, b) => a.v - b.v);
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const pt of points) {
    seen += pt.w;
    // Weights of approximated summaries are fractions: allow for rounding at the boundary.
    if (seen + 1e-9 >= rank) return pt.v;
  }
  return points[points.length - 1].v;
}

const sum = (r: Readonly<Record<string, number>>) => Object.values(r).reduce((a, b) => a + b, 0);

export function pointMetrics(r: RunResult): PointMetrics {
  const w = r.workloads ?? [];
  const all = w.map((x) => x.allocNs);
  const first = w.map((x) => x.firstFrameAllocNs);
  const findings: Record<string, number> = {};
  for (const id of INVARIANT_IDS) findings[id] = r.findings[id] ?? 0;
  for (const id of Object.keys(r.findings).sort()) findings[id] ??= r.findings[id];
  return {
    alloc_p50_ns: pooledPercentile(all, 0.5),
    alloc_p99_ns: pooledPercentile(all, 0.99),
    alloc_max_ns: Math.max(0, ...all.map((s) => s.max)),
    first_frame_p99_ns: pooledPercentile(first, 0.99),
    alloc_failures: w.reduce((n, x) => n + sum(x.allocFailures), 0),
    peak_lent_bytes: r.protmem?.peakLentBytes ?? 0,
    idle_lent_bytes: r.protmem?.lentBytes ?? 0,
    ffa_calls: sum(r.ffaCalls),
    linear_map_splits: r.machine.directMapSplits ?? 0,
    tlb_flushes: (r.machine.tlbFlushRange ?? 0) + (r.machine.tlbFlushAll ?? 0),
    simulated_ns: r.simTimeNs,
    passed: r.passed,
    failure: r.failure,
    findings,
  };
}

/** Why the run cannot count as working at all, whatever its numbers: a hang, a panic, a killed task. */
export function brokenRun(r: RunResult): string | null {
  if (r.hung !== null) return `the machine hung: ${r.hung}`;
  if (r.panic !== null) return `the kernel panicked: ${r.panic}`;
  if (r.killed.length > 0) return `task ${r.killed[0].task} was killed: ${r.killed[0].what}`;
  if (r.end === "deadlock") return "every task is blocked: the run deadlocked";
  return null;
}
