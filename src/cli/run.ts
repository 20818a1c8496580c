/** `rstmem run` and `rstmem validate`. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { tracePathFor, TraceFileError, traceFiles, type TracePaths } from "../report/trace-files.ts";
import { summaryJson, summaryLine, summaryText } from "../report/summary.ts";
import { loadScenarioFile, type Scenario } from "../scenario/loader.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";
import { randomFaultChooser } from "../sim/faults.ts";
import { Prng } from "../sim/prng.ts";
import { DEFAULT_SCENARIO } from "./builtins.ts";
import { faultBudget, parsePositive, parseSeed, UsageError, type Io, type SetCode } from "./io.ts";
import { loadWithPolicy } from "./scenario_args.ts";
import type { HtmlRun } from "../report/html.ts";
import { HTML_TIMELINE, replayCommand, reportTitle, writeHtmlReport } from "./html.ts";

/** The trace files of one run: --trace/--ftrace, and trace.json/trace.txt in --out DIR. */
function openTraces(sc: Scenario, paths: TracePaths) {
  try {
    return traceFiles(sc, paths);
  } catch (e) {
    if (e instanceof TraceFileError) throw new UsageError(e.message);
    throw e;
  }
}

export function runOne(
  sc: Scenario,
  opts: {
    seed?: number;
    out?: string;
    schedule?: string;
    trace?: string;
    ftrace?: string;
    faults?: number | boolean;
    /** Sample the timeline (for an HTML report); always with `out`. */
    html?: boolean;
    /** How the HTML report in `out` names the run and replays it. */
    label?: string;
    replay?: (r: RunResult) => string;
    /** Receives the result with its timeline (for `--html`); what runOne returns has none. */
    sampled?: (r: RunResult) => void;
  },
  io: Io,
): RunResult {
  // `--faults [N]`: a fault chooser seeded from the run's seed strikes at up to N points (sim/faults.ts).
  const budget = faultBudget(opts.faults);
  const stream = new Prng(opts.seed ?? sc.seed).stream("run.faults");
  const faults =
    budget > 0 ? { chooser: randomFaultChooser((n) => stream.int(0, n - 1)), budget } : undefined;
  const dir = opts.out ? join(opts.out, sc.name.replace(/[^A-Za-z0-9._-]/g, "_")) : null;
  if (dir) mkdirSync(dir, { recursive: true });
  const files = [
    openTraces(sc, { chrome: opts.trace, ftrace: opts.ftrace }),
    ...(dir ? [openTraces(sc, { chrome: join(dir, "trace.json"), ftrace: join(dir, "trace.txt") })] : []),
  ];
  const listeners = files.flatMap((f) => (f.listener ? [f.listener] : []));
  let bar: cliProgress.SingleBar | null = null;
  const started = Date.now();
  let result = runScenario(sc, {
    seed: opts.seed,
    schedule: opts.schedule,
    faults,
    trace:
      listeners.length === 0
        ? undefined
        : (e) => {
            for (const l of listeners) l(e);
          },
    tracePerAccess: false,
    // The traces' memory counters and the HTML report are drawn from the timeline's samples.
    ...(listeners.length > 0 || opts.html || dir ? { timeline: HTML_TIMELINE } : {}),
    onProgress: io.errIsTty
      ? (_t, done) => {
          // Progress only matters for runs that last; wall time here never feeds the simulation.
          if (!bar && Date.now() - started > 1000) {
            bar = new cliProgress.SingleBar(
              { format: `${sc.name} [{bar}] {value}/{total} steps`, stream: process.stderr },
              cliProgress.Presets.shades_classic,
            );
            bar.start(Math.max(1, sc.steps.length), done);
          }
          bar?.update(done);
        }
      : undefined,
  });
  (bar as cliProgress.SingleBar | null)?.stop();
  for (const f of files) f.finish(result);
  if (dir) {
    const label = opts.label ?? sc.policy.name;
    writeHtmlReport(join(dir, "report.html"), sc.name, [
      { result, label, replay: opts.replay?.(result) ?? replayCommand(sc.file, result, opts) },
    ]);
  }
  opts.sampled?.(result);
  // The timeline was taken for the traces and the report only: the summary and --json stay as without them.
  if (result.timeline) {
    const { timeline: _timeline, ...rest } = result;
    result = rest;
  }
  if (dir) {
    writeFileSync(join(dir, "summary.json"), summaryJson(result) + "\n");
    writeFileSync(join(dir, "schedule.txt"), result.schedule + "\n");
  }
  return result;
}

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("run")
    .description("run scenarios (none given: the built-in default scenario) and print their summaries")
    .argument("[file...]", "scenario files (YAML or JSON)")
    .option("--json", "print the result as JSON")
    .option("--seed <n>", "override the scenario's seed", parseSeed)
    .option(
      "--out <dir>",
      "write summary.json, schedule.txt, report.html, trace.json (Chrome/Perfetto) and trace.txt (ftrace) per scenario",
    )
    .option(
      "--html <file>",
      "write one self-contained HTML report of every run (charts, memory map, findings)",
    )
    .option(
      "--trace <file>",
      "write a Chrome trace-event JSON that Perfetto opens (several scenarios: FILE with each one's name before the extension)",
    )
    .option(
      "--ftrace <file>",
      "write ftrace text with the kernel's cma_* tracepoints and tracing_mark_write slices",
    )
    .option("--policy <name>", "run under this named policy instead of the scenario's own")
    .option(
      "--faults [n]",
      "inject up to n faults (default 1) at fault points chosen from the seed, beside the scenario's faults:",
      parsePositive,
    )
    .addOption(new Option("--schedule <s>", "replay a recorded schedule string").hideHelp())
    .action(
      (
        files: string[],
        opts: {
          json?: boolean;
          seed?: number;
          out?: string;
          schedule?: string;
          policy?: string;
          trace?: string;
          ftrace?: string;
          faults?: number | boolean;
          html?: string;
        },
      ) => {
        // Load everything first: a bad file stops the batch before anything runs.
        const policy = opts.policy ?? null;
        const scenarios =
          files.length > 0
            ? files.map((p) => loadWithPolicy(p, p, policy))
            : [loadWithPolicy("built-in default", DEFAULT_SCENARIO, policy)];
        // One trace per scenario: with several, each file gets the scenario's name before its extension.
        const tracePath = (p: string | undefined, sc: Scenario) =>
          p === undefined || scenarios.length === 1 ? p : tracePathFor(p, sc.name);
        const replay = (sc: Scenario) => (r: RunResult) =>
          replayCommand(files.length > 0 ? sc.file : null, r, {
            policy,
            schedule: opts.schedule,
            faults: opts.faults,
          });
        const label = (sc: Scenario) =>
          scenarios.length === 1 ? sc.policy.name : `${sc.name} (${sc.policy.name})`;
        const sampled: HtmlRun[] = [];
        const results = scenarios.map((sc) =>
          runOne(
            sc,
            {
              ...opts,
              trace: tracePath(opts.trace, sc),
              ftrace: tracePath(opts.ftrace, sc),
              html: opts.html !== undefined,
              label: label(sc),
              replay: replay(sc),
              sampled: (r) => sampled.push({ result: r, label: label(sc), replay: replay(sc)(r) }),
            },
            io,
          ),
        );
        if (opts.html !== undefined) writeHtmlReport(opts.html, reportTitle(scenarios), sampled);
        if (opts.json) io.out(summaryJson(results.length === 1 ? results[0] : results) + "\n");
        else if (results.length === 1) io.out(summaryText(results[0]) + "\n");
        else for (const r of results) io.out(summaryLine(r) + "\n");
        setCode(Math.max(0, ...results.map((r) => r.exitCode)));
      },
    );

  program
    .command("validate")
    .description("check a scenario file against the schema and the platform, without running it")
    .argument("<file>", "scenario file")
    .option("--json", "print the resolved scenario as JSON")
    .action((file: string, opts: { json?: boolean }) => {
      const sc = loadScenarioFile(file);
      if (opts.json) {
        const { source: _source, ...rest } = sc;
        io.out(JSON.stringify(rest, null, 2) + "\n");
      } else {
        io.out(`${file}: ok (${sc.name}, platform ${sc.platform.name}, ${sc.steps.length} steps)\n`);
      }
    });
}
