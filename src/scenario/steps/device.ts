/**
 * `device: {by, buffer: {proc, fd}, op, offset?, length?, expect?}` — a device DMAs into or out of a
 * dma-buf a process holds, as its driver would: the driver imports the buffer (dma_buf_get() on the
 * process's fd, dma_buf_attach(), dma_buf_map_attachment() gives the pages), the device reads or
 * writes through the machine's checkpoint as that bus master (the decoder and display helpers of
 * secure/ta/decoder.ts), then the driver unmaps, detaches and drops its reference.
 *
 * ```yaml
 * - device: { by: video-decoder, buffer: { proc: player, fd: $frame0 }, op: write, expect: ok }
 * - device: { by: display, buffer: { proc: player, fd: $frame0 }, op: read, length: 4KiB }
 * ```
 * `offset` (default 0) and `length` (default the rest of the buffer) are bytes within the buffer.
 * `by` may also name a CPU master (cpu-ns): a physical access to the buffer's pages by that CPU, the
 * question "can the normal world read this frame?".
 */
import { z } from "zod";
import { ACCESS_OK, FAULT_NAMES, type Machine } from "../../hw/machine.ts";
import {
  dmaBufAttach,
  dmaBufDetach,
  dmaBufPut,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  getDmaBuf,
  isDmaBufFile,
  type DmaBuf,
} from "../../kernel/dma-buf/dma_buf.ts";
import { dmaBufMapAttachment, dmaBufUnmapAttachment } from "../../kernel/tee/dma_buf_map.ts";
import type { Sg } from "../../kernel/tee/tee_heap.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import { decodeFrames, displayScanOut, FRAME_MARKER_BYTES } from "../../secure/ta/decoder.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { userSpaceOf } from "../../user/process.ts";
import { sizeSchema } from "../schema-units.ts";
import { expectedText, expectMet, stepExpectSchema, type StepExpect } from "./expect.ts";
import { defineStep, type StepContext, type StepOutcomeCore } from "./types.ts";

const VAR = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

const fdSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(VAR, { message: "expected an fd number or $NAME from an earlier save:" }),
]);

const schema = z
  .strictObject({
    device: z.strictObject({
      by: z
        .string()
        .describe("the bus master: video-decoder, display, gpu (or cpu-ns, a CPU access to the pages)"),
      buffer: z.strictObject({
        proc: z.string().min(1).describe("the process holding the dma-buf"),
        fd: fdSchema.describe("its dma-buf fd, e.g. $frame0"),
      }),
      op: z.enum(["read", "write"]),
      offset: sizeSchema.optional().describe("bytes into the buffer, default 0"),
      length: sizeSchema.optional().describe("bytes, default the rest of the buffer"),
      expect: stepExpectSchema(["ok", "fault", "error"]).optional(),
    }),
  })
  .describe("A device DMA into or out of a process's dma-buf, through its importing driver.");

type Spec = z.output<typeof schema>;

function result(got: string, expected: StepExpect | undefined, detail: string | null): StepOutcomeCore {
  return { got, expected: expectedText(expected), ok: expectMet(expected, got), detail };
}

/** The device's DMA over the mapped pages [offset, offset + length). */
function* dma(
  machine: Machine,
  by: string,
  op: "read" | "write",
  sgl: readonly Sg[],
  offset: number,
  length: number,
): Sleeps<number> {
  let skip = offset;
  let left = length;
  for (const sg of sgl) {
    if (left <= 0) break;
    if (skip >= sg.length) {
      skip -= sg.length;
      continue;
    }
    const n = Math.min(sg.length - skip, left);
    const pa = sg.pa + skip;
    let code: number;
    if (op === "write" && n >= FRAME_MARKER_BYTES) {
      code = (yield* decodeFrames(machine, { pa, sizeBytes: n }, { frames: 1, frameBytes: n, master: by }))
        .code;
    } else if (op === "read") {
      const masterOk = machine.masterIndex(by) >= 0;
      code = masterOk ? yield* displayScanOutAs(machine, by, pa, n) : -1;
    } else {
      code = machine.access(machine.masterIndex(by), pa, n, op);
      if (!elapse(10)) yield sleep(10);
    }
    if (code !== ACCESS_OK) return code;
    skip = 0;
    left -= n;
  }
  return ACCESS_OK;
}

function* displayScanOutAs(machine: Machine, by: string, pa: number, n: number): Sleeps<number> {
  if (by === "display") return (yield* displayScanOut(machine, pa, n)).code;
  const costNs = Math.ceil(n / machine.costs.memcpyBytesPerNs);
  if (!elapse(costNs)) yield sleep(costNs);
  return machine.access(machine.masterIndex(by), pa, n, "read");
}

function* run(ctx: StepContext, spec: Spec): Sleeps<StepOutcomeCore> {
  const d = spec.device;
  const expected = d.expect;
  const kernel = (ctx.system as unknown as { kernel?: Kernel }).kernel;
  if (!kernel) return result("error", expected, "device steps need a booted kernel");
  const p = userSpaceOf(kernel).get(d.buffer.proc);
  if (!p) return result("error", expected, `no live process "${d.buffer.proc}"`);
  let fd: number;
  if (typeof d.buffer.fd === "number") fd = d.buffer.fd;
  else {
    const name = VAR.exec(d.buffer.fd)![1];
    const v = ctx.vars.get(name);
    if (v === undefined) return result("error", expected, `$${name} is not set: no earlier step saved it`);
    fd = Number(v);
  }
  const file = p.task.files.lookup(fd);
  if (!file || !isDmaBufFile(file))
    return result("error", expected, `fd ${fd} of ${p.name} is not a dma-buf`);
  const dmabuf = file.privateData as DmaBuf;
  const offset = d.offset ?? 0;
  const length = d.length ?? dmabuf.size - offset;
  if (offset + length > dmabuf.size || length <= 0)
    return result("error", expected, `bytes ${offset}+${length} are outside the ${dmabuf.size}-byte buffer`);
  // The importing driver: dma_buf_get() (a reference), attach, map.
  getDmaBuf(dmabuf);
  const dir = d.op === "write" ? DMA_FROM_DEVICE : DMA_TO_DEVICE;
  const a = yield* dmaBufAttach(dmabuf, d.by);
  if (typeof a === "number") {
    yield* dmaBufPut(dmabuf);
    return result("error", expected, `dma_buf_attach failed: ${a}`);
  }
  const sgl = yield* dmaBufMapAttachment(a, dir);
  let out: StepOutcomeCore;
  if (typeof sgl === "number") out = result("error", expected, `dma_buf_map_attachment failed: ${sgl}`);
  else {
    const code = yield* dma(ctx.system.machine, d.by, d.op, sgl, offset, length);
    const m = ctx.system.machine;
    const detail =
      code !== ACCESS_OK
        ? `${FAULT_NAMES[code] ?? code}: ${m.lastFault?.why ?? ""}`
        : `${d.by} ${d.op} ${length} bytes at 0x${(sgl[0]?.pa ?? 0).toString(16)}+${offset}`;
    out = result(code === ACCESS_OK ? "ok" : "fault", expected, detail);
    yield* dmaBufUnmapAttachment(a, dir);
  }
  yield* dmaBufDetach(dmabuf, a);
  yield* dmaBufPut(dmabuf);
  return out;
}

export const deviceStep = defineStep({
  kind: "device",
  schema,
  check(spec, platform, path, map) {
    const masters = platform.masters.map((m) => m.name);
    if (!masters.includes(spec.device.by))
      throw map.error(
        [...path, "device", "by"],
        `no bus master "${spec.device.by}" on ${platform.name}; expected one of ${masters.join(", ")}`,
      );
  },
  run,
});
