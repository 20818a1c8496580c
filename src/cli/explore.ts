/** `rstmem explore` and `rstmem replay`. */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import cliProgress from "cli-progress";
import { Option, type Command } from "commander";
import { STRATEGIES, violation, type Strategy } from "../explore/explore.ts";
import { exploreParallel } from "../explore/explore_parallel.ts";
import { deadlineStop } from "../explore/walk.ts";
import {
  readReplayFile,
  REPLAY_FORMAT,
  replayFile,
  replayRun,
  scenarioSha256,
  type ReplayedRun,
  type ReplayFile,
} from "../explore/replay.ts";
import { storyLine, type StoryPart } from "../report/story.ts";
import { faultText, summaryLine, summaryText } from "../report/summary.ts";
import { POLICY_PRESET_NAMES } from "../scenario/policies.ts";
import { FAULT_KINDS, isBootFault, type FaultKind, type FaultSpec } from "../sim/faults.ts";
import { ScheduleDivergence } from "../sim/scheduler.ts";
import { formatDuration } from "../scenario/units.ts";
import { BUILTIN_SCENARIOS } from "./builtins.ts";
import { isRstmemReport, REPLAY_TIMELINE, writeHtmlReport } from "./html.ts";
import type { HtmlRun } from "../report/html.ts";
import {
  makeOutputDir,
  parseDurationArg,
  parseWallTimeArg,
  prepareOutputFile,
  parseOptionalPositive,
  parsePositive,
  faultBudget,
  parseFaultKinds,
  parseSeed,
  shellQuote,
  UsageError,
  type Io,
  type SetCode,
} from "./io.ts";
import { checkPolicies, loadWithPolicy, scenarioArg, withPolicy } from "./scenario_args.ts";
import { scenarioKillProblems, type Scenario } from "../scenario/loader.ts";
import { defaultJobs } from "../explore/threads.ts";

interface ExploreCliOptions {
  strategy: Strategy;
  depth?: number;
  preemptions?: number;
  runs: number;
  time?: number;
  seed: number;
  window: number;
  policy?: string;
  out: string;
  faults?: number;
  faultKinds?: FaultKind[];
  keepGoing?: number | boolean;
  jobs?: number;
  json?: boolean;
  policies?: string;
  html?: string;
}

/** One search's outcome: its exit status, its `--json` object, and its line in the --policies verdict. */
interface Explored {
  readonly code: 0 | 1;
  readonly json: Record<string, unknown>;
  readonly verdict: string;
}

/** A violation as `explore --json` prints it: the run shown (shrunk when it was), and its replay. */
interface ViolationJson {
  readonly run: number;
  readonly why: string;
  /** With --keep-going: runs of the search that failed the same way. */
  readonly runs?: number;
  readonly shrunk: {
    readonly why: string;
    readonly preemptions: readonly [number, number];
    readonly choices: readonly [number, number];
    readonly faults: readonly [number, number];
    readonly replays: number;
  } | null;
  readonly summary: string;
  readonly schedule: string;
  /** The faults that struck, in the scenario's `faults:` syntax (as replay.json holds them). */
  readonly faults: readonly FaultSpec[];
  /** The same, as the text output shows them (`ffa MEM_LEND NO_MEMORY #1 (injected)`). */
  readonly faultsText: readonly string[];
  readonly findings: Readonly<Record<string, number>>;
  /** The replay.json written, and the commands that make the run again. */
  readonly replayFile: string;
  readonly replay: readonly string[];
}

/**
 * PCT's bound 1/(n·k^(d−1)) for the text: three digits, or a power of ten where a double underflows
 * (depth 1000 printed 0.00).
 */
function pctBoundText(n: number, k: number, d: number, bound: number): string {
  if (bound > 0) return bound.toPrecision(3);
  return `10^-${Math.round(Math.log10(n) + (d - 1) * Math.log10(k))}`;
}

/** `--keep-going` alone keeps up to this many distinct failures. */
const KEEP_GOING_DEFAULT = 10;

export function register(program: Command, io: Io, setCode: SetCode): void {
  program
    .command("explore")
    .description(
      "run a scenario under many schedules (random walk, PCT, or bounded exhaustive DFS) until one " +
        "violates its expect (without expect: any finding); shrink it to a minimal schedule and fault set and " +
        "write replay.json",
    )
    .argument("<scenario>", `a scenario file, or a built-in: ${Object.keys(BUILTIN_SCENARIOS).join(", ")}`)
    .addOption(new Option("--strategy <s>", "how schedules are chosen").choices(STRATEGIES).default("random"))
    .option("--depth <d>", "PCT's bug depth d (d − 1 priority-change points; default 3)", parsePositive)
    .option(
      "--preemptions <n>",
      "DFS's bound: choices other than the default (earliest-ready, FIFO) per run (default 2)",
      parseSeed,
    )
    .option("--runs <n>", "schedules to try at most", parsePositive, 1000)
    .option(
      "--time <duration>",
      "stop early after this much wall-clock time, such as 30s or 5min (never changes a run)",
      parseWallTimeArg,
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
    .option(
      "--policies <list>",
      "the same search under each of these named policies in turn (comma-separated), a verdict per policy at the end; replay files in DIR/POLICY/",
    )
    .option("--out <dir>", "where replay.json goes on a violation", ".")
    .option(
      "--faults [n]",
      "let the explorer inject faults too: at most n per run (default 1) beside the scenario's faults:",
      parseOptionalPositive("--faults"),
    )
    .option(
      "--fault-kinds <list>",
      `with --faults: the kinds it may strike, comma-separated (${FAULT_KINDS.join(", ")}; default all)`,
      parseFaultKinds,
    )
    .option(
      "--keep-going [n]",
      `go on past violations: report up to n distinct failures (default ${KEEP_GOING_DEFAULT}), each shrunk, replay-K.json`,
      parseOptionalPositive("--keep-going"),
    )
    .option("--json", "print the search's result as one JSON object (replay.json files are written as ever)")
    .option(
      "--html <file>",
      "also write the violations found as one HTML report: each shrunk run's story event by event, its memory map and findings",
    )
    .option(
      "--jobs <n>",
      "threads making runs (random, pct; default: the machine's cores). Results do not depend on it",
      parsePositive,
    )
    .action(async (arg: string, opts: ExploreCliOptions) => {
      if (opts.depth !== undefined && opts.strategy !== "pct")
        throw new UsageError("--depth applies to --strategy pct");
      if (opts.preemptions !== undefined && opts.strategy !== "dfs")
        throw new UsageError("--preemptions applies to --strategy dfs");
      const budget = faultBudget(opts.faults);
      if (opts.faultKinds !== undefined && budget === 0)
        throw new UsageError("--fault-kinds applies with --faults");
      const keepGoing =
        opts.keepGoing === undefined || opts.keepGoing === false
          ? 0
          : opts.keepGoing === true
            ? KEEP_GOING_DEFAULT
            : opts.keepGoing;
      const { display, file } = scenarioArg(arg);
      if (opts.policy !== undefined && opts.policies !== undefined)
        throw new UsageError("--policy and --policies: give one of them");
      const base = loadWithPolicy(display, file, opts.policy ?? null);
      // --policies: the same search under each policy in turn, refused before any runs if one cannot.
      const policies = opts.policies?.split(",").map((p) => p.trim()) ?? null;
      if (policies !== null) {
        if (policies.some((p) => p === ""))
          throw new UsageError(`--policies: name the policies as a,b (${POLICY_PRESET_NAMES.join(", ")})`);
        checkPolicies(base, policies);
      }
      const json = opts.json === true;
      const searches =
        policies === null
          ? [{ sc: base, policy: opts.policy ?? null, outDir: opts.out }]
          : policies.map((p) => ({
              sc: withPolicy(base, p, "--policies"),
              policy: p,
              outDir: join(opts.out, p),
            }));
      // --out and --html's directory made before any search, so a bad path fails first; nor may the
      // replay.json a violation writes be a directory there.
      makeOutputDir(opts.out, "--out");
      for (const x of searches) {
        const rp = join(x.outDir, "replay.json");
        if (existsSync(rp) && statSync(rp).isDirectory())
          throw new UsageError(
            `--out ${opts.out}: ${rp} is a directory (a violation's replay.json goes there)`,
          );
      }
      if (opts.html !== undefined) prepareOutputFile(opts.html, "--html");
      const results: Explored[] = [];
      const htmlRuns: HtmlRun[] = [];
      for (const [i, x] of searches.entries()) {
        if (i > 0 && !json) io.out("\n");
        results.push(await exploreOne(x.sc, x.policy, x.outDir));
      }
      let htmlLine = "";
      if (opts.html !== undefined) {
        // The violations' runs, shrunk, one after another. No violation: nothing to show, and a report
        // an earlier search left there goes, so that the file never tells of another search.
        if (htmlRuns.length > 0) {
          writeHtmlReport(opts.html, base.name, htmlRuns);
          htmlLine = `html       ${opts.html}: ${htmlRuns.length} violating run${htmlRuns.length === 1 ? "" : "s"}, event by event\n`;
        } else {
          // Only a report of ours: any other file at that path is the user's, and stays.
          const there = existsSync(opts.html);
          const ours = there && isRstmemReport(opts.html);
          if (ours) rmSync(opts.html);
          const why = ours
            ? " (the report there before removed)"
            : there
              ? " (the file there is not an rstmem report: left as it is)"
              : "";
          htmlLine = `html       no violation: ${opts.html} not written${why}\n`;
        }
        for (const x of results) x.json.html = htmlRuns.length > 0 ? opts.html : null;
      }
      if (policies === null) {
        if (json) io.out(JSON.stringify(results[0].json, null, 2) + "\n");
      } else if (json)
        io.out(
          JSON.stringify(
            results.map((x) => x.json),
            null,
            2,
          ) + "\n",
        );
      else {
        // A verdict per policy, the way compare ends: what each search found, where its replay is.
        io.out("\n");
        const width = Math.max(...policies.map((p) => p.length));
        results.forEach((x, i) => io.out(`policy     ${policies[i].padEnd(width)}  ${x.verdict}\n`));
      }
      if (!json) io.out(htmlLine);
      setCode(Math.max(...results.map((x) => x.code)));

      /** One search under one policy: its lines (unless --json), its replay files in `outDir`, its result. */
      async function exploreOne(sc: Scenario, policy: string | null, outDir: string): Promise<Explored> {
        let bar: cliProgress.SingleBar | null = null;
        if (io.errIsTty) {
          bar = new cliProgress.SingleBar(
            {
              format: `${sc.name} (${sc.policy.name}) [{bar}] {value}/{total} schedules`,
              stream: process.stderr,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(opts.runs, 0);
        }
        // Wall-clock time is read here only: it may end the search early, it never feeds a run.
        const started = Date.now();
        const deadline = opts.time === undefined ? undefined : started + opts.time / 1e6;
        let searched = started;
        const r = await exploreParallel(sc, {
          jobs: opts.jobs ?? defaultJobs(),
          strategy: opts.strategy,
          runs: opts.runs,
          seed: opts.seed,
          depth: opts.depth,
          preemptions: opts.preemptions,
          windowNs: opts.window,
          faults: budget,
          faultKinds: opts.faultKinds,
          keepGoing,
          // One wall-clock deadline: asked here before each run, and handed to the worker threads.
          ...(deadline === undefined ? {} : { shouldStop: deadlineStop(deadline), deadline }),
          onRun: (done) => {
            searched = Date.now();
            bar?.update(done);
          },
        });
        // The search's rate: until the last run (shrinking comes after it).
        const seconds = Math.max(1e-3, (searched - started) / 1000);
        bar?.stop();
        // --json: the same facts as one object, printed at the end instead of the lines.
        const say = (text: string): void => {
          if (!json) io.out(text);
        };
        const violations: ViolationJson[] = [];
        // Runs a fault could strike in: DFS's runs cut short at a known state never reached one.
        const whole = r.dfs ? r.explored - r.dfs.pruned : r.explored;
        const jsonOf = (): Record<string, unknown> => ({
          scenario: sc.name,
          file: sc.file,
          policy: sc.policy.name,
          strategy: r.strategy,
          seed: r.seed,
          windowNs: r.windowNs,
          explored: r.explored,
          distinct: r.distinct,
          states: r.states,
          seconds: Number(seconds.toFixed(3)),
          schedulesPerSecond: Number((r.explored / seconds).toFixed(1)),
          statesPerSecond: Number((r.states / seconds).toFixed(1)),
          faults:
            budget > 0
              ? {
                  budget,
                  kinds: opts.faultKinds ?? FAULT_KINDS,
                  struckIn: r.faulted,
                  of: whole,
                }
              : null,
          pct: r.pct,
          dfs: r.dfs,
          ended: r.ended,
          keepGoing: r.keptGoing && {
            most: keepGoing,
            violatingRuns: r.keptGoing.violatingRuns,
            notKept: r.keptGoing.notKept,
          },
          violations,
        });
        say(
          `explore    ${sc.name} (${sc.file}), policy ${sc.policy.name}, strategy ${r.strategy}, seed ${r.seed}, ` +
            `window ${formatDuration(r.windowNs)}\n`,
        );
        // What the scenario or the command line asks that a search does not do: said, not ignored.
        if (sc.schedule !== null)
          say(`note       the scenario's schedule: is not used: explore chooses the schedules\n`);
        if (base.compare !== null && policies === null && opts.policy === undefined)
          say(
            `note       the scenario compares ${base.compare.join(", ")}: this search runs under ${sc.policy.name} ` +
              `(--policies ${base.compare.join(",")} searches under each)\n`,
          );
        if (r.dfs && opts.jobs !== undefined && opts.jobs > 1)
          say(`note       dfs searches in one thread: --jobs ${opts.jobs} not used\n`);
        if (r.pct) {
          const p = r.pct;
          say(
            `pct        depth ${p.depth}, n = ${p.tasks} tasks, k = ${p.steps} steps: each run finds a bug of depth ` +
              `${p.depth} with probability ≥ 1/(n·k^(d−1)) = ${pctBoundText(p.tasks, p.steps, p.depth, p.bound)}\n`,
          );
        }
        if (r.dfs) {
          const d = r.dfs;
          say(
            `dfs        at most ${d.preemptions} preemptions; ${d.pruned} runs cut short at a state already explored` +
              `${d.exhausted ? "; every schedule within the bound explored" : r.ended === "runs" ? `; not every schedule within the bound explored: --runs ${opts.runs} ran out (raise it)` : ""}\n`,
          );
        }
        say(
          `explored   ${r.explored} schedules, ${r.distinct} distinct, ${r.states} distinct states, ` +
            `${(r.explored / seconds).toFixed(1)} schedules/s, ${(r.states / seconds).toFixed(1)} states/s ` +
            `(${seconds.toFixed(2)} s)\n`,
        );
        if (budget > 0) {
          // How many runs a fault struck in: a search under faults that struck none explored clean runs.
          say(`faults     struck in ${r.faulted} of ${whole} ${r.dfs ? "whole runs" : "runs"}\n`);
        }
        if (r.ended === "exhausted" && !r.dfs)
          say(
            `exhausted  run 1 met no scheduling choice, and no --faults budget varies the runs: ` +
              `every run of the ${opts.runs} would be that run\n`,
          );
        if (r.ended === "stopped")
          say(
            `stopped    --time ${formatDuration(opts.time!)} ran out after ${r.explored} of ${opts.runs} runs\n`,
          );
        const v = r.violation;
        if (v === null) {
          if (r.ended === "runs" && !r.dfs) say(`budget     --runs ${opts.runs} spent\n`);
          say(`clean      no violation in ${r.explored} schedules\n`);
          return { code: 0, json: jsonOf(), verdict: `clean      ${r.explored} runs` };
        }
        const kg = r.keptGoing;
        if (kg !== null) {
          const all = kg.distinct.length + kg.notKept;
          say(
            `violations ${all} distinct failure${all === 1 ? "" : "s"} in ` +
              `${kg.violatingRuns} of ${r.explored} runs (--keep-going ${keepGoing}` +
              `${kg.notKept > 0 ? `: the first ${kg.distinct.length} kept` : ""})\n`,
          );
        }
        const distinct = kg?.distinct ?? [
          { run: v.run, why: v.why, result: v.result, shrunk: r.shrunk, runs: 1 },
        ];
        makeOutputDir(outDir, "--out");
        const runPath = existsSync(arg) ? arg : relative(".", file);
        const policyFlag = policy === null ? "" : ` --policy ${shellQuote(policy)}`;
        distinct.forEach((d, i) => {
          const times = kg !== null ? ` (${d.runs} run${d.runs === 1 ? "" : "s"} failed so)` : "";
          say(`VIOLATION  run ${d.run}: ${d.why}${times}\n`);
          // The shortest schedule found that still breaks the same expectation is what gets replayed.
          const sh = d.shrunk;
          const shown = sh ? sh.result : d.result;
          if (sh) {
            say(
              `shrunk     ${sh.preemptionsBefore} → ${sh.preemptions} non-default choices, ` +
                `${sh.choicesBefore} → ${sh.choices} choices up to the last of them` +
                `${sh.faultsBefore > 0 ? `, ${sh.faultsBefore} → ${sh.faults} faults` : ""} (${sh.replays} replays): ${sh.why}\n`,
            );
          }
          say(`${summaryLine(shown, violation(sc, shown))}\n`);
          say(`schedule   ${shown.schedule}\n`);
          if (shown.faults.length > 0) say(`faults     ${shown.faults.map(faultText).join(", ")}\n`);
          // The first failure's file is replay.json, as without --keep-going; the others replay-2.json, …
          const out = join(outDir, i === 0 ? "replay.json" : `replay-${i + 1}.json`);
          const rf = replayFile(
            shown,
            { scenario: display, file, policy, why: sh ? sh.why : d.why },
            { strategy: r.strategy, seed: r.seed, run: d.run },
          );
          writeFileSync(out, JSON.stringify(rf, null, 2) + "\n");
          // --html: the run made again from its replay.json, as `rstmem replay --html` makes it.
          if (opts.html !== undefined) {
            htmlRuns.push(
              replayHtmlRun(replayRun(sc, rf, REPLAY_TIMELINE), `${sc.policy.name}, run ${d.run}`, out),
            );
          }
          // With faults, the schedule alone does not make the run again: replay.json holds both. Nor without
          // any when the scenario lists some that the shrunk run was made without (`rstmem run` would strike them).
          // Nor when `rstmem run` would pass the run (a scenario without `expect`, whose search counts any
          // finding a violation).
          const replay = [`rstmem replay ${shellQuote(out)}`];
          if (shown.faults.length === 0 && sc.faults.every(isBootFault) && !shown.passed)
            replay.unshift(
              `rstmem run ${shellQuote(runPath)}${policyFlag} --schedule ${shellQuote(shown.schedule)}`,
            );
          for (const cmd of replay) say(`replay     ${cmd}\n`);
          say(`wrote      ${out}\n`);
          violations.push({
            run: d.run,
            why: d.why,
            ...(kg !== null ? { runs: d.runs } : {}),
            shrunk: sh && {
              why: sh.why,
              preemptions: [sh.preemptionsBefore, sh.preemptions],
              choices: [sh.choicesBefore, sh.choices],
              faults: [sh.faultsBefore, sh.faults],
              replays: sh.replays,
            },
            summary: summaryLine(shown, violation(sc, shown)),
            schedule: shown.schedule,
            // As replay.json and `run --json` hold them (the scenario's `faults:` syntax), and as the text shows them.
            faults: shown.faults,
            faultsText: shown.faults.map(faultText),
            findings: Object.fromEntries(Object.entries(shown.findings).filter(([, n]) => n > 0)),
            replayFile: out,
            replay,
          });
        });
        const stale = removeStaleReplays(outDir, distinct.length);
        if (stale.length > 0) say(`removed    ${stale.join(", ")} (an earlier search's, past this one's)\n`);
        const first = distinct[0];
        const more = kg !== null && kg.distinct.length > 1 ? ` (+${kg.distinct.length - 1} more)` : "";
        return {
          code: 1,
          json: jsonOf(),
          verdict: `VIOLATION  run ${first.run}: ${first.why}${more} → ${violations[0].replayFile}`,
        };
      }
    });

  program
    .command("replay")
    .description("run a replay.json from explore again, exactly, and print its summary step by step")
    .argument("<file>", "a replay.json")
    .option(
      "--html <file>",
      "also write the run as a self-contained HTML report (its story event by event, memory map, findings)",
    )
    .option(
      "--boot",
      "print the boot's events too (the drivers' probe: FF-A, OP-TEE); without it they are one line, unless a fault struck at boot",
    )
    .action((path: string, ropts: { html?: string; boot?: boolean }) => {
      if (ropts.html !== undefined) prepareOutputFile(ropts.html, "--html");
      let rf: ReplayFile;
      try {
        rf = readReplayFile(path);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      // Whatever in the file is wrong is named as the file's: its scenario's path, its policy, its schedule.
      if (!existsSync(rf.file) || !statSync(rf.file).isFile())
        throw new UsageError(
          `${path}: file: no scenario at ${rf.file} (moved or deleted since the run was found?)`,
        );
      let sc: Scenario;
      try {
        sc = loadWithPolicy(rf.scenario, rf.file, rf.policy);
      } catch (e) {
        if (!(e instanceof UsageError) || rf.policy === null) throw e;
        throw new UsageError(`${path}: policy: ${e.message.replace(/^--policy:? /, "")}`);
      }
      // A kill of a process the scenario never makes would never strike: refused, as in a scenario.
      scenarioKillProblems(rf.faults ?? [], sc).forEach((why, i) => {
        if (why !== null) throw new UsageError(`${path}: faults[${i}].kill.proc: ${why}`);
      });
      let made: ReplayedRun;
      try {
        made = replayRun(sc, rf, ropts.html !== undefined ? REPLAY_TIMELINE : undefined);
      } catch (e) {
        if (!(e instanceof ScheduleDivergence)) throw e;
        throw new UsageError(`${path}: schedule: ${e.message} (does the scenario still match the file?)`);
      }
      const r = made.result;
      const bootStory = made.boot;
      const story = made.story;
      // The boot is the same for every run of the scenario (the drivers' probe, OP-TEE's config
      // calls): a hundred lines before the run's first step that a violation's story seldom needs. They
      // are counted, and printed when asked or when a fault struck at boot.
      // The scenario changed since the run was found: the same schedule may make another run.
      const sha = rf.scenarioSha256 === undefined ? undefined : scenarioSha256(rf.file);
      if (sha !== undefined && sha !== rf.scenarioSha256)
        io.out(
          `note       ${rf.file} has changed since ${path} was written: the replay may not be the run found\n`,
        );
      const bootOpen = ropts.boot === true || made.faultAtBoot;
      if (ropts.html !== undefined)
        writeHtmlReport(ropts.html, sc.name, [
          replayHtmlRun(made, rf.policy ?? sc.policy.name, path, bootOpen),
        ]);
      if (bootOpen) {
        io.out(`boot       ${bootStory.length} events while the platform booted\n`);
        for (const e of bootStory) io.out(storyLine(e));
      } else io.out(`boot       ${bootStory.length} events while the platform booted (--boot prints them)\n`);
      io.out(`story      ${made.storyTotal} events: time, task, layer, call, what it touched\n`);
      for (const e of story) io.out(storyLine(e));
      for (const part of storyGaps(made)) {
        if (part.skipped > 0) io.out(`           … ${part.skipped} events not shown${part.why} …\n`);
        if (part.heading) io.out(`           ${part.heading}\n`);
        for (const e of part.events) io.out(storyLine(e));
      }
      const why = violation(sc, r);
      io.out(summaryText(r, why) + "\n");
      io.out(
        why === rf.failed
          ? `replay     reproduced: ${why}\n`
          : `replay     DIFFERS from ${path}: recorded "${rf.failed}", now ${why === null ? "no violation" : `"${why}"`}\n`,
      );
      setCode(why === null ? 0 : 1);
    });
}

/**
 * What follows a long story's first STORY_EVENTS_MAX events, in order: the focus on the finding the
 * violation is about (when it came between them and the last ones), then the tail; each after the
 * events skipped before it. The text and the HTML report tell the same parts.
 */
export function storyGaps(made: ReplayedRun): StoryPart[] {
  const parts: StoryPart[] = [];
  let shown = made.story.length;
  const f = made.focus;
  if (f !== null) {
    parts.push({
      skipped: f.start - shown,
      why: "",
      heading: `the ${f.events.length} events around the first ${f.id} finding (event ${f.at + 1} of ${made.storyTotal}):`,
      events: f.events,
    });
    shown = f.start + f.events.length;
  }
  const tailStart = made.storyTotal - made.tail.length;
  if (made.tail.length > 0 || tailStart > shown)
    parts.push({
      skipped: tailStart - shown,
      why: f === null ? ` (the first ${made.story.length} and the last ${made.tail.length} are)` : "",
      heading: f === null ? null : `the last ${made.tail.length} events:`,
      events: made.tail,
    });
  return parts;
}

/**
 * A replay.json's run, made again, as the HTML report shows it: its story, the boot open when asked or
 * when a fault struck there, and `rstmem replay FILE` as the command that makes it again.
 */
function replayHtmlRun(made: ReplayedRun, label: string, file: string, bootOpen = made.faultAtBoot): HtmlRun {
  return {
    result: made.result,
    label,
    replay: `rstmem replay ${shellQuote(file)}`,
    story: { boot: made.boot, run: made.story, runTotal: made.storyTotal, more: storyGaps(made), bootOpen },
  };
}

/**
 * The replay-K.json files an earlier search left in `dir` past the `written` this one wrote (replay.json,
 * replay-2.json … replay-<written>.json): removed, so the directory holds this search's failures only —
 * read beside them, an earlier search's replay-5.json passes for one of this one's. Only files named so
 * that are replay files (their `format`) go; returns their names.
 */
function removeStaleReplays(dir: string, written: number): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const gone: { k: number; name: string }[] = [];
  for (const name of names) {
    const m = /^replay-(\d+)\.json$/.exec(name);
    if (!m || Number(m[1]) <= written) continue;
    const path = join(dir, name);
    try {
      const data = JSON.parse(readFileSync(path, "utf8")) as { format?: unknown };
      if (data.format !== REPLAY_FORMAT) continue;
      rmSync(path);
      gone.push({ k: Number(m[1]), name });
    } catch {
      // Not a replay file we can read, or not ours to remove: left alone.
    }
  }
  return gone.sort((a, b) => a.k - b.k).map((g) => g.name);
}
