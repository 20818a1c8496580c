/** `rstmem compare FILE --policies a,b,…`: one scenario under several policies, side by side. */
import { existsSync } from "node:fs";
import { relative } from "node:path";
import type { Command } from "commander";
import { compareJson, compareText } from "../report/compare.ts";
import { POLICY_PRESET_NAMES } from "../scenario/policies.ts";
import { BUILTIN_SCENARIOS } from "./builtins.ts";
import { parseSeed, UsageError, type Io, type SetCode } from "./io.ts";
import type { HtmlRun } from "../report/html.ts";
import { replayCommand, writeHtmlReport } from "./html.ts";
import { compareOne } from "./run.ts";
import { checkPolicies, loadWithPolicy, scenarioArg } from "./scenario_args.ts";

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("compare")
    .description(
      "run one scenario under several named policies side by side: a table of latencies, memory and costs, " +
        "the findings per invariant, and a verdict per policy",
    )
    .argument(
      "[scenario]",
      `a scenario file, or a built-in: ${Object.keys(BUILTIN_SCENARIOS).join(", ")} (default: default)`,
      "default",
    )
    .option(
      "--policies <list>",
      `comma-separated named policies (${POLICY_PRESET_NAMES.join(", ")}); default: the scenario's compare:`,
    )
    .option("--json", "print the comparison as one JSON object")
    .option("--seed <n>", "override the scenario's seed", parseSeed)
    .option("--out <dir>", "write each run's summary.json, schedule.txt and traces under DIR/SCENARIO/POLICY")
    .option("--html <file>", "write one self-contained HTML report of the policies side by side")
    .option(
      "--trace <file>",
      "write each run's Chrome trace-event JSON (Perfetto): FILE with the policy's name before the extension",
    )
    .option(
      "--ftrace <file>",
      "write each run's ftrace text: FILE with the policy's name before the extension",
    )
    .action(
      (
        arg: string,
        opts: {
          policies?: string;
          json?: boolean;
          seed?: number;
          out?: string;
          trace?: string;
          ftrace?: string;
          html?: string;
        },
      ) => {
        const { display, file } = scenarioArg(arg);
        const sc = loadWithPolicy(display, file, null);
        const policies = opts.policies
          ? opts.policies.split(",").map((p) => p.trim())
          : sc.compare
            ? [...sc.compare]
            : null;
        if (policies === null || policies.length === 0 || policies.some((p) => p === ""))
          throw new UsageError(
            `${display} has no compare: list; name the policies with --policies a,b (${POLICY_PRESET_NAMES.join(", ")})`,
          );
        checkPolicies(sc, policies);
        // Each run in the report is replayed by `rstmem run FILE --seed N --policy P` (a built-in by its file).
        const runPath = existsSync(arg) ? arg : relative(".", file);
        const sampled: HtmlRun[] = [];
        const c = compareOne(
          sc,
          policies,
          {
            ...opts,
            html: opts.html !== undefined,
            sampled: (r) => {
              const p = policies[sampled.length];
              sampled.push({ result: r, label: p, replay: replayCommand(runPath, r, { policy: p }) });
            },
          },
          io,
        );
        if (opts.html !== undefined) writeHtmlReport(opts.html, sc.name, sampled);
        io.out((opts.json ? compareJson(c) : compareText(c)) + "\n");
        setCode(c.exitCode);
      },
    );
}
