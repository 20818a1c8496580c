/** A small booted kernel, processes and a task runner for user-space and dma-heap tests. */
import { Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { speculationTask } from "../../src/hw/speculation.ts";
import { bootKernel, type BootOptions, type Kernel } from "../../src/kernel/kernel.ts";
import type { StepContext } from "../../src/scenario/steps/types.ts";
import type { System } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf, type UserSpace } from "../../src/user/process.ts";
import { smallPlatform } from "../kernel/mm-fixture.ts";

export interface Booted {
  readonly sim: Sim;
  readonly machine: Machine;
  readonly kernel: Kernel;
  readonly procs: UserSpace;
}

export function boot(
  opts: { platform?: Partial<PlatformDesc>; seed?: number; kernel?: BootOptions } = {},
): Booted {
  const sim = new Sim(opts.seed ?? 1);
  const machine = new Machine(sim, smallPlatform(opts.platform ?? {}));
  const kernel = bootKernel(sim, machine, opts.kernel);
  return { sim, machine, kernel, procs: userSpaceOf(kernel) };
}

/** Runs a generator to completion in a task and returns its result (one helper for all kernel tests). */
export { runTask as run } from "../kernel/mm-fixture.ts";

/**
 * A System as the scenario runner will build it once the kernel is wired in: the machine with its
 * daemons, and the kernel booted on it (no firmware: proc steps do not need it).
 */
export function systemWithKernel(sim: Sim, platform: PlatformDesc): System & { kernel: Kernel } {
  const machine = new Machine(sim, platform);
  sim.sched.spawn("cpu-speculation", () => speculationTask(machine), { daemon: true });
  const kernel = bootKernel(sim, machine);
  return { sim, machine, kernel } as unknown as System & { kernel: Kernel };
}

export function stepContext(system: System, file = "test.yaml"): StepContext {
  return { system, vars: new Map(), file };
}

/** Sum of user cacheable mappings over all frames (0 when nothing is mapped). */
export function extraMapsTotal(machine: Machine): number {
  let n = 0;
  for (const v of machine.caches.extraMaps) n += v;
  return n;
}
