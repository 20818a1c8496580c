/**
 * `rstmem ffa fuzz`: stateful FF-A fuzzing of the SPMC models (src/explore/fuzz). Prints what ran per
 * flavor and, on a violation, the shrunk case; writes the corpus with --corpus DIR. Exit status 0 when
 * the budget ran out clean, 1 on a violation, 2 on bad input.
 */
import { lstatSync, readdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import type { SpmcFlavorName } from "../firmware/spmc/spmc.ts";
import type { FuzzResult } from "../explore/fuzz/fuzz.ts";
import type { CorpusCase } from "../explore/fuzz/corpus.ts";
import {
  makeOutputDir,
  parsePositive,
  parseSeed,
  parseWallTimeArg,
  UsageError,
  type Io,
  type SetCode,
} from "./io.ts";
import { formatDuration } from "../scenario/units.ts";
import { defaultJobs } from "../explore/threads.ts";

/** The flavors (explore/fuzz/rig.ts FUZZ_FLAVORS; named here so `ffa decode` loads no simulator). */
const FLAVORS: readonly SpmcFlavorName[] = ["hafnium", "optee-sel1"];

/** A corpus case's file name. */
const caseFileName = (id: number): string => `case-${String(id).padStart(8, "0")}.json`;

/** A file an earlier run's corpus wrote (README: its `case-N.json` files and `index.json`). */
const CORPUS_FILE = /^(case-\d+\.json|index\.json)$/;

/**
 * This run's files while it writes them, and the earlier corpus's while it replaces them: named after
 * the process, so that two runs on one directory never take each other's files.
 */
const tempName = (name: string): string => `.${name}.${process.pid}.tmp`;
const backupName = (name: string): string => `.${name}.${process.pid}.old`;
/** A temporary file of some run: its pid. */
const TEMP_FILE = /^\.(?:case-\d+\.json|index\.json|probe)\.(\d+)\.tmp$/;

const errCode = (e: unknown): string => (e as NodeJS.ErrnoException).code ?? String(e);

/** Whether process `pid` still runs (a signal 0 probe). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errCode(e) === "EPERM";
  }
}

/**
 * Makes `--corpus DIR` ready before the run, so that what could stop the corpus being written is a
 * usage error now, not after the budget: the directory made if missing, a file written there and
 * removed (an access check passes for root where a write still fails: /proc, /sys), and none of the
 * earlier corpus's names a directory. Nothing of the earlier corpus is touched; the temporary files of
 * a run that no longer runs (killed while it wrote) are removed.
 */
export function prepareCorpusDir(dir: string): void {
  makeOutputDir(dir, "--corpus");
  const bad = (why: string): never => {
    throw new UsageError(`--corpus ${dir}: ${why}`);
  };
  const probe = join(dir, tempName("probe"));
  try {
    writeFileSync(probe, "");
    unlinkSync(probe);
  } catch (e) {
    bad(`cannot write there (${errCode(e)})`);
  }
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch (e) {
    bad(`cannot list it (${errCode(e)})`);
  }
  for (const name of names) {
    // lstat: a link (even a dangling one) is removed as a link.
    if (CORPUS_FILE.test(name) && lstatSync(join(dir, name)).isDirectory())
      bad(`${join(dir, name)} is a directory: cannot replace the corpus there`);
    const t = TEMP_FILE.exec(name);
    if (t !== null && !running(Number(t[1])) && lstatSync(join(dir, name)).isFile())
      unlinkSync(join(dir, name));
  }
}

/**
 * Writes the corpus so that the directory always holds one whole corpus, the earlier or this one:
 * 1. every file under a temporary name;
 * 2. the earlier corpus's files moved to backup names, index.json first;
 * 3. the new files renamed into place, index.json last;
 * 4. the backups removed.
 * A step that fails undoes the steps before it (the earlier corpus back in place, this run's files
 * gone) and is a usage error, exit 2, naming the code.
 */
export function writeCorpus(dir: string, r: FuzzResult): string[] {
  const files = r.corpus.map((c) => caseFileName(c.id));
  const index = {
    format: "rstmem-ffa-fuzz/1",
    seed: r.seed,
    cases: r.cases,
    flavors: r.flavors.map((f) => f.flavor),
    files,
    violation: r.violation ? caseFileName(r.violation.caseIndex) : null,
  };
  const writes: [string, string][] = r.corpus.map((c, i) => [files[i], JSON.stringify(c, null, 1) + "\n"]);
  writes.push(["index.json", JSON.stringify(index, null, 1) + "\n"]);
  const at = (name: string): string => join(dir, name);
  const written: string[] = [];
  const moved: string[] = [];
  const installed: string[] = [];
  // A file of this run's: gone already, or something else in its place (a directory) that is not ours.
  const drop = (path: string): void => {
    try {
      unlinkSync(path);
    } catch {
      // nothing of ours to remove
    }
  };
  const undo = (): void => {
    for (const name of installed) drop(at(name));
    for (const name of moved) renameSync(at(backupName(name)), at(name));
    for (const name of written) drop(at(tempName(name)));
  };
  let step = "write the corpus";
  try {
    for (const [name, text] of writes) {
      written.push(name);
      writeFileSync(at(tempName(name)), text);
    }
    step = "replace the corpus";
    const earlier = readdirSync(dir).filter((n) => CORPUS_FILE.test(n));
    earlier.sort((a, b) => (a === "index.json" ? -1 : b === "index.json" ? 1 : 0));
    for (const name of earlier) {
      renameSync(at(name), at(backupName(name)));
      moved.push(name);
    }
    for (const [name] of writes) {
      renameSync(at(tempName(name)), at(name));
      installed.push(name);
      written.splice(written.indexOf(name), 1);
    }
  } catch (e) {
    try {
      undo();
    } catch (u) {
      throw new UsageError(
        `--corpus ${dir}: cannot ${step} there (${errCode(e)}), nor put the earlier corpus back (${errCode(u)}): its files are the .*.${process.pid}.old ones`,
      );
    }
    throw new UsageError(
      `--corpus ${dir}: cannot ${step} there (${errCode(e)}); the earlier corpus is left as it was`,
    );
  }
  for (const name of moved) drop(at(backupName(name)));
  return files;
}

export function registerFuzz(ffa: Command, io: Io, setCode: SetCode): void {
  // A second --flavor would replace the first (commander keeps the last): refused, as one who names two
  // expects both fuzzed (`--flavor all` is that).
  let flavorsNamed = 0;
  ffa
    .command("fuzz")
    .on("option:flavor", () => {
      if (++flavorsNamed > 1) throw new UsageError("--flavor given twice: name one flavor, or all");
    })
    .description(
      "fuzz the SPMC models through their FF-A ABI: mutated descriptors and call sequences from several " +
        "endpoints; every reply must be a spec reply, every rejection must change nothing, ffa-consistency " +
        "must hold. Exit 1 on a violation (shrunk, with its case), 0 when the budget ran out clean",
    )
    .addOption(
      new Option("--flavor <f>", "the SPMC: hafnium, optee-sel1, or all (required)")
        .choices([...FLAVORS, "all"])
        .makeOptionMandatory(),
    )
    .option("--runs <n>", "cases to run", parsePositive, 10000)
    .option(
      "--time <duration>",
      "stop early after this much wall-clock time, such as 30s or 5min (the corpus and the counts are of the cases run)",
      parseWallTimeArg,
    )
    .option("--seed <n>", "the fuzzer's seed (same seed, same cases, same corpus bytes)", parseSeed, 1)
    .option(
      "--case <n>",
      "make case n alone, as the report numbers it (first in case n): its outcome, and the case whole as the corpus holds it",
      parseSeed,
    )
    .option(
      "--corpus <dir>",
      'write the test vectors (JSON, README "FF-A fuzzing corpus") into this directory (made if missing; an earlier corpus there is replaced)',
    )
    .option("--json", "print the result as one JSON object (the corpus is written as ever)")
    .option(
      "--jobs <n>",
      "threads making cases (default: the machine's cores). Results, the corpus included, do not depend on it",
      parsePositive,
    )
    .action(
      async (
        opts: {
          flavor: string;
          runs: number;
          seed: number;
          case?: number;
          time?: number;
          corpus?: string;
          json?: boolean;
          jobs?: number;
        },
        command: Command,
      ) => {
        // --case: one case, drawn on its own as in any run (fuzz.ts caseSpec()); a budget makes no sense.
        const only = opts.case;
        if (only !== undefined && command.getOptionValueSource("runs") === "cli")
          throw new UsageError("--case makes one case: give --case or --runs, not both");
        if (only !== undefined && opts.time !== undefined)
          throw new UsageError("--case makes one case: --time does not apply");
        const runs = only === undefined ? opts.runs : 1;
        if (opts.corpus !== undefined) prepareCorpusDir(opts.corpus);
        const { fuzzParallel } = await import("../explore/fuzz_parallel.ts");
        const jobs = opts.jobs ?? defaultJobs();
        const flavors: SpmcFlavorName[] =
          opts.flavor === "all" ? [...FLAVORS] : [opts.flavor as SpmcFlavorName];
        // A progress bar on a terminal, as explore draws one, once a run has lasted a second (the
        // default 10,000 cases end before that).
        let bar: cliProgress.SingleBar | null = null;
        const onProgress = !io.errIsTty
          ? undefined
          : (done: number): void => {
              if (!bar && performance.now() - t0 > 1000) {
                bar = new cliProgress.SingleBar(
                  { format: `ffa fuzz ${opts.flavor} [{bar}] {value}/{total} cases`, stream: process.stderr },
                  cliProgress.Presets.shades_classic,
                );
                bar.start(runs, 0);
              }
              bar?.update(done);
            };
        // Wall-clock time is read here only, to time the flavors and to stop at --time: it never changes
        // a case. One deadline, on the clock every thread reads alike (Date.now()).
        const t0 = performance.now();
        const deadline = opts.time === undefined ? undefined : Date.now() + opts.time / 1e6;
        let r: FuzzResult;
        try {
          r = await fuzzParallel({
            ...(onProgress ? { onProgress } : {}),
            jobs,
            flavors,
            runs,
            ...(only === undefined ? {} : { first: only }),
            seed: opts.seed,
            // --case shows its case whole: recorded whether or not --corpus writes it.
            corpus: opts.corpus !== undefined || only !== undefined,
            clock: () => performance.now(),
            ...(deadline === undefined ? {} : { shouldStop: () => Date.now() >= deadline, deadline }),
          });
        } finally {
          (bar as cliProgress.SingleBar | null)?.stop();
        }
        const stopped = opts.time !== undefined && r.cases < runs && r.violation === null;
        const seconds = Math.max(1e-3, (performance.now() - t0) / 1000);
        // A corpus that cannot be written does not lose what the run found: the result is printed, and
        // the corpus's error after it (exit 1 with a violation, else 2).
        let files: string[] | null = null;
        let corpusError: string | null = null;
        if (opts.corpus !== undefined)
          try {
            files = writeCorpus(opts.corpus, r);
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
            corpusError = e.message;
          }
        const done = (code: number): void => {
          if (corpusError !== null) io.err(`rstmem: ${corpusError}\n`);
          setCode(r.violation ? 1 : corpusError !== null ? 2 : code);
        };
        if (opts.json) {
          // The same facts as the lines below; the violation's case whole, and its file when the corpus holds it.
          const v = r.violation;
          const out = {
            seed: r.seed,
            cases: r.cases,
            seconds: Number(seconds.toFixed(3)),
            threads: r.threads,
            casesPerSecond: Math.round(r.cases / seconds),
            stopped,
            flavors: r.flavors.map(({ ms, ...f }) => ({
              ...f,
              casesPerSecond: ms > 0 ? Math.round((f.cases / ms) * 1000) : 0,
            })),
            corpus: files && { dir: opts.corpus, cases: files.length },
            violation: v && { ...v, caseFile: files ? join(opts.corpus!, caseFileName(v.caseIndex)) : null },
            ...(only === undefined ? {} : { case: v ? v.case : (r.corpus[0] ?? null) }),
          };
          io.out(JSON.stringify(out, null, 2) + "\n");
          done(r.violation ? 1 : 0);
          return;
        }
        // Each flavor's rate is of its own time, summed over the threads: per thread when there are several.
        const threads = r.threads > 1 ? ` on ${r.threads} threads` : "";
        io.out(
          only === undefined
            ? `ffa fuzz   seed ${r.seed}, ${r.cases} cases in ${seconds.toFixed(2)} s${threads} (${Math.round(r.cases / seconds)} cases/s)\n`
            : `ffa fuzz   seed ${r.seed}, case ${only} alone, in ${seconds.toFixed(2)} s\n`,
        );
        for (const f of r.flavors) {
          const rate = f.ms > 0 ? Math.round((f.cases / f.ms) * 1000) : 0;
          io.out(
            `${f.flavor.padEnd(10)} ${f.calls} calls: ${f.successes} answered, ${f.rejections} refused, ${f.panics} panic${f.panics === 1 ? "" : "s"}; ` +
              `${f.outcomes} distinct outcomes; ${rate} cases/s${r.threads > 1 ? " a thread" : ""}\n`,
          );
          if (f.firstPanic) io.out(`           first panic: ${f.firstPanic}\n`);
          if (f.panicKinds.length > 1)
            for (const p of f.panicKinds)
              io.out(`           panic ×${p.count} (first in case ${p.firstCase}): ${p.what}\n`);
          for (const k of f.known)
            io.out(`           known: ${k.id} ×${k.count} (first in case ${k.firstCase}): ${k.what}\n`);
        }
        if (stopped)
          io.out(
            `stopped    --time ${formatDuration(opts.time!)} ran out after ${r.cases} of ${runs} cases\n`,
          );
        if (files) io.out(`corpus     ${files.length} cases in ${opts.corpus}\n`);
        const v = r.violation;
        /** A case's actions, its mutations (`none` when it has none) and, without a corpus, the case whole. */
        const caseLines = (c: CorpusCase, none: string): void => {
          for (const a of c.actions) io.out(`action     ${a}\n`);
          for (const m of c.mutations) io.out(`mutation   ${m}\n`);
          if (c.mutations.length === 0) io.out(`mutation   ${none}\n`);
          if (files === null) io.out(`case JSON  ${JSON.stringify(c)}\n`);
        };
        const rec = only !== undefined && !v ? (r.corpus[0] ?? null) : null;
        if (rec) {
          io.out(`case       ${only}, base ${rec.base}\n`);
          caseLines(rec, "(none)");
        }
        if (!v) {
          io.out(
            only === undefined
              ? `clean      no violation in ${r.cases} cases\n`
              : `clean      no violation in case ${only}\n`,
          );
          done(0);
          return;
        }
        io.out(`VIOLATION  ${v.flavor}: ${v.kind}: ${v.why}\n`);
        io.out(`case       ${v.caseIndex}, base ${v.base}, failing call ${v.call}\n`);
        caseLines(v.case, "(none: the unmutated sequence fails)");
        done(1);
      },
    );
}
