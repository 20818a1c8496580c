/**
 * FF-A fuzzing speed (issue 11, "Fuzz cases per second per flavor: ≥ 50,000"): `rstmem ffa fuzz` on one
 * flavor — the whole loop (generation, calls through the conduit, the oracle, restores), without a
 * corpus — best of three runs of 20,000 cases after a warm-up of three such runs (the JIT settled),
 * each flavor in a child process
 * (bench/fuzz-child.mjs) on the compiled JavaScript the command runs (dist/, rebuilt when a source is
 * newer). Two figures a flavor: cases per CPU-second (process.cpuUsage(): what the code costs, whatever
 * else the machine runs) and cases per wall-second (what a user waits for on this machine now). Then one
 * long run per flavor over two threads (fuzz_parallel.ts), cold, as the command makes it
 * (bench/fuzz-jobs-child.mjs): cases per wall-second, over the whole run and over stretches of it once
 * both threads have warmed up (what a fuzzing campaign makes for most of its time).
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { FUZZ_FLAVORS } from "../src/explore/fuzz/rig.ts";
import { ensureBuilt } from "./default-run.ts";
import { bestRate, fastest } from "./explore.ts";

export interface FuzzFigure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
}

const RUNS = 20_000;
const REPS = 3;
/**
 * The long run over threads: as long as a fuzzing campaign's, past where a second thread pays
 * (fuzz_parallel.ts); its rate is also taken warm, over stretches of LONG_STRETCH cases after its first
 * LONG_WARM (both threads' JIT warm-up).
 */
const LONG_RUNS = 1_200_000;
const LONG_JOBS = 2;
const LONG_WARM = 300_000;
const LONG_STRETCH = 300_000;

interface Rep {
  readonly wallMs: number;
  readonly cpuMs: number;
  readonly calls: number;
}

export function benchFuzz(figure: (f: FuzzFigure) => void): void {
  ensureBuilt();
  const script = fileURLToPath(new URL("fuzz-child.mjs", import.meta.url));
  for (const flavor of FUZZ_FLAVORS) {
    const out = execFileSync(process.execPath, [script, flavor, String(RUNS), String(REPS)], {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    });
    const reps = JSON.parse(out.trim().split("\n").at(-1)!) as Rep[];
    const cpu = fastest(reps, "cpuMs");
    const wall = fastest(reps, "wallMs");
    const perCase = (cpu.calls / RUNS).toFixed(2);
    figure({
      name: `FF-A fuzz cases per CPU-second (${flavor}, ${RUNS} cases, ${perCase} calls a case, best of ${REPS})`,
      value: Math.round((RUNS / cpu.cpuMs) * 1000),
      unit: "cases/cpu-s",
      budget: ">= 50000",
    });
    figure({
      name: `FF-A fuzz cases per wall-second (${flavor}, ${RUNS} cases, ${perCase} calls a case, best of ${REPS})`,
      value: Math.round((RUNS / wall.wallMs) * 1000),
      unit: "cases/s",
      budget: ">= 50000",
    });
  }
  // What `rstmem ffa fuzz --flavor F --runs 1000000 --jobs 2` makes a second, cold start included.
  const long = fileURLToPath(new URL("fuzz-jobs-child.mjs", import.meta.url));
  for (const flavor of FUZZ_FLAVORS) {
    const args = [long, flavor, LONG_RUNS, LONG_JOBS, LONG_WARM, LONG_STRETCH].map(String);
    const out = execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 20 });
    const r = JSON.parse(out.trim().split("\n").at(-1)!) as Rep & {
      threads: number;
      stretches: { wallMs: number; cases: number }[];
    };
    const threads = `--jobs ${LONG_JOBS}: ${r.threads} threads`;
    figure({
      name: `FF-A fuzz cases per wall-second (${flavor}, ${LONG_RUNS} cases, ${threads}, cold start included)`,
      value: Math.round((LONG_RUNS / r.wallMs) * 1000),
      unit: "cases/s",
      budget: ">= 50000",
    });
    const best = bestRate(r.stretches, "cases");
    figure({
      name: `FF-A fuzz cases per wall-second, warm (${flavor}, ${threads}, stretches of ${LONG_STRETCH} cases of that run after its first ${LONG_WARM}, best of ${r.stretches.length})`,
      value: Math.round((best.cases / best.wallMs) * 1000),
      unit: "cases/s",
      budget: ">= 50000",
    });
  }
}

// `tsx bench/fuzz.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) benchFuzz((f) => console.log(JSON.stringify(f)));
