/**
 * The comparison a person reads at a glance: one column per policy, one row per metric, the findings per
 * invariant, then one line of verdict per policy — safe or not on this platform, and why.
 */
import { INVARIANT_IDS, INVARIANTS, type InvariantId } from "../check/invariants.ts";
import type { CompareResult } from "../scenario/compare.ts";
import type { Metrics } from "../scenario/metrics.ts";
import type { RunResult } from "../scenario/runner.ts";
import { formatDuration, formatSize } from "../scenario/units.ts";

/**
 * Invariants whose findings make a design unsafe: data can leak, the machine can hang, or state is
 * corrupt. `hung-task` is a liveness finding (khungtaskd), reported in the verdict but not as unsafe
 * on its own; `quiesce-clean` says memory did not come back, a leak rather than an exposure — both
 * still fail a run that does not expect them.
 */
const SAFETY: readonly InvariantId[] = INVARIANT_IDS.filter(
  (id) => id !== "hung-task" && id !== "quiesce-clean",
);

export interface Verdict {
  readonly policy: string;
  /** No safety finding on this platform. */
  readonly safe: boolean;
  /** One sentence: why. */
  readonly why: string;
}

const ms = (ns: number) => formatDuration(ns);

/** What a policy's run says about the design: the safety findings, else the costs that matter. */
export function verdict(policy: string, r: RunResult): Verdict {
  const bad = SAFETY.filter((id) => (r.findings[id] ?? 0) > 0);
  const m = r.metrics;
  const also: string[] = [];
  if (m.alloc_failures > 0) {
    const first = r.workloads?.find((w) => w.firstFailure !== null)?.firstFailure;
    also.push(
      `${m.alloc_failures} allocation${m.alloc_failures === 1 ? "" : "s"} failed` +
        (first ? ` (${first})` : ""),
    );
  }
  if ((r.findings["quiesce-clean"] ?? 0) > 0) also.push("memory did not come back to Linux at the end");
  if ((r.findings["hung-task"] ?? 0) > 0) also.push("a task hung");
  if (m.stuck_chunks > 0) also.push(`${m.stuck_chunks} chunk${m.stuck_chunks === 1 ? "" : "s"} stuck lent`);
  if (m.sessions > 0 && m.lent_peak_bytes === 0 && m.alloc_failures > 0)
    also.push("nothing could be protected");
  const tail = also.length > 0 ? `; ${also.join(", ")}` : "";
  if (bad.length > 0) {
    const worst = bad
      .map((id) => `${id} ×${r.findings[id]} (${INVARIANTS[id]})`)
      .slice(0, 3)
      .join("; ");
    return {
      policy,
      safe: false,
      why: `UNSAFE on ${r.platform}: ${worst}${bad.length > 3 ? "; …" : ""}${tail}`,
    };
  }
  const cost =
    m.sessions > 0
      ? `first frame p99 ${ms(m.first_frame_alloc_p99_ns)}, ${formatSize(m.lent_idle_bytes)} lent while idle` +
        (m.linear_map_splits > 0 ? `, ${m.linear_map_splits} linear-map splits` : "")
      : `${m.ffa_calls} FF-A calls`;
  return {
    policy,
    safe: true,
    why: `safe on ${r.platform}: no safety finding in ${ms(m.simulated_ns)}; ${cost}${tail}`,
  };
}

interface Row {
  readonly label: string;
  readonly cell: (m: Metrics, r: RunResult) => string;
}

const triple = (a: number, b: number, c: number) => `${ms(a)} / ${ms(b)} / ${ms(c)}`;

const ROWS: readonly Row[] = [
  { label: "simulated", cell: (m) => ms(m.simulated_ns) },
  { label: "sessions", cell: (m) => String(m.sessions) },
  {
    label: "first-frame alloc p50/p99/max",
    cell: (m) => triple(m.first_frame_alloc_p50_ns, m.first_frame_alloc_p99_ns, m.first_frame_alloc_max_ns),
  },
  { label: "every alloc p50/p99/max", cell: (m) => triple(m.alloc_p50_ns, m.alloc_p99_ns, m.alloc_max_ns) },
  { label: "allocation failures", cell: (m) => String(m.alloc_failures) },
  { label: "lent at peak", cell: (m) => formatSize(m.lent_peak_bytes) },
  { label: "lent while idle", cell: (m) => formatSize(m.lent_idle_bytes) },
  { label: "given back between sessions", cell: (m) => formatSize(m.returned_bytes) },
  { label: "CMA migrations (pages)", cell: (m) => String(m.cma_migrations) },
  { label: "FF-A calls", cell: (m) => String(m.ffa_calls) },
  { label: "linear-map splits", cell: (m) => String(m.linear_map_splits) },
  { label: "TLB flushes", cell: (m) => String(m.tlb_flushes) },
  { label: "firewall regions (peak)", cell: (m) => String(m.firewall_regions) },
];

function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** The comparison as text: the table, the findings per invariant, a verdict per policy, the result. */
export function compareText(c: CompareResult): string {
  const out: string[] = [];
  const sim = c.runs.length > 0 ? ms(c.runs[0].simTimeNs) : "0";
  out.push(
    `compare    ${c.scenario} (${c.file}) on ${c.platform}, seed ${c.seed}, ${sim}: ${c.policies.join(" vs ")}`,
  );
  out.push("");
  const rows = ROWS.map((row) => [row.label, ...c.runs.map((r) => row.cell(r.metrics, r))]);
  // Findings: every invariant some policy tripped, then a total.
  const tripped = INVARIANT_IDS.filter((id) => c.runs.some((r) => (r.findings[id] ?? 0) > 0));
  for (const id of tripped) rows.push([`findings: ${id}`, ...c.runs.map((r) => String(r.findings[id] ?? 0))]);
  if (tripped.length === 0) rows.push(["findings", ...c.runs.map(() => "0")]);
  out.push(...table(["", ...c.policies], rows));
  out.push("");
  out.push("verdict");
  const w = Math.max(...c.policies.map((p) => p.length));
  c.policies.forEach((p, i) => out.push(`  ${p.padEnd(w)}  ${verdict(p, c.runs[i]).why}`));
  out.push("");
  for (const [i, r] of c.runs.entries()) {
    for (const e of r.expectations.filter((x) => !x.ok))
      out.push(`expect     [${c.policies[i]}] ${e.id} ${e.expected}: ${e.actual} ✗`);
    for (const e of r.metricExpectations.filter((x) => !x.ok))
      out.push(`expect     [${c.policies[i]}] ${e.name} ${e.expected}: ${e.actual} ✗`);
  }
  const failed = c.runs.map((r, i) => [c.policies[i], r] as const).filter(([, r]) => !r.passed);
  out.push(
    failed.length === 0
      ? "result     PASS"
      : `result     FAIL: ${failed.map(([p, r]) => `[${p}] ${r.failure}`).join("; ")}`,
  );
  return out.join("\n");
}

/** `--json`: the comparison as one typed object (field names in the README). */
export function compareJson(c: CompareResult): string {
  return JSON.stringify(
    {
      kind: "compare",
      scenario: c.scenario,
      file: c.file,
      platform: c.platform,
      seed: c.seed,
      passed: c.passed,
      policies: c.policies.map((p, i) => {
        const r = c.runs[i];
        return {
          policy: p,
          simulated_ns: r.simTimeNs,
          passed: r.passed,
          failure: r.failure,
          verdict: verdict(p, r),
          metrics: r.metrics,
          findings: r.findings,
          result: r,
        };
      }),
    },
    null,
    2,
  );
}
