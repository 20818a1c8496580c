import { describe, expect, it } from "vitest";
import { GPT_GPI_NS, GPT_GPI_SECURE } from "../../../src/hw/gpt.ts";
import { smcRegs } from "../../../src/hw/smc.ts";
import { boot, run } from "./testing.ts";
import {
  armSipProtectMem,
  PLAT_PROTECT_MEM_SMC64,
  SMC_DENIED,
  SMC_INVALID_PARAM,
  SMC_OK,
  SMC_UNK,
} from "../../../src/firmware/el3/protect_mem.ts";

const PAGE = 0x9000_0000;

describe("TF-A PLAT_PROTECT_MEM (arm_sip_protect_mem_handler)", () => {
  it("moves granules to the secure PAS and back", () => {
    const m = boot("fvp-rme").machine;
    expect(armSipProtectMem(m, PAGE, 0x3000, true, true).rc).toBe(SMC_OK);
    expect(m.gpt!.gpiAt(PAGE + 0x2000)).toBe(GPT_GPI_SECURE);
    expect(armSipProtectMem(m, PAGE, 0x3000, false, true).rc).toBe(SMC_OK);
    expect(m.gpt!.gpiAt(PAGE + 0x2000)).toBe(GPT_GPI_NS);
  });

  it("is SMC_UNK without RME or for a non-secure caller", () => {
    expect(armSipProtectMem(boot("tzc400-board").machine, PAGE, 0x1000, true, true).rc).toBe(SMC_UNK);
    expect(armSipProtectMem(boot("fvp-rme").machine, PAGE, 0x1000, true, false).rc).toBe(SMC_UNK);
  });

  it("refuses an unaligned range with SMC_INVALID_PARAM", () => {
    expect(armSipProtectMem(boot("fvp-rme").machine, PAGE + 0x800, 0x1000, true, true).rc).toBe(
      SMC_INVALID_PARAM,
    );
  });

  it("stops at a granule the GPT refuses: SMC_DENIED, the granules before it stay moved", () => {
    const m = boot("fvp-rme").machine;
    m.gptTransition(PAGE + 0x2000, 0x1000, true);
    const r = armSipProtectMem(m, PAGE, 0x4000, true, true);
    expect(r.rc).toBe(SMC_DENIED);
    expect(r.lastUpdated).toBe(PAGE + 0x1000);
    expect(m.gpt!.gpiAt(PAGE)).toBe(GPT_GPI_SECURE);
    expect(m.gpt!.gpiAt(PAGE + 0x3000)).toBe(GPT_GPI_NS);
  });

  it("through the conduit the normal world gets SMC_UNK", () => {
    const sys = boot("fvp-rme");
    const out = run(sys, () => sys.machine.smc.smc(smcRegs(PLAT_PROTECT_MEM_SMC64, PAGE, 0x1000), "ns"));
    expect(BigInt.asIntN(64, out[0])).toBe(-1n);
    expect(sys.machine.gpt!.gpiAt(PAGE)).toBe(GPT_GPI_NS);
  });
});
