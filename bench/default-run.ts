/**
 * The default run's figures (issue #10, "Speed"): the built-in default run (scenarios/default.yaml,
 * what `rstmem run` with no file runs) under `upstream` and `safe`; its peak memory; the same run on a 64 GiB
 * platform against 4 GiB; and on a 1 TiB platform, its peak memory.
 *
 * Each run is a child process (bench/default-run-child.mjs) on the compiled JavaScript that
 * `rstmem run` uses (dist/, rebuilt here when a source is newer), so its peak memory is its own; the
 * times are measured inside it, start-up and loading excluded. Best of two where a time is the figure.
 */
import { execFileSync } from "node:child_process";
import { distIsCurrent } from "../scripts/dist-current.mjs";
import { fileURLToPath } from "node:url";

const root = new URL("../", import.meta.url);
const FILE = fileURLToPath(new URL("scenarios/default.yaml", root));
const POLICIES = ["upstream", "safe"];
const GiB = 1024 ** 3;

interface Figure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
}

interface ChildResult {
  readonly ms: number[];
  readonly simS: number[];
  readonly maxRssMiB: number;
}

/** dist/ built after every source change (as bin/rstmem.js decides), else built now. */
export function ensureBuilt(): void {
  if (distIsCurrent()) return;
  execFileSync(process.execPath, [fileURLToPath(new URL("scripts/build.mjs", root))], { stdio: "inherit" });
}

function child(dramBytes?: number): ChildResult {
  const script = fileURLToPath(new URL("bench/default-run-child.mjs", root));
  const args = [script, FILE, POLICIES.join(","), ...(dramBytes === undefined ? [] : [String(dramBytes)])];
  const out = execFileSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split("\n").at(-1)!) as ChildResult;
}

const total = (r: ChildResult) => r.ms.reduce((a, b) => a + b, 0);

/** The faster of two runs. */
function best(dramBytes?: number): ChildResult {
  const a = child(dramBytes);
  const b = child(dramBytes);
  return total(a) <= total(b) ? a : b;
}

export function benchDefaultRun(figure: (f: Figure) => void): void {
  ensureBuilt();
  const r = best();
  figure({
    name: "default run: upstream + safe, each >= 10 simulated minutes, wall time in process (best of 2)",
    value: Number(total(r).toFixed(1)),
    unit: "ms",
    budget: "<= 1000",
  });
  POLICIES.forEach((p, k) =>
    figure({
      name: `default run: simulated seconds per wall second (${p}, ${r.simS[k].toFixed(0)} s simulated)`,
      value: Number((r.simS[k] / (r.ms[k] / 1000)).toFixed(1)),
      unit: "sim-s/s",
    }),
  );
  figure({ name: "default run: peak resident memory (both policies)", value: r.maxRssMiB, unit: "MiB" });
  const r64 = best(64 * GiB);
  figure({
    name: "default run: 64 GiB / 4 GiB DRAM wall-time ratio (both policies)",
    value: Number((total(r64) / total(r)).toFixed(2)),
    unit: "x",
    budget: "<= 1.5",
  });
  const tib = child(1024 * GiB);
  figure({
    name: "default run on 1 TiB of DRAM: peak resident memory (both policies)",
    value: tib.maxRssMiB,
    unit: "MiB",
    budget: "< 2048",
  });
  figure({
    name: "default run on 1 TiB of DRAM: wall time in process (both policies)",
    value: Math.round(total(tib)),
    unit: "ms",
  });
}
