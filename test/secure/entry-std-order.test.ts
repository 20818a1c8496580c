/**
 * OP-TEE 4.9 core/tee/entry_std.c edge cases, in 4.9's order: get_protmem_config() resolves its memref
 * (copy_in_params() → set_fmem_param() → mobj_ffa_get_by_cookie()) before any size check, bounds
 * use_case by INT_MAX, copies outputs back even on its own errors; ret_origin is set by
 * get_protmem_config() only; assign_protmem() hands the use case on unchecked.
 */
import { describe, expect, it } from "vitest";
import {
  memParam,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_GENERIC,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SECURITY,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_COMMS,
  TEEC_ORIGIN_TEE,
  valueParam,
  type OpteeMsgArg,
} from "../../src/abi/optee/index.ts";
import { FFA_BUSY } from "../../src/abi/ffa/index.ts";
import { teeEntryStdCall } from "../../src/secure/optee/entry_std.ts";
import {
  assign,
  boot,
  CONFIG_BUF_OFFSET,
  direct,
  lend,
  msgArg,
  protmemConfigArg,
  run,
  shareArgPage,
  w,
  yieldingCall,
} from "./helpers.ts";

const PRESETS = ["tzc400-board", "fvp-rme"] as const;
const INVALID_ID = 0xffff_ffff_ffff_ffffn;

/** GET_PROTMEM_CONFIG with value a/b/c and an FMEM_OUTPUT {offs, size, global id, internal_offs}. */
function configArg(
  useCase: bigint,
  mem: { offs?: number; size: bigint | number; id: bigint; internalOffs?: number },
  c = 0n,
): OpteeMsgArg {
  const w0 = BigInt(mem.offs ?? 0) | (BigInt(mem.internalOffs ?? 0) << 48n);
  return msgArg(OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, [
    valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, useCase, 0, c),
    memParam(OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT, w0, mem.size, mem.id),
  ]);
}

/** Runs each arg as a yielding call on a fresh system's shared arg page; the args as OP-TEE left them. */
function calls(preset: string, make: (argPage: bigint) => OpteeMsgArg[]): OpteeMsgArg[] {
  const { sys } = boot(preset);
  return run(sys, function* () {
    const h = yield* shareArgPage(sys);
    const out: OpteeMsgArg[] = [];
    for (const a of make(h)) out.push((yield* yieldingCall(sys, h, a)).arg);
    return out;
  });
}

describe.each(PRESETS)("GET_PROTMEM_CONFIG on %s: the memref is resolved first", (preset) => {
  it("an unknown cookie is BAD_PARAMETERS even when the size is too small (SHORT_BUFFER before)", () => {
    const [r] = calls(preset, () => [configArg(1n, { offs: 0, size: 2, id: 0x4242n })]);
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    // copy_in_params() failed: nothing was copied back.
    expect(r.params[1].u[1]).toBe(2n);
    expect(r.params[0].u[2]).toBe(0n);
  });

  it("the invalid global id with a non-zero size is not a NULL memref: it is looked up, and not found", () => {
    const [r] = calls(preset, () => [configArg(1n, { size: 4, id: INVALID_ID })]);
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("offs + size beyond the object is TEE_ERROR_SECURITY, and the reference taken stays held (4.9 `goto out`)", () => {
    const { sys } = boot(preset);
    const { r, un } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const r = (yield* yieldingCall(sys, h, configArg(1n, { offs: CONFIG_BUF_OFFSET, size: 0x1000, id: h })))
        .arg;
      const un = yield* direct(sys, [OPTEE_FFA_UNREGISTER_SHM, h & 0xffff_ffffn, h >> 32n]);
      return { r, un };
    });
    expect(r.ret).toBe(TEE_ERROR_SECURITY);
    expect(r.ret_origin).toBe(TEEC_ORIGIN_TEE);
    // The arg page is still in use by the leaked reference.
    expect(w(un, 3)).toBe(FFA_BUSY >>> 0);
  });

  it("a buffer of size 0 at a known cookie is BAD_PARAMETERS: mobj_get_va() maps no empty range", () => {
    const [r] = calls(preset, (h) => [configArg(1n, { offs: CONFIG_BUF_OFFSET, size: 0, id: h })]);
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("a NULL memref (invalid id, size 0) is SHORT_BUFFER with the size and the config", () => {
    const [r] = calls(preset, () => [configArg(1n, { size: 0, id: INVALID_ID })]);
    expect(r.ret).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(r.params[1].u[1]).toBe(4n);
    expect(r.params[0].u[2]).toBe(64n);
  });
});

describe.each(PRESETS)("GET_PROTMEM_CONFIG on %s: use case bounds and outputs", (preset) => {
  it("the bound is INT_MAX: INT_MAX − 1 reaches plat_get_protmem_config() (outputs copied back, c = 64), INT_MAX does not", () => {
    const [below, at] = calls(preset, () => [
      configArg(0x7fff_fffen, { size: 0, id: INVALID_ID }, 7n),
      configArg(0x7fff_ffffn, { size: 0, id: INVALID_ID }, 7n),
    ]);
    expect(below.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(below.params[0].u).toEqual([0x7fff_fffen, 0n, 64n]);
    expect(at.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(at.ret_origin).toBe(TEEC_ORIGIN_TEE);
    expect(at.params[0].u).toEqual([0x7fff_ffffn, 0n, 7n]);
  });

  it("an unsupported use case is BAD_PARAMETERS with the input a/b copied back as u32s", () => {
    const [r] = calls(preset, () => [configArg(0x5_0000_0003n, { size: 0, id: INVALID_ID }, 7n)]);
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(r.params[0].u).toEqual([3n, 0n, 64n]);
  });

  it("value a is read as a u32: use case 0x1_0000_0001 is secure video play", () => {
    const [r] = calls(preset, () => [configArg(0x1_0000_0001n, { size: 0, id: INVALID_ID })]);
    expect(r.ret).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(r.params[0].u[0]).toBe(320n * 1024n * 1024n);
  });

  it("wrong parameter types are BAD_PARAMETERS with ret_origin TEE and nothing copied back", () => {
    const [r] = calls(preset, () => [
      msgArg(OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 1, 0, 9)]),
    ]);
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(r.ret_origin).toBe(TEEC_ORIGIN_TEE);
    expect(r.params[0].u[2]).toBe(9n);
  });
});

describe("GET_PROTMEM_CONFIG into protected memory", () => {
  it("a protected object as the output buffer fails mobj_inc_map(): TEE_ERROR_GENERIC", () => {
    const { sys } = boot("tzc400-board");
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      expect(yield* assign(sys, h, cookie, 1)).toBe(TEE_SUCCESS);
      return (yield* yieldingCall(sys, h, configArg(1n, { size: 4, id: cookie }))).arg;
    });
    expect(r.ret).toBe(TEE_ERROR_GENERIC);
  });
});

describe.each(PRESETS)("ASSIGN_PROTMEM on %s", (preset) => {
  it("ret_origin is the caller's: assign_protmem() does not set it", () => {
    const { sys } = boot(preset, { opteeRetrieve: "fixed" });
    const [ok, bad] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      const mk = (params: OpteeMsgArg["params"]): OpteeMsgArg => ({
        ...msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [...params]),
        ret_origin: TEEC_ORIGIN_COMMS,
      });
      const ok = yield* yieldingCall(sys, h, mk([valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, 1)]));
      const bad = yield* yieldingCall(sys, h, mk([]));
      return [ok.arg, bad.arg];
    });
    expect(ok.ret).toBe(TEE_SUCCESS);
    expect(ok.ret_origin).toBe(TEEC_ORIGIN_COMMS);
    expect(bad.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(bad.ret_origin).toBe(TEEC_ORIGIN_COMMS);
  });

  it("the attr must be exactly VALUE_INPUT: with the META bit it is BAD_PARAMETERS", () => {
    const { sys } = boot(preset, { opteeRetrieve: "fixed" });
    const r = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      const p = valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META, cookie, 1);
      return (yield* yieldingCall(sys, h, msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [p]))).arg;
    });
    expect(r.ret).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("the use case goes to mobj_ffa_assign_protmem() as a 32-bit enum: 0x1_0000_0001 is secure video play", () => {
    const { sys } = boot(preset, { opteeRetrieve: "fixed" });
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      const p = valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, 0x1_0000_0001n);
      return (yield* yieldingCall(sys, h, msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [p]))).arg.ret;
    });
    expect(rc).toBe(TEE_SUCCESS);
  });
});

describe("__tee_entry_std()", () => {
  it("an unknown command leaves the arg as it is and returns TEE_ERROR_NOT_IMPLEMENTED", () => {
    const { sys, os } = boot("fvp-rme");
    const arg = { ...protmemConfigArg(1, null), cmd: 0x77, ret_origin: 2 };
    const r = run(sys, () => teeEntryStdCall(os, arg));
    expect(r.res).toBe(TEE_ERROR_NOT_IMPLEMENTED);
    expect(r.arg).toEqual(arg);
  });
});
