/**
 * The simulated system a scenario runs on: the engine, the machine, and (as they are built) the
 * firmware, the secure world and the kernel, booted in the order the real system boots.
 */
import { Machine } from "../hw/machine.ts";
import type { PlatformDesc } from "../hw/platform.ts";
import { speculationTask } from "../hw/speculation.ts";
import type { Sim } from "../sim/sim.ts";

export interface System {
  readonly sim: Sim;
  readonly machine: Machine;
}

/** Builds the machine and starts its daemons (the CPU's speculation and evictions). */
export function buildSystem(sim: Sim, platform: PlatformDesc): System {
  const machine = new Machine(sim, platform);
  sim.sched.spawn("cpu-speculation", () => speculationTask(machine), { daemon: true });
  return { sim, machine };
}
