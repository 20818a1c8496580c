/**
 * A protected media pipeline's sessions, as a player (or recorder, or trusted-UI client) runs them:
 * each session is a fresh process that opens the use case's heap, allocates its frame buffers (the
 * first one timed as the session's first-frame latency) and any other buffers, has the drivers import
 * them, then per frame at `fps` in virtual time the writing device (decoder, camera) fills a buffer and
 * the reading device (display, encoder) reads one. A seek frees the frame buffers and allocates them
 * again, as a player flushing its decoder does. At the session's end the drivers let go, the process
 * closes every fd and exits; `gap` passes before the next session.
 *
 * Per frame the work is O(1): two range DMAs through the machine's checkpoint, no per-page loop.
 * A failed open or allocation is counted by errno (with the kernel's reason) and ends the session, as
 * a player that cannot get its buffers gives up; nothing throws.
 */
import { errnoName } from "../../abi/uapi/errno.ts";
import { O_CLOEXEC, O_RDONLY } from "../../abi/uapi/fcntl.ts";
import { ACCESS_OK } from "../../hw/machine.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { userSpaceOf, type Process } from "../process.ts";
import { lastRejection, sysClose, sysExit, sysOpen } from "../syscalls.ts";
import { dmaOver, importBuffer, releaseImport, timedAlloc, type Import } from "./buffers.ts";
import type { WorkloadEnv, WorkloadMetrics } from "./env.ts";

export interface PipelineConfig {
  /** /dev/dma_heap/protected,<use case> */
  readonly heap: string;
  /** Process name prefix: sessions are NAME.s0, NAME.s1, … */
  readonly proc: string;
  readonly startNs: number;
  readonly sessions: number;
  readonly lengthNs: number;
  readonly gapNs: number;
  readonly fps: number;
  readonly frameBytes: number;
  readonly frames: number;
  /** Other buffers of the session from the same heap (bitstream), allocated after the frames. */
  readonly extraBuffers: number;
  readonly extraBytes: number;
  readonly seeks: number;
  /** The device that fills frames (null: none, e.g. trusted UI drawn by the TA) and the one that reads them. */
  readonly writer: string | null;
  readonly reader: string;
}

/** Opens or closes a span of the session on the trace (sim/trace.ts): phases a player would mark with atrace. */
function mark(
  p: Process,
  name: string,
  span: "B" | "E",
  args: () => Record<string, unknown> = () => ({}),
): void {
  const trace = p.kernel.sim.trace;
  if (trace.listening) trace.emit("user", name, args(), span);
}

interface Frame {
  readonly fd: number;
  readonly imports: Import[];
}

/** The session's frame buffers: allocated (the first timed as first-frame when `first`), imported by both devices. */
function* allocFrames(
  p: Process,
  heapFd: number,
  cfg: PipelineConfig,
  m: WorkloadMetrics,
  first: boolean,
): Sleeps<Frame[] | null> {
  mark(p, "allocate frames", "B", () => ({ frames: cfg.frames, bytes: cfg.frameBytes }));
  const frames = yield* allocFramesIn(p, heapFd, cfg, m, first);
  mark(p, "allocate frames", "E", () => ({ ok: frames !== null }));
  return frames;
}

function* allocFramesIn(
  p: Process,
  heapFd: number,
  cfg: PipelineConfig,
  m: WorkloadMetrics,
  first: boolean,
): Sleeps<Frame[] | null> {
  const out: Frame[] = [];
  for (let i = 0; i < cfg.frames; i++) {
    const fd = yield* timedAlloc(p, heapFd, cfg.frameBytes, m, first && i === 0);
    if (fd < 0) {
      yield* freeFrames(p, out);
      return null;
    }
    const imports: Import[] = [];
    const devs: [string, boolean][] = cfg.writer
      ? [
          [cfg.writer, true],
          [cfg.reader, false],
        ]
      : [[cfg.reader, false]];
    for (const [dev, writes] of devs) {
      const im = yield* importBuffer(p, fd, dev, writes);
      if (typeof im === "string") {
        m.fail("EIMPORT", im);
        continue;
      }
      imports.push(im);
    }
    out.push({ fd, imports });
  }
  return out;
}

function* freeFrames(p: Process, frames: readonly Frame[]): Sleeps {
  for (const f of frames) {
    for (const im of f.imports) yield* releaseImport(im);
    yield* sysClose(p, f.fd);
  }
}

/** One frame: the writer fills buffer `n`, the reader reads it. */
function* oneFrame(
  env: WorkloadEnv,
  cfg: PipelineConfig,
  f: Frame,
  m: WorkloadMetrics,
  p: Process,
  n: number,
): Sleeps {
  // Per frame, so tested here: nothing is built when nobody listens.
  const trace = p.kernel.sim.trace;
  if (trace.listening)
    trace.emit("user", "frame", { n, bytes: cfg.frameBytes, writer: cfg.writer, reader: cfg.reader }, "B");
  let code = ACCESS_OK;
  const w = cfg.writer ? f.imports.find((im) => im.attachment.dev === cfg.writer) : null;
  const r = f.imports.find((im) => im.attachment.dev === cfg.reader);
  if (w) code = yield* dmaOver(env.deviceWrite, cfg.writer!, w, cfg.frameBytes);
  if (code === ACCESS_OK && r) code = yield* dmaOver(env.deviceRead, cfg.reader, r, cfg.frameBytes);
  if (code === ACCESS_OK && r) m.framesShown++;
  else m.deviceFaults++;
  if (trace.listening) trace.emit("user", "frame", { code }, "E");
}

function* session(env: WorkloadEnv, cfg: PipelineConfig, s: number, m: WorkloadMetrics): Sleeps {
  const p = userSpaceOf(env.kernel).spawn(`${cfg.proc}.s${s}`);
  m.sessionStart(env.kernel.sim.now);
  mark(p, "session", "B", () => ({ proc: p.name, pid: p.pid, heap: cfg.heap }));
  yield* sessionIn(env, cfg, p, m);
  mark(p, "session", "E");
  m.sessionEnd(env.kernel.sim.now);
}

function* sessionIn(env: WorkloadEnv, cfg: PipelineConfig, p: Process, m: WorkloadMetrics): Sleeps {
  const sim = env.kernel.sim;
  const heapFd = yield* sysOpen(p, cfg.heap, O_RDONLY | O_CLOEXEC);
  if (heapFd < 0) {
    const why = lastRejection(p);
    m.fail(errnoName(heapFd), why ? `${why.detail} [${why.rule}]` : `open ${cfg.heap} failed`);
    yield* sysExit(p);
    return;
  }
  let frames = yield* allocFrames(p, heapFd, cfg, m, true);
  const extra: number[] = [];
  // Other buffers come from the same heap: in secure playback the decrypted bitstream is protected too
  // (the secure "buffer" beside the secure "surface" of MediaTek's SVP, ecosystem.md §3).
  if (frames && cfg.extraBuffers > 0)
    mark(p, "allocate buffers", "B", () => ({ buffers: cfg.extraBuffers, bytes: cfg.extraBytes }));
  for (let i = 0; frames && i < cfg.extraBuffers; i++) {
    const fd = yield* timedAlloc(p, heapFd, cfg.extraBytes, m, false);
    if (fd < 0) break;
    extra.push(fd);
  }
  if (frames && cfg.extraBuffers > 0) mark(p, "allocate buffers", "E", () => ({ allocated: extra.length }));
  const periodNs = Math.round(1e9 / cfg.fps);
  const total = Math.max(1, Math.floor(cfg.lengthNs / periodNs));
  const seekEvery = cfg.seeks > 0 ? Math.max(1, Math.floor(total / (cfg.seeks + 1))) : 0;
  const t0 = sim.now;
  for (let n = 0; frames && n < total && !env.stopping(); n++) {
    if (seekEvery > 0 && n > 0 && n % seekEvery === 0 && n / seekEvery <= cfg.seeks) {
      // A seek: the decoder is flushed, its frame buffers freed and allocated again.
      mark(p, "seek", "B", () => ({ frame: n }));
      yield* freeFrames(p, frames);
      frames = yield* allocFrames(p, heapFd, cfg, m, false);
      mark(p, "seek", "E");
      if (!frames) break;
    }
    if (frames.length > 0) yield* oneFrame(env, cfg, frames[n % frames.length], m, p, n);
    const next = t0 + (n + 1) * periodNs;
    if (next > sim.now && !elapse(next - sim.now)) yield sleep(next - sim.now);
  }
  mark(p, "teardown", "B");
  if (frames) yield* freeFrames(p, frames);
  for (const fd of extra) yield* sysClose(p, fd);
  yield* sysClose(p, heapFd);
  yield* sysExit(p);
  mark(p, "teardown", "E");
}

/** Every session of one pipeline workload, in order, with `gap` between them. */
export function* runPipeline(env: WorkloadEnv, cfg: PipelineConfig, m: WorkloadMetrics): Sleeps {
  const sim = env.kernel.sim;
  // A wait ends at `until` at the latest: a run does not sleep out a gap after it is over.
  const wait = (ns: number) =>
    sleep(env.untilNs === null ? ns : Math.max(0, Math.min(ns, env.untilNs - sim.now)));
  if (cfg.startNs > sim.now) yield wait(cfg.startNs - sim.now);
  for (let s = 0; s < cfg.sessions && !env.stopping(); s++) {
    if (s > 0 && cfg.gapNs > 0) yield wait(cfg.gapNs);
    if (env.stopping()) break;
    yield* session(env, cfg, s, m);
  }
}
