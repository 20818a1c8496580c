/**
 * One point of a sweep or one run of a sizing search, in a worker thread (piscina) or in-process:
 * loads the point's scenario from its text and runs it. Everything a worker returns is a pure
 * function of the text, so results do not depend on which worker ran which point.
 */
import { loadScenarioText } from "../scenario/loader.ts";
import { runScenario } from "../scenario/runner.ts";
import { brokenRun, pointMetrics, type PointMetrics } from "../report/sweep_metrics.ts";

export interface PointTask {
  readonly text: string;
  readonly file: string;
}

export interface PointOutcome {
  readonly metrics: PointMetrics;
  /** A hang, panic, killed task or deadlock, or null. */
  readonly broken: string | null;
  /** The first workload's first failed allocation, with the kernel's reason, or null. */
  readonly firstAllocFailure: string | null;
}

export function runPoint(task: PointTask): PointOutcome {
  const sc = loadScenarioText(task.text, task.file);
  const r = runScenario(sc);
  return {
    metrics: pointMetrics(r),
    broken: brokenRun(r),
    firstAllocFailure: r.workloads?.find((w) => w.firstFailure !== null)?.firstFailure ?? null,
  };
}

export default runPoint;
