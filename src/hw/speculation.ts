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
  const count = frames.count;
  const caches = machine.caches;
  while (machine.hung === null) {
    yield sleep(rng.exponential(meanGapNs));
    // Some dirty line leaves the cache (other activity evicts it).
    if (caches.dirtyPages > 0) {
      const d = caches.pickDirty(rng.float());
      if (
        d >= 0 &&
        machine.access(cpu, frames.paOf(d) + (rng.u32() & 63) * 64, 64, "writeback") !== ACCESS_OK
      )
        continue;
    }
    // And a line is speculatively filled from anywhere the CPU can reach: one 32-bit draw picks the page
    // (its high bits) and the line (its low six bits).
    const r = rng.u32();
    const i = Math.floor((r / 0x100000000) * count);
    if (machine.cacheableInNormalWorld(i)) machine.access(cpu, frames.paOf(i) + (r & 63) * 64, 64, "fill");
  }
}
