/**
 * `rstmem sweep SWEEP.yaml` runs a grid of points in worker threads and writes one row per point as
 * JSON and CSV; `rstmem sweep merge` joins the files of `--shard` runs into the same two files.
 * Exit status: 0 every point held its expectations, 1 one did not, 2 bad input.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import cliProgress from "cli-progress";
import { InvalidArgumentError, type Command } from "commander";
import { loadSweepFile, parseShard, shardPoints, unmetExpectation } from "../report/sweep_file.ts";
import {
  mergeSweepResults,
  readSweepResults,
  sweepCsv,
  sweepJson,
  type SweepResults,
  type SweepRow,
} from "../report/sweep_output.ts";
import { formatDuration } from "../scenario/units.ts";
import { makeOutputDir, parsePositive, UsageError, type Io, type SetCode } from "./io.ts";
import { defaultJobs, pointPool } from "./sweep_pool.ts";

function parseShardArg(v: string): { index: number; count: number } {
  const s = parseShard(v);
  if (!s) throw new InvalidArgumentError("expected I/N with 1 ≤ I ≤ N, such as 2/4");
  return s;
}

/** Writes NAME.json and NAME.csv into dir; returns their paths. */
function writeResults(dir: string, base: string, res: SweepResults): string[] {
  makeOutputDir(dir, "--out");
  const json = join(dir, `${base}.json`);
  const csv = join(dir, `${base}.csv`);
  writeFileSync(json, sweepJson(res));
  writeFileSync(csv, sweepCsv(res));
  return [json, csv];
}

const paramText = (params: Readonly<Record<string, unknown>>) =>
  Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");

function rowLine(r: SweepRow): string {
  const verdict = r.passed ? "PASS" : "FAIL";
  return (
    `point ${String(r.point).padEnd(5)} ${verdict}  ${paramText(r.params)}: first-frame p99 ` +
    `${formatDuration(r.first_frame_alloc_p99_ns)}, alloc p99 ${formatDuration(r.alloc_p99_ns)}, ` +
    `failures ${r.alloc_failures}` +
    (r.failure ? ` — ${r.failure}` : "")
  );
}

interface SweepOptions {
  jobs?: number;
  shard?: { index: number; count: number };
  out: string;
}

export function register(program: Command, io: Io, setCode: SetCode): void {
  const sweep = program
    .command("sweep")
    .description(
      "run a grid of scenario variants (SWEEP.yaml: a base scenario and dotted paths → values) in worker " +
        "threads; write one row per point as JSON and CSV. `sweep merge` joins --shard files",
    )
    .argument("<sweep>", "a sweep file (YAML or JSON)")
    .option("--jobs <n>", "worker threads (default: the machine's cores)", parsePositive)
    .option("--shard <I/N>", "run only the points whose index % N == I − 1 (1 ≤ I ≤ N)", parseShardArg)
    .option("--out <dir>", "where NAME.json and NAME.csv go (a shard: NAME.shard-I-of-N.*)", ".")
    .action(async (file: string, opts: SweepOptions) => {
      const sw = loadSweepFile(file);
      const shard = opts.shard ?? null;
      const indexes = shardPoints(sw.points, shard);
      // Every point this run owns must load before any runs: a bad value stops it with its position.
      for (const i of indexes) sw.loadPoint(i);
      const jobs = Math.min(opts.jobs ?? defaultJobs(), Math.max(1, indexes.length));
      io.out(
        `sweep      ${sw.name} (${sw.file}): ${sw.points} points` +
          (shard ? `, shard ${shard.index}/${shard.count}: ${indexes.length} of them` : "") +
          `, ${jobs} job${jobs === 1 ? "" : "s"}\n`,
      );
      let bar: cliProgress.SingleBar | null = null;
      if (io.errIsTty) {
        bar = new cliProgress.SingleBar(
          { format: `${sw.name} [{bar}] {value}/{total} points`, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(indexes.length, 0);
      }
      const pool = pointPool(jobs);
      // Wall time only for the points/s line on the terminal; it is in no file.
      const started = Date.now();
      let done = 0;
      let rows: SweepRow[];
      try {
        rows = await Promise.all(
          indexes.map(async (i): Promise<SweepRow> => {
            const o = await pool.run(sw.pointText(i));
            bar?.update(++done);
            let unmet = o.metrics.passed ? unmetExpectation(o.metrics, sw.expect) : null;
            // A failed allocation's reason says more than its count.
            if (unmet !== null && o.firstAllocFailure !== null) unmet += ` (first: ${o.firstAllocFailure})`;
            return {
              point: i,
              params: sw.params(i),
              ...o.metrics,
              passed: o.metrics.passed && unmet === null,
              failure: o.metrics.failure ?? unmet,
            };
          }),
        );
      } finally {
        bar?.stop();
        await pool.close();
      }
      const seconds = Math.max(1e-3, (Date.now() - started) / 1000);
      rows.sort((a, b) => a.point - b.point);
      for (const r of rows) io.out(rowLine(r) + "\n");
      const res: SweepResults = {
        sweep: sw.name,
        fingerprint: sw.fingerprint,
        points: sw.points,
        parameters: sw.parameters,
        ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}),
        rows,
      };
      const base = shard ? `${sw.name}.shard-${shard.index}-of-${shard.count}` : sw.name;
      const written = writeResults(opts.out, base, res);
      const failed = rows.filter((r) => !r.passed);
      io.out(
        `done       ${rows.length} points in ${seconds.toFixed(2)} s (${(rows.length / seconds).toFixed(2)} points/s): ` +
          `${rows.length - failed.length} passed, ${failed.length} failed` +
          (failed.length ? ` (first: point ${failed[0].point})` : "") +
          "\n",
      );
      io.out(`wrote      ${written.join(", ")}\n`);
      setCode(failed.length > 0 ? 1 : 0);
    });

  sweep
    .command("merge")
    .description("join the JSON files of a sweep's --shard runs into the files the unsharded run writes")
    .argument("<files...>", "the shards' NAME.shard-I-of-N.json files")
    .option("--out <dir>", "where NAME.json and NAME.csv go", ".")
    .action((files: string[], opts: { out: string }) => {
      const parts = files.map((file) => {
        let text: string;
        try {
          text = readFileSync(file, "utf8");
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          throw new UsageError(`${file}: ${code === "ENOENT" ? "no such file" : `cannot read: ${code}`}`);
        }
        try {
          return { file, res: readSweepResults(text, file) };
        } catch (e) {
          throw new UsageError((e as Error).message);
        }
      });
      let res: SweepResults;
      try {
        res = mergeSweepResults(parts);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const written = writeResults(opts.out, res.sweep, res);
      const failed = res.rows.filter((r) => !r.passed).length;
      io.out(
        `merged     ${files.length} files: ${res.points} points, ${res.points - failed} passed, ${failed} failed\n`,
      );
      io.out(`wrote      ${written.join(", ")}\n`);
      setCode(failed > 0 ? 1 : 0);
    });
}
