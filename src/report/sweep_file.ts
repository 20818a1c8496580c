/**
 * SWEEP.yaml: a base scenario (a file, or inline) and a grid of dotted paths → value lists; every
 * combination is one point (issue 10, "Sweeps"). Validated with zod; every problem is a ScenarioError
 * with file:line:column, as the scenario loader gives them — including a grid value that makes a bad
 * scenario, located at that value.
 *
 * ```yaml
 * name: cma-by-policy
 * scenario: ../size-8k.yaml         # relative to this file; or the scenario's mapping itself
 * grid:                             # file order; the last key varies fastest
 *   policy: [upstream, safe]
 *   platform.dram_size: [4GiB, 8GiB]
 *   workloads[0].secure-video.sessions: [1, 2, 3]
 * expect:                           # optional: every point must also meet these
 *   metrics: { alloc_failures: 0, first_frame_alloc_p99_ns: "<250ms" }
 * ```
 */
import { createHash } from "node:crypto";
import { dirname, resolve } from "node:path";
import { z } from "zod";
import {
  formatPath,
  issueToError,
  parseYamlWithPositions,
  readInputFile,
  ScenarioError,
  SourceMap,
} from "../scenario/errors.ts";
import { loadScenarioText, type Scenario } from "../scenario/loader.ts";
import { boundHolds, METRICS, parseMetricBound, type MetricBound } from "../scenario/metrics.ts";
import { formatDuration, formatSize } from "../scenario/units.ts";
import { METRIC_NAMES, type MetricName, type PointMetrics } from "./sweep_metrics.ts";
import { parsePath, PATH_EXPECTED, setPath, type DataPath } from "./sweep_path.ts";

/** Points a sweep may have (a grid past this is a typo more often than a plan). */
export const MAX_POINTS = 100_000;

const metricBound = z
  .union([z.number(), z.string()])
  .describe(
    'N, ">N" or "<N" in the metric\'s unit: a size (512MiB) for *_bytes, a duration (100ms) for *_ns',
  );

export const sweepSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, { message: "expected a name of letters, digits, _ . -" })
    .optional()
    .describe("names the output files (default: the file's name)"),
  description: z.string().optional(),
  scenario: z
    .union([z.string().describe("a scenario file, relative to this file"), z.record(z.string(), z.unknown())])
    .describe("the base scenario: a file, or its mapping inline"),
  grid: z
    .record(z.string(), z.array(z.unknown()).min(1))
    .describe("dotted path → the values it takes; every combination is one point"),
  expect: z
    .strictObject({ metrics: z.partialRecord(z.enum(METRIC_NAMES), metricBound).optional() })
    .optional()
    .describe("bounds every point must meet, beside its scenario's own expect"),
});

export interface MetricExpectation {
  readonly metric: MetricName;
  readonly bound: MetricBound;
  /** As written: `<250ms`. */
  readonly text: string;
}

interface GridKey {
  readonly key: string;
  readonly path: DataPath;
  readonly values: readonly unknown[];
}

export interface Sweep {
  /** The sweep file as named on the command line. */
  readonly file: string;
  readonly name: string;
  /** A hash of the base scenario, grid and expectations: shards of one sweep share it. */
  readonly fingerprint: string;
  readonly parameters: readonly string[];
  readonly points: number;
  readonly expect: readonly MetricExpectation[];
  /** The point's parameter values, by grid key in file order. */
  params(index: number): Record<string, unknown>;
  /** The point's scenario as text for loadScenarioText(), and the name its runs carry. */
  pointText(index: number): { text: string; file: string };
  /** Loads point `index`'s scenario; a problem is a ScenarioError at the grid value (or base) that causes it. */
  loadPoint(index: number): Scenario;
}

function metricExpectations(
  raw: Partial<Record<MetricName, number | string>>,
  map: SourceMap,
): MetricExpectation[] {
  return Object.entries(raw).map(([metric, v]) => {
    const bound = parseMetricBound(metric as MetricName, v);
    if (typeof bound === "string") throw map.error(["expect", "metrics", metric], bound);
    return { metric: metric as MetricName, bound, text: String(v).trim() };
  });
}

/** Whether the metrics meet the sweep's expectations: null, or the first that failed as a sentence. */
export function unmetExpectation(m: PointMetrics, expect: readonly MetricExpectation[]): string | null {
  for (const e of expect) {
    const v = m[e.metric];
    if (boundHolds(e.bound, v)) continue;
    const unit = METRICS[e.metric].unit;
    const got = unit === "ns" ? formatDuration(v) : unit === "bytes" ? formatSize(v) : String(v);
    return `expected ${e.metric} ${e.bound.op === "=" ? "= " : ""}${e.text}, got ${got}`;
  }
  return null;
}

/** Deep copy of plain YAML data (mappings, lists, scalars). */
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** Loads and checks a sweep file (not its points: loadPoint checks each). */
export function loadSweepFile(path: string, display = path): Sweep {
  const { data, map } = parseYamlWithPositions(readInputFile(path, display), display);
  if (data === null || typeof data !== "object" || Array.isArray(data))
    throw map.error([], "expected a mapping with keys scenario and grid");
  const parsed = sweepSchema.safeParse(data);
  if (!parsed.success) throw issueToError(map, sweepSchema, data, parsed.error.issues[0]);
  const sw = parsed.data;

  const grid: GridKey[] = Object.entries(sw.grid).map(([key, values]) => {
    const p = parsePath(key);
    if (p === null) throw map.error(["grid", key], `expected ${PATH_EXPECTED}, got "${key}"`, true);
    return { key, path: p, values };
  });

  // The base: a file (its own positions), or the inline mapping (positions under `scenario`).
  let base: Record<string, unknown>;
  let baseMap: SourceMap;
  let basePrefix: DataPath = [];
  let baseFile: string;
  if (typeof sw.scenario === "string") {
    const full = resolve(dirname(path), sw.scenario);
    baseFile = sw.scenario;
    const text = readInputFile(full, sw.scenario);
    loadScenarioText(text, sw.scenario); // the base alone must load: its errors name its own file
    const y = parseYamlWithPositions(text, sw.scenario);
    base = (y.data ?? {}) as Record<string, unknown>;
    baseMap = y.map;
  } else {
    base = sw.scenario;
    baseMap = map;
    basePrefix = ["scenario"];
    baseFile = display;
  }

  const points = grid.reduce((n, g) => n * g.values.length, 1);
  if (points > MAX_POINTS)
    throw map.error(["grid"], `${points} points; a sweep has at most ${MAX_POINTS}`, true);
  const expect = metricExpectations(sw.expect?.metrics ?? {}, map);
  const name = sw.name ?? display.replace(/^.*\//, "").replace(/\.(ya?ml|json)$/, "");
  const fingerprint = createHash("sha256")
    .update(JSON.stringify({ base, grid: sw.grid, expect: sw.expect ?? null }))
    .digest("hex")
    .slice(0, 16);

  /** Value index of each grid key at a point: row-major, the last key fastest. */
  const choice = (index: number): number[] => {
    if (!Number.isInteger(index) || index < 0 || index >= points) throw new RangeError(`no point ${index}`);
    const out = new Array<number>(grid.length);
    for (let k = grid.length - 1; k >= 0; k--) {
      out[k] = index % grid[k].values.length;
      index = Math.floor(index / grid[k].values.length);
    }
    return out;
  };
  const params = (index: number) => {
    const c = choice(index);
    return Object.fromEntries(grid.map((g, k) => [g.key, g.values[c[k]]]));
  };
  const pointFile = (index: number) => `${display}#${index}`;
  const pointText = (index: number) => {
    const c = choice(index);
    const d = clone(base);
    grid.forEach((g, k) => {
      const why = setPath(d, g.path, clone(g.values[c[k]]));
      if (why) throw map.error(["grid", g.key], why, true);
    });
    return { text: JSON.stringify(d, null, 1), file: pointFile(index) };
  };
  const loadPoint = (index: number): Scenario => {
    const { text, file } = pointText(index);
    try {
      return loadScenarioText(text, file);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
      throw locate(e, index);
    }
  };
  /** A point's scenario error, at the grid value it comes from, else at the base's place for it. */
  const locate = (e: ScenarioError, index: number): ScenarioError => {
    const c = choice(index);
    const where = parsePath(e.where) ?? [];
    const desc = grid.map((g, k) => `${g.key}=${JSON.stringify(g.values[c[k]])}`).join(", ");
    const what = `point ${index} (${desc}): ${e.where ? `${e.where}: ` : ""}${e.what}`;
    const k = grid.findIndex(
      (g) => g.path.length <= where.length && g.path.every((p, i) => String(p) === String(where[i])),
    );
    if (k >= 0) {
      const { line, col } = map.locate(["grid", grid[k].key, c[k]]);
      return new ScenarioError(display, line, col, formatPath(["grid", grid[k].key]), what);
    }
    // Not one grid value's: the combination (or the base). Point at the grid, naming the base's place.
    const basePos = baseMap.locate([...basePrefix, ...where]);
    const { line, col } = map.locate(["grid"], true);
    return new ScenarioError(
      display,
      line,
      col,
      "grid",
      `${what} (the scenario's ${e.where || "top"} is at ${baseFile}:${basePos.line}:${basePos.col})`,
    );
  };
  return {
    file: display,
    name,
    fingerprint,
    parameters: grid.map((g) => g.key),
    points,
    expect,
    params,
    pointText,
    loadPoint,
  };
}

/** `--shard I/N`: 1 ≤ I ≤ N; the shard runs the points whose index % N == I − 1. */
export function parseShard(s: string): { index: number; count: number } | null {
  const m = /^(\d+)\/(\d+)$/.exec(s.trim());
  if (!m) return null;
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count) return null;
  return { index, count };
}

/** The point indexes a shard runs, in order. */
export function shardPoints(points: number, shard: { index: number; count: number } | null): number[] {
  const out: number[] = [];
  for (let i = 0; i < points; i++) if (shard === null || i % shard.count === shard.index - 1) out.push(i);
  return out;
}
