/**
 * OP-TEE's SMC ABI entry (secure/optee/smc_boot.ts) driven with raw SMCs from the normal world, as
 * smc_abi.c issues them: capabilities per build, the fast GET_PROTMEM_CONFIG, and
 * OPTEE_SMC_CALL_WITH_ARG's checks on the arg's physical address.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMsgArg,
  OPTEE_MSG_CMD_OPEN_SESSION,
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
  OPTEE_SMC_RETURN_EBADADDR,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
  OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM,
  OPTEE_SMC_SEC_CAP_DYNAMIC_SHM,
  OPTEE_SMC_SEC_CAP_PROTMEM,
  optee_smc_fast_call_val,
  TEE_ERROR_NOT_IMPLEMENTED,
} from "../../src/abi/optee/index.ts";
import { ACCESS_OK } from "../../src/hw/machine.ts";
import { smcRegs } from "../../src/hw/smc.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { drain } from "../../src/firmware/boot.ts";
import { opteeSmcOf } from "../../src/secure/optee/smc_boot.ts";
import { Sim } from "../../src/sim/sim.ts";

const CARVEOUT = { base: 0x7a000000, size: 0x2000000 };

function system(staticCarveout: boolean) {
  const base = PRESETS["tzc400-board"];
  return buildSystem(new Sim(1), {
    ...base,
    opteeAbi: "smc",
    ...(staticCarveout
      ? {
          staticProtmem: CARVEOUT,
          reserved: [...base.reserved, { name: "sdp_protmem", ...CARVEOUT, noMap: true, secure: false }],
        }
      : {}),
  });
}

function smc(sys: ReturnType<typeof system>, ...a: (number | bigint)[]): number[] {
  return Array.from(drain(sys.machine.smc.smc(smcRegs(...a), "ns")).slice(0, 4), Number);
}

describe("OP-TEE fast calls over SMC", () => {
  it("a static build reports PROTMEM and its carveout; a dynamic build DYNAMIC_PROTMEM and no fast config", () => {
    const st = system(true);
    expect(smc(st, OPTEE_SMC_EXCHANGE_CAPABILITIES)).toEqual([
      OPTEE_SMC_RETURN_OK,
      OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_PROTMEM,
      0,
      0,
    ]);
    expect(smc(st, OPTEE_SMC_GET_PROTMEM_CONFIG)).toEqual([
      OPTEE_SMC_RETURN_OK,
      CARVEOUT.base,
      CARVEOUT.size,
      64,
    ]);
    const dy = system(false);
    expect(smc(dy, OPTEE_SMC_EXCHANGE_CAPABILITIES)[1]).toBe(
      OPTEE_SMC_SEC_CAP_DYNAMIC_SHM | OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM,
    );
    expect(smc(dy, OPTEE_SMC_GET_PROTMEM_CONFIG)[0]).toBe(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
    expect(smc(dy, optee_smc_fast_call_val(0x1234))[0]).toBe(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  });

  it("each call costs the SMC round trip plus the S-EL1 world switch", () => {
    const sys = system(false);
    const c = sys.machine.costs;
    const t0 = sys.sim.now;
    let t1 = -1;
    sys.sim.sched.spawn("caller", function* () {
      yield* sys.machine.smc.smc(smcRegs(OPTEE_SMC_EXCHANGE_CAPABILITIES), "ns");
      t1 = sys.sim.now;
    });
    sys.sim.sched.run();
    expect(t1 - t0).toBe(c.smcRoundTripNs + c.worldSwitchSel1Ns);
  });
});

describe("OPTEE_SMC_CALL_WITH_ARG", () => {
  const PAGE = 0xd0000000;
  const cpuNs = (sys: ReturnType<typeof system>) => sys.machine.masterIndex("cpu-ns");
  const arg = (cmd: number) =>
    encodeMsgArg({ cmd, func: 0, session: 0, cancel_id: 0, pad: 0, ret: 0, ret_origin: 0, params: [] });

  it("an unknown command answers TEE_ERROR_NOT_IMPLEMENTED in a0 and leaves the message alone", () => {
    const sys = system(false);
    expect(sys.machine.writeBytes(cpuNs(sys), PAGE, arg(OPTEE_MSG_CMD_OPEN_SESSION), { kernel: true })).toBe(
      ACCESS_OK,
    );
    expect(smc(sys, OPTEE_SMC_CALL_WITH_ARG, 0, PAGE)[0]).toBe(TEE_ERROR_NOT_IMPLEMENTED);
  });

  it("a misaligned arg, or one in OP-TEE's own memory, is EBADADDR", () => {
    const sys = system(false);
    expect(smc(sys, OPTEE_SMC_CALL_WITH_ARG, 0, PAGE + 8)[0]).toBe(OPTEE_SMC_RETURN_EBADADDR);
    expect(smc(sys, OPTEE_SMC_CALL_WITH_ARG, 0, 0x7e000000)[0]).toBe(OPTEE_SMC_RETURN_EBADADDR);
    expect(smc(sys, OPTEE_SMC_CALL_WITH_ARG, 2, 0)[0]).toBe(OPTEE_SMC_RETURN_EBADADDR);
    expect(opteeSmcOf(sys.machine)!.counters.badArgs).toBe(3);
  });
});
