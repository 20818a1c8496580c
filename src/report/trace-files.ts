/**
 * `--trace FILE` and `--ftrace FILE` of a run: the two trace writers subscribed to the run's trace bus
 * (without per-access events), written to their files when the run ends. The Chrome JSON streams to
 * its file while the run goes; the ftrace text is kept until the end, when its header's entry count
 * and the memory counters are known.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { extname } from "node:path";
import type { Scenario } from "../scenario/loader.ts";
import type { RunResult } from "../scenario/runner.ts";
import type { TraceEvent } from "../sim/trace.ts";
import { ChromeTraceWriter } from "./chrome-trace.ts";
import { FtraceWriter } from "./ftrace.ts";
import type { MemorySample } from "./trace-tracks.ts";

export interface TracePaths {
  /** Chrome trace-event JSON. */
  readonly chrome?: string;
  /** ftrace text. */
  readonly ftrace?: string;
}

export interface TraceFiles {
  /**
   * Give this to runScenario as `trace`, with `tracePerAccess: false` and a `timeline` (its samples are
   * the memory counters); undefined when no file was asked for.
   */
  readonly listener: ((e: TraceEvent) => void) | undefined;
  /** Ends both files with the run's result (spans still open, memory counters, names). */
  finish(result: RunResult): void;
}

/** `trace.json` for `safe` → `trace.safe.json`: one file per policy (or scenario) when a command runs several. */
export function tracePathFor(path: string, policy: string): string {
  const ext = extname(path);
  const safe = policy.replace(/[^A-Za-z0-9._-]/g, "_");
  return ext === "" ? `${path}.${safe}` : `${path.slice(0, -ext.length)}.${safe}${ext}`;
}

/** The step lists of a scenario: the tasks that run its steps. */
function stepLists(sc: Scenario): string[] {
  return ["steps", ...sc.tasks.map((t) => t.name)];
}

/**
 * Memory by page state over the run, from its timeline (scenario/timeline.ts), if it was sampled: free,
 * CMA used, lent and unmapped exact; movable and kernel estimated from the map's probes; carveout the
 * reserved regions, to the map's bin.
 */
export function memoryOf(result: RunResult): MemorySample[] | undefined {
  const tl = result.timeline;
  if (!tl) return undefined;
  const carveout = tl.regions
    .filter((r) => r.kind === "carveout")
    .reduce((n, r) => n + Math.min(tl.dramBytes, (r.endBin - r.firstBin) * tl.binBytes), 0);
  return tl.samples.map((s) => ({
    t: s.t,
    bytes: {
      free: s.freeBytes,
      movable: s.movableBytes,
      kernel: s.kernelBytes,
      cma_used: s.cmaUsedBytes,
      lent: s.lentBytes,
      carveout,
      unmapped: s.unmappedBytes,
    },
  }));
}

/** Opens a trace file for writing, or throws an Error naming the option and the reason. */
function open(option: string, path: string): number {
  try {
    return openSync(path, "w");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such directory" : code === "EACCES" ? "permission denied" : String(code ?? e);
    throw new TraceFileError(`${option} ${path}: cannot write the file (${why})`);
  }
}

/** A trace file that cannot be written: bad usage, not a bug. */
export class TraceFileError extends Error {}

/** Opens the files (so a bad path fails before the run) and builds the writers. */
export function traceFiles(sc: Scenario, paths: TracePaths): TraceFiles {
  const lists = stepLists(sc);
  const chromeFd = paths.chrome ? open("--trace", paths.chrome) : -1;
  const ftraceFd = paths.ftrace ? open("--ftrace", paths.ftrace) : -1;
  const chrome =
    chromeFd < 0
      ? null
      : new ChromeTraceWriter((chunk) => writeSync(chromeFd, chunk), {
          title: `${sc.name} (${sc.platform.name}, policy ${sc.policy.name})`,
          stepLists: lists,
        });
  const ftrace = ftraceFd < 0 ? null : new FtraceWriter({ stepLists: lists });
  const listeners = [chrome?.listener, ftrace?.listener].filter((l) => l !== undefined);
  const listener =
    listeners.length === 0
      ? undefined
      : listeners.length === 1
        ? listeners[0]
        : (e: TraceEvent) => {
            for (const l of listeners) l(e);
          };
  return {
    listener,
    finish(result) {
      const end = {
        t: result.simTimeNs,
        memory: memoryOf(result),
        otherData: {
          scenario: result.scenario,
          platform: result.platform,
          policy: sc.policy.name,
          seed: result.seed,
          simulated_ns: result.simTimeNs,
          findings: result.findings,
          // The machine's counters: speculative fills and write-backs (and how many the firewall
          // denied), accesses, faults, TLB flushes — counted, never one event each.
          machine: result.machine,
        },
      };
      if (chrome) {
        chrome.finish(end);
        closeSync(chromeFd);
      }
      if (ftrace) {
        ftrace.finish(end, (chunk) => writeSync(ftraceFd, chunk));
        closeSync(ftraceFd);
      }
    },
  };
}
