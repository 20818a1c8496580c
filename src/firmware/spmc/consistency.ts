/**
 * Invariant `ffa-consistency` (check/invariants.ts): the SPMC's share states agree with page ownership
 * in the machine, and handles are unique and released. Checked where the SPMC changes state, on the
 * pages the change touched (no whole-DRAM scans per event).
 */
import type { OWNER_NORMAL, OWNER_SECURE } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import type { Sim } from "../../sim/sim.ts";
import { hex } from "./regs.ts";

/** 4 KiB (hw PAGE_SIZE, local for the hot loops). */
const PAGE_SIZE = 4096;

/** Reports when any page of [pa, pa + pages) is not owned by `expected` in the machine. */
export function checkMachineOwner(
  sim: Sim,
  machine: Machine,
  pa: number,
  pages: number,
  expected: typeof OWNER_NORMAL | typeof OWNER_SECURE,
  what: string,
): boolean {
  const i0 = machine.frames.indexOf(pa);
  if (i0 < 0) return true;
  const owner = machine.frames.owner;
  const end = Math.min(i0 + pages, machine.frames.count);
  for (let i = i0; i < end; i++) {
    if (owner[i] !== expected) {
      sim.findings.report(
        "ffa-consistency",
        `${what}: page ${hex(pa + (i - i0) * PAGE_SIZE)} is not ${expected === 1 ? "secure" : "normal"} in the machine`,
        { address: hex(pa + (i - i0) * PAGE_SIZE) },
      );
      return false;
    }
  }
  return true;
}

/** checkMachineOwner() over a list of ranges, stopping at the first disagreement. */
export function checkRangesOwner(
  sim: Sim,
  machine: Machine,
  ranges: readonly { readonly address: number; readonly pageCount: number }[],
  expected: typeof OWNER_NORMAL | typeof OWNER_SECURE,
  what: string,
): boolean {
  const owner = machine.frames.owner;
  const base = machine.frames.basePfn;
  const count = machine.frames.count;
  for (let k = 0; k < ranges.length; k++) {
    const r = ranges[k];
    const i0 = Math.floor(r.address / PAGE_SIZE) - base;
    if (i0 < 0 || i0 >= count) continue;
    const end = Math.min(i0 + r.pageCount, count);
    for (let i = i0; i < end; i++) {
      if (owner[i] !== expected)
        return checkMachineOwner(sim, machine, r.address, r.pageCount, expected, what);
    }
  }
  return true;
}

/** Reports duplicate handles among live transactions. */
export function checkHandlesUnique(sim: Sim, handles: Iterable<bigint>): boolean {
  const seen = new Set<bigint>();
  for (const h of handles) {
    if (seen.has(h)) {
      sim.findings.report("ffa-consistency", `handle ${hex(h)} is used by two live transactions`, {
        handle: hex(h),
      });
      return false;
    }
    seen.add(h);
  }
  return true;
}
