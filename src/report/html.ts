/**
 * The HTML report (ARCHITECTURE.md §9): one self-contained file that opens offline — memory over time,
 * the allocation-latency CDF per policy, policies side by side, a physical memory map with a time
 * slider, every finding with its time and the command that replays it, and for a replayed run its story
 * event by event.
 *
 * The charts are uPlot's, its minified build read from node_modules when the report is written and
 * inlined. Everything a scenario wrote (names, files, process names, finding text) reaches the page
 * only as JSON data in a <script type="application/json"> block, with `<`, `>` and `&` escaped, and the
 * page's script puts it in the DOM with textContent: no scenario string is ever parsed as markup.
 * A Content-Security-Policy forbids the page any network access.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { RunResult } from "../scenario/runner.ts";
import { MAP_STATES, type MapState, type TimelineSample } from "../scenario/timeline.ts";
import { PAGE_SCRIPT } from "./html/page.ts";
import type { StoryEvent, StoryPart } from "./story.ts";

/** One run of the report: a column of the comparison. */
export interface HtmlRun {
  readonly result: RunResult;
  /** The run's name everywhere in the report: its policy in a comparison (`upstream`, `safe`). */
  readonly label: string;
  /** The shell command that replays this run exactly (and so each of its findings). */
  readonly replay: string;
  /**
   * The run event by event (`rstmem replay --html`): the boot's events (folded unless `bootOpen`: asked
   * for, or a fault struck there), then the run's.
   */
  readonly story?: {
    readonly boot: readonly StoryEvent[];
    readonly run: readonly StoryEvent[];
    /** The run's events in all, when `run` holds only the first of them (a replay keeps at most so many). */
    readonly runTotal?: number;
    /**
     * What the story shows past `run` when it holds only the first events: each part after the events
     * skipped before it (the events around the finding the violation is about, the last events).
     */
    readonly more?: readonly Omit<StoryPart, "why">[];
    readonly bootOpen?: boolean;
  };
}

export interface HtmlReportInput {
  /** The page's heading: the scenario's name, as the scenario gives it. */
  readonly title: string;
  readonly runs: readonly HtmlRun[];
}

/** Map colours, by MAP_STATES code. Lent-and-still-mapped is the alarm colour: speculation reaches it. */
const STATE_COLORS: Readonly<Record<MapState, string>> = {
  free: "#e8f5e9",
  movable: "#90caf9",
  kernel: "#9575cd",
  cma: "#fff59d",
  carveout: "#9e9e9e",
  "cma-used": "#ffb74d",
  unmapped: "#37474f",
  "lent-unmapped": "#2e7d32",
  lent: "#d32f2f",
};

const STATE_LABELS: Readonly<Record<MapState, string>> = {
  free: "free",
  movable: "movable (user pages)",
  kernel: "kernel",
  cma: "CMA, free",
  carveout: "carveout",
  "cma-used": "CMA used (not lent)",
  unmapped: "unmapped from the linear map",
  "lent-unmapped": "lent, unmapped",
  lent: "lent, still in the linear map",
};

/** The comparison bars: key in each run's `metrics`, label, unit (values already in it). */
const METRICS = [
  { key: "firstFrameP99Ms", label: "p99 first-frame allocation latency", unit: "ms", digits: 3 },
  { key: "peakLentMiB", label: "restricted memory lent at peak", unit: "MiB", digits: 1 },
  { key: "ffaCalls", label: "FF-A calls", unit: "", digits: 0 },
  { key: "linearMapSplits", label: "linear-map block splits", unit: "", digits: 0 },
  { key: "cmaMigrations", label: "CMA page migrations", unit: "", digits: 0 },
  { key: "findings", label: "findings", unit: "", digits: 0 },
] as const;

/** Map columns: bins are laid out in rows of this many. */
const MAP_COLUMNS = 64;

/** A run's value of each comparison bar; null where the run has none (no workload made a first frame). */
function metricsOf(r: RunResult): Record<(typeof METRICS)[number]["key"], number | null> {
  const sum = (o: Readonly<Record<string, number>>) => Object.values(o).reduce((a, b) => a + b, 0);
  const firsts = (r.workloads ?? []).filter((w) => w.firstFrameAllocNs.count > 0);
  return {
    firstFrameP99Ms:
      firsts.length === 0 ? null : Math.max(...firsts.map((w) => w.firstFrameAllocNs.p99)) / 1e6,
    peakLentMiB: (r.protmem?.peakLentBytes ?? 0) / 1048576,
    ffaCalls: sum(r.ffaCalls),
    linearMapSplits: r.machine.directMapSplits ?? 0,
    cmaMigrations: r.machine.cmaMigrations ?? 0,
    findings: sum(r.findings),
  };
}

/** The timeline as columns (what the charts read), maps as they are (run-length encoded). */
function timelineData(r: RunResult): Record<string, unknown> | null {
  const tl = r.timeline;
  if (!tl) return null;
  const col = (f: (s: TimelineSample) => number) => tl.samples.map(f);
  return {
    bins: tl.bins,
    cols: Math.min(MAP_COLUMNS, tl.bins),
    binBytes: tl.binBytes,
    dramBase: tl.dramBase,
    dramBytes: tl.dramBytes,
    regions: tl.regions,
    changes: tl.changes,
    t: col((s) => s.t),
    free: col((s) => s.freeBytes),
    lent: col((s) => s.lentBytes),
    cmaUsed: col((s) => s.cmaUsedBytes),
    unmapped: col((s) => s.unmappedBytes),
    maps: tl.samples.map((s) => s.map),
  };
}

/**
 * Events of a story the report holds at most, boot and run each: a replayed violation tells a few
 * hundred; a long scenario replayed could tell millions, and the page would not open.
 */
export const STORY_EVENTS_MAX = 20_000;

/** A story's events as columns (what the page's table reads), the first STORY_EVENTS_MAX of them. */
function storyData(events: readonly StoryEvent[], total = events.length): Record<string, unknown> {
  const kept = events.slice(0, STORY_EVENTS_MAX);
  return {
    total: Math.max(total, events.length),
    t: kept.map((e) => e.t),
    task: kept.map((e) => e.task),
    layer: kept.map((e) => e.layer),
    call: kept.map((e) => e.call),
    what: kept.map((e) => e.what),
  };
}

/** The report's data, as the page's script reads it. */
export function htmlReportData(input: HtmlReportInput): Record<string, unknown> {
  return {
    title: input.title,
    states: MAP_STATES,
    stateLabels: MAP_STATES.map((s) => STATE_LABELS[s]),
    colors: MAP_STATES.map((s) => STATE_COLORS[s]),
    metrics: METRICS,
    runs: input.runs.map(({ result: r, label, replay, story }) => ({
      label,
      replay,
      scenario: r.scenario,
      file: r.file,
      platform: r.platform,
      seed: r.seed,
      passed: r.passed,
      failure: r.failure,
      simTimeNs: r.simTimeNs,
      findings: r.findings,
      details: r.findingDetails.map((f) => ({ id: f.id, t: f.t, task: f.task, message: f.message })),
      metrics: metricsOf(r),
      latency: (r.workloads ?? []).map((w) => ({
        name: w.name,
        all: w.allocNs.cdf,
        first: w.firstFrameAllocNs.cdf,
      })),
      timeline: timelineData(r),
      story: story
        ? {
            boot: storyData(story.boot),
            run: storyData(story.run, story.runTotal),
            more: (story.more ?? []).map((p) => ({
              skipped: p.skipped,
              heading: p.heading,
              ...storyData(p.events),
            })),
            bootOpen: story.bootOpen ?? false,
          }
        : null,
    })),
  };
}

/**
 * JSON that is safe inside a <script> element: no `<` (so no `</script>` or `<!--`), `>` or `&` as
 * such, and no U+2028/U+2029 (line breaks to older JavaScript parsers).
 */
export function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

let uplotAssets: { js: string; css: string } | null = null;

/** uPlot's minified browser build and its stylesheet, from the installed package. */
function uplot(): { js: string; css: string } {
  if (uplotAssets) return uplotAssets;
  const require = createRequire(import.meta.url);
  const dist = join(dirname(require.resolve("uplot/package.json")), "dist");
  const js = readFileSync(join(dist, "uPlot.iife.min.js"), "utf8");
  const css = readFileSync(join(dist, "uPlot.min.css"), "utf8");
  // Inlined as they are: neither may close its element early.
  if (/<\/script/i.test(js) || /<\/style/i.test(css)) throw new Error("uPlot's build closes its own element");
  uplotAssets = { js, css };
  return uplotAssets;
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #212121; background: #fafafa; }
#report { max-width: 940px; margin: 0 auto; padding: 16px 20px 48px; }
h1 { font-size: 22px; margin: 8px 0 12px; word-break: break-all; }
h2 { font-size: 18px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 12px 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 3px 6px; border-bottom: 1px solid #eee; vertical-align: top; }
td.num { text-align: right; white-space: nowrap; }
td.pass { color: #2e7d32; font-weight: 600; }
td.fail { color: #c62828; font-weight: 600; }
code { font-size: 12px; background: #eeeeee; padding: 1px 4px; word-break: break-all; }
.note { color: #616161; font-size: 12px; }
.clean { color: #2e7d32; }
.bars { display: flex; flex-wrap: wrap; gap: 12px; }
.bar-chart { width: 290px; }
.values span { display: block; font-size: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; margin: 6px 0; }
.legend-item { display: inline-flex; align-items: center; gap: 5px; font-size: 12px; }
.swatch { display: inline-block; width: 12px; height: 12px; border: 1px solid #0003; }
.map-canvas { display: block; border: 1px solid #ccc; max-width: 100%; }
.map-controls { display: flex; align-items: center; gap: 10px; margin: 6px 0; }
.map-slider { flex: 1; }
.map-time { font-size: 12px; min-width: 260px; }
.story-filter { width: 100%; box-sizing: border-box; margin: 4px 0 8px; padding: 4px 6px; font-size: 13px; }
.story-table { font-size: 12px; font-family: ui-monospace, monospace; }
.story-table td.what { word-break: break-all; }
.story-boot summary { cursor: pointer; margin: 6px 0; }
`;

/** The report's data block opens so: what marks a file as an rstmem report (a clean search removes only such). */
export const HTML_DATA_OPEN = '<script type="application/json" id="rstmem-data">';

/** The report as one HTML document. */
export function htmlReport(input: HtmlReportInput): string {
  const { js, css } = uplot();
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    // No network, ever: only the inline script and styles, and data: images.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    "<title>rstmem report</title>",
    `<style>${css}</style>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    '<main id="report"></main>',
    `${HTML_DATA_OPEN}${scriptSafeJson(htmlReportData(input))}</script>`,
    `<script>${js}</script>`,
    `<script>${PAGE_SCRIPT}</script>`,
    "</body>",
    "</html>",
    "",
  ].join("\n");
}
