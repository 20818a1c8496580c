/** Small TZC machines for the unmap strategies' tests: 512 MiB of DRAM, a 256 MiB CMA area of two sections. */
import type { Machine } from "../../src/hw/machine.ts";
import type { PlatformDesc } from "../../src/hw/platform.ts";
import { TZC_REGION_S_RDWR, tzcAccessRdWr } from "../../src/hw/tzc400.ts";
import { speculationTask } from "../../src/hw/speculation.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import type { Sim } from "../../src/sim/sim.ts";
import { makeMm } from "./mm-fixture.ts";

export const MiB = 1024 * 1024;
export const PAGE = 4096;
export const DRAM_BASE = 0x4000_0000;
export const DRAM_SIZE = 512 * MiB;
export const CMA_BASE = 0x5000_0000;
export const CMA_SIZE = 256 * MiB;

type Mmu = PlatformDesc["mmu"];

export interface UnmapPlatform {
  readonly mmu?: Partial<Mmu>;
  readonly llMap?: boolean;
  readonly hypervisor?: "pkvm";
  readonly specFillsPerMs?: number;
  readonly name?: string;
}

/** A TZC-400 board shrunk to 512 MiB: its masters, caches with dirty lines, a 256 MiB CMA area. */
export function unmapPlatform(p: UnmapPlatform = {}): Partial<PlatformDesc> {
  return {
    name: p.name ?? "small-tzc",
    dram: { base: DRAM_BASE, size: DRAM_SIZE },
    cma: [{ name: "reserved", base: CMA_BASE, size: CMA_SIZE, ...(p.llMap ? { llMap: true } : {}) }],
    firewall: { kind: "tzc400", regions: 8, action: "err" },
    caches: {
      specFillsPerMs: p.specFillsPerMs ?? 0,
      sizeBytes: MiB,
      deniedFill: "ignored",
      deniedWriteback: "serror",
    },
    mmu: { rodataFull: true, bbml2: false, contHint: true, ...p.mmu },
    ...(p.hypervisor ? { hypervisor: p.hypervisor } : {}),
  };
}

export function bootUnmap(p: UnmapPlatform = {}, seed = 1) {
  const r = makeMm(unmapPlatform(p), seed);
  const count = (id: string) => r.sim.findings.count(id);
  const cpu = r.machine.masterIndex("cpu-ns");
  return { ...r, count, cpu };
}

/** The platform hook of a TZC board: one region over the range, secure RW and the decoder's NSAID. */
export function protectForDecoder(m: Machine, base: number, size: number): number {
  const decoder = m.masters[m.masterIndex("video-decoder")];
  return m.tzcConfigureRegion(m.tzc!.freeRegion(), {
    base,
    top: base + size - 1,
    secAttr: TZC_REGION_S_RDWR,
    nsDeviceAccess: tzcAccessRdWr(decoder.nsaid),
  });
}

/** Runs the speculation daemon for `ns` of virtual time. */
export function runSpeculation(sim: Sim, m: Machine, ns: number): void {
  sim.sched.spawn("speculation", () => speculationTask(m), { daemon: true });
  sim.sched.spawn("timer", function* () {
    yield sleep(ns);
  });
  sim.sched.run();
}

/** The linear map's translation, as runs of [start, end, code, memory type] (block structure aside). */
export function translationRuns(m: Machine): number[][] {
  const runs: number[][] = [];
  for (const e of m.directMap.entries()) {
    const last = runs[runs.length - 1];
    if (last && last[1] === e.start && last[2] === e.code && last[3] === e.mt) last[1] = e.start + e.size;
    else runs.push([e.start, e.start + e.size, e.code, e.mt]);
  }
  return runs;
}
