/** `rstmem run` and `rstmem validate`. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { chromeTrace } from "../report/chrome-trace.ts";
import { ftraceText } from "../report/ftrace.ts";
import { summaryJson, summaryLine, summaryText } from "../report/summary.ts";
import { loadScenarioFile, type Scenario } from "../scenario/loader.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";
import type { TraceEvent } from "../sim/trace.ts";
import { DEFAULT_SCENARIO } from "./builtins.ts";
import { parseSeed, type Io, type SetCode } from "./io.ts";
import { loadWithPolicy } from "./scenario_args.ts";

export function runOne(
  sc: Scenario,
  opts: { seed?: number; out?: string; schedule?: string },
  io: Io,
): RunResult {
  const events: TraceEvent[] | null = opts.out ? [] : null;
  let bar: cliProgress.SingleBar | null = null;
  const started = Date.now();
  const result = runScenario(sc, {
    seed: opts.seed,
    schedule: opts.schedule,
    trace: events ? (e) => events.push(e) : undefined,
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
  if (opts.out) {
    const dir = join(opts.out, sc.name.replace(/[^A-Za-z0-9._-]/g, "_"));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "summary.json"), summaryJson(result) + "\n");
    writeFileSync(join(dir, "schedule.txt"), result.schedule + "\n");
    writeFileSync(join(dir, "trace.json"), JSON.stringify(chromeTrace(events ?? [], result)) + "\n");
    writeFileSync(join(dir, "trace.txt"), ftraceText(events ?? []));
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
      "write summary.json, schedule.txt, trace.json (Chrome/Perfetto) and trace.txt (ftrace) per scenario",
    )
    .option("--policy <name>", "run under this named policy instead of the scenario's own")
    .addOption(new Option("--schedule <s>", "replay a recorded schedule string").hideHelp())
    .action(
      (
        files: string[],
        opts: { json?: boolean; seed?: number; out?: string; schedule?: string; policy?: string },
      ) => {
        // Load everything first: a bad file stops the batch before anything runs.
        const policy = opts.policy ?? null;
        const scenarios =
          files.length > 0
            ? files.map((p) => loadWithPolicy(p, p, policy))
            : [loadWithPolicy("built-in default", DEFAULT_SCENARIO, policy)];
        const results = scenarios.map((sc) => runOne(sc, opts, io));
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
