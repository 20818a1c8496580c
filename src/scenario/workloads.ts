/**
 * `workloads:` — workload generators as a scenario lists them (ARCHITECTURE.md §6, §7): a list of
 * entries, each one key naming its kind, every field optional with a default. The schema is part of
 * scenarioSchema; resolveWorkloads() turns the parsed entries into the user-space generators' specs
 * (src/user/workloads), with the checks the schema alone cannot make, each at its file:line:column.
 *
 * ```yaml
 * workloads:
 *   - secure-video: { sessions: 3, length: 10s, gap: 2s, resolution: 3840x2160, format: NV12, frames: 20, seeks: 1 }
 *   - trusted-ui: { start: 5s, width: 1080, height: 2400, bpp: 32, buffers: 3 }
 *   - background: { movable: { rate: 64MiB/s, working_set: 1GiB }, unmovable: 64MiB, pins: { count: 8, in_cma: true } }
 * ```
 */
import { z } from "zod";
import type { SourceMap } from "./errors.ts";
import { durationSchema, rateSchema, sizeSchema } from "./schema-units.ts";
import { PIXEL_FORMATS, type WorkloadEnv, type WorkloadSpec } from "../user/workloads/index.ts";
import { decodeFrames, displayScanOut, FRAME_MARKER_BYTES } from "../secure/ta/decoder.ts";
import { sleep, type Sleeps, elapse } from "../sim/scheduler.ts";
import type { Machine } from "../hw/machine.ts";
import type { System } from "./system.ts";

const s = 1e9;
const MiB = 1024 * 1024;

/** Defaults of every field (a 4K NV12 player with a 20-frame DPB + display queue, 10 s sessions). */
export const WORKLOAD_DEFAULTS = {
  start: 0,
  sessions: 1,
  length: 10 * s,
  gap: 1 * s,
  resolution: "3840x2160",
  format: "NV12",
  frames: 20,
  fps: 30,
  bitstream: { count: 4, size: 2 * MiB },
  seeks: 0,
  trustedUi: { width: 1920, height: 1080, bpp: 32, buffers: 3 },
  record: { resolution: "1920x1080", frames: 8 },
  background: { rate: 16 * MiB, working_set: 256 * MiB, unmovable: 0, pins: 0, in_cma: true },
} as const;

const RESOLUTION = /^\s*(\d{1,5})\s*x\s*(\d{1,5})\s*$/;
const resolutionSchema = z
  .string()
  .regex(RESOLUTION, { message: "expected a resolution WIDTHxHEIGHT such as 3840x2160" })
  .describe("WIDTHxHEIGHT, e.g. 3840x2160");
const count = (max: number) => z.number().int().min(0).max(max);
const sessionsSchema = z
  .number()
  .int()
  .min(1)
  .max(100_000)
  .optional()
  .describe("sessions, one after another (default 1)");
const common = {
  start: durationSchema.optional().describe("when the first session starts (default 0)"),
  sessions: sessionsSchema,
  length: durationSchema.optional().describe("each session's length in virtual time (default 10s)"),
  gap: durationSchema.optional().describe("time between sessions (default 1s)"),
};

const secureVideoSchema = z.strictObject({
  ...common,
  resolution: resolutionSchema.optional().describe("frame size (default 3840x2160)"),
  format: z
    .enum(PIXEL_FORMATS)
    .optional()
    .describe("NV12 (1.5 bytes a pixel) or P010 (3 bytes a pixel); default NV12"),
  frames: z
    .number()
    .int()
    .min(1)
    .max(64)
    .optional()
    .describe("decoded-frame buffers: DPB + display queue (default 20)"),
  fps: z.number().positive().max(240).optional().describe("frames a second (default 30)"),
  bitstream: z
    .strictObject({ count: count(64).optional(), size: sizeSchema.optional() })
    .optional()
    .describe("protected bitstream buffers from the same heap (default 4 of 2MiB)"),
  seeks: count(10_000).optional().describe("seeks per session, each reallocating the frames (default 0)"),
});

const trustedUiSchema = z.strictObject({
  ...common,
  width: z.number().int().min(1).max(16384).optional().describe("pixels (default 1920)"),
  height: z.number().int().min(1).max(16384).optional().describe("pixels (default 1080)"),
  bpp: z.number().int().min(1).max(64).optional().describe("bits a pixel (default 32)"),
  buffers: z.number().int().min(1).max(16).optional().describe("framebuffers (default 3)"),
});

const recordSchema = z.strictObject({
  ...common,
  resolution: resolutionSchema.optional().describe("frame size (default 1920x1080)"),
  format: z.enum(PIXEL_FORMATS).optional(),
  frames: z.number().int().min(1).max(64).optional().describe("frame buffers (default 8)"),
});

const backgroundSchema = z.strictObject({
  start: durationSchema.optional().describe("when the load starts (default 0)"),
  length: durationSchema
    .optional()
    .describe("how long it runs (default: until the other workloads and step lists are done)"),
  movable: z
    .strictObject({
      rate: rateSchema.optional().describe("bytes a second faulted in, oldest evicted (default 16MiB/s)"),
      working_set: sizeSchema.optional().describe("movable bytes resident (default 256MiB)"),
    })
    .optional(),
  unmovable: sizeSchema.optional().describe("an unmovable kernel allocation held from the start (default 0)"),
  pins: z
    .strictObject({
      count: count(1_000_000).optional().describe("pages pinned for the whole run (default 0)"),
      in_cma: z.boolean().optional().describe("pinned inside CMA without FOLL_LONGTERM (default true)"),
    })
    .optional(),
});

/** An entry: `- KIND: {fields}` (or `- KIND:` with every default). */
const entry = <K extends string, S extends z.ZodType>(kind: K, schema: S, what: string) =>
  z
    .strictObject({ [kind]: z.union([schema, z.null()]) } as { [k in K]: z.ZodUnion<[S, z.ZodNull]> })
    .describe(what);

export const workloadSchema = z
  .union([
    entry("secure-video", secureVideoSchema, "secure video playback sessions"),
    entry("trusted-ui", trustedUiSchema, "trusted UI sessions"),
    entry("secure-video-record", recordSchema, "secure video recording sessions"),
    entry("background", backgroundSchema, "background memory load: movable churn, unmovable, pins"),
  ])
  .meta({ id: "workload", description: "one workload: an object with one kind's key" });

export const workloadsSchema = z
  .array(workloadSchema)
  .optional()
  .describe("workload generators, each its own task beside `steps` and `tasks`");

type Parsed = z.output<typeof workloadSchema>;

function resolution(v: string | undefined, dflt: string, map: SourceMap, at: (string | number)[]) {
  const m = RESOLUTION.exec(v ?? dflt)!;
  const width = Number(m[1]);
  const height = Number(m[2]);
  if (width === 0 || height === 0 || width % 2 || height % 2)
    throw map.error(at, `expected an even, non-zero width and height (4:2:0 subsamples both), got ${v}`);
  return { width, height };
}

/** The session timing every session-based workload shares, with the defaults filled in. */
function sessionTiming(w: { start?: number; sessions?: number; length?: number; gap?: number }) {
  return {
    startNs: w.start ?? WORKLOAD_DEFAULTS.start,
    sessions: w.sessions ?? WORKLOAD_DEFAULTS.sessions,
    lengthNs: w.length ?? WORKLOAD_DEFAULTS.length,
    gapNs: w.gap ?? WORKLOAD_DEFAULTS.gap,
  };
}

/** The parsed `workloads:` list as the generators' specs; throws a positioned ScenarioError. */
export function resolveWorkloads(list: readonly Parsed[] | undefined, map: SourceMap): WorkloadSpec[] {
  const D = WORKLOAD_DEFAULTS;
  const out: WorkloadSpec[] = [];
  let backgrounds = 0;
  (list ?? []).forEach((raw, index) => {
    const path = ["workloads", index];
    const line = map.locate(path).line;
    const r = raw as Record<string, Record<string, unknown> | null>;
    const kind = Object.keys(r)[0];
    const at = [...path, kind];
    if ("secure-video" in raw) {
      const w = raw["secure-video"] ?? {};
      out.push({
        index,
        line,
        kind: "secure-video",
        spec: {
          ...sessionTiming(w),
          ...resolution(w.resolution, D.resolution, map, [...at, "resolution"]),
          format: w.format ?? D.format,
          frames: w.frames ?? D.frames,
          fps: w.fps ?? D.fps,
          bitstream: {
            count: w.bitstream?.count ?? D.bitstream.count,
            size: w.bitstream?.size ?? D.bitstream.size,
          },
          seeks: w.seeks ?? D.seeks,
        },
      });
      if ((w.bitstream?.count ?? D.bitstream.count) > 0 && (w.bitstream?.size ?? D.bitstream.size) === 0)
        throw map.error([...at, "bitstream", "size"], "expected a size > 0 for the bitstream buffers");
    } else if ("trusted-ui" in raw) {
      const w = raw["trusted-ui"] ?? {};
      out.push({
        index,
        line,
        kind: "trusted-ui",
        spec: {
          ...sessionTiming(w),
          width: w.width ?? D.trustedUi.width,
          height: w.height ?? D.trustedUi.height,
          bpp: w.bpp ?? D.trustedUi.bpp,
          buffers: w.buffers ?? D.trustedUi.buffers,
        },
      });
    } else if ("secure-video-record" in raw) {
      const w = raw["secure-video-record"] ?? {};
      out.push({
        index,
        line,
        kind: "secure-video-record",
        spec: {
          ...sessionTiming(w),
          ...resolution(w.resolution, D.record.resolution, map, [...at, "resolution"]),
          format: w.format ?? D.format,
          frames: w.frames ?? D.record.frames,
        },
      });
    } else {
      const w = raw.background ?? {};
      if (++backgrounds > 1)
        throw map.error(
          at,
          "one background load per scenario: it is the model's only user of movable pages (merge the entries)",
          true,
        );
      out.push({
        index,
        line,
        kind: "background",
        spec: {
          startNs: w.start ?? D.start,
          lengthNs: w.length ?? null,
          movable: {
            rate: w.movable?.rate ?? D.background.rate,
            workingSet: w.movable?.working_set ?? D.background.working_set,
          },
          unmovable: w.unmovable ?? D.background.unmovable,
          pins: { count: w.pins?.count ?? D.background.pins, inCma: w.pins?.in_cma ?? D.background.in_cma },
        },
      });
    }
  });
  return out;
}

/**
 * The environment workloads run in: the booted kernel, the run's end (`until` passed), and the devices'
 * DMA — the video decoder's and display's models of secure/ta/decoder.ts (their time and marker bytes),
 * any other master as a plain access that takes copy time, as the `device` step does.
 */
export function workloadEnv(system: System, stopping: () => boolean, untilNs: number | null): WorkloadEnv {
  const machine = system.machine;
  return {
    kernel: system.kernel,
    // The run is ending once the runner cuts it, or once `until` is reached.
    stopping: () => stopping() || (untilNs !== null && system.sim.now >= untilNs),
    untilNs,
    deviceWrite: (master, pa, length) => deviceWrite(machine, master, pa, length),
    deviceRead: (master, pa, length) => deviceRead(machine, master, pa, length),
  };
}

/** WorkloadEnv.deviceWrite (module-level generators: see scenario/runner.ts runList() for why). */
function* deviceWrite(machine: Machine, master: string, pa: number, length: number): Sleeps<number> {
  if (master === "video-decoder" && length >= FRAME_MARKER_BYTES)
    return (yield* decodeFrames(
      machine,
      { pa, sizeBytes: length },
      { frames: 1, frameBytes: length, master },
    )).code;
  const costNs = Math.ceil(length / machine.costs.memcpyBytesPerNs);
  if (!elapse(costNs)) yield sleep(costNs);
  return machine.access(machine.masterIndex(master), pa, length, "write");
}

/** WorkloadEnv.deviceRead */
function* deviceRead(machine: Machine, master: string, pa: number, length: number): Sleeps<number> {
  if (master === "display") return (yield* displayScanOut(machine, pa, length)).code;
  const costNs = Math.ceil(length / machine.costs.memcpyBytesPerNs);
  if (!elapse(costNs)) yield sleep(costNs);
  return machine.access(machine.masterIndex(master), pa, length, "read");
}
