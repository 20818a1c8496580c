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
  /** Give this to runScenario as `trace`, with `tracePerAccess: false`; undefined when no file was asked for. */
  readonly listener: ((e: TraceEvent) => void) | undefined;
  /** Ends both files with the run's result (spans still open, memory counters, names). */
  finish(result: RunResult): void;
}

/** `trace.json` under policy `safe` → `trace.safe.json`: one file per policy when a run compares several. */
export function perPolicyPath(path: string, policy: string): string {
  const ext = extname(path);
  const safe = policy.replace(/[^A-Za-z0-9._-]/g, "_");
  return ext === "" ? `${path}.${safe}` : `${path.slice(0, -ext.length)}.${safe}${ext}`;
}

/** The step lists of a scenario: the tasks that run its steps. */
function stepLists(sc: Scenario): string[] {
  return ["steps", ...sc.tasks.map((t) => t.name)];
}

/** Memory by page state over the run, if the run sampled it. */
function memoryOf(result: RunResult): MemorySample[] | undefined {
  void result;
  return undefined;
}

export function traceFiles(sc: Scenario, paths: TracePaths): TraceFiles {
  const lists = stepLists(sc);
  let chrome: ChromeTraceWriter | null = null;
  let fd = -1;
  if (paths.chrome) {
    fd = openSync(paths.chrome, "w");
    const out = fd;
    chrome = new ChromeTraceWriter((chunk) => writeSync(out, chunk), {
      title: `${sc.name} (${sc.platform.name}, policy ${sc.policy.name})`,
      stepLists: lists,
    });
  }
  const ftrace = paths.ftrace ? new FtraceWriter({ stepLists: lists }) : null;
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
        },
      };
      if (chrome) {
        chrome.finish(end);
        closeSync(fd);
      }
      if (ftrace && paths.ftrace) {
        const out = openSync(paths.ftrace, "w");
        try {
          ftrace.finish(end, (chunk) => writeSync(out, chunk));
        } finally {
          closeSync(out);
        }
      }
    },
  };
}
