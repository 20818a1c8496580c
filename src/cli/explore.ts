/** `rstmem explore` and `rstmem replay`. */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { explore, STRATEGIES, violation, type Strategy } from "../explore/explore.ts";
import { readReplayFile, replayFile, type ReplayFile } from "../explore/replay.ts";
import { faultText, summaryLine, summaryText } from "../report/summary.ts";
import { POLICY_PRESET_NAMES } from "../scenario/policies.ts";
import { runScenario } from "../scenario/runner.ts";
import { formatDuration } from "../scenario/units.ts";
import { BUILTIN_SCENARIOS } from "./builtins.ts";
import {
  parseDurationArg,
  parsePositive,
  faultBudget,
  parseSeed,
  shellQuote,
  UsageError,
  type Io,
  type SetCode,
} from "./io.ts";
import { loadWithPolicy, scenarioArg } from "./scenario_args.ts";

interface ExploreCliOptions {
  strategy: Strategy;
  depth?: number;
  runs: number;
  time?: number;
  seed: number;
  window: number;
  policy?: string;
  out: string;
  faults?: number;
}

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("explore")
    .description(
      "run a scenario under many schedules (random walk or PCT) until one violates its expect " +
        "(without expect: any finding); write replay.json for the first violation",
    )
    .argument("<scenario>", `a scenario file, or a built-in: ${Object.keys(BUILTIN_SCENARIOS).join(", ")}`)
    .addOption(new Option("--strategy <s>", "how schedules are chosen").choices(STRATEGIES).default("random"))
    .option("--depth <d>", "PCT's bug depth d (d − 1 priority-change points; default 3)", parsePositive)
    .option("--runs <n>", "schedules to try at most", parsePositive, 1000)
    .option(
      "--time <duration>",
      "stop early after this much wall-clock time (never changes a run)",
      parseDurationArg,
    )
    .option("--seed <n>", "the explorer's seed: it picks the schedules", parseSeed, 1)
    .option(
      "--window <duration>",
      "tasks ready within this much virtual time of the earliest may run first",
      parseDurationArg,
      100_000,
    )
    .option(
      "--policy <name>",
      `run under this named policy instead of the scenario's (${POLICY_PRESET_NAMES.join(", ")})`,
    )
    .option("--out <dir>", "where replay.json goes on a violation", ".")
    .option(
      "--faults [n]",
      "let the explorer inject faults too: at most n per run (default 1) beside the scenario's faults:",
      parsePositive,
    )
    .action((arg: string, opts: ExploreCliOptions) => {
      if (opts.depth !== undefined && opts.strategy !== "pct")
        throw new UsageError("--depth applies to --strategy pct");
      const { display, file } = scenarioArg(arg);
      const policy = opts.policy ?? null;
      const sc = loadWithPolicy(display, file, policy);
      let bar: cliProgress.SingleBar | null = null;
      if (io.errIsTty) {
        bar = new cliProgress.SingleBar(
          { format: `${sc.name} [{bar}] {value}/{total} schedules`, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(opts.runs, 0);
      }
      // Wall-clock time is read here only: it may end the search early, it never feeds a run.
      const started = Date.now();
      const r = explore(sc, {
        strategy: opts.strategy,
        runs: opts.runs,
        seed: opts.seed,
        depth: opts.depth,
        windowNs: opts.window,
        faults: faultBudget(opts.faults),
        shouldStop: opts.time === undefined ? undefined : () => (Date.now() - started) * 1e6 >= opts.time!,
        onRun: (done) => bar?.update(done),
      });
      const seconds = Math.max(1e-3, (Date.now() - started) / 1000);
      bar?.stop();
      io.out(
        `explore    ${sc.name} (${sc.file}), policy ${sc.policy.name}, strategy ${r.strategy}, seed ${r.seed}, ` +
          `window ${formatDuration(r.windowNs)}\n`,
      );
      if (r.pct) {
        const p = r.pct;
        io.out(
          `pct        depth ${p.depth}, n = ${p.tasks} tasks, k = ${p.steps} steps: each run finds a bug of depth ` +
            `${p.depth} with probability ≥ 1/(n·k^(d−1)) = ${p.bound.toPrecision(3)}\n`,
        );
      }
      io.out(
        `explored   ${r.explored} schedules, ${r.distinct} distinct, ` +
          `${(r.explored / seconds).toFixed(1)} schedules/s (${seconds.toFixed(2)} s)\n`,
      );
      if (r.ended === "stopped")
        io.out(
          `stopped    --time ${formatDuration(opts.time!)} ran out after ${r.explored} of ${opts.runs} runs\n`,
        );
      const v = r.violation;
      if (v === null) {
        io.out(`clean      no violation in ${r.explored} schedules\n`);
        setCode(0);
        return;
      }
      io.out(`VIOLATION  run ${v.run}: ${v.why}\n${summaryLine(v.result)}\n`);
      io.out(`schedule   ${v.result.schedule}\n`);
      if (v.result.faults.length > 0) io.out(`faults     ${v.result.faults.map(faultText).join(", ")}\n`);
      mkdirSync(opts.out, { recursive: true });
      const out = join(opts.out, "replay.json");
      const rf = replayFile(
        v.result,
        { scenario: display, file, policy, why: v.why },
        { strategy: r.strategy, seed: r.seed, run: v.run },
      );
      writeFileSync(out, JSON.stringify(rf, null, 2) + "\n");
      const runPath = existsSync(arg) ? arg : relative(".", file);
      const withPolicy = policy === null ? "" : ` --policy ${shellQuote(policy)}`;
      // With faults, the schedule alone does not make the run again: replay.json holds both.
      if (v.result.faults.length === 0)
        io.out(
          `replay     rstmem run ${shellQuote(runPath)}${withPolicy} --schedule ${shellQuote(v.result.schedule)}\n`,
        );
      io.out(`replay     rstmem replay ${shellQuote(out)}\n`);
      io.out(`wrote      ${out}\n`);
      setCode(1);
    });

  program
    .command("replay")
    .description("run a replay.json from explore again, exactly, and print its summary step by step")
    .argument("<file>", "a replay.json")
    .action((path: string) => {
      let rf: ReplayFile;
      try {
        rf = readReplayFile(path);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const sc = loadWithPolicy(rf.scenario, rf.file, rf.policy);
      const r = runScenario(sc, {
        seed: rf.seed,
        schedule: rf.schedule,
        faults: rf.faults ? { list: rf.faults } : undefined,
      });
      io.out(summaryText(r) + "\n");
      const why = violation(sc, r);
      io.out(
        why === rf.failed
          ? `replay     reproduced: ${why}\n`
          : `replay     DIFFERS from ${path}: recorded "${rf.failed}", now ${why === null ? "no violation" : `"${why}"`}\n`,
      );
      setCode(why === null ? 0 : 1);
    });
}
