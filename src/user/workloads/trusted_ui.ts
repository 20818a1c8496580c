/**
 * `trusted-ui`: a trusted UI (a PIN pad the secure world draws) — per session a client opens
 * /dev/dma_heap/protected,trusted-ui, allocates `buffers` framebuffers of width × height × bpp/8, and
 * the display scans one out per frame (60 a second). The secure world draws them; no normal-world
 * device writes them.
 *
 * Upstream Linux registers a heap only for the use cases OP-TEE reports memory for, and OP-TEE 4.9
 * reports only secure-video: the open fails with ENOENT, which the metrics count as allocation failures.
 */
import type { Sleeps } from "../../sim/scheduler.ts";
import type { WorkloadEnv, WorkloadMetrics } from "./env.ts";
import { runPipeline } from "./pipeline.ts";

export const TRUSTED_UI_HEAP = "/dev/dma_heap/protected,trusted-ui";
/** Frames a second the display scans out (assumption: a 60 Hz panel). */
export const TRUSTED_UI_FPS = 60;

export interface TrustedUiSpec {
  readonly startNs: number;
  readonly sessions: number;
  readonly lengthNs: number;
  readonly gapNs: number;
  readonly width: number;
  readonly height: number;
  readonly bpp: number;
  readonly buffers: number;
}

export function* trustedUi(env: WorkloadEnv, spec: TrustedUiSpec, m: WorkloadMetrics, proc: string): Sleeps {
  yield* runPipeline(
    env,
    {
      heap: TRUSTED_UI_HEAP,
      proc,
      startNs: spec.startNs,
      sessions: spec.sessions,
      lengthNs: spec.lengthNs,
      gapNs: spec.gapNs,
      fps: TRUSTED_UI_FPS,
      frameBytes: Math.ceil((spec.width * spec.height * spec.bpp) / 8),
      frames: spec.buffers,
      extraBuffers: 0,
      extraBytes: 0,
      seeks: 0,
      writer: null,
      reader: "display",
    },
    m,
  );
}
