import { describe, expect, it } from "vitest";
import {
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  protmemMemAttr,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  valueParam,
} from "../../src/abi/optee/index.ts";
import type { Sel2Mobjs } from "../../src/secure/optee/sel2_mobj.ts";
import {
  ARG_PAGE,
  boot,
  CONFIG_BUF_OFFSET,
  msgArg,
  protmemConfigArg,
  run,
  shareArgPage,
  w,
  yieldingCall,
} from "./helpers.ts";

const MiB = 0x100000;

describe.each(["tzc400-board", "fvp-rme"])("GET_PROTMEM_CONFIG on %s", (preset) => {
  it("two-call protocol: no buffer is SHORT_BUFFER with the size, then the attributes are written", () => {
    const { sys, os } = boot(preset);
    const { first, second } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const first = yield* yieldingCall(sys, h, protmemConfigArg(1, null));
      const second = yield* yieldingCall(sys, h, protmemConfigArg(1, h, Number(first.arg.params[1].u[1])));
      return { first, second };
    });
    expect(w(first.regs, 3)).toBe(0);
    expect(w(first.regs, 4)).toBe(0); // OPTEE_FFA_YIELDING_CALL_RETURN_DONE
    expect(first.arg.ret).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(first.arg.ret_origin).toBe(TEEC_ORIGIN_TEE);
    expect(first.arg.params[1].u[1]).toBe(4n);

    expect(second.arg.ret).toBe(TEE_SUCCESS);
    expect(second.arg.params[0].u).toEqual([BigInt(320 * MiB), 4096n, 64n]);
    expect(second.arg.params[1].u[1]).toBe(4n);
    const cpuNs = sys.machine.masterIndex("cpu-ns");
    const out = sys.machine.readBytes(cpuNs, ARG_PAGE + CONFIG_BUF_OFFSET, 4).bytes;
    expect(new DataView(out.buffer).getUint32(0, true)).toBe(protmemMemAttr(0x8001, 2));
    expect(os.counters.configQueries).toBe(2);
  });

  it("a buffer smaller than one attribute is SHORT_BUFFER", () => {
    const { sys } = boot(preset);
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* yieldingCall(sys, h, protmemConfigArg(1, h, 2));
    });
    expect(r.arg.ret).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(r.arg.params[1].u[1]).toBe(4n);
  });

  it("trusted UI is 32 MiB; secure video record is not a use case OP-TEE has", () => {
    const { sys } = boot(preset);
    const [ui, rec] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const ui = yield* yieldingCall(sys, h, protmemConfigArg(2, h, 4));
      const rec = yield* yieldingCall(sys, h, protmemConfigArg(3, h, 4));
      return [ui.arg, rec.arg];
    });
    expect(ui.ret).toBe(TEE_SUCCESS);
    expect(ui.params[0].u[0]).toBe(BigInt(32 * MiB));
    expect(rec.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("the boot option overrides the sizes", () => {
    const { sys } = boot(preset, { protmemSizes: { 1: 64 * MiB } });
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* yieldingCall(sys, h, protmemConfigArg(1, h, 4));
    });
    expect(r.arg.params[0].u[0]).toBe(BigInt(64 * MiB));
  });

  it("wrong parameter types are BAD_PARAMETERS; an unknown command is NOT_IMPLEMENTED", () => {
    const { sys } = boot(preset);
    const [bad, unknown] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const bad = yield* yieldingCall(
        sys,
        h,
        msgArg(OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 1)]),
      );
      const unknown = yield* yieldingCall(sys, h, msgArg(0x77, []));
      return [bad, unknown];
    });
    expect(bad.arg.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    // OP-TEE 4.9 __tee_entry_std(): an unknown command ("Unknown cmd") returns TEE_ERROR_NOT_IMPLEMENTED
    // without touching the arg; yielding_call_with_arg() hands that result back in w3 of the
    // direct response, and the arg keeps the ret the caller wrote (0).
    expect(unknown.arg.ret).toBe(0);
    expect(unknown.arg.ret_origin).toBe(0);
    expect(w(unknown.regs, 3)).toBe(TEE_ERROR_NOT_IMPLEMENTED);
    expect(w(bad.regs, 3)).toBe(0);
  });
});

describe("GET_PROTMEM_CONFIG per platform", () => {
  it("qemu-virt has only the weak default: secure video 1 MiB, trusted UI refused", () => {
    const { sys } = boot("qemu-virt");
    const [video, ui] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const video = yield* yieldingCall(sys, h, protmemConfigArg(1, h, 4));
      const ui = yield* yieldingCall(sys, h, protmemConfigArg(2, h, 4));
      return [video.arg, ui.arg];
    });
    expect(video.ret).toBe(TEE_SUCCESS);
    expect(video.params[0].u).toEqual([BigInt(MiB), 4096n, 64n]);
    expect(ui.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("the secure video pool holds 24 4K NV12 frames", () => {
    expect(24 * Math.ceil(12_441_600 / 4096) * 4096).toBeLessThanOrEqual(320 * MiB);
  });

  it("under Hafnium the arg page is retrieved once, then OP-TEE keeps it", () => {
    const { sys, os } = boot("fvp-rme");
    run(sys, function* () {
      const h = yield* shareArgPage(sys);
      yield* yieldingCall(sys, h, protmemConfigArg(1, null));
      const calls = (os.mobjs as Sel2Mobjs).ffaCalls;
      yield* yieldingCall(sys, h, protmemConfigArg(1, h, 4));
      yield* yieldingCall(sys, h, protmemConfigArg(1, h, 4));
      expect((os.mobjs as Sel2Mobjs).ffaCalls).toBe(calls);
    });
    // FFA_MEM_RETRIEVE_REQ + FFA_RX_RELEASE.
    expect((os.mobjs as Sel2Mobjs).ffaCalls).toBe(2);
    expect((os.mobjs as Sel2Mobjs).objectCount).toBe(1);
  });
});
