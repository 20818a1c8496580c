/**
 * `secure-video`: secure video playback (ARCHITECTURE.md §6). Per session a player process opens
 * /dev/dma_heap/protected,secure-video, allocates `frames` decoded-frame buffers (the decoder's DPB
 * plus the display queue; a 4K decoder needs ~16–24) and `bitstream.count` bitstream buffers, then the
 * video decoder writes a frame and the display reads one at `fps`; each seek reallocates the frames.
 */
import type { Sleeps } from "../../sim/scheduler.ts";
import type { WorkloadEnv, WorkloadMetrics } from "./env.ts";
import { frameBytes, type PixelFormat } from "./formats.ts";
import { runPipeline } from "./pipeline.ts";

export const SECURE_VIDEO_HEAP = "/dev/dma_heap/protected,secure-video";

export interface SecureVideoSpec {
  readonly startNs: number;
  readonly sessions: number;
  readonly lengthNs: number;
  readonly gapNs: number;
  readonly width: number;
  readonly height: number;
  readonly format: PixelFormat;
  readonly frames: number;
  readonly fps: number;
  readonly bitstream: { readonly count: number; readonly size: number };
  readonly seeks: number;
}

export function* secureVideo(
  env: WorkloadEnv,
  spec: SecureVideoSpec,
  m: WorkloadMetrics,
  proc: string,
): Sleeps {
  yield* runPipeline(
    env,
    {
      heap: SECURE_VIDEO_HEAP,
      proc,
      startNs: spec.startNs,
      sessions: spec.sessions,
      lengthNs: spec.lengthNs,
      gapNs: spec.gapNs,
      fps: spec.fps,
      frameBytes: frameBytes(spec.width, spec.height, spec.format),
      frames: spec.frames,
      // Bitstream buffers hold decrypted compressed video: protected too, from the same heap.
      extraBuffers: spec.bitstream.count,
      extraBytes: spec.bitstream.size,
      seeks: spec.seeks,
      writer: "video-decoder",
      reader: "display",
    },
    m,
  );
}
