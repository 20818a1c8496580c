/**
 * The normal-world CPU's speculation and cache evictions, as a daemon task.
 *
 * At the platform's rate (a Poisson process in virtual time) it writes back one line of a page that may
 * hold dirty lines, and picks one DRAM page uniformly from its own random stream: if the CPU can reach
 * that page through a cacheable mapping it speculatively fills a line from it. Both go through the access
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
    // Some dirty line leaves the cache (other activity evicts it).
    const d = machine.caches.pickDirty(rng.float());
    if (d >= 0 && machine.access(cpu, frames.paOf(d) + rng.int(0, 63) * 64, 64, "writeback") !== ACCESS_OK)
      continue;
    // And a line is speculatively filled from anywhere the CPU can reach.
    const i = rng.int(0, frames.count - 1);
    if (machine.cacheableInNormalWorld(i))
      machine.access(cpu, frames.paOf(i) + rng.int(0, 63) * 64, 64, "fill");
  }
}
