/**
 * The rstmem command (commander 14). Exit status: 0 every expectation held, 1 one did not, 2 bad input
 * or usage — always one clear message, never a stack trace.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import {
  FFA_MEM_CALL_NAMES,
  FFA_SPMCS,
  describeDescriptor,
  describeDescriptorForCall,
  describeRelinquish,
  isFfaVersion,
  parseHexOrBytes,
  parseMemCall,
} from "../abi/ffa/index.ts";
import { INVARIANTS } from "../check/invariants.ts";
import { chromeTrace } from "../report/chrome-trace.ts";
import { ftraceText } from "../report/ftrace.ts";
import { summaryJson, summaryLine, summaryText } from "../report/summary.ts";
import { ScenarioError } from "../scenario/errors.ts";
import { loadScenarioFile, type Scenario } from "../scenario/loader.ts";
import { PRESET_NAMES, PRESETS } from "../scenario/presets.ts";
import { NAMED_POLICIES, namedPolicy, POLICY_PRESET_NAMES, policyProblem } from "../scenario/policies.ts";
import { policyTable, policyTableMarkdown } from "../report/policy_table.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";
import { scenarioJsonSchema } from "../scenario/schema.ts";
import { formatDuration, formatSize, parseDuration } from "../scenario/units.ts";
import { explore, STRATEGIES, violation, type Strategy } from "../explore/explore.ts";
import { readReplayFile, replayFile, type ReplayFile } from "../explore/replay.ts";
import { ScheduleDivergence } from "../sim/scheduler.ts";
import type { TraceEvent } from "../sim/trace.ts";

/** The built-in default scenario, run by `rstmem run` with no file and by `npm start`. */
export const DEFAULT_SCENARIO = fileURLToPath(new URL("../../scenarios/default.yaml", import.meta.url));

/** An error that ends the command with exit status 2 and this message. */
class UsageError extends Error {}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stderr is a terminal (progress bars). */
  errIsTty: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  errIsTty: process.stderr.isTTY === true,
};

function parseSeed(v: string): number {
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(Number(v))) {
    throw new InvalidArgumentError("expected a non-negative integer");
  }
  return Number(v);
}

function runOne(sc: Scenario, opts: { seed?: number; out?: string; schedule?: string }, io: Io): RunResult {
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

function buildProgram(io: Io, setCode: (c: number) => void): Command {
  const program = new Command();
  program
    .name("rstmem")
    .description("Simulate and verify restricted (protected) memory on Arm: Linux, FF-A, OP-TEE, hardware.")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError("(run rstmem --help for usage)");

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

  program
    .command("presets")
    .description("list the platform presets")
    .option("--json", "print the full platform descriptions as JSON")
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        io.out(JSON.stringify(Object.values(PRESETS), null, 2) + "\n");
        return;
      }
      for (const p of Object.values(PRESETS)) {
        const cma = p.cma.map((c) => `${formatSize(c.size)} @ 0x${c.base.toString(16)}`).join(", ");
        const fw =
          p.firewall.kind === "tzc400"
            ? `tzc400 (${p.firewall.regions} regions, action ${p.firewall.action})`
            : p.firewall.kind;
        io.out(
          `${p.name}\n  ${p.description}\n  DRAM ${formatSize(p.dram.size)} @ 0x${p.dram.base.toString(16)}; CMA ${cma}; ` +
            `firewall ${fw}; SPMC ${p.spmc}; FF-A ${p.ffaVersion}\n`,
        );
      }
    });

  program
    .command("schema")
    .description("print the scenario format's JSON Schema (for editor completion)")
    .action(() => io.out(JSON.stringify(scenarioJsonSchema(), null, 2) + "\n"));

  const ffa = program.command("ffa").description("FF-A tools");
  ffa
    .command("decode")
    .description(
      "decode an FF-A memory transaction descriptor (or, with --relinquish, a relinquish descriptor) and " +
        "print every field and every validation problem as JSON; exit 1 when it has problems. With --call, " +
        "the problems are that call's rules as the SPMC applies them",
    )
    .argument("<bytes>", "hex bytes (spaces and 0x prefixes allowed), or @FILE holding hex text or raw bytes")
    .addOption(new Option("--version <v>", "descriptor layout").choices(["1.0", "1.1", "1.2"]).default("1.2"))
    .option("--relinquish", "decode an ffa_mem_relinquish descriptor instead")
    .option(
      "--call <name>",
      `check with this call's rules at Hafnium and TF-A: ${FFA_MEM_CALL_NAMES.join(", ")} ` +
        "(FFA_ prefix and _32/_64 suffix optional)",
    )
    .addOption(
      new Option("--spmc <name>", "with --call: whose rules give the problems and the exit status")
        .choices(FFA_SPMCS)
        .default("hafnium"),
    )
    .action((input: string, opts: { version: string; relinquish?: boolean; call?: string; spmc: string }) => {
      const call = opts.call === undefined ? undefined : parseMemCall(opts.call);
      if (opts.call !== undefined && call === undefined) {
        throw new UsageError(
          `unknown --call ${opts.call}: expected ${FFA_MEM_CALL_NAMES.join(", ")} (FFA_ prefix and _32/_64 suffix optional)`,
        );
      }
      if (call !== undefined && opts.relinquish) {
        throw new UsageError(
          "--call checks a memory transaction descriptor; it does not apply to --relinquish",
        );
      }
      let raw: string | Uint8Array = input;
      if (input.startsWith("@")) {
        try {
          raw = new Uint8Array(readFileSync(input.slice(1)));
        } catch (e) {
          throw new UsageError(
            `${input.slice(1)}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(e)}`,
          );
        }
      }
      const bytes = parseHexOrBytes(raw);
      if (!bytes.ok) throw new UsageError(`not hex bytes: ${bytes.error.why}`);
      if (!isFfaVersion(opts.version)) throw new UsageError(`unknown FF-A version ${opts.version}`);
      const spmc = opts.spmc === "tf-a" ? "tf-a" : "hafnium";
      const out = opts.relinquish
        ? describeRelinquish(bytes.value)
        : call !== undefined
          ? describeDescriptorForCall(bytes.value, opts.version, call, spmc)
          : describeDescriptor(bytes.value, opts.version);
      io.out(JSON.stringify(out, null, 2) + "\n");
      const problems = out.problems;
      setCode(Array.isArray(problems) && problems.length > 0 ? 1 : 0);
    });

  program
    .command("policies")
    .description("list the named policies and their fields (safe's unmap depends on the platform)")
    .option("--json", "print them as JSON")
    .option("--platform <name>", "resolve per-platform fields on this preset", "tzc400-board")
    .option(
      "--table",
      "run one secure-video session under each policy on each platform: findings and costs (Markdown)",
    )
    .action((opts: { json?: boolean; platform: string; table?: boolean }) => {
      if (opts.table) {
        io.out(policyTableMarkdown(policyTable()));
        return;
      }
      const platform = PRESETS[opts.platform];
      if (!platform)
        throw new UsageError(
          `unknown platform "${opts.platform}"; expected one of ${PRESET_NAMES.join(", ")}`,
        );
      const all = POLICY_PRESET_NAMES.map((n) => ({
        ...namedPolicy(n, platform),
        summary: NAMED_POLICIES[n].summary,
      }));
      if (opts.json) {
        io.out(JSON.stringify(all, null, 2) + "\n");
        return;
      }
      for (const p of all) {
        io.out(
          `${p.name}\n  ${p.summary}\n  pool ${p.pool}; unmap ${p.unmap}; cache ${p.cache}; scrub ${p.scrub}; ` +
            `optee_retrieve ${p.optee_retrieve}` +
            (p.pool === "growable"
              ? `; chunk ${p.chunk ? formatSize(p.chunk) : "min_size"}, max ${formatSize(p.max)}, idle_release ${p.idle_release / 1e9} s`
              : "") +
            "\n",
        );
      }
    });

  program
    .command("invariants")
    .description("list the invariants every run checks")
    .action(() => {
      for (const [id, text] of Object.entries(INVARIANTS)) io.out(`${id.padEnd(22)} ${text}\n`);
    });

  addExploreCommands(program, io, setCode);
  return program;
}
/** Built-in scenarios, run by name: `rstmem explore pool-race`. */
const BUILTIN_SCENARIOS: Readonly<Record<string, string>> = {
  default: DEFAULT_SCENARIO,
  "pool-race": fileURLToPath(new URL("../../scenarios/pool-race.yaml", import.meta.url)),
};

/** A scenario named on the command line: a file, else a built-in's name. */
function scenarioArg(arg: string): { display: string; file: string } {
  if (existsSync(arg)) return { display: arg, file: resolve(arg) };
  const builtin = BUILTIN_SCENARIOS[arg];
  if (builtin) return { display: arg, file: builtin };
  throw new ScenarioError(
    arg,
    0,
    0,
    "",
    `no such file or built-in scenario (built-ins: ${Object.keys(BUILTIN_SCENARIOS).join(", ")})`,
  );
}

/** Loads a scenario, with `--policy NAME` in place of its own policy. */
function loadWithPolicy(display: string, file: string, policy: string | null): Scenario {
  const sc = loadScenarioFile(file, display);
  if (policy === null) return sc;
  if (!POLICY_PRESET_NAMES.includes(policy))
    throw new UsageError(`unknown policy "${policy}"; expected one of ${POLICY_PRESET_NAMES.join(", ")}`);
  const p = namedPolicy(policy, sc.platform);
  const problem = policyProblem(p, sc.platform);
  if (problem) throw new UsageError(`--policy ${policy} on ${sc.platform.name}: ${problem.why}`);
  return { ...sc, policy: p };
}

function parsePositive(v: string): number {
  const n = parseSeed(v);
  if (n < 1) throw new InvalidArgumentError("expected a positive integer");
  return n;
}

function parseDurationArg(v: string): number {
  const d = parseDuration(v);
  if (!d.ok) throw new InvalidArgumentError(d.why);
  return d.value;
}

/** A shell word: the schedule and paths in the printed commands. */
const shellQuote = (s: string): string =>
  /^[A-Za-z0-9_./:,*=-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;

interface ExploreCliOptions {
  strategy: Strategy;
  depth?: number;
  runs: number;
  time?: number;
  seed: number;
  window: number;
  policy?: string;
  out: string;
}

function addExploreCommands(program: Command, io: Io, setCode: (c: number) => void): void {
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
      const r = runScenario(sc, { seed: rf.seed, schedule: rf.schedule });
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

/** Runs the command line; returns the exit status. */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync([...argv]);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; commander already printed its message.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof ScenarioError || e instanceof UsageError || e instanceof ScheduleDivergence) {
      io.err(`rstmem: ${e.message}\n`);
      return 2;
    }
    const err = e as Error;
    io.err(`rstmem: internal error: ${err.message}\n`);
    if (process.env.RSTMEM_DEBUG) io.err(`${err.stack}\n`);
    return 2;
  }
}
