/** A small machine and its mm for kernel tests. */
import { Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { Mm } from "../../src/kernel/mm/mm.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { Sim } from "../../src/sim/sim.ts";

const MiB = 1024 * 1024;

export function smallPlatform(over: Partial<PlatformDesc> = {}): PlatformDesc {
  return {
    ...PRESETS["qemu-virt"],
    dram: { base: 0x40000000, size: 256 * MiB },
    cma: [{ name: "reserved", base: 0x48000000, size: 64 * MiB }],
    secureRam: [],
    ...over,
  };
}

export function makeMm(over: Partial<PlatformDesc> = {}, seed = 1): { sim: Sim; machine: Machine; mm: Mm } {
  const sim = new Sim(seed);
  const machine = new Machine(sim, smallPlatform(over));
  const mm = new Mm(sim, machine);
  return { sim, machine, mm };
}

/** Runs a generator to completion in a task and returns its result. */
export function runTask<T>(
  sim: Sim,
  body: () => Generator<import("../../src/sim/scheduler.ts").Op, T, unknown>,
): T {
  let out: T | undefined;
  let done = false;
  sim.sched.spawn("test", function* () {
    out = yield* body();
    done = true;
  });
  sim.sched.run();
  if (!done) throw new Error("task did not finish");
  return out as T;
}
