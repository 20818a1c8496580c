import { describe, expect, it } from "vitest";
import { PT_INVALID, PT_NONE, PT_VALID } from "../../src/hw/mmu.ts";
import {
  archCreateLinearMapping,
  archRemoveLinearMapping,
  canSetDirectMap,
  flushTlbKernelRange,
  SECTION_SIZE,
  setDirectMapDefaultNoflush,
  setDirectMapInvalidNoflush,
  setDirectMapValidNoflush,
} from "../../src/kernel/mm/direct_map.ts";
import { Mutex } from "../../src/sim/mutex.ts";
import { makeMm, runTask } from "./mm-fixture.ts";

const MiB = 1024 * 1024;
const mmu = (rodataFull: boolean, bbml2: boolean) => ({ mmu: { rodataFull, bbml2, contHint: true } });

describe("direct map operations", () => {
  it("are silent no-ops when can_set_direct_map() is false (rodata=on)", () => {
    const { sim, machine } = makeMm(mmu(false, false));
    expect(canSetDirectMap(machine)).toBe(false);
    const lock = new Mutex(sim, "pgtable_split_lock");
    const rc = runTask(sim, () => setDirectMapValidNoflush(machine, lock, 0x48000000, 2 * MiB, false));
    expect(rc).toBe(0);
    expect(machine.directMap.lookup(0x48000000)).toBe(PT_VALID);
  });

  it("invalidate pages of a PTE-mapped linear map (rodata=full) without splitting, and leave them in the TLB until flushed", () => {
    const { sim, machine } = makeMm(mmu(true, false));
    const lock = new Mutex(sim, "pgtable_split_lock");
    const pa = 0x48000000;
    runTask(sim, () => setDirectMapInvalidNoflush(machine, lock, pa));
    expect(machine.directMap.lookup(pa)).toBe(PT_INVALID);
    expect(machine.directMap.counters.splits2M).toBe(0);
    expect(machine.directMap.reachable(pa)).toBe(true);
    const t0 = sim.now;
    runTask(sim, () => flushTlbKernelRange(machine, pa, pa + 4096));
    expect(sim.now - t0).toBe(machine.costs.tlbiPageNs);
    expect(machine.directMap.reachable(pa)).toBe(false);
    runTask(sim, () => setDirectMapDefaultNoflush(machine, lock, pa));
    expect(machine.directMap.lookup(pa)).toBe(PT_VALID);
  });

  it("split a block on demand under BBML2, and cost the split", () => {
    const { sim, machine } = makeMm(mmu(true, true));
    const lock = new Mutex(sim, "pgtable_split_lock");
    const pa = 0x48001000;
    expect(machine.directMap.counters.valid4K).toBe(0);
    const t0 = sim.now;
    runTask(sim, () => setDirectMapValidNoflush(machine, lock, pa, 4096, false));
    const c = machine.directMap.counters;
    expect(c.splits2M).toBe(1);
    expect(c.valid4K).toBe(511);
    expect(sim.now - t0).toBeGreaterThanOrEqual(machine.costs.blockSplitNs);
  });

  it("a flush of 512 pages or more is a full TLB flush", () => {
    const { sim, machine } = makeMm(mmu(true, false));
    const t0 = sim.now;
    runTask(sim, () => flushTlbKernelRange(machine, 0x48000000, 0x48000000 + 2 * MiB));
    expect(sim.now - t0).toBe(machine.costs.tlbFlushAllNs);
    expect(machine.directMap.counters.flushAll).toBe(1);
  });

  it("remove and re-create whole sections of the linear map, as memtrace does", () => {
    const { sim, machine } = makeMm(mmu(false, false));
    const start = 0x48000000;
    expect(runTask(sim, () => archRemoveLinearMapping(machine, start, SECTION_SIZE))).toBe(0);
    expect(machine.directMap.lookup(start)).toBe(PT_NONE);
    expect(machine.directMap.lookup(start + SECTION_SIZE - 4096)).toBe(PT_NONE);
    expect(machine.directMap.lookup(start - 4096)).toBe(PT_VALID);
    expect(machine.directMap.reachable(start)).toBe(false);
    expect(runTask(sim, () => archCreateLinearMapping(machine, start, SECTION_SIZE))).toBe(0);
    expect(machine.directMap.lookup(start)).toBe(PT_VALID);
    // Blocks come back where alignment allows.
    expect(machine.directMap.counters.valid4K).toBe(0);
  });

  it("refuse ranges that are not whole sections", () => {
    const { sim, machine } = makeMm();
    expect(runTask(sim, () => archRemoveLinearMapping(machine, 0x48001000, SECTION_SIZE))).toBe(-22);
    expect(runTask(sim, () => archCreateLinearMapping(machine, 0x48000000, 4096))).toBe(-22);
  });
});
