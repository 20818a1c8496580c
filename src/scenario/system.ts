/**
 * The simulated system a scenario runs on: the engine, the machine, and (as they are built) the
 * firmware, the secure world and the kernel, booted in the order the real system boots:
 *
 * 1. the machine and its daemons;
 * 2. firmware: EL3's services, the SPMC of the platform's flavor, the secure partitions' own FF-A
 *    setup (firmware/boot.ts);
 * 3. the normal world's FF-A driver probe (FFA_VERSION, FFA_ID_GET, FFA_RXTX_MAP) through the conduit;
 * 4. the kernel: memory management, the VFS, dma-buf and the dma-heaps.
 *
 * A snapshot of the booted state is kept for quiesce-clean at the end of the run.
 * Boot happens before the scenario's clock starts: its calls run to completion at t = 0.
 */
import { bootFirmware, drain, type FirmwareOptions } from "../firmware/boot.ts";
import type { Spmc } from "../firmware/spmc/spmc.ts";
import { Machine } from "../hw/machine.ts";
import type { PlatformDesc } from "../hw/platform.ts";
import { speculationTask } from "../hw/speculation.ts";
import type { Sim } from "../sim/sim.ts";
import { FfaHarness } from "./steps/ffa_client.ts";
import { takeBootSnapshot, type BootSnapshot } from "../check/quiesce.ts";
import { bootKernel, type Kernel } from "../kernel/kernel.ts";

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
}

export interface SystemOptions {
  readonly firmware?: FirmwareOptions;
}

/** Builds the machine, boots the firmware and probes the normal world's FF-A driver. */
export function buildSystem(sim: Sim, platform: PlatformDesc, opts: SystemOptions = {}): System {
  const machine = new Machine(sim, platform);
  sim.sched.spawn("cpu-speculation", () => speculationTask(machine), { daemon: true });
  const fw = bootFirmware(sim, machine, opts.firmware);
  const ffa = new FfaHarness(machine, fw.spmc, fw.endpoints);
  drain(ffa.probeNormalWorld(platform.ffaVersion));
  const kernel = bootKernel(sim, machine);
  return { sim, machine, spmc: fw.spmc, ffa, kernel, boot: takeBootSnapshot(machine) };
}
