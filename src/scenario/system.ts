/**
 * The simulated system a scenario runs on: the engine, the machine, and (as they are built) the
 * firmware, the secure world and the kernel, booted in the order the real system boots:
 *
 * 1. the machine and its daemons;
 * 2. firmware: EL3's services, the SPMC of the platform's flavor, the secure partitions' own FF-A
 *    setup (firmware/boot.ts);
 * 3. OP-TEE (secure/optee/boot.ts): its direct-request handler in the SPMC, per-use-case devices, scrub;
 * 4. the normal world's FF-A driver probe (FFA_VERSION, FFA_ID_GET, FFA_RXTX_MAP) through the conduit;
 * 5. the kernel: memory management, the VFS, dma-buf and the dma-heaps, then the initcalls of the
 *    arm_ffa driver (adopting the probe's buffers and version) and the OP-TEE driver (tee0, the
 *    protected heaps). With `platform.opteeAbi: "smc"` the OP-TEE driver is smc_abi.c's instead
 *    (kernel/optee/smc_abi.ts): it reaches OP-TEE through OP-TEE's SMC ids, not the SPMC.
 *
 * A snapshot of the booted state is kept for quiesce-clean at the end of the run.
 * Boot happens before the scenario's clock starts: its calls run to completion at t = 0.
 */
import { bootFirmware, drain, type FirmwareOptions } from "../firmware/boot.ts";
import type { Spmc } from "../firmware/spmc/spmc.ts";
import { Machine } from "../hw/machine.ts";
import { SZ_2M, type PlatformDesc } from "../hw/platform.ts";
import { speculationTask } from "../hw/speculation.ts";
import type { Sim } from "../sim/sim.ts";
import { FfaHarness } from "./steps/ffa_client.ts";
import { takeBootSnapshot, type BootSnapshot } from "../check/quiesce.ts";
import { bootKernel, type Kernel } from "../kernel/kernel.ts";
import { bootPteRegion } from "../kernel/mm/unmap.ts";
import {
  DEFAULT_HUNG_TASK_TIMEOUT_SECS,
  startKhungtaskd,
  type HungTaskDetector,
} from "../kernel/hung_task.ts";
import { armFfaInitcall, armFfaProbe, type FfaProbeResult } from "../kernel/firmware/arm_ffa/driver.ts";
import { opteeFfaInitcall } from "../kernel/optee/ffa_abi.ts";
import { opteeSmcInitcall } from "../kernel/optee/smc_abi.ts";
import { bootOptee } from "../secure/optee/boot.ts";
import { platProtmemConfigs, type ProtmemSizes } from "../secure/optee/config.ts";
import { platProtmemFor } from "../secure/optee/plat_protmem.ts";
import { PROTMEM_CARVEOUT_NAME } from "../kernel/optee/protmem_carveout.ts";
import { POLICY_PRESETS, type Policy } from "./policies.ts";

export interface System {
  readonly sim: Sim;
  readonly machine: Machine;
  /** The SPMC (Hafnium or OP-TEE at S-EL1); partition handlers plug into `spmc.partitions`. */
  readonly spmc: Spmc;
  /** The FF-A endpoints as their drivers see them (raw calls from steps and benchmarks). */
  readonly ffa: FfaHarness;
  /** The normal world's kernel. */
  readonly kernel: Kernel;
  /** The state right after boot, for quiesce-clean. */
  readonly boot: BootSnapshot;
  /** 4 KiB linear-map entries the platform's own boot mapping has (before any policy's change). */
  readonly linearMap4KAtBoot: number;
  /** khungtaskd, unless hung_task_timeout_secs is 0. */
  readonly hungTask: HungTaskDetector | null;
}

export interface SystemOptions {
  readonly firmware?: FirmwareOptions;
  /** The run's policy (scenario `policy:`); default upstream. */
  readonly policy?: Policy;
  /** OP-TEE's min_mem_sz per use case, overriding the platform's. */
  readonly protmemSizes?: ProtmemSizes;
  /** Leave OP-TEE and the kernel's TEE drivers out (firmware-only and mm tests). */
  readonly tee?: boolean;
}

/**
 * `pool: static` (the `carveout` policy): the device tree reserves OP-TEE's secure-video memory as a
 * `no-map` carveout — placed at the top of DRAM, 2 MiB aligned (our choice), sized as OP-TEE's
 * min_size for the use case. Throws when it would overlap another carveout or a CMA area.
 */
export function withProtmemCarveout(platform: PlatformDesc, protmemSizes?: ProtmemSizes): PlatformDesc {
  if (platform.reserved.some((r) => r.name === PROTMEM_CARVEOUT_NAME)) return platform;
  const size = platProtmemConfigs(platform, protmemSizes).get(1)?.minSizeBytes ?? 0;
  if (size === 0) throw new Error("the carveout policy needs OP-TEE's secure-video size (protmem)");
  const aligned = Math.ceil(size / SZ_2M) * SZ_2M;
  const base = Math.floor((platform.dram.base + platform.dram.size - aligned) / SZ_2M) * SZ_2M;
  const clash = [...platform.reserved, ...platform.cma].find(
    (r) => base < r.base + r.size && r.base < base + aligned,
  );
  if (clash) {
    throw new Error(
      `the ${aligned / 1048576} MiB protected carveout at the top of DRAM (0x${base.toString(16)}) would overlap ${clash.name}`,
    );
  }
  return {
    ...platform,
    reserved: [
      ...platform.reserved,
      { name: PROTMEM_CARVEOUT_NAME, base, size: aligned, noMap: true, secure: false },
    ],
  };
}

/** Builds the machine, boots the firmware and probes the normal world's FF-A driver. */
export function buildSystem(sim: Sim, platform: PlatformDesc, opts: SystemOptions = {}): System {
  const policy = opts.policy ?? POLICY_PRESETS.upstream;
  if (policy.pool === "static") platform = withProtmemCarveout(platform, opts.protmemSizes);
  const machine = new Machine(sim, platform);
  const linearMap4KAtBoot = machine.directMap.counters.valid4K;
  sim.sched.spawn("cpu-speculation", () => speculationTask(machine), { daemon: true });
  const withTee = opts.tee ?? true;
  const fw = bootFirmware(sim, machine, platProtmemFor, {
    ...opts.firmware,
    spmcLimits: { ...platform.spmcLimits, ...opts.firmware?.spmcLimits },
  });
  if (withTee)
    bootOptee(sim, machine, fw.spmc, {
      // OP-TEE scrubs only under secure-on-release; ffa-clear is the SPMC's (the FF-A clear flag).
      scrub: policy.scrub === "secure-on-release" ? "secure-on-release" : "none",
      protmemSizes: opts.protmemSizes,
      opteeRetrieve: policy.optee_retrieve,
    });
  const ffa = new FfaHarness(machine, fw.spmc, fw.endpoints);
  // The kernel's arm_ffa driver probes first (version, ID, RX/TX map); raw `ffa:` steps from the normal
  // world then speak through the same buffers, in the layout the driver negotiated.
  const nwd = ffa.endpoint("normal");
  // Boot faults (`boot: true`, sim/faults.ts) strike from here: the normal world's probes.
  sim.faults.armBoot();
  let probe: FfaProbeResult | null = null;
  if (nwd && nwd.desc.txPa !== null && nwd.desc.rxPa !== null) {
    const r = drain(
      armFfaProbe(
        machine,
        { txPa: nwd.desc.txPa, rxPa: nwd.desc.rxPa, bufferSize: nwd.desc.bufferSize },
        platform.ffaVersion,
      ),
    );
    if (typeof r !== "number") {
      probe = r;
      nwd.layout = r.version;
    }
  }
  const smcAbi = platform.opteeAbi === "smc";
  const initcalls = !withTee
    ? []
    : [
        ...(probe ? [armFfaInitcall(probe)] : []),
        ...(smcAbi ? [opteeSmcInitcall(policy)] : probe ? [opteeFfaInitcall(policy)] : []),
      ];
  // `unmap: boot-pte-region`: the default CMA area is mapped with pages from boot (what `ll-map;` does).
  if (policy.unmap === "boot-pte-region" && platform.cma[0])
    bootPteRegion(machine, platform.cma[0].base, platform.cma[0].size);
  const kernel = bootKernel(sim, machine, { initcalls });
  sim.faults.endBoot();
  sim.panicOnOops = platform.panicOnOops ?? false;
  const hungTask = startKhungtaskd(sim, platform.hungTaskTimeoutSecs ?? DEFAULT_HUNG_TASK_TIMEOUT_SECS);
  return {
    sim,
    machine,
    spmc: fw.spmc,
    ffa,
    kernel,
    boot: takeBootSnapshot(machine, kernel.mm),
    hungTask,
    linearMap4KAtBoot,
  };
}
