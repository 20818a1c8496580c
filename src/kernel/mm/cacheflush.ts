/**
 * Cache maintenance to the point of coherency — arch/arm64/mm/cache.S dcache_clean_inval_poc(start, end)
 * (DC CIVAC on every line of a kernel VA range, then DSB SY); hardware.md §4.3, linux-kernel.md §4.7.
 *
 * Before memory becomes secure behind a bus-side firewall, its dirty lines must reach DRAM while the
 * normal world may still write there, and its clean lines must go so that no stale plaintext is read
 * later. The maintenance works on the linear-map alias: the range must still be mapped (clean, then
 * unmap), or DC CIVAC takes a translation fault like any access.
 */
import { hex, PAGE_SIZE } from "../../hw/platform.ts";
import { CACHE_LINE } from "../../hw/cache.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { Mm } from "./mm.ts";

/**
 * dcache_clean_inval_poc() over the linear-map alias of [pa, pa + size): dirty lines are written back
 * (through the machine's checkpoint: a write-back into memory already protected is seen there), every
 * line of the range is invalidated. Charges one cacheLineMaintNs per line walked and the dirty bytes at
 * dirtyWritebackBytesPerNs. A page the kernel cannot translate (unmapped first, or taken by the host's
 * stage 2) oopses as the real DC CIVAC would fault.
 */
export function* cleanInvalidateToPoc(mm: Mm, pa: number, size: number): Sleeps {
  if (size <= 0) return;
  const machine = mm.machine;
  const start = Math.floor(pa / PAGE_SIZE) * PAGE_SIZE;
  const end = Math.ceil((pa + size) / PAGE_SIZE) * PAGE_SIZE;
  const dm = machine.directMap;
  const s2 = machine.stage2;
  // Every page valid in the tables (counted by leaf) and none taken by the host's stage 2: nothing to
  // look up page by page. Otherwise the walk finds the first page DC CIVAC would fault on.
  const allReachable =
    dm.validPages(start, end) === (end - start) / PAGE_SIZE &&
    (s2 === null || s2.holeCount === 0 || s2.firstUntranslated(start, end - start) < 0);
  for (let a = start; !allReachable && a < end; a += PAGE_SIZE) {
    const s2 = machine.stage2 === null || machine.stage2.translates(a);
    if (!dm.reachable(a) || !s2) {
      mm.sim.oops(
        "dcache_clean_inval_poc",
        `Unable to handle kernel paging request at the linear-map address of ${hex(a)} (DC CIVAC)`,
        { address: hex(a), cause: s2 ? "linear map" : "host stage-2" },
      );
    }
  }
  const written = machine.cleanInvalidatePoc(start, end - start);
  const lines = Math.ceil((pa + size) / CACHE_LINE) - Math.floor(pa / CACHE_LINE);
  const c = machine.costs;
  if (mm.sim.trace.listening) {
    mm.sim.trace.emit("kernel", "dcache_clean_inval_poc", { pa: hex(pa), size, dirtyPages: written });
  }
  const costNs = lines * c.cacheLineMaintNs + (written * PAGE_SIZE) / c.dirtyWritebackBytesPerNs;
  if (!elapse(costNs)) yield sleep(costNs);
}
