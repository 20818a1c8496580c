import { describe, expect, it } from "vitest";
import {
  memParam,
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_RECLAIM_PROTMEM,
  OPTEE_SMC_RETURN_ENOTAVAIL,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_SUCCESS,
  valueParam,
} from "../../src/abi/optee/index.ts";
import { ACCESS_OK, FAULT_DENIED } from "../../src/hw/machine.ts";
import { TzcProtmem } from "../../src/secure/optee/plat_protmem.ts";
import { smcGetProtmemConfig, SmcProtmem } from "../../src/secure/optee/smc_abi.ts";
import { decodeFrames } from "../../src/secure/ta/decoder.ts";
import { boot, msgArg, run, w } from "./helpers.ts";

const PA = 0xd000_0000;
const SIZE = 0x10_0000;

function lendArg(useCase: number, pa = PA, size = SIZE, cookie = 7n) {
  return msgArg(OPTEE_MSG_CMD_LEND_PROTMEM, [
    valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, useCase),
    memParam(OPTEE_MSG_ATTR_TYPE_TMEM_INPUT, pa, size, cookie),
  ]);
}

function reclaimArg(cookie = 7n) {
  return msgArg(OPTEE_MSG_CMD_RECLAIM_PROTMEM, [memParam(OPTEE_MSG_ATTR_TYPE_RMEM_INPUT, 0, 0, cookie)]);
}

function setup(scrub: "none" | "secure-on-release" = "none") {
  const { sys } = boot("tzc400-board");
  const smc = new SmcProtmem(sys.sim, sys.machine, new TzcProtmem(sys.machine), scrub);
  return { sys, smc };
}

describe("OPTEE_SMC_GET_PROTMEM_CONFIG", () => {
  it("reports a static carveout, ENOTAVAIL without one, and does not exist with dynamic protmem", () => {
    const ok = smcGetProtmemConfig({ base: 0x7fc0_0000, size: 0x40_0000 });
    expect([w(ok, 0), w(ok, 1), w(ok, 2), w(ok, 3)]).toEqual([
      OPTEE_SMC_RETURN_OK,
      0x7fc0_0000,
      0x40_0000,
      64,
    ]);
    expect(w(smcGetProtmemConfig(null), 0)).toBe(OPTEE_SMC_RETURN_ENOTAVAIL);
    expect(w(smcGetProtmemConfig(null, true), 0)).toBe(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  });
});

describe("LEND_PROTMEM / RECLAIM_PROTMEM (SMC ABI)", () => {
  it("a lend protects the range for the use case's devices; reclaim restores it", () => {
    const { sys, smc } = setup();
    const cpuNs = sys.machine.masterIndex("cpu-ns");
    const lent = run(sys, () => smc.smcEntryStd(lendArg(1)));
    expect(lent.ret).toBe(TEE_SUCCESS);
    expect(sys.machine.access(cpuNs, PA, 8, "read")).toBe(FAULT_DENIED);
    const dec = run(sys, () =>
      decodeFrames(sys.machine, { pa: PA, sizeBytes: SIZE }, { frames: 1, frameBytes: 4096 }),
    );
    expect(dec.code).toBe(ACCESS_OK);
    const back = run(sys, () => smc.smcEntryStd(reclaimArg()));
    expect(back.ret).toBe(TEE_SUCCESS);
    expect(sys.machine.access(cpuNs, PA, 8, "read")).toBe(ACCESS_OK);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(1);
  });

  it("refuses secure memory, unaligned ranges, overlaps, use case 3 and an unknown cookie with BAD_PARAMETERS", () => {
    const { sys, smc } = setup();
    const rets = run(sys, function* () {
      const out: number[] = [];
      out.push((yield* smc.smcEntryStd(lendArg(1, 0x7e00_0000))).ret); // optee_core carveout
      out.push((yield* smc.smcEntryStd(lendArg(1, PA + 8))).ret);
      out.push((yield* smc.smcEntryStd(lendArg(3))).ret);
      out.push((yield* smc.smcEntryStd(lendArg(1))).ret);
      out.push((yield* smc.smcEntryStd(lendArg(2, PA + 0x1000, 0x1000, 8n))).ret);
      out.push((yield* smc.smcEntryStd(reclaimArg(99n))).ret);
      return out;
    });
    const B = TEE_ERROR_BAD_PARAMETERS;
    expect(rets).toEqual([B, B, B, TEE_SUCCESS, B, B]);
  });

  it("reclaim waits until the TA using the memory lets go, and scrubs under secure-on-release", () => {
    const { sys, smc } = setup("secure-on-release");
    const held = run(sys, function* () {
      yield* smc.smcEntryStd(lendArg(1));
      return smc.getByPa(PA + 0x2000, 0x1000)!;
    });
    let done = false;
    sys.sim.sched.spawn("reclaimer", function* () {
      yield* smc.smcEntryStd(reclaimArg());
      done = true;
    });
    sys.sim.sched.spawn("ta", function* () {
      yield* decodeFrames(sys.machine, { pa: PA, sizeBytes: SIZE }, { frames: 1, frameBytes: 4096 });
      expect(done).toBe(false);
      held.put();
    });
    sys.sim.sched.run();
    expect(done).toBe(true);
    expect(smc.lentRanges).toBe(0);
    expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
  });
});
