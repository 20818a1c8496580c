/**
 * `rstmem size FILE`: the smallest pool / chunk / CMA sizes under each policy that run the scenario's
 * workloads with no allocation failure and the first frame allocated within `--target-p99`
 * (report/sizing.ts). The runs go through the sweep's worker pool; policies are searched side by side.
 * Exit status: 0 every policy has an answer, 1 one has none, 2 bad input.
 */
import { readFileSync } from "node:fs";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { parse } from "yaml";
import { sizePolicy, sizeKnobs, sizingText, type RunAt, type SizingResult } from "../report/sizing.ts";
import { setPath } from "../report/sweep_path.ts";
import { loadScenarioFile } from "../scenario/loader.ts";
import { namedPolicy, POLICY_PRESET_NAMES, policyProblem } from "../scenario/policies.ts";
import { parseDurationArg, parsePositive, UsageError, type Io, type SetCode } from "./io.ts";
import { defaultJobs, pointPool } from "./sweep_pool.ts";
import { checkPolicyName } from "./scenario_args.ts";

/** The default target: a tenth of a second to allocate a session's first frame. */
export const DEFAULT_TARGET_P99_NS = 100_000_000;

interface SizeOptions {
  targetP99: number;
  policies?: string;
  json?: boolean;
  jobs?: number;
}

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("size")
    .description(
      "find the smallest pool, chunk and CMA sizes under each policy that run the scenario's workloads with " +
        "no allocation failure and the first frame allocated within a target (binary search over runs)",
    )
    .argument("<file>", "a scenario with workloads; its CMA area is the search's upper bound")
    .option(
      "--target-p99 <duration>",
      "first-frame allocation latency, p99 over every session",
      parseDurationArg,
      DEFAULT_TARGET_P99_NS,
    )
    .option("--policies <a,b>", `named policies to size (default: every one the platform runs)`)
    .option("--json", "print the result as JSON")
    .option("--jobs <n>", "worker threads (default: the machine's cores)", parsePositive)
    .action(async (file: string, opts: SizeOptions) => {
      const sc = loadScenarioFile(file);
      if (sc.workloads.length === 0)
        throw new UsageError(`${file}: no workloads: sizing measures the workloads' allocations`);
      const base = parse(readFileSync(file, "utf8")) as Record<string, unknown>;
      const asked = opts.policies
        ?.split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      for (const p of asked ?? []) {
        checkPolicyName(p, "--policies");
        const problem = policyProblem(namedPolicy(p, sc.platform), sc.platform);
        if (problem) throw new UsageError(`--policies ${p} on ${sc.platform.name}: ${problem.why}`);
      }
      const policies = (asked ?? POLICY_PRESET_NAMES).filter(
        (p) => policyProblem(namedPolicy(p, sc.platform), sc.platform) === null,
      );
      const skipped = POLICY_PRESET_NAMES.filter((p) => !asked && !policies.includes(p));

      const jobs = Math.min(opts.jobs ?? defaultJobs(), Math.max(1, policies.length));
      const pool = pointPool(jobs);
      let bar: cliProgress.SingleBar | null = null;
      let runs = 0;
      if (io.errIsTty) {
        // About 2 + log2(range / granule) + 2 runs a knob.
        const estimate = policies
          .flatMap((p) => sizeKnobs(sc, namedPolicy(p, sc.platform).pool))
          .reduce((n, k) => n + 4 + Math.ceil(Math.log2(Math.max(2, k.hi / k.lo))), 0);
        bar = new cliProgress.SingleBar(
          { format: `size ${sc.name} [{bar}] {value} runs`, stream: process.stderr },
          cliProgress.Presets.shades_classic,
        );
        bar.start(estimate, 0);
      }
      const runAt: RunAt = async (policy, sizes) => {
        const data = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
        const pol: Record<string, unknown> = { preset: policy };
        if (sizes.chunk !== undefined) pol.chunk = sizes.chunk;
        if (sizes.max !== undefined) pol.max = sizes.max;
        data.policy = pol;
        if (sizes.protmem !== undefined)
          setPath(data, ["platform", "protmem", "secure-video"], sizes.protmem);
        if (sizes.cma !== undefined) {
          const areas = sc.platform.cma.map((c, i) => ({
            name: c.name,
            base: c.base,
            size: i === 0 ? sizes.cma : c.size,
            ...(c.llMap !== undefined ? { ll_map: c.llMap } : {}),
          }));
          setPath(data, ["platform", "cma"], areas);
        }
        const label = Object.entries(sizes)
          .map(([k, v]) => `${k}=${v}`)
          .join(",");
        try {
          const o = await pool.run({
            text: JSON.stringify(data, null, 1),
            file: `${file}#${policy}:${label}`,
          });
          return {
            firstFrameP99Ns: o.metrics.first_frame_alloc_p99_ns,
            failures: o.metrics.alloc_failures,
            why: o.broken ?? o.firstAllocFailure,
            broken: o.broken !== null,
          };
        } catch (e) {
          // A size the platform cannot hold (a carveout over a CMA area, …) is a size that does not work.
          return { firstFrameP99Ns: 0, failures: 0, why: (e as Error).message, broken: true };
        } finally {
          runs++;
          if (bar && runs > bar.getTotal()) bar.setTotal(runs);
          bar?.update(runs);
        }
      };
      let result: SizingResult;
      try {
        const sized = await Promise.all(
          policies.map((p) => sizePolicy(sc, p, namedPolicy(p, sc.platform).pool, opts.targetP99, runAt)),
        );
        result = {
          scenario: sc.name,
          file,
          platform: sc.platform.name,
          targetP99Ns: opts.targetP99,
          policies: sized,
        };
      } finally {
        bar?.stop();
        await pool.close();
      }
      if (opts.json) io.out(JSON.stringify(result, null, 2) + "\n");
      else {
        io.out(sizingText(result));
        if (skipped.length) io.out(`\nnot run on ${sc.platform.name}: ${skipped.join(", ")}\n`);
      }
      setCode(result.policies.every((p) => p.answer !== null) ? 0 : 1);
    });
}
