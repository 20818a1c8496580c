/** `rstmem run` and `rstmem validate`. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { tracePathFor, TraceFileError, traceFiles, type TracePaths } from "../report/trace-files.ts";
import { summaryJson, summaryLine, summaryText } from "../report/summary.ts";
import { loadScenarioFile, type Scenario } from "../scenario/loader.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";
import { compareResult, underPolicy, type CompareResult } from "../scenario/compare.ts";
import { compareJson, compareText } from "../report/compare.ts";
import { FAULT_KINDS, randomFaultChooser, type FaultKind } from "../sim/faults.ts";
import { Prng } from "../sim/prng.ts";
import { BUILTIN_SCENARIOS } from "./builtins.ts";
import {
  faultBudget,
  makeOutputDir,
  parseFaultKinds,
  parsePositive,
  parseSeed,
  UsageError,
  type Io,
  type SetCode,
} from "./io.ts";
import { loadWithPolicy, scenarioArg } from "./scenario_args.ts";
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

export interface RunCliOptions {
  seed?: number;
  out?: string;
  schedule?: string;
  trace?: string;
  ftrace?: string;
  faults?: number | boolean;
  /** `--fault-kinds`: the kinds `faults` may strike (absent: every kind). */
  faultKinds?: FaultKind[];
  /** Sample the timeline (for an HTML report); always with `out`. */
  html?: boolean;
  /** How the HTML report in `out` names the run and replays it. */
  label?: string;
  replay?: (r: RunResult) => string;
  /** Receives the result with its timeline (for `--html`); what runOne returns has none. */
  sampled?: (r: RunResult) => void;
  /** Where `--out` files go (default: OUT/SCENARIO). */
  outDir?: string;
}

const safeName = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, "_");

/** A progress bar on a terminal for runs that last more than a second (simulated time against `until`). */
function progress(sc: Scenario, label: string, io: Io) {
  if (!io.errIsTty) return { onProgress: undefined, stop: () => {} };
  let bar: cliProgress.SingleBar | null = null;
  const started = Date.now();
  const total = sc.untilNs ?? null;
  return {
    onProgress: (t: number, done: number) => {
      // Wall time here only decides whether to draw; it never feeds the simulation.
      if (!bar && Date.now() - started > 1000) {
        bar = new cliProgress.SingleBar(
          {
            format:
              total !== null
                ? `${label} [{bar}] {value}/{total} simulated s`
                : `${label} [{bar}] {value}/{total} steps`,
            stream: process.stderr,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total !== null ? Math.round(total / 1e9) : Math.max(1, sc.steps.length), 0);
      }
      bar?.update(total !== null ? Math.min(Math.round(t / 1e9), Math.round(total / 1e9)) : done);
    },
    stop: () => (bar as cliProgress.SingleBar | null)?.stop(),
  };
}

export function runOne(sc: Scenario, opts: RunCliOptions, io: Io): RunResult {
  // `--faults [N]`: a fault chooser seeded from the run's seed strikes at up to N points (sim/faults.ts).
  const budget = faultBudget(opts.faults);
  const stream = new Prng(opts.seed ?? sc.seed).stream("run.faults");
  const faults =
    budget > 0
      ? {
          chooser: randomFaultChooser((n) => stream.int(0, n - 1), undefined, opts.faultKinds ?? null),
          budget,
        }
      : undefined;
  const dir = opts.outDir ?? (opts.out ? join(opts.out, safeName(sc.name)) : null);
  if (dir) makeOutputDir(dir, "--out");
  const files = [
    openTraces(sc, { chrome: opts.trace, ftrace: opts.ftrace }),
    ...(dir ? [openTraces(sc, { chrome: join(dir, "trace.json"), ftrace: join(dir, "trace.txt") })] : []),
  ];
  const listeners = files.flatMap((f) => (f.listener ? [f.listener] : []));
  const bar = progress(sc, opts.label ?? sc.name, io);
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
    onProgress: bar.onProgress,
  });
  bar.stop();
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

/**
 * Runs one scenario under each policy. `--out` gets a directory per policy under the scenario's and one
 * report.html of every policy in the scenario's; `--trace`/`--ftrace` a file per policy (the policy's
 * name before the extension); `sampled` receives each run with its timeline, for `--html`.
 */
export function compareOne(
  sc: Scenario,
  policies: readonly string[],
  opts: RunCliOptions,
  io: Io,
): CompareResult {
  const sampled: HtmlRun[] = [];
  const runs = policies.map((p) => {
    const replay = (r: RunResult) =>
      opts.replay?.(r) ??
      replayCommand(sc.file, r, {
        policy: p,
        schedule: opts.schedule,
        faults: opts.faults,
        faultKinds: opts.faultKinds,
      });
    return runOne(
      underPolicy(sc, p),
      {
        ...opts,
        trace: opts.trace === undefined ? undefined : tracePathFor(opts.trace, p),
        ftrace: opts.ftrace === undefined ? undefined : tracePathFor(opts.ftrace, p),
        label: p,
        replay,
        outDir: opts.out ? join(opts.out, safeName(sc.name), safeName(p)) : undefined,
        html: opts.html || opts.out !== undefined,
        sampled: (r) => {
          sampled.push({ result: r, label: p, replay: replay(r) });
          opts.sampled?.(r);
        },
      },
      io,
    );
  });
  if (opts.out) writeHtmlReport(join(opts.out, safeName(sc.name), "report.html"), sc.name, sampled);
  return compareResult(sc, policies, runs);
}

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("run")
    .description(
      "run scenarios and print their summaries; none given: the built-in default run (ten minutes of secure " +
        "media under upstream and safe, compared)",
    )
    .argument(
      "[scenario...]",
      `scenario files (YAML or JSON) or built-ins: ${Object.keys(BUILTIN_SCENARIOS).join(", ")}`,
    )
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
    .option(
      "--fault-kinds <list>",
      `with --faults: the kinds it may strike, comma-separated (${FAULT_KINDS.join(", ")}; default all)`,
      parseFaultKinds,
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
          faultKinds?: FaultKind[];
          html?: string;
        },
      ) => {
        if (opts.faultKinds !== undefined && faultBudget(opts.faults) === 0)
          throw new UsageError("--fault-kinds applies with --faults");
        // Load everything first: a bad file stops the batch before anything runs.
        const policy = opts.policy ?? null;
        const scenarios = (files.length > 0 ? files : ["default"]).map((arg) => {
          const { display, file } = scenarioArg(arg);
          return loadWithPolicy(display, file, policy);
        });
        // One trace per scenario: with several, each file gets the scenario's name before its extension.
        const tracePath = (p: string | undefined, sc: Scenario) =>
          p === undefined || scenarios.length === 1 ? p : tracePathFor(p, sc.name);
        const replay = (sc: Scenario) => (r: RunResult) =>
          replayCommand(files.length > 0 ? sc.file : null, r, {
            policy,
            schedule: opts.schedule,
            faults: opts.faults,
            faultKinds: opts.faultKinds,
          });
        const label = (sc: Scenario) =>
          scenarios.length === 1 ? sc.policy.name : `${sc.name} (${sc.policy.name})`;
        const sampled: HtmlRun[] = [];
        // A compared run in the --html report: labelled by its policy (and scenario, with several).
        const htmlRun = (sc: Scenario, r: RunResult): HtmlRun => ({
          result: r,
          label: scenarios.length === 1 ? r.policy : `${sc.name} (${r.policy})`,
          replay: replayCommand(files.length > 0 ? sc.file : null, r, {
            policy: r.policy,
            schedule: opts.schedule,
            faults: opts.faults,
            faultKinds: opts.faultKinds,
          }),
        });
        // A scenario with `compare:` runs under each of its policies, unless --policy names one.
        const results = scenarios.map((sc) => {
          const o: RunCliOptions = {
            ...opts,
            trace: tracePath(opts.trace, sc),
            ftrace: tracePath(opts.ftrace, sc),
            html: opts.html !== undefined,
          };
          if (sc.compare && policy === null)
            return compareOne(sc, sc.compare, { ...o, sampled: (r) => sampled.push(htmlRun(sc, r)) }, io);
          return runOne(
            sc,
            {
              ...o,
              label: label(sc),
              replay: replay(sc),
              sampled: (r) => sampled.push({ result: r, label: label(sc), replay: replay(sc)(r) }),
            },
            io,
          );
        });
        if (opts.html !== undefined) writeHtmlReport(opts.html, reportTitle(scenarios), sampled);
        if (opts.json) {
          const json = results.map((r) => ("runs" in r ? compareJson(r) : summaryJson(r)));
          io.out((json.length === 1 ? json[0] : `[\n${json.join(",\n")}\n]`) + "\n");
        } else if (results.length === 1) {
          const r = results[0];
          io.out(("runs" in r ? compareText(r) : summaryText(r)) + "\n");
        } else {
          for (const r of results) {
            if (!("runs" in r)) io.out(summaryLine(r) + "\n");
            else r.runs.forEach((x, i) => io.out(`[${r.policies[i]}] ${summaryLine(x)}\n`));
          }
        }
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
