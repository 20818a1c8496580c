/**
 * replay.json: what reproduces a violating run exactly — the scenario (as named and where it lives),
 * the policy override, the run seed and the schedule — and what the run broke (the failed
 * expectation, the findings), so `rstmem replay` can run it again and say whether it still fails
 * the same way.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { STORY_EVENTS_MAX } from "../report/html.ts";
import { storyEvent, type StoryEvent } from "../report/story.ts";
import type { TraceEvent } from "../sim/trace.ts";
import { z } from "zod";
import { issueToError, parseYamlWithPositions } from "../scenario/errors.ts";
import { faultSchema, parseFaultList } from "../scenario/faults.ts";
import type { Scenario } from "../scenario/loader.ts";
import { bootScenario, runOnSystem, type RunOptions, type RunResult } from "../scenario/runner.ts";
import { isBootFault, type FaultSpec } from "../sim/faults.ts";
import type { Strategy } from "./explore.ts";

export const REPLAY_FORMAT = "rstmem-replay/1";

export interface ReplayFile {
  readonly format: typeof REPLAY_FORMAT;
  /** The scenario as the command line named it (a built-in name or a path): what summaries call it. */
  readonly scenario: string;
  /** Its file, absolute. */
  readonly file: string;
  /** The `--policy` override, or null for the scenario's own policy. */
  readonly policy: string | null;
  /** The run seed (the scenario's). */
  readonly seed: number;
  readonly schedule: string;
  /**
   * The faults that struck in the run, in the scenario's `faults:` syntax (scenario/faults.ts); replay
   * runs with exactly these instead of the scenario's own. Absent in files written before faults.
   */
  readonly faults?: readonly FaultSpec[];
  /** How the explorer found it. */
  readonly found: { readonly strategy: Strategy; readonly seed: number; readonly run: number };
  /**
   * SHA-256 of the scenario file's bytes when the run was found: `rstmem replay` says when the file has
   * changed since (its schedule may no longer fit). Absent in files written before it.
   */
  readonly scenarioSha256?: string;
  /** The expectation that failed (the run's failure sentence), or why the run counts as a violation. */
  readonly failed: string;
  readonly findings: Readonly<Record<string, number>>;
}

export function replayFile(
  r: RunResult,
  what: { scenario: string; file: string; policy: string | null; why: string },
  found: ReplayFile["found"],
): ReplayFile {
  const sha = scenarioSha256(what.file);
  return {
    format: REPLAY_FORMAT,
    scenario: what.scenario,
    file: what.file,
    policy: what.policy,
    seed: r.seed,
    schedule: r.schedule,
    faults: r.faults,
    found,
    ...(sha !== null ? { scenarioSha256: sha } : {}),
    failed: what.why,
    findings: Object.fromEntries(Object.entries(r.findings).filter(([, n]) => n > 0)),
  };
}

/** SHA-256 of a scenario file's bytes, hex; null when it cannot be read. */
export function scenarioSha256(file: string): string | null {
  try {
    return createHash("sha256").update(readFileSync(file)).digest("hex");
  } catch {
    return null;
  }
}

/**
 * Where JSON.parse() fails in `text` (which it does not parse), as an offset: every prefix before the
 * bad character parses or only ends too early (V8: "Unexpected end of JSON input", or an error at the
 * prefix's very end), and the first one that holds it fails before its end (binary search);
 * text.length when the whole text only ends too early.
 */
function jsonErrorOffset(text: string): number {
  const endsEarly = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return true;
    } catch (e) {
      const msg = (e as Error).message;
      const at = /at position (\d+)/.exec(msg);
      return msg.startsWith("Unexpected end of JSON input") || (at !== null && Number(at[1]) >= n);
    }
  };
  if (endsEarly(text.length)) return text.length;
  let lo = 0;
  let hi = text.length;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (endsEarly(mid)) lo = mid;
    else hi = mid;
  }
  return hi - 1;
}

/** The keys a replay.json has (a field added to ReplayFile and not here fails to compile). */
const REPLAY_FIELDS = {
  format: true,
  scenario: true,
  file: true,
  policy: true,
  seed: true,
  schedule: true,
  faults: true,
  found: true,
  scenarioSha256: true,
  failed: true,
  findings: true,
} as const satisfies Record<keyof ReplayFile, true>;
const REPLAY_KEYS = new Set(Object.keys(REPLAY_FIELDS));

/** Reads and checks a replay.json; a problem is an Error whose message names the file and the field. */
export function readReplayFile(path: string): ReplayFile {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === "ENOENT" ? "no such file" : `cannot read: ${code ?? String(e)}`}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // As a line and column, like every other error here: V8's messages give a byte position for some
    // errors and none for others, so the place is found by parsing prefixes (jsonErrorOffset()).
    const off = jsonErrorOffset(text);
    const before = text.slice(0, off).split("\n");
    const why = off >= text.length ? "the text ends too early" : `unexpected ${JSON.stringify(text[off])}`;
    throw new Error(`${path}:${before.length}:${before[before.length - 1].length + 1}: not JSON: ${why}`);
  }
  const bad = (field: string, want: string): never => {
    throw new Error(`${path}: ${field}: expected ${want}`);
  };
  if (data === null || typeof data !== "object" || Array.isArray(data)) bad("(top)", "an object");
  const o = data as Record<string, unknown>;
  if (o.format !== REPLAY_FORMAT) bad("format", `"${REPLAY_FORMAT}"`);
  // As a scenario's: a key the format does not have is a mistake, not something to pass over.
  const unknown = Object.keys(o).find((k) => !REPLAY_KEYS.has(k));
  if (unknown !== undefined)
    throw new Error(`${path}: unknown key "${unknown}"; expected one of: ${[...REPLAY_KEYS].join(", ")}`);
  for (const k of ["scenario", "file", "schedule", "failed"] as const)
    if (typeof o[k] !== "string") bad(k, "a string");
  if (o.policy !== null && typeof o.policy !== "string") bad("policy", "a policy name or null");
  if (!Number.isSafeInteger(o.seed) || (o.seed as number) < 0) bad("seed", "a non-negative integer");
  if (o.findings === null || typeof o.findings !== "object") bad("findings", "an object");
  if (
    o.scenarioSha256 !== undefined &&
    (typeof o.scenarioSha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.scenarioSha256))
  )
    bad("scenarioSha256", "64 hex digits");
  if (o.faults !== undefined) {
    const faults = parseFaultList(o.faults);
    // As the scenario loader says it: the file's line and column, the field, and what was expected.
    if (typeof faults !== "string") return { ...(data as ReplayFile), faults };
    const { map } = parseYamlWithPositions(text, path);
    const issue = FAULTS_FIELD.safeParse({ faults: o.faults }).error?.issues[0];
    throw issue
      ? issueToError(map, FAULTS_FIELD, { faults: o.faults }, issue)
      : new Error(`${path}: ${faults}`);
  }
  return data as ReplayFile;
}

/** replay.json's `faults` as the scenario format's `faults:` list (scenario/faults.ts). */
const FAULTS_FIELD = z.object({ faults: z.array(faultSchema) });

/** A replay.json's run made again from a fresh boot, with its story event by event. */
export interface ReplayedRun {
  readonly result: RunResult;
  /** The boot's events (the drivers' probe: FF-A, OP-TEE's config calls), the same in every run. */
  readonly boot: readonly StoryEvent[];
  /**
   * The run's events, from its first step: all of them when they are at most 2 × STORY_EVENTS_MAX; else
   * the first STORY_EVENTS_MAX, and `tail` the last STORY_EVENTS_MAX (a run with a background load tells
   * millions: kept whole, they filled the heap).
   */
  readonly story: readonly StoryEvent[];
  /**
   * When the events are too many to keep and the finding the violation is about first came between the
   * first and the last STORY_EVENTS_MAX: the FOCUS_EVENTS events before it, it, and the FOCUS_EVENTS
   * after (a WARN two seconds into a run with a background load is millions of events from either end).
   */
  readonly focus: StoryFocus | null;
  readonly tail: readonly StoryEvent[];
  /** The run's events in all (story, the ones between, tail). */
  readonly storyTotal: number;
  /** A fault struck at boot (recorded with the run's, `boot: true`): then the boot is the story. */
  readonly faultAtBoot: boolean;
}

/** The events around the first finding a violation is about (ReplayedRun.focus). */
export interface StoryFocus {
  /** The finding's invariant. */
  readonly id: string;
  /** The run's event index (0-based) of the focus's first event, and of the finding's. */
  readonly start: number;
  readonly at: number;
  readonly events: readonly StoryEvent[];
}

/** Events kept before and after the finding a long story's focus is about. */
export const FOCUS_EVENTS = 200;

/** The first event of a finding of each invariant, with the events around it (replayRun()). */
interface Capture {
  readonly id: string;
  readonly at: number;
  readonly before: TraceEvent[];
  readonly after: TraceEvent[];
}

/**
 * Makes the run of `rf` again on `sc` (the file's scenario under its policy), from a fresh boot:
 * exactly the file's faults instead of the scenario's (none when its list is empty: a shrink may drop
 * the scenario's own; the scenario's only in a file written before faults were recorded). `timeline`:
 * what the HTML report needs of the run. `keep`: events kept at each end of a long story, and
 * `focusEvents` either side of its focus (a test's smaller numbers show the parts of a long story on a
 * short run).
 */
export function replayRun(
  sc: Scenario,
  rf: Pick<ReplayFile, "seed" | "schedule" | "faults">,
  timeline?: RunOptions["timeline"],
  keep = STORY_EVENTS_MAX,
  focusEvents = FOCUS_EVENTS,
): ReplayedRun {
  const boot: StoryEvent[] = [];
  const story: StoryEvent[] = [];
  let booted = false;
  // The run's events past the first `keep`: the last `keep`, in a ring, kept as the
  // trace gave them (made into story events at the end: most are dropped).
  const ring: TraceEvent[] = [];
  let total = 0;
  // The first finding of each invariant the scenario bounds (of any, without `expect`: then any finding
  // is the violation) past the first `keep` events, with the FOCUS_EVENTS before and after it.
  const bounded = sc.expectFindings.length === 0 ? null : new Set(sc.expectFindings.map((x) => x.id));
  const recent: TraceEvent[] = [];
  const captures = new Map<string, Capture>();
  const open: Capture[] = [];
  const listener = (e: TraceEvent): void => {
    if (!booted) {
      boot.push(storyEvent(e));
      return;
    }
    const i = total++;
    const finding = e.layer === "check" && e.name === "finding" ? String(e.args.id) : null;
    if (i < keep) {
      story.push(storyEvent(e));
      // Its first finding is shown already: no focus on a later one of the same invariant.
      if (finding !== null && !captures.has(finding))
        captures.set(finding, { id: finding, at: i, before: [], after: [] });
    } else {
      ring[(i - keep) % keep] = e;
      // The finding itself is the first of its capture's `after`.
      for (let k = open.length - 1; k >= 0; k--) if (open[k].after.push(e) > focusEvents) open.splice(k, 1);
      if (finding !== null && !captures.has(finding) && (bounded === null || bounded.has(finding))) {
        const before =
          i < focusEvents
            ? recent.slice(0, i)
            : [...recent.slice(i % focusEvents), ...recent.slice(0, i % focusEvents)];
        const c: Capture = { id: finding, at: i, before, after: [e] };
        captures.set(finding, c);
        open.push(c);
      }
    }
    recent[i % focusEvents] = e;
  };
  const system = bootScenario(sc, rf.seed, { listener, perAccess: true });
  booted = true;
  const result = runOnSystem(sc, system, {
    seed: rf.seed,
    schedule: rf.schedule,
    faults: rf.faults === undefined ? undefined : { list: rf.faults },
    ...(timeline !== undefined ? { timeline } : {}),
  });
  const past = total - keep;
  const tail: StoryEvent[] = [];
  if (past > 0) {
    // The ring's oldest entry is where the next write would have gone.
    const start = past > keep ? past % keep : 0;
    for (let k = 0; k < ring.length; k++) tail.push(storyEvent(ring[(start + k) % ring.length]));
  }
  return {
    result,
    boot,
    story,
    focus: focusOf(sc, result, captures, keep, total - tail.length),
    tail,
    storyTotal: total,
    faultAtBoot: result.faults.some(isBootFault),
  };
}

/**
 * The focus of a long story: the capture of the invariant the violation is about — the first failed
 * expectation's, or without `expect` the earliest finding's — trimmed to the events neither the first
 * `keep` nor the tail (from `tailStart`) shows; null when the tail shows the finding itself.
 */
function focusOf(
  sc: Scenario,
  result: RunResult,
  captures: ReadonlyMap<string, Capture>,
  keep: number,
  tailStart: number,
): StoryFocus | null {
  const failed = result.expectations.find((x) => !x.ok)?.id;
  const c =
    sc.expectFindings.length === 0
      ? [...captures.values()].sort((a, b) => a.at - b.at)[0]
      : failed === undefined
        ? undefined
        : captures.get(failed);
  // Shown already: among the first `keep` events, or in the tail.
  if (c === undefined || c.at < keep || c.at >= tailStart) return null;
  let start = c.at - c.before.length;
  let events = [...c.before, ...c.after];
  // Neither what the first `keep` events show nor what the tail shows again.
  if (start < keep) {
    events = events.slice(keep - start);
    start = keep;
  }
  if (start + events.length > tailStart) events = events.slice(0, tailStart - start);
  return { id: c.id, start, at: c.at, events: events.map(storyEvent) };
}
