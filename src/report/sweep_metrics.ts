/**
 * One run as a sweep's row and the sizing search read it (issue 10, "Sweeps" and "Sizing"): the run's
 * metrics by their stable names (scenario/metrics.ts: latencies, failures, memory lent, FF-A calls,
 * linear-map splits, TLB flushes, simulated time, …), whether it passed, and its findings per
 * invariant. A pure function of the RunResult: no wall time, so rows are byte-identical however the
 * runs were scheduled.
 */
import { INVARIANT_IDS } from "../check/invariants.ts";
import { METRIC_NAMES, type MetricName } from "../scenario/metrics.ts";
import type { RunResult } from "../scenario/runner.ts";

export { METRIC_NAMES, type MetricName };

export type PointMetrics = Readonly<Record<MetricName, number>> & {
  /** Every expectation held (the scenario's and the sweep's). */
  readonly passed: boolean;
  /** The first expectation that failed, as a sentence, or null. */
  readonly failure: string | null;
  /** Findings by invariant id: every invariant, then any other id the run reported, sorted. */
  readonly findings_by_invariant: Readonly<Record<string, number>>;
};

export function pointMetrics(r: RunResult): PointMetrics {
  const byId: Record<string, number> = {};
  for (const id of INVARIANT_IDS) byId[id] = r.findings[id] ?? 0;
  for (const id of Object.keys(r.findings).sort()) byId[id] ??= r.findings[id];
  const metrics = Object.fromEntries(METRIC_NAMES.map((n) => [n, r.metrics[n]])) as Record<
    MetricName,
    number
  >;
  return { ...metrics, passed: r.passed, failure: r.failure, findings_by_invariant: byId };
}

/** Why the run cannot count as working at all, whatever its numbers: a hang, a panic, a killed task. */
export function brokenRun(r: RunResult): string | null {
  if (r.hung !== null) return `the machine hung: ${r.hung}`;
  if (r.panic !== null) return `the kernel panicked: ${r.panic}`;
  if (r.killed.length > 0) return `task ${r.killed[0].task} was killed: ${r.killed[0].what}`;
  if (r.end === "deadlock") return "every task is blocked: the run deadlocked";
  return null;
}
