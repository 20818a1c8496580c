/**
 * `secure-video-record`: secure recording — per session a recorder opens
 * /dev/dma_heap/protected,secure-video-record, allocates `frames` frame buffers; per frame a camera
 * writes one and the encoder reads it.
 *
 * Bus masters: no platform preset has a camera or an encoder. The closest masters stand in: the video
 * decoder (a codec block that both writes and reads frames; many SoCs' VPUs also encode) plays the
 * camera's writes and the encoder's reads. Upstream OP-TEE reports no secure-video-record memory, so
 * Linux registers no such heap: the open fails with ENOENT (counted as allocation failures).
 */
import type { Sleeps } from "../../sim/scheduler.ts";
import type { WorkloadEnv, WorkloadMetrics } from "./env.ts";
import { frameBytes, type PixelFormat } from "./formats.ts";
import { runPipeline } from "./pipeline.ts";

export const SECURE_VIDEO_RECORD_HEAP = "/dev/dma_heap/protected,secure-video-record";
/** Stand-ins for the camera and the encoder (see above). */
export const CAMERA_MASTER = "video-decoder";
export const ENCODER_MASTER = "video-decoder";
/** Frames a second a camera records (assumption). */
export const RECORD_FPS = 30;

export interface SecureVideoRecordSpec {
  readonly startNs: number;
  readonly sessions: number;
  readonly lengthNs: number;
  readonly gapNs: number;
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
  readonly frames: number;
}

export function* secureVideoRecord(
  env: WorkloadEnv,
  spec: SecureVideoRecordSpec,
  m: WorkloadMetrics,
  proc: string,
): Sleeps {
  yield* runPipeline(
    env,
    {
      heap: SECURE_VIDEO_RECORD_HEAP,
      proc,
      startNs: spec.startNs,
      sessions: spec.sessions,
      lengthNs: spec.lengthNs,
      gapNs: spec.gapNs,
      fps: RECORD_FPS,
      frameBytes: frameBytes(spec.width, spec.height, spec.format),
      frames: spec.frames,
      extraBuffers: 0,
      extraBytes: 0,
      seeks: 0,
      writer: CAMERA_MASTER,
      reader: ENCODER_MASTER,
    },
    m,
  );
}
