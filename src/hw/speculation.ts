/**
 * The normal-world CPU's speculation and cache evictions, as a daemon task.
 *
 * At the platform's rate (a Poisson process in virtual time) it picks one DRAM page uniformly from its
 * own random stream: if the CPU can reach the page through a cacheable mapping it speculatively fills a
 * line from it, and if the page may hold dirty lines one is written back. Both go through the access
 * checkpoint, where a denied fill or write-back has the platform's effect (ignored, external abort,
 * SError/hang). Uniform picking over DRAM keeps each event O(1) whatever the DRAM size; the chance to
 * hit a range is its share of DRAM, as for a real prefetcher with no locality (assumption).
 */
import { sleep, type Sleeps } from "../sim/scheduler.ts";
import { ACCESS_OK, type Machine } from "./machine.ts";

export function* speculationTask(machine: Machine): Sleeps {
  const rate = machine.platform.caches.specFillsPerMs;
  const cpu = machine.masterIndex("cpu-ns");
  if (rate <= 0 || cpu < 0) return;
  const rng = machine.sim.prng.stream("hw.speculation");
  const meanGapNs = 1e6 / rate;
  const frames = machine.frames;
  while (machine.hung === null) {
    yield sleep(rng.exponential(meanGapNs));
    const i = rng.int(0, frames.count - 1);
    const pa = frames.paOf(i) + rng.int(0, 63) * 64;
    if (machine.caches.dirty[i] !== 0 && machine.access(cpu, pa, 64, "writeback") !== ACCESS_OK) continue;
    if (machine.cacheableInNormalWorld(i)) machine.access(cpu, pa, 64, "fill");
  }
}
