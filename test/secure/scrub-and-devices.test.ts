import { describe, expect, it } from "vitest";
import { FFA_SUCCESS_32 } from "../../src/abi/ffa/index.ts";
import { TEE_SUCCESS } from "../../src/abi/optee/index.ts";
import { ACCESS_OK, FAULT_DENIED } from "../../src/hw/machine.ts";
import { isSecret } from "../../src/hw/frames.ts";
import {
  decodeFrames,
  DECODE_BYTES_PER_NS,
  displayRead,
  frameMarker,
  FRAME_MARKER_BYTES,
} from "../../src/secure/ta/decoder.ts";
import type { OpteeBootOptions } from "../../src/secure/optee/boot.ts";
import {
  assign,
  boot,
  lend,
  LEND_PA,
  LEND_PAGES,
  reclaim,
  release,
  run,
  shareArgPage,
  w,
} from "./helpers.ts";

const FLAVORS = ["tzc400-board", "fvp-rme"] as const;
const FRAME = 64 * 1024;
const REGION = { pa: LEND_PA, sizeBytes: LEND_PAGES * 4096 };

/**
 * Lend, assign, decode `frames` frames, release, reclaim: the system and what happened. Under Hafnium
 * OP-TEE sends the "fixed" retrieve (4.9's own request is refused: assign-release.test.ts).
 */
function playAndGiveBack(preset: string, opts: OpteeBootOptions, frames = 4) {
  const booted = boot(preset, { opteeRetrieve: "fixed", ...opts });
  const { sys } = booted;
  const r = run(sys, function* () {
    const h = yield* shareArgPage(sys);
    const cookie = yield* lend(sys, 1);
    expect(yield* assign(sys, h, cookie, 1)).toBe(TEE_SUCCESS);
    const decoded = yield* decodeFrames(sys.machine, REGION, { frames, frameBytes: FRAME });
    const t0 = sys.sim.now;
    const rel = yield* release(sys, cookie);
    const rec = yield* reclaim(sys, cookie);
    return { decoded, rel, rec, giveBackNs: sys.sim.now - t0 };
  });
  expect(w(r.rel, 3)).toBe(0);
  expect(w(r.rec, 0)).toBe(FFA_SUCCESS_32);
  return { ...booted, ...r };
}

describe.each(FLAVORS)("scrub policy on %s", (preset) => {
  it("upstream (none): secret frames come back to Linux — scrub-before-return fires", () => {
    const { sys, os, decoded } = playAndGiveBack(preset, { scrub: "none" });
    expect(decoded.code).toBe(ACCESS_OK);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(1);
    expect(os.counters.scrubbedPages).toBe(0);
  });

  it("secure-on-release: OP-TEE zeroes the whole range first — no finding, time and pages counted", () => {
    const { sys, os, giveBackNs } = playAndGiveBack(preset, { scrub: "secure-on-release" });
    expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
    expect(os.counters.scrubbedPages).toBe(LEND_PAGES);
    const memsetNs = (LEND_PAGES * 4096) / sys.machine.costs.memsetBytesPerNs;
    expect(os.counters.scrubNs).toBeCloseTo(memsetNs, 3);
    expect(giveBackNs).toBeGreaterThanOrEqual(memsetNs);
    const cpuNs = sys.machine.masterIndex("cpu-ns");
    const back = sys.machine.readBytes(cpuNs, LEND_PA, FRAME_MARKER_BYTES);
    expect(back.code).toBe(ACCESS_OK);
    expect([...back.bytes].every((b) => b === 0)).toBe(true);
  });
});

describe.each(FLAVORS)("the secure decoder and the display on %s", (preset) => {
  it("the decoder writes frames into lent memory, tainted secret, at the decode rate; the display reads them", () => {
    const { sys } = boot(preset, { opteeRetrieve: "fixed" });
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      yield* assign(sys, h, cookie, 1);
      const t0 = sys.sim.now;
      const decoded = yield* decodeFrames(sys.machine, REGION, { frames: 3, frameBytes: FRAME });
      return { decoded, ns: sys.sim.now - t0 };
    });
    expect(r.decoded).toEqual({ code: ACCESS_OK, framesWritten: 3, bytesWritten: 3 * FRAME });
    expect(r.ns).toBeGreaterThanOrEqual((3 * FRAME) / DECODE_BYTES_PER_NS);
    const f = sys.machine.frames;
    expect(isSecret(f.taint[f.indexOf(LEND_PA + FRAME)])).toBe(true);
    const shown = displayRead(sys.machine, LEND_PA + FRAME, FRAME);
    expect(shown.code).toBe(ACCESS_OK);
    expect(shown.marker).toEqual(frameMarker(1));
    expect(sys.sim.findings.count("ns-no-access")).toBe(0);
  });

  it("the GPU and the normal-world CPU are denied", () => {
    const { sys } = boot(preset, { opteeRetrieve: "fixed" });
    run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      yield* assign(sys, h, cookie, 1);
      yield* decodeFrames(sys.machine, REGION, { frames: 1, frameBytes: FRAME });
    });
    expect(displayRead(sys.machine, LEND_PA, 4096, "gpu").code).toBe(FAULT_DENIED);
    expect(displayRead(sys.machine, LEND_PA, 4096, "cpu-ns").code).toBe(FAULT_DENIED);
  });
});

describe("use cases and devices", () => {
  it("trusted UI memory on the TZC board is the display's only: the decoder is denied", () => {
    const { sys } = boot("tzc400-board");
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 2);
      expect(yield* assign(sys, h, cookie, 2)).toBe(TEE_SUCCESS);
      return yield* decodeFrames(sys.machine, REGION, { frames: 1, frameBytes: FRAME });
    });
    expect(r.code).toBe(FAULT_DENIED);
    expect(r.framesWritten).toBe(0);
    expect(displayRead(sys.machine, LEND_PA, 4096).code).toBe(ACCESS_OK);
  });

  it("QEMU protects nothing: the lend is reported unprotected and the CPU reads the frames", () => {
    const { sys } = boot("qemu-virt");
    run(sys, function* () {
      const h = yield* shareArgPage(sys, 0xf800_0000);
      expect(h).toBeTypeOf("bigint");
      yield* lend(sys, 1, 0xf900_0000);
      yield* decodeFrames(
        sys.machine,
        { pa: 0xf900_0000, sizeBytes: REGION.sizeBytes },
        { frames: 1, frameBytes: FRAME },
      );
    });
    expect(sys.sim.findings.count("protected-when-lent")).toBe(1);
    expect(displayRead(sys.machine, 0xf900_0000, 4096, "cpu-ns").code).toBe(ACCESS_OK);
    expect(sys.sim.findings.count("ns-no-access")).toBeGreaterThan(0);
  });

  it("runs are deterministic: the same play twice ends at the same time with the same counters", () => {
    const a = playAndGiveBack("fvp-rme", { scrub: "secure-on-release" });
    const b = playAndGiveBack("fvp-rme", { scrub: "secure-on-release" });
    expect(a.sys.sim.now).toBe(b.sys.sim.now);
    expect(a.os.counters).toEqual(b.os.counters);
  });
});
