/**
 * A sweep's results as JSON and CSV: one row per point, ordered by point index, the parameters then
 * the metrics, no wall time — so the bytes are the same whatever --jobs, and shards merged with
 * `rstmem sweep merge` give exactly the files the unsharded run writes.
 */
import { INVARIANT_IDS } from "../check/invariants.ts";
import { METRIC_NAMES, type PointMetrics } from "./sweep_metrics.ts";

export interface SweepRow extends PointMetrics {
  readonly point: number;
  readonly params: Readonly<Record<string, unknown>>;
}

/** The JSON file (field names are a public contract). */
export interface SweepResults {
  readonly sweep: string;
  readonly fingerprint: string;
  /** Points in the whole sweep. */
  readonly points: number;
  readonly parameters: readonly string[];
  /** "I/N" for one shard's file; absent for the whole sweep (run unsharded, or merged). */
  readonly shard?: string;
  readonly rows: readonly SweepRow[];
}

/** The rows in canonical form: by point index, keys in a fixed order. */
function canonicalRow(r: SweepRow, parameters: readonly string[]): SweepRow {
  const row: Record<string, unknown> = {
    point: r.point,
    params: Object.fromEntries(parameters.map((p) => [p, r.params[p]])),
  };
  for (const m of METRIC_NAMES) row[m] = r[m];
  row.passed = r.passed;
  row.failure = r.failure;
  row.findings_by_invariant = r.findings_by_invariant;
  return row as unknown as SweepRow;
}

export function sweepJson(res: SweepResults): string {
  const rows = [...res.rows].sort((a, b) => a.point - b.point).map((r) => canonicalRow(r, res.parameters));
  const out: Record<string, unknown> = {
    sweep: res.sweep,
    fingerprint: res.fingerprint,
    points: res.points,
    parameters: res.parameters,
  };
  if (res.shard !== undefined) out.shard = res.shard;
  out.rows = rows;
  return JSON.stringify(out, null, 2) + "\n";
}

/** RFC 4180 field: quoted when it holds a comma, quote or line break. */
function csvField(v: unknown): string {
  const s =
    v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v as string);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * CSV: point, the parameters (as the grid names them), the metrics (scenario/metrics.ts), passed,
 * `findings.ID` for every
 * invariant (then any other id a row reported, sorted), failure.
 */
export function sweepCsv(res: SweepResults): string {
  const rows = [...res.rows].sort((a, b) => a.point - b.point);
  const extra = new Set<string>();
  for (const r of rows)
    for (const id of Object.keys(r.findings_by_invariant))
      if (!INVARIANT_IDS.includes(id as never)) extra.add(id);
  const ids = [...INVARIANT_IDS, ...[...extra].sort()];
  const header = [
    "point",
    ...res.parameters,
    ...METRIC_NAMES,
    "passed",
    ...ids.map((id) => `findings.${id}`),
    "failure",
  ];
  const lines = [header.map(csvField).join(",")];
  for (const r of rows) {
    lines.push(
      [
        r.point,
        ...res.parameters.map((p) => r.params[p]),
        ...METRIC_NAMES.map((m) => r[m]),
        r.passed,
        ...ids.map((id) => r.findings_by_invariant[id] ?? 0),
        r.failure,
      ]
        .map(csvField)
        .join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/** Parses a results file; throws an Error saying what is wrong. */
export function readSweepResults(text: string, file: string): SweepResults {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: not JSON: ${(e as Error).message}`);
  }
  const o = v as Partial<SweepResults> | null;
  if (
    !o ||
    typeof o.sweep !== "string" ||
    typeof o.fingerprint !== "string" ||
    typeof o.points !== "number" ||
    !Array.isArray(o.parameters) ||
    !Array.isArray(o.rows)
  )
    throw new Error(
      `${file}: not an rstmem sweep results file (expected sweep, fingerprint, points, parameters, rows)`,
    );
  for (const r of o.rows) {
    if (typeof (r as SweepRow).point !== "number" || typeof (r as SweepRow).params !== "object")
      throw new Error(`${file}: a row without point and params`);
  }
  return o as SweepResults;
}

/**
 * Joins shard files of one sweep into the whole: the same sweep and fingerprint in each, every point
 * exactly once. Throws an Error naming the file and the problem.
 */
export function mergeSweepResults(files: readonly { file: string; res: SweepResults }[]): SweepResults {
  if (files.length === 0) throw new Error("nothing to merge");
  const first = files[0];
  const rows = new Map<number, SweepRow>();
  for (const { file, res } of files) {
    if (res.sweep !== first.res.sweep || res.fingerprint !== first.res.fingerprint)
      throw new Error(
        `${file}: sweep ${res.sweep} (fingerprint ${res.fingerprint}) is not ${first.file}'s ` +
          `${first.res.sweep} (${first.res.fingerprint}): shards of different sweeps, or of a changed file`,
      );
    for (const r of res.rows) {
      if (rows.has(r.point)) throw new Error(`${file}: point ${r.point} is in another file too`);
      if (r.point < 0 || r.point >= res.points) throw new Error(`${file}: no point ${r.point} in this sweep`);
      rows.set(r.point, r);
    }
  }
  const { points, parameters, sweep, fingerprint } = first.res;
  if (rows.size !== points) {
    const missing: number[] = [];
    for (let i = 0; i < points && missing.length < 5; i++) if (!rows.has(i)) missing.push(i);
    throw new Error(
      `${points - rows.size} of ${points} points are missing (first: ${missing.join(", ")}): a shard file is missing`,
    );
  }
  return { sweep, fingerprint, points, parameters, rows: [...rows.values()] };
}
