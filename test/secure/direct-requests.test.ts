import { describe, expect, it } from "vitest";
import { FFA_MSG_SEND_DIRECT_RESP_32, FFA_MSG_SEND_DIRECT_RESP_64 } from "../../src/abi/ffa/index.ts";
import {
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  TEE_ERROR_BAD_PARAMETERS,
} from "../../src/abi/optee/index.ts";
import { boot, direct, run, w } from "./helpers.ts";

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
