/**
 * The rstmem command (commander 14). Exit status: 0 every expectation held, 1 one did not, 2 bad input
 * or usage — always one clear message, never a stack trace.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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
import { NAMED_POLICIES, namedPolicy, POLICY_PRESET_NAMES } from "../scenario/policies.ts";
import { policyTable, policyTableMarkdown } from "../report/policy_table.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";
import { scenarioJsonSchema } from "../scenario/schema.ts";
import { formatSize } from "../scenario/units.ts";
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
    .addOption(new Option("--schedule <s>", "replay a recorded schedule string").hideHelp())
    .action((files: string[], opts: { json?: boolean; seed?: number; out?: string; schedule?: string }) => {
      // Load everything first: a bad file stops the batch before anything runs.
      const scenarios =
        files.length > 0
          ? files.map((p) => loadScenarioFile(p))
          : [loadScenarioFile(DEFAULT_SCENARIO, "built-in default")];
      const results = scenarios.map((sc) => runOne(sc, opts, io));
      if (opts.json) io.out(summaryJson(results.length === 1 ? results[0] : results) + "\n");
      else if (results.length === 1) io.out(summaryText(results[0]) + "\n");
      else for (const r of results) io.out(summaryLine(r) + "\n");
      setCode(Math.max(0, ...results.map((r) => r.exitCode)));
    });

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

  return program;
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
