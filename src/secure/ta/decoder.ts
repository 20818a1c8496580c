/**
 * A secure video decoder and a display, as the secure data path uses them (optee.md §4, the RockPi
 * demo: a TA decrypts into protected dma-bufs, the display scans them out). Plain functions and
 * generators a `device` step or a workload can call:
 * - decodeFrames(): the video decoder (bus master "video-decoder", programmed by a secure TA) writes
 *   decoded frames into a restricted buffer. Its writes go through the machine's checkpoint, so the
 *   pages take the use case's secret taint there (or fault where the firewall denies the decoder).
 *   Each frame's first bytes carry a marker (frame number) as real bytes; the rest is written as an
 *   access only (no bytes stored: 300 MiB of pixels would cost memory for nothing).
 * - displayRead(): the display controller (bus master "display") scans a buffer out.
 *
 * Time: DECODE_BYTES_PER_NS is an assumption — a hardware 4K60 decoder emits 60 NV12 frames of
 * 12,441,600 bytes a second ≈ 0.75 bytes/ns; DISPLAY_BYTES_PER_NS the same rate for a 4K60 scan-out.
 */
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";

/** A 4K NV12 frame: 3840 × 2160 × 1.5 (ARCHITECTURE.md §6). */
export const FRAME_4K_NV12_BYTES = 12_441_600;
/** Assumption: 4K60 decode output rate, bytes per ns. */
export const DECODE_BYTES_PER_NS = (60 * FRAME_4K_NV12_BYTES) / 1e9;
/** Assumption: 4K60 scan-out rate, bytes per ns. */
export const DISPLAY_BYTES_PER_NS = (60 * FRAME_4K_NV12_BYTES) / 1e9;
/** Bytes of real marker data at the start of each frame. */
export const FRAME_MARKER_BYTES = 16;

export interface DecodeResult {
  /** ACCESS_OK, or the machine's fault code of the first write that failed. */
  readonly code: number;
  readonly framesWritten: number;
  readonly bytesWritten: number;
}

/** The marker at the start of frame `n`: "SECRET-FRAME" + n (little-endian u32). */
export function frameMarker(n: number): Uint8Array {
  const b = new Uint8Array(FRAME_MARKER_BYTES);
  b.set(new TextEncoder().encode("SECRET-FRAME"));
  new DataView(b.buffer).setUint32(12, n >>> 0, true);
  return b;
}

/**
 * Decodes `frames` frames of `frameBytes` into [pa, pa + sizeBytes), one after another, as bus master
 * "video-decoder". Stops at the first denied write; costs frameBytes / DECODE_BYTES_PER_NS per frame.
 */
export function* decodeFrames(
  machine: Machine,
  region: { readonly pa: number; readonly sizeBytes: number },
  opts: { readonly frames: number; readonly frameBytes?: number; readonly master?: string } = { frames: 1 },
): Sleeps<DecodeResult> {
  const frameBytes = opts.frameBytes ?? FRAME_4K_NV12_BYTES;
  const master = machine.masterIndex(opts.master ?? "video-decoder");
  if (master < 0) throw new Error(`no bus master "${opts.master ?? "video-decoder"}"`);
  if (frameBytes < FRAME_MARKER_BYTES) throw new Error(`a frame needs at least ${FRAME_MARKER_BYTES} bytes`);
  let written = 0;
  for (let n = 0; n < opts.frames; n++) {
    const pa = region.pa + n * frameBytes;
    if ((n + 1) * frameBytes > region.sizeBytes) break;
    const costNs = Math.ceil(frameBytes / DECODE_BYTES_PER_NS);
    if (!elapse(costNs)) yield sleep(costNs);
    let code = machine.writeBytes(master, pa, frameMarker(n));
    if (code === ACCESS_OK)
      code = machine.access(master, pa + FRAME_MARKER_BYTES, frameBytes - FRAME_MARKER_BYTES, "write");
    if (code !== ACCESS_OK) return { code, framesWritten: n, bytesWritten: written };
    written += frameBytes;
  }
  return { code: ACCESS_OK, framesWritten: written / frameBytes, bytesWritten: written };
}

/**
 * The display scans out `length` bytes at `pa` (a plain read, no time): the access code and the first
 * FRAME_MARKER_BYTES read (zeros when denied).
 */
export function displayRead(
  machine: Machine,
  pa: number,
  length: number,
  master = "display",
): { code: number; marker: Uint8Array } {
  const m = machine.masterIndex(master);
  if (m < 0) throw new Error(`no bus master "${master}"`);
  const head = machine.readBytes(m, pa, Math.min(length, FRAME_MARKER_BYTES));
  if (head.code !== ACCESS_OK || length <= FRAME_MARKER_BYTES) return { code: head.code, marker: head.bytes };
  const code = machine.access(m, pa + FRAME_MARKER_BYTES, length - FRAME_MARKER_BYTES, "read");
  return { code, marker: head.bytes };
}

/** displayRead() that takes the scan-out time. */
export function* displayScanOut(
  machine: Machine,
  pa: number,
  length: number,
): Sleeps<{ code: number; marker: Uint8Array }> {
  const costNs = Math.ceil(length / DISPLAY_BYTES_PER_NS);
  if (!elapse(costNs)) yield sleep(costNs);
  return displayRead(machine, pa, length);
}
