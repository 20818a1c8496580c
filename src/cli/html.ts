/** `--html FILE` and `report.html` in `--out DIR`: the HTML report of the runs a command made. */
import { readFileSync, writeFileSync } from "node:fs";
import { HTML_DATA_OPEN, htmlReport, type HtmlRun } from "../report/html.ts";
import type { Scenario } from "../scenario/loader.ts";
import type { RunOptions, RunResult } from "../scenario/runner.ts";
import { shellQuote, UsageError } from "./io.ts";

/** What the report needs of a run: the timeline, at its defaults. */
export const HTML_TIMELINE: RunOptions["timeline"] = {};
/**
 * What the report needs of a replayed run (`rstmem replay --html`, `explore --html`): a short story,
 * sampled also at each change of memory, so its chart shows each lend and reclaim when it happened.
 */
export const REPLAY_TIMELINE: RunOptions["timeline"] = { changes: true };

/**
 * The `rstmem run` command that replays a run exactly: its file (none for the built-in default), seed,
 * the named policy it ran under when that was not the scenario's own, the schedule it replayed, and
 * `--faults` (the injected faults follow from the seed).
 */
export function replayCommand(
  file: string | null,
  r: RunResult,
  opts: {
    policy?: string | null;
    schedule?: string;
    faults?: number | boolean;
    faultKinds?: readonly string[];
  },
): string {
  return (
    "rstmem run" +
    (file === null ? "" : ` ${shellQuote(file)}`) +
    ` --seed ${r.seed}` +
    (opts.policy ? ` --policy ${shellQuote(opts.policy)}` : "") +
    (opts.schedule !== undefined ? ` --schedule ${shellQuote(opts.schedule)}` : "") +
    (opts.faults === true ? " --faults" : typeof opts.faults === "number" ? ` --faults ${opts.faults}` : "") +
    (opts.faultKinds ? ` --fault-kinds ${opts.faultKinds.join(",")}` : "")
  );
}

/** The report's heading: the scenario's name, or how many scenarios there are. */
export function reportTitle(scenarios: readonly Scenario[]): string {
  const names = [...new Set(scenarios.map((s) => s.name))];
  return names.length === 1 ? names[0] : `${names.length} scenarios`;
}

/** Writes the report; a path that cannot be written is a usage error (exit status 2). */
export function writeHtmlReport(path: string, title: string, runs: readonly HtmlRun[]): void {
  try {
    writeFileSync(path, htmlReport({ title, runs }));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === undefined) throw e;
    throw new UsageError(`--html ${path}: cannot write (${code})`);
  }
}

/** Whether the file at `path` is an HTML report rstmem wrote (its data block, report/html.ts). */
export function isRstmemReport(path: string): boolean {
  try {
    return readFileSync(path, "utf8").includes(HTML_DATA_OPEN);
  } catch {
    return false;
  }
}
