import { describe, expect, it } from "vitest";
import {
  FFA_DENIED,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_MSG_SEND_DIRECT_RESP_64,
} from "../../src/abi/ffa/index.ts";
import {
  encodeMsgArg,
  OPTEE_FFA_ENABLE_ASYNC_NOTIF,
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_SEC_CAP_ARG_OFFSET,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  OPTEE_FFA_SEC_CAP_RPMB_PROBE,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_YIELDING_CALL_RESUME,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_CMD_REGISTER_SHM,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
} from "../../src/abi/optee/index.ts";
import {
  ARG_PAGE,
  boot,
  direct,
  msgArg,
  protmemConfigArg,
  run,
  shareArgPage,
  w,
  yieldingCall,
} from "./helpers.ts";

const FLAVORS = [
  ["tzc400-board", "optee-sel1"],
  ["fvp-rme", "hafnium"],
] as const;

describe.each(FLAVORS)("OP-TEE direct requests on %s (%s)", (preset, flavor) => {
  it("boots with the flavor's FF-A memory objects", () => {
    const { os } = boot(preset);
    expect(os.flavor).toBe(flavor);
  });

  it("GET_API_VERSION answers 1.0 with a 64-bit response from OP-TEE to the normal world", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_GET_API_VERSION]));
    expect(w(out, 0)).toBe(FFA_MSG_SEND_DIRECT_RESP_64);
    expect(w(out, 1)).toBe(0x8001_0000);
    expect([w(out, 3), w(out, 4)]).toEqual([1, 0]);
  });

  it("GET_OS_VERSION answers 4.9, build id 0", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_GET_OS_VERSION]));
    expect([w(out, 3), w(out, 4), w(out, 5)]).toEqual([4, 9, 0]);
  });

  it("EXCHANGE_CAPABILITIES: status 0, 4 RPC params, protected memory capability", () => {
    const { sys, os } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_EXCHANGE_CAPABILITIES]));
    expect([w(out, 3), w(out, 4)]).toEqual([0, 4]);
    expect(w(out, 5) & OPTEE_FFA_SEC_CAP_PROTMEM).toBe(OPTEE_FFA_SEC_CAP_PROTMEM);
    expect(os.counters.directRequests).toBe(1);
  });

  it("a 32-bit request gets a 32-bit response", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_GET_API_VERSION], false));
    expect(w(out, 0)).toBe(FFA_MSG_SEND_DIRECT_RESP_32);
    expect(w(out, 3)).toBe(1);
  });

  it("an unknown blocking service id is TEE_ERROR_BAD_PARAMETERS in w3 (handle_blocking_call())", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [0x42]));
    expect(w(out, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("a yielding call with an unknown arg handle is refused without touching memory", () => {
    const { sys, os } = boot(preset);
    const out = run(sys, () => direct(sys, [0x8000_0000, 0x1234, 0, 0]));
    expect(w(out, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(os.counters.yieldingCalls).toBe(0);
  });
});

describe.each(FLAVORS)("OP-TEE 4.9 thread_spmc.c dispatch on %s (%s)", (preset) => {
  it("EXCHANGE_CAPABILITIES reports ARG_OFFSET, RPMB_PROBE and PROTMEM (no ASYNC_NOTIF: notifications not ready)", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_EXCHANGE_CAPABILITIES], false));
    expect(w(out, 5)).toBe(
      OPTEE_FFA_SEC_CAP_ARG_OFFSET | OPTEE_FFA_SEC_CAP_RPMB_PROBE | OPTEE_FFA_SEC_CAP_PROTMEM,
    );
  });

  it("ENABLE_ASYNC_NOTIF is TEE_ERROR_NOT_IMPLEMENTED (spmc_enable_async_notif(): not ready)", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => direct(sys, [OPTEE_FFA_ENABLE_ASYNC_NOTIF, 0], false));
    expect(w(out, 3)).toBe(TEE_ERROR_NOT_IMPLEMENTED);
  });

  it("a yielding id other than WITH_ARG is FFA_DENIED; RESUME without a suspended thread is BAD_PARAMETERS", () => {
    const { sys } = boot(preset);
    const other = run(sys, () => direct(sys, [0x8000_0005], false));
    expect([w(other, 0), w(other, 3), w(other, 4)]).toEqual([
      FFA_MSG_SEND_DIRECT_RESP_32,
      FFA_DENIED >>> 0,
      0,
    ]);
    const resume = run(sys, () => direct(sys, [OPTEE_FFA_YIELDING_CALL_RESUME], false));
    expect(w(resume, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
  });

  it("32-bit yielding calls: an unknown command answers TEE_ERROR_NOT_IMPLEMENTED in w3, leaving the arg", () => {
    const { sys } = boot(preset);
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cpuNs = sys.machine.masterIndex("cpu-ns");
      // REGISTER_SHM exists only without FF-A (entry_std.c: CFG_CORE_DYN_SHM && !CFG_CORE_FFA).
      const arg = encodeMsgArg(msgArg(OPTEE_MSG_CMD_REGISTER_SHM, []));
      sys.machine.writeBytes(cpuNs, ARG_PAGE, arg);
      const regs = yield* direct(
        sys,
        [OPTEE_FFA_YIELDING_CALL_WITH_ARG, h & 0xffff_ffffn, h >> 32n, 0],
        false,
      );
      return { regs, back: sys.machine.readBytes(cpuNs, ARG_PAGE, arg.length).bytes, arg };
    });
    expect(w(out.regs, 0)).toBe(FFA_MSG_SEND_DIRECT_RESP_32);
    expect([w(out.regs, 3), w(out.regs, 4)]).toEqual([TEE_ERROR_NOT_IMPLEMENTED, 0]);
    expect(out.back).toEqual(out.arg);
  });

  it("an arg whose RPC arg would not fit in the shared memory is BAD_PARAMETERS, not run", () => {
    const { sys, os } = boot(preset);
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cpuNs = sys.machine.masterIndex("cpu-ns");
      // GET_ARG_SIZE(2) = 96 bytes at 4096 - 128: the 160-byte RPC arg after it would cross the end.
      sys.machine.writeBytes(cpuNs, ARG_PAGE + 4096 - 128, encodeMsgArg(protmemConfigArg(1, null)));
      return yield* direct(
        sys,
        [OPTEE_FFA_YIELDING_CALL_WITH_ARG, h & 0xffff_ffffn, h >> 32n, 4096 - 128],
        false,
      );
    });
    expect(w(out, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(os.counters.yieldingCalls).toBe(0);
  });

  it("UNREGISTER_SHM of a shared page OP-TEE used answers 0, then 0 again (ITEM_NOT_FOUND)", () => {
    const { sys, os } = boot(preset);
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      yield* yieldingCall(sys, h, protmemConfigArg(1, null));
      const first = yield* direct(sys, [OPTEE_FFA_UNREGISTER_SHM, h & 0xffff_ffffn, h >> 32n], false);
      const again = yield* direct(sys, [OPTEE_FFA_UNREGISTER_SHM, h & 0xffff_ffffn, h >> 32n], false);
      return [w(first, 3), w(again, 3)];
    });
    expect(out).toEqual([0, 0]);
    expect(os.counters.unregisters).toBe(2);
  });
});
