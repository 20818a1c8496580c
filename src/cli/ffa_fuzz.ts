/**
 * `rstmem ffa fuzz`: stateful FF-A fuzzing of the SPMC models (src/explore/fuzz). Prints what ran per
 * flavor and, on a violation, the shrunk case; writes the corpus with --corpus DIR. Exit status 0 when
 * the budget ran out clean, 1 on a violation, 2 on bad input.
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Option, type Command } from "commander";
import type { SpmcFlavorName } from "../firmware/spmc/spmc.ts";
import type { FuzzResult } from "../explore/fuzz/fuzz.ts";
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

/** The flavors (explore/fuzz/rig.ts FUZZ_FLAVORS; named here so `ffa decode` loads no simulator). */
const FLAVORS: readonly SpmcFlavorName[] = ["hafnium", "optee-sel1"];

/** The corpus files: one JSON per case, and index.json listing them. */
/** A corpus case's file name. */
const caseFileName = (id: number): string => `case-${String(id).padStart(8, "0")}.json`;

/** A file an earlier run's corpus wrote (a case, or the index). */
const CORPUS_FILE = /^(case-\d{8}\.json|index\.json)$/;

/**
 * Makes `--corpus DIR` ready before the run: made if missing (a path that cannot be a directory is a
 * usage error now, not after the budget), and emptied of an earlier corpus — its case files and
 * index.json, nothing else — so the directory holds this run's corpus alone, as index.json lists it.
 */
export function prepareCorpusDir(dir: string): void {
  makeOutputDir(dir, "--corpus");
  try {
    for (const name of readdirSync(dir)) if (CORPUS_FILE.test(name)) rmSync(join(dir, name));
  } catch (e) {
    throw new UsageError(
      `--corpus ${dir}: cannot replace the corpus there (${(e as NodeJS.ErrnoException).code})`,
    );
  }
}

export function writeCorpus(dir: string, r: FuzzResult): string[] {
  makeOutputDir(dir, "--corpus");
  const files: string[] = [];
  for (const c of r.corpus) {
    const name = caseFileName(c.id);
    writeFileSync(join(dir, name), JSON.stringify(c, null, 1) + "\n");
    files.push(name);
  }
  const index = {
    format: "rstmem-ffa-fuzz/1",
    seed: r.seed,
    cases: r.cases,
    flavors: r.flavors.map((f) => f.flavor),
    files,
    ...(r.violation ? { violation: caseFileName(r.violation.caseIndex) } : {}),
  };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index, null, 1) + "\n");
  return files;
}

export function registerFuzz(ffa: Command, io: Io, setCode: SetCode): void {
  ffa
    .command("fuzz")
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
      "--corpus <dir>",
      'write the test vectors (JSON, README "FF-A fuzzing corpus") into this directory (made if missing; an earlier corpus there is replaced)',
    )
    .option("--json", "print the result as one JSON object (the corpus is written as ever)")
    .action(
      async (opts: {
        flavor: string;
        runs: number;
        seed: number;
        time?: number;
        corpus?: string;
        json?: boolean;
      }) => {
        if (opts.corpus !== undefined) prepareCorpusDir(opts.corpus);
        const { fuzz } = await import("../explore/fuzz/fuzz.ts");
        const flavors: SpmcFlavorName[] =
          opts.flavor === "all" ? [...FLAVORS] : [opts.flavor as SpmcFlavorName];
        // Wall-clock time is read here only, to time the flavors: it never changes a case.
        const t0 = performance.now();
        const r = fuzz({
          flavors,
          runs: opts.runs,
          seed: opts.seed,
          corpus: opts.corpus !== undefined,
          clock: () => performance.now(),
          ...(opts.time === undefined
            ? {}
            : { shouldStop: () => (performance.now() - t0) * 1e6 >= opts.time! }),
        });
        const stopped = opts.time !== undefined && r.cases < opts.runs && r.violation === null;
        const seconds = Math.max(1e-3, (performance.now() - t0) / 1000);
        const files = opts.corpus !== undefined ? writeCorpus(opts.corpus, r) : null;
        if (opts.json) {
          // The same facts as the lines below; the violation's case whole, and its file when the corpus holds it.
          const v = r.violation;
          const out = {
            seed: r.seed,
            cases: r.cases,
            seconds: Number(seconds.toFixed(3)),
            stopped,
            flavors: r.flavors.map(({ ms, ...f }) => ({
              ...f,
              casesPerSecond: ms > 0 ? Math.round((f.cases / ms) * 1000) : 0,
            })),
            corpus: files && { dir: opts.corpus, cases: files.length },
            violation: v && { ...v, caseFile: files ? join(opts.corpus!, caseFileName(v.caseIndex)) : null },
          };
          io.out(JSON.stringify(out, null, 2) + "\n");
          setCode(r.violation ? 1 : 0);
          return;
        }
        io.out(`ffa fuzz   seed ${r.seed}, ${r.cases} cases in ${seconds.toFixed(2)} s\n`);
        for (const f of r.flavors) {
          const rate = f.ms > 0 ? Math.round((f.cases / f.ms) * 1000) : 0;
          io.out(
            `${f.flavor.padEnd(10)} ${f.calls} calls: ${f.successes} answered, ${f.rejections} refused, ${f.panics} panic${f.panics === 1 ? "" : "s"}; ` +
              `${f.outcomes} distinct outcomes; ${rate} cases/s\n`,
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
            `stopped    --time ${formatDuration(opts.time!)} ran out after ${r.cases} of ${opts.runs} cases\n`,
          );
        if (files) io.out(`corpus     ${files.length} cases in ${opts.corpus}\n`);
        const v = r.violation;
        if (!v) {
          io.out(`clean      no violation in ${r.cases} cases\n`);
          setCode(0);
          return;
        }
        io.out(`VIOLATION  ${v.flavor}: ${v.kind}: ${v.why}\n`);
        io.out(`case       ${v.caseIndex}, base ${v.base}, failing call ${v.call}\n`);
        for (const a of v.actions) io.out(`action     ${a}\n`);
        for (const m of v.mutations) io.out(`mutation   ${m}\n`);
        if (v.mutations.length === 0) io.out("mutation   (none: the unmutated sequence fails)\n");
        if (!opts.corpus) io.out(`case JSON  ${JSON.stringify(v.case)}\n`);
        setCode(1);
      },
    );
}
