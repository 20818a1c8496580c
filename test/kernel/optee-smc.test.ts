/**
 * The OP-TEE driver over OP-TEE's SMC ABI (kernel/optee/smc_abi.ts ↔ secure/optee/smc_boot.ts): the
 * scenario files test/scenarios/smc-*.yaml end to end, then the static and dynamic pools looked at
 * from inside, and the `optee_abi` / `static_protmem` overrides' errors.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import {
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
} from "../../src/abi/optee/index.ts";
import { FFA_MEM_LEND_32, FFA_MEM_SHARE_32 } from "../../src/abi/ffa/index.ts";
import { OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import type { TeeProtmemStaticPool } from "../../src/kernel/tee/tee_protmem_static.ts";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { opteeSmcOf } from "../../src/secure/optee/smc_boot.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import { FRAME, heapAlloc, run, SECURE_VIDEO } from "./tee-fixture.ts";

const DIR = join(import.meta.dirname, "../scenarios");
const FILES = readdirSync(DIR).filter((f) => f.startsWith("smc-") && f.endsWith(".yaml"));

function tzcRegions(sys: ReturnType<typeof buildSystem>): number {
  return sys.machine.tzc!.regions.slice(1).filter((r) => r.enabled).length;
}

describe("smc scenarios", () => {
  it("there are the static and dynamic ones", () => {
    expect(FILES).toEqual(
      expect.arrayContaining([
        "smc-static-tzc400-board.yaml",
        "smc-dynamic-tzc400-board.yaml",
        "smc-dynamic-qemu-virt.yaml",
      ]),
    );
  });
  for (const f of FILES) {
    it(`${f} passes its expectations`, () => {
      const r = runScenario(loadScenarioFile(join(DIR, f), f));
      expect(r.failure).toBeNull();
      expect(r.findings["quiesce-clean"]).toBe(0);
      expect(r.findings["kernel-warn"]).toBe(0);
      expect(r.findings["ns-no-access"]).toBe(0);
    });
  }

  it("static carveout: buffers are sub-allocated from it, no message call and no FF-A lend is made", () => {
    const r = runScenario(loadScenarioFile(join(DIR, "smc-static-tzc400-board.yaml")));
    const dev = r.steps.filter((s) => s.kind === "device" && s.got === "ok").map((s) => s.detail);
    expect(dev[0]).toContain("at 0x7a000000+0");
    // 12,441,600 bytes round up to 3038 pages: the second frame follows the first in the gen_pool.
    expect(dev[2]).toContain(`at 0x${(0x7a000000 + 3038 * 4096).toString(16)}+0`);
    expect(r.ffaCalls.FFA_MEM_LEND_32 ?? 0).toBe(0);
    // The carveout's region stays programmed: optee_core's and the SDP region, as at boot.
    expect(r.machine.tzcRegionsUsed).toBe(2);
    expect(r.findings["scrub-before-return"]).toBe(0);
  });

  it("the same run is deterministic", () => {
    const sc = loadScenarioFile(join(DIR, "smc-dynamic-tzc400-board.yaml"));
    expect(JSON.stringify(runScenario(sc))).toBe(JSON.stringify(runScenario(sc)));
  });
});

describe("probe over SMC", () => {
  it("static: EXCHANGE_CAPABILITIES then GET_PROTMEM_CONFIG, and the heap's pool is the carveout", () => {
    const sim = new Sim(1);
    const platform = {
      ...PRESETS["tzc400-board"],
      opteeAbi: "smc" as const,
      staticProtmem: { base: 0x7a000000, size: 0x2000000 },
      reserved: [
        ...PRESETS["tzc400-board"].reserved,
        { name: "sdp_protmem", base: 0x7a000000, size: 0x2000000, noMap: true, secure: false },
      ],
    };
    const sys = buildSystem(sim, platform);
    const pool = sys.kernel.optee!.protmemPool as TeeProtmemStaticPool;
    expect(pool.paBase).toBe(0x7a000000);
    expect(sys.machine.smc.calls.get(OPTEE_SMC_EXCHANGE_CAPABILITIES)).toBe(1);
    expect(sys.machine.smc.calls.get(OPTEE_SMC_GET_PROTMEM_CONFIG)).toBe(1);
    // One message: optee_probe()'s optee_enumerate_devices() opens a session with the device PTA
    // (smc_abi.c); the model's OP-TEE over SMC has no session commands (NOT_IMPLEMENTED in a0), which
    // device.c takes as "Device enumeration pseudo TA not found".
    expect(sys.machine.smc.calls.get(OPTEE_SMC_CALL_WITH_ARG) ?? 0).toBe(1);
    expect(sys.kernel.optee!.teedev!.dmaMaskBits).toBe(64);
    expect(sys.machine.directMap.reachable(0x7a000000)).toBe(false);
    expect(tzcRegions(sys)).toBe(2);
  });

  it("dynamic on tzc400-board: the first allocation lends (TZC region), the last free reclaims (region off)", () => {
    const sim = new Sim(1);
    const sys = buildSystem(sim, { ...PRESETS["tzc400-board"], opteeAbi: "smc" });
    const pool = sys.kernel.optee!.protmemPool;
    expect(pool).toBeInstanceOf(OpteeProtmemDynPool);
    const dyn = pool as OpteeProtmemDynPool;
    const secure = opteeSmcOf(sys.machine)!;
    // The probe asked for the config with one message (GET_PROTMEM_CONFIG), then opened a session
    // with the device PTA (optee_enumerate_devices(): OPEN_SESSION, NOT_IMPLEMENTED over SMC in the
    // model), and shared nothing over FF-A.
    expect(sys.machine.smc.calls.get(OPTEE_SMC_CALL_WITH_ARG)).toBe(2);
    expect(sys.spmc.calls.get(FFA_MEM_SHARE_32) ?? 0).toBe(0);
    expect(tzcRegions(sys)).toBe(1);
    const p = userSpaceOf(sys.kernel).spawn("player");
    const fds = run(sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return [yield* heapAlloc(p, heap, FRAME), yield* heapAlloc(p, heap, FRAME)];
    });
    expect(fds.every((fd) => fd >= 0)).toBe(true);
    expect([dyn.lends, secure.counters.lends]).toEqual([1, 1]);
    expect(tzcRegions(sys)).toBe(2);
    expect(sys.machine.smc.calls.get(OPTEE_SMC_CALL_WITH_ARG)).toBe(3);
    expect(sys.spmc.calls.get(FFA_MEM_LEND_32) ?? 0).toBe(0);
    run(sim, function* () {
      yield* sysClose(p, fds[0]);
    });
    expect(dyn.reclaims).toBe(0);
    run(sim, () => userSpaceOf(sys.kernel).exitAll());
    expect([dyn.reclaims, secure.counters.reclaims]).toEqual([1, 1]);
    expect(secure.protmem!.lentRanges).toBe(0);
    expect(tzcRegions(sys)).toBe(1);
    expect(sys.machine.smc.calls.get(OPTEE_SMC_CALL_WITH_ARG)).toBe(4);
  });

  it("every preset keeps the FF-A driver: OP-TEE's SMC ids are not routed", () => {
    for (const name of Object.keys(PRESETS)) {
      const sys = buildSystem(new Sim(1), PRESETS[name]);
      expect(opteeSmcOf(sys.machine)).toBeNull();
      expect(sys.machine.smc.calls.get(OPTEE_SMC_EXCHANGE_CAPABILITIES) ?? 0).toBe(0);
    }
  });
});

describe("optee_abi and static_protmem overrides", () => {
  const message = (text: string) => {
    try {
      loadScenarioText(text, "s.yaml");
    } catch (e) {
      expect(e).toBeInstanceOf(ScenarioError);
      return (e as Error).message;
    }
    return "no error";
  };

  it("an unknown ABI is refused with its position", () => {
    expect(message("platform: { preset: tzc400-board, optee_abi: smcc }\n")).toBe(
      's.yaml:1:46: platform.optee_abi: expected one of ffa, smc, got "smcc"',
    );
  });

  it("a carveout without the SMC ABI, or overlapping another reserved node, is refused", () => {
    expect(
      message("platform: { preset: tzc400-board, static_protmem: { base: 0x7a000000, size: 32MiB } }\n"),
    ).toMatch(/^s\.yaml:1:35: platform\.static_protmem: a static carveout needs optee_abi: smc/);
    expect(
      message(
        "platform:\n  preset: tzc400-board\n  optee_abi: smc\n  static_protmem: { base: 0x7c000000, size: 32MiB }\n",
      ),
    ).toBe("s.yaml:4:19: platform.static_protmem: overlaps ramoops at 0x7dc00000");
  });

  it("optee_abi: smc resolves to opteeAbi, with the carveout as a no-map reserved node", () => {
    const sc = loadScenarioText(
      "platform: { preset: tzc400-board, optee_abi: smc, static_protmem: { base: 0x7a000000, size: 32MiB } }\n",
      "s.yaml",
    );
    expect(sc.platform.opteeAbi).toBe("smc");
    expect(sc.platform.staticProtmem).toEqual({ base: 0x7a000000, size: 0x2000000 });
    expect(sc.platform.reserved.find((r) => r.name === "sdp_protmem")).toMatchObject({
      noMap: true,
      secure: false,
    });
  });
});
