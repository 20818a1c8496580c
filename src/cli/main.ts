/**
 * The rstmem command (commander 14). Exit status: 0 every expectation held, 1 one did not, 2 bad input
 * or usage — always one clear message, never a stack trace.
 *
 * Each command lives in its own module, loaded only when that command runs (all of them for help), so
 * `rstmem --version` starts without loading the simulator.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { defaultIo, UsageError, type Io, type SetCode } from "./io.ts";

export { DEFAULT_SCENARIO } from "./builtins.ts";

type Register = (program: Command, io: Io, setCode: SetCode) => void;

/** The module that defines each command (several commands may share one). */
const COMMANDS: Readonly<Record<string, () => Promise<{ register: Register }>>> = {
  run: () => import("./run.ts"),
  validate: () => import("./run.ts"),
  compare: () => import("./compare.ts"),
  presets: () => import("./info.ts"),
  schema: () => import("./info.ts"),
  policies: () => import("./info.ts"),
  invariants: () => import("./info.ts"),
  ffa: () => import("./ffa.ts"),
  explore: () => import("./explore.ts"),
  replay: () => import("./explore.ts"),
  sweep: () => import("./sweep.ts"),
  size: () => import("./size.ts"),
};

function version(): string {
  const pkg = new URL("../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(pkg, "utf8")) as { version: string }).version;
}

async function buildProgram(argv: readonly string[], io: Io, setCode: SetCode): Promise<Command> {
  const program = new Command();
  program
    .name("rstmem")
    .description("Simulate and verify restricted (protected) memory on Arm: Linux, FF-A, OP-TEE, hardware.")
    .version(version(), "-V, --version")
    // `ffa decode --version 1.1` is the subcommand's own option, not the program's.
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError("(run rstmem --help for usage)");
  // Only the named command's module; none for --version; every module otherwise (help, or an unknown
  // command, whose message lists them).
  const first = argv[2] ?? "";
  const named = COMMANDS[first];
  const loaders =
    first === "-V" || first === "--version" ? [] : named ? [named] : [...new Set(Object.values(COMMANDS))];
  const modules = new Set(await Promise.all(loaders.map((l) => l())));
  for (const m of modules) m.register(program, io, setCode);
  return program;
}

/** Runs the command line; returns the exit status. */
export async function main(argv: readonly string[], io: Io = defaultIo): Promise<number> {
  let code = 0;
  try {
    const program = await buildProgram(argv, io, (c) => (code = c));
    await program.parseAsync([...argv]);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are not errors; commander already printed its message.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError || isExpected(e)) {
      io.err(`rstmem: ${(e as Error).message}\n`);
      return 2;
    }
    const err = e as Error;
    io.err(`rstmem: internal error: ${err.message}\n`);
    if (process.env.RSTMEM_DEBUG) io.err(`${err.stack}\n`);
    return 2;
  }
}

/**
 * A bad scenario (scenario/errors.ts) or a recorded schedule that no longer fits it (sim/scheduler.ts):
 * known by name, so that this module need not load either.
 */
function isExpected(e: unknown): boolean {
  return e instanceof Error && (e.name === "ScenarioError" || e.name === "ScheduleDivergence");
}
