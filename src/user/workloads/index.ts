/**
 * Workload generators (ARCHITECTURE.md §6): each kind is a file here; this index spawns one task per
 * entry of a scenario's `workloads:` and collects their metrics.
 */
import type { Task } from "../../sim/scheduler.ts";
import { background, type BackgroundSpec } from "./background.ts";
import { WorkloadMetrics, type WorkloadEnv, type WorkloadReport } from "./env.ts";
import { secureVideo, type SecureVideoSpec } from "./secure_video.ts";
import { secureVideoRecord, type SecureVideoRecordSpec } from "./secure_video_record.ts";
import { trustedUi, type TrustedUiSpec } from "./trusted_ui.ts";

export {
  summarize,
  WorkloadMetrics,
  type LatencySummary,
  type WorkloadEnv,
  type WorkloadReport,
} from "./env.ts";
export { frameBytes, PIXEL_FORMATS, type PixelFormat } from "./formats.ts";
export type { BackgroundSpec, SecureVideoRecordSpec, SecureVideoSpec, TrustedUiSpec };

export const WORKLOAD_KINDS = ["secure-video", "trusted-ui", "secure-video-record", "background"] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/** One resolved `workloads:` entry. */
export type WorkloadSpec = { readonly index: number; readonly line: number } & (
  | { readonly kind: "secure-video"; readonly spec: SecureVideoSpec }
  | { readonly kind: "trusted-ui"; readonly spec: TrustedUiSpec }
  | { readonly kind: "secure-video-record"; readonly spec: SecureVideoRecordSpec }
  | { readonly kind: "background"; readonly spec: BackgroundSpec }
);

export interface RunningWorkloads {
  readonly tasks: readonly Task[];
  readonly metrics: readonly WorkloadMetrics[];
  reports(): WorkloadReport[];
}

/**
 * Spawns every workload as its own task. A background load runs until the other workloads and
 * `othersDone()` (the step lists) are done, unless it has its own length.
 */
export function spawnWorkloads(
  env: WorkloadEnv,
  specs: readonly WorkloadSpec[],
  othersDone: () => boolean,
): RunningWorkloads {
  const sched = env.kernel.sim.sched;
  const metrics: WorkloadMetrics[] = [];
  const tasks: Task[] = [];
  const foreground: Task[] = [];
  const fgDone = () => foreground.every((t) => t.state === "done") && othersDone();
  for (const w of specs) {
    const name = `${w.kind}#${w.index}`;
    const m = new WorkloadMetrics(name, w.kind, w.line);
    metrics.push(m);
    const proc = `${w.kind}.${w.index}`;
    let t: Task;
    switch (w.kind) {
      case "secure-video":
        t = sched.spawn(`workload:${name}`, () => secureVideo(env, w.spec, m, proc));
        break;
      case "trusted-ui":
        t = sched.spawn(`workload:${name}`, () => trustedUi(env, w.spec, m, proc));
        break;
      case "secure-video-record":
        t = sched.spawn(`workload:${name}`, () => secureVideoRecord(env, w.spec, m, proc));
        break;
      case "background":
        t = sched.spawn(`workload:${name}`, () => background(env, w.spec, m, fgDone));
        break;
    }
    tasks.push(t);
    if (w.kind !== "background") foreground.push(t);
  }
  return { tasks, metrics, reports: () => metrics.map((m) => m.report()) };
}
