/**
 * The run's timeline (RunOptions.timeline → RunResult.timeline): memory by state over virtual time, and
 * a coarse physical memory map per sample, for the HTML report and the trace counters.
 *
 * A pure reader of the system's state. Sampling is cheap and independent of DRAM's size: the byte
 * counts come from the counters the kernel and the hardware keep (the buddy's free counts, the CMA
 * areas' available counts, the protected-memory pool's lent bytes, the linear map's leaf counters);
 * the map reads `probes` page frames evenly spaced in each bin (bins × probes reads a sample, whatever
 * DRAM's size). Samples are at most MAX_SAMPLES: when a run outlasts them, every other sample is
 * dropped and the interval doubles.
 *
 * Sampling never changes the run: with a chooser that looks at no window (the default, and replays of
 * schedules recorded without one), the runner pauses the scheduler at each sample time — such a
 * chooser picks the same task whatever the limit, so the schedule is the same; with a windowed
 * chooser (the explorer's), a pause would narrow the window, so samples are taken as the scheduler
 * moves virtual time past their times instead (Scheduler.onTimeAdvance; `exact: false`): nothing runs
 * in between, so each is the state at its time too, and an explored run replayed for `--html` shows its
 * memory over time, not only its start and end.
 */
import { OWNER_SECURE } from "../hw/frames.ts";
import { PT_TABLE, PT_VALID } from "../hw/mmu.ts";
import { PAGE_SIZE, SZ_1G, SZ_2M } from "../hw/platform.ts";
import { PS_CONTIG, PS_FREE, PS_MOVABLE, PS_RESERVED } from "../kernel/mm/gfp.ts";
import type { LendStats } from "../kernel/optee/protmem_lend.ts";
import { fail } from "../sim/assert.ts";
import type { System } from "./system.ts";

/**
 * The map's states, by code: a bin's code indexes this list. Codes from CARVEOUT up are "important":
 * a bin shows the highest of them that any of its probes found; below, the state most probes found.
 */
export const MAP_STATES = [
  /** In the buddy's free lists, outside any CMA area. */
  "free",
  /** User pages (anonymous, page cache): migratable; also inside CMA areas. */
  "movable",
  /** The kernel's own: its image and early allocations, unmovable and reclaimable allocations. */
  "kernel",
  /** Free pages of a CMA area. */
  "cma",
  /** Reserved at boot for firmware or a device (a device-tree carveout, no-map or not). */
  "carveout",
  /** Taken by cma_alloc() / alloc_contig_range() (dma_alloc_pages) and not lent. */
  "cma-used",
  /** Out of the kernel's linear map (invalidated or removed), not lent. */
  "unmapped",
  /** Lent to the secure world and out of the linear map. */
  "lent-unmapped",
  /** Lent to the secure world and still in the kernel's linear map (what speculation can reach). */
  "lent",
] as const;
export type MapState = (typeof MAP_STATES)[number];

const M_FREE = 0;
const M_MOVABLE = 1;
const M_KERNEL = 2;
const M_CMA = 3;
const M_CARVEOUT = 4;
const M_CMA_USED = 5;
const M_UNMAPPED = 6;
const M_LENT_UNMAPPED = 7;
const M_LENT = 8;
/** Codes below this take the majority; from it up the highest wins. */
const M_IMPORTANT = M_CARVEOUT;

/** Samples kept at most; past it, every other one goes and the interval doubles. */
export const MAX_SAMPLES = 256;
/**
 * With `changes`, samples kept at most: a replayed story's every change of memory by state fits in most
 * (pool-race's race: 6; a secure-video session: about 40); past it, every other one goes and only every
 * other change after is taken, as MAX_SAMPLES does with the interval.
 */
export const MAX_CHANGE_SAMPLES = 1024;
export const DEFAULT_BINS = 2048;
/** Frames read per bin and sample (fewer when a bin has fewer pages). */
export const DEFAULT_PROBES = 4;
/** The interval when the run's length is not known (no `until`): 10 ms, doubled as the run goes on. */
const DEFAULT_EVERY_NS = 10_000_000;
/** With `until`, about this many samples. */
const TARGET_SAMPLES = 200;

export interface TimelineOptions {
  /** Virtual time between samples, ns. Default: `until` / 200, or 10 ms (doubling as needed). */
  readonly everyNs?: number;
  /** Bins of the memory map (each DRAM / bins bytes, rounded up to pages). Default 2048. */
  readonly bins?: number;
  /** Frames read per bin. Default 4. */
  readonly probes?: number;
  /**
   * Also a sample each time virtual time moves on after memory by state changed (the free, lent,
   * CMA-used or unmapped bytes): the chart of a short story (a replayed violation, over in 1.5 ms where
   * the interval is 10 ms) shows each lend and reclaim at its time. For replays (`rstmem replay --html`,
   * `explore --html`); a long run's every allocation would cost a sample each.
   */
  readonly changes?: boolean;
}

/** One sample: memory by state at virtual time `t`, and the map. */
export interface TimelineSample {
  /** Virtual time, ns. */
  readonly t: number;
  /** In the buddy's free lists and the per-cpu lists (exact: the zones' free counts). */
  readonly freeBytes: number;
  /** Lent to the secure world by the kernel's protected-memory pool (exact: the pool's count; 0 without one). */
  readonly lentBytes: number;
  /** Taken from CMA areas by cma_alloc() (exact: the areas' available counts). */
  readonly cmaUsedBytes: number;
  /** Linear-map bytes that were valid at boot and are not now (exact: the map's leaf counters). */
  readonly unmappedBytes: number;
  /** User (movable) pages: an estimate, the share of the map's probes that found one, times DRAM. */
  readonly movableBytes: number;
  /** Kernel pages (image, unmovable, reclaimable): an estimate like movableBytes. */
  readonly kernelBytes: number;
  /**
   * The map, run-length encoded: per run of equal bins, a letter for the state (a = MAP_STATES[0],
   * b = MAP_STATES[1], …) and then the run's length in bins when more than 1 — "a1000e48i" is 1000 free
   * bins, 48 carveout bins, one lent bin. decodeMap() gives one code per bin.
   */
  readonly map: string;
}

/** A named range of the map (a CMA area, a carveout), in bins: [firstBin, endBin). */
export interface TimelineRegion {
  readonly kind: "cma" | "carveout" | "kernel";
  readonly name: string;
  readonly firstBin: number;
  readonly endBin: number;
}

export interface Timeline {
  /** The interval between samples at the end of the run (after any doubling), ns. */
  readonly everyNs: number;
  /**
   * Samples were also taken where memory by state changed (TimelineOptions.changes), between those on
   * the interval: each holds until the next (a chart draws steps).
   */
  readonly changes: boolean;
  /**
   * Samples were taken at exact multiples of everyNs (plus the last two) with the scheduler paused there;
   * false: a windowed run's, taken at the same times as time moved past them, without pausing.
   */
  readonly exact: boolean;
  readonly dramBase: number;
  readonly dramBytes: number;
  readonly bins: number;
  /** Bytes per bin (the last bin may be shorter). */
  readonly binBytes: number;
  readonly probes: number;
  /** MAP_STATES: the meaning of each code in `map`. */
  readonly states: readonly MapState[];
  readonly regions: readonly TimelineRegion[];
  /**
   * In time order, t = 0 first. The last two are the end of the run (when the workloads and steps
   * ended or `until` came) and after every process exited; they may share a time.
   */
  readonly samples: readonly TimelineSample[];
}

/** Takes the samples of one run; the runner calls it at its pauses. */
export class TimelineSampler {
  readonly exact: boolean;
  everyNs: number;
  readonly changes: boolean;
  readonly bins: number;
  readonly probes: number;
  readonly #system: System;
  readonly #samples: TimelineSample[] = [];
  /** Frame index of every probe, bin after bin. */
  readonly #probe: Int32Array;
  /** Index of every probe's page in the linear map's PTE level (from its 1 GiB-aligned base). */
  readonly #pte: Int32Array;
  /** Per probe: what memblock said at boot (P_*). */
  readonly #static: Uint8Array;
  readonly #binPages: number;
  readonly #mappedAtBoot: number;
  readonly #regions: TimelineRegion[] = [];
  /** Probes per state in the sample being taken. */
  readonly #total = new Int32Array(MAP_STATES.length);
  #next: number;
  /** With `changes`: changes met so far, and every how many of them one is sampled (doubled as samples are thinned). */
  #changesMet = 0;
  #changeStride = 1;

  constructor(system: System, opts: TimelineOptions, untilNs: number | null, windowed: boolean) {
    this.#system = system;
    const f = system.machine.frames;
    this.exact = !windowed;
    const requested = opts.everyNs ?? (untilNs ? Math.ceil(untilNs / TARGET_SAMPLES) : DEFAULT_EVERY_NS);
    if (!(Number.isFinite(requested) && requested > 0)) fail(`timeline interval ${requested}`);
    this.everyNs = Math.max(1, Math.round(requested));
    this.changes = opts.changes === true;
    this.#binPages = Math.ceil(f.count / Math.max(1, Math.min(opts.bins ?? DEFAULT_BINS, f.count)));
    this.bins = Math.ceil(f.count / this.#binPages);
    this.probes = Math.max(1, Math.min(opts.probes ?? DEFAULT_PROBES, this.#binPages));
    this.#probe = new Int32Array(this.bins * this.probes);
    this.#pte = new Int32Array(this.bins * this.probes);
    const pteBase = (f.basePfn * PAGE_SIZE - system.machine.directMap.base) / PAGE_SIZE;
    this.#static = new Uint8Array(this.bins * this.probes);
    for (let b = 0; b < this.bins; b++) {
      const first = b * this.#binPages;
      const n = Math.min(this.#binPages, f.count - first);
      for (let k = 0; k < this.probes; k++) {
        const i = first + Math.floor(((2 * k + 1) * n) / (2 * this.probes));
        this.#probe[b * this.probes + k] = i;
        this.#pte[b * this.probes + k] = pteBase + i;
      }
    }
    const mm = system.kernel.mm;
    const mark = (start: number, end: number, v: number) => {
      for (let p = 0; p < this.#probe.length; p++)
        if (this.#probe[p] >= start && this.#probe[p] < end) this.#static[p] = v;
    };
    const region = (kind: TimelineRegion["kind"], name: string, start: number, end: number) =>
      this.#regions.push({
        kind,
        name,
        firstBin: Math.floor(start / this.#binPages),
        endBin: Math.ceil(end / this.#binPages),
      });
    for (const c of mm.cmaAreas) {
      mark(c.base, c.base + c.count, P_CMA);
      region("cma", c.name, c.base, c.base + c.count);
    }
    for (const r of mm.reservedRanges) {
      const kernel = r.name === "kernel";
      mark(r.start, r.end, kernel ? P_KERNEL : P_CARVEOUT);
      region(kernel ? "kernel" : "carveout", r.name, r.start, r.end);
    }
    this.#mappedAtBoot = validLinearBytes(system);
    this.#next = 0;
    this.#take(0);
  }

  /** Where the scheduler should pause next: the next sample time (exact sampling), else `untilNs`. */
  limit(untilNs: number | undefined): number | undefined {
    if (!this.exact) return untilNs;
    return untilNs === undefined ? this.#next : Math.min(untilNs, this.#next);
  }

  /**
   * After the scheduler returned at `now` (`paused`: after its step budget, maybe amid a time's tasks):
   * takes the sample due at `now`. Exact sampling: the scheduler stopped at the sample time with every
   * task of that time done. A windowed run's samples before `now` were taken as time moved on
   * (advanced()); one at `now` itself only when the run stopped there, every task of that time done.
   */
  reached(now: number, paused = false): void {
    if ((!this.exact && paused) || now < this.#next) return;
    this.#take(this.#next);
  }

  /**
   * The scheduler moves virtual time from `from` to `to` (Scheduler.onTimeAdvance: every move of time
   * passes there), and nothing runs in between: each sample time in [from, to) sees exactly the state
   * now — the sample a pause there would take, without the pause (a windowed run's).
   */
  advanced(from: number, to: number): void {
    // A sample due at `from` itself shows the change already.
    if (this.changes && this.#next > from && this.#changed() && this.#changesMet++ % this.#changeStride === 0)
      this.#add(from);
    while (this.#next < to) this.#take(this.#next);
  }

  /** The end of the run's main loop, and after the exits: always sampled. */
  final(now: number): void {
    this.#push(now);
  }

  result(): Timeline {
    const m = this.#system.machine;
    return {
      everyNs: this.everyNs,
      changes: this.changes,
      exact: this.exact,
      dramBase: m.dramBase,
      dramBytes: m.dramEnd - m.dramBase,
      bins: this.bins,
      binBytes: this.#binPages * PAGE_SIZE,
      probes: this.probes,
      states: MAP_STATES,
      regions: this.#regions,
      samples: this.#samples,
    };
  }

  /** The sample due on the interval at `t`; the next one is due a whole interval on. */
  #take(t: number): void {
    this.#add(t);
    this.#next = (Math.floor(t / this.everyNs) + 1) * this.everyNs;
  }

  /** A sample at `t`, and thinning when the samples pass what is kept. */
  #add(t: number): void {
    this.#push(t);
    if (this.#samples.length > (this.changes ? MAX_CHANGE_SAMPLES : MAX_SAMPLES)) this.#thin();
  }

  /**
   * Every other sample goes (t = 0 is sample 0 and stays), the interval doubles, and with `changes`
   * only every other change is sampled from now on. Without changes, the samples kept are those at
   * even multiples of the doubled interval.
   */
  #thin(): void {
    const kept = this.#samples.filter((_, i) => i % 2 === 0);
    this.#samples.length = 0;
    this.#samples.push(...kept);
    this.everyNs *= 2;
    this.#changeStride *= 2;
  }

  /** Whether the exact byte counts differ from the last sample's (memory by state changed since). */
  #changed(): boolean {
    const last = this.#samples[this.#samples.length - 1];
    const c = this.#counts();
    return (
      c.freeBytes !== last.freeBytes ||
      c.lentBytes !== last.lentBytes ||
      c.cmaUsedBytes !== last.cmaUsedBytes ||
      c.unmappedBytes !== last.unmappedBytes
    );
  }

  /** The exact byte counts of memory by state, from the kernel's and the hardware's counters. */
  #counts(): Pick<TimelineSample, "freeBytes" | "lentBytes" | "cmaUsedBytes" | "unmappedBytes"> {
    const mm = this.#system.kernel.mm;
    const freePages = mm.buddy.zones.reduce((a, z) => a + z.freePages, 0) + mm.buddy.pcpCount;
    const cmaUsed = mm.cmaAreas.reduce((a, c) => a + (c.count - c.availableCount), 0);
    const pool = this.#system.kernel.optee?.protmemPool as { stats?: LendStats } | null | undefined;
    return {
      freeBytes: freePages * PAGE_SIZE,
      lentBytes: pool?.stats?.lentBytes ?? 0,
      cmaUsedBytes: cmaUsed * PAGE_SIZE,
      unmappedBytes: Math.max(0, this.#mappedAtBoot - validLinearBytes(this.#system)),
    };
  }

  #push(t: number): void {
    const { machine } = this.#system;
    const f = machine.frames;
    const state = f.state;
    const owner = f.owner;
    const { pud, pmd, pte } = machine.directMap;
    const probes = this.probes;
    const probe = this.#probe;
    const pteOf = this.#pte;
    const boot = this.#static;
    const total = this.#total.fill(0);
    let map = "";
    let run = -1;
    let runLength = 0;
    for (let b = 0, p = 0; b < this.bins; b++) {
      let top = -1;
      let nFree = 0;
      let nMovable = 0;
      let nKernel = 0;
      let nCma = 0;
      for (let k = 0; k < probes; k++, p++) {
        const i = probe[p];
        // DirectMap.lookup() by index: the leaf is at the first level that is not a table.
        const x = pteOf[p];
        const c1 = pud[x >>> PUD_SHIFT];
        const c2 = c1 !== PT_TABLE ? c1 : pmd[x >>> PMD_SHIFT];
        const leaf = c2 !== PT_TABLE ? c2 : pte[x];
        const code =
          STATE_OF[
            (boot[p] << 5) | ((state[i] & 7) << 2) | ((owner[i] & 1) << 1) | (leaf === PT_VALID ? 1 : 0)
          ];
        total[code]++;
        if (code >= M_IMPORTANT) top = code > top ? code : top;
        else if (code === M_FREE) nFree++;
        else if (code === M_MOVABLE) nMovable++;
        else if (code === M_KERNEL) nKernel++;
        else nCma++;
      }
      if (top < 0) {
        // The majority; a tie goes to the later state.
        top = M_FREE;
        let best = nFree;
        if (nMovable >= best) {
          top = M_MOVABLE;
          best = nMovable;
        }
        if (nKernel >= best) {
          top = M_KERNEL;
          best = nKernel;
        }
        if (nCma >= best) top = M_CMA;
      }
      if (top === run) {
        runLength++;
        continue;
      }
      if (runLength > 0) map += CODE_CHARS[run] + (runLength > 1 ? runLength : "");
      run = top;
      runLength = 1;
    }
    map += CODE_CHARS[run] + (runLength > 1 ? runLength : "");
    const probeBytes = (f.count * PAGE_SIZE) / (this.bins * probes);
    this.#samples.push({
      t,
      ...this.#counts(),
      movableBytes: Math.round(total[M_MOVABLE] * probeBytes),
      kernelBytes: Math.round(total[M_KERNEL] * probeBytes),
      map,
    });
  }
}

/** What memblock made of a probe's frame at boot (0: none of these). */
const P_CMA = 1;
const P_CARVEOUT = 2;
const P_KERNEL = 3;

const CODE_CHARS = MAP_STATES.map((_, i) => String.fromCharCode(0x61 + i));
/** PTE index to PUD (1 GiB) and PMD (2 MiB) index. */
const PUD_SHIFT = 18;
const PMD_SHIFT = 9;

/** One code (index into MAP_STATES) per bin, from a sample's run-length encoded map. */
export function decodeMap(map: string, bins: number): Uint8Array {
  const out = new Uint8Array(bins);
  let at = 0;
  for (const m of map.matchAll(/([a-z])(\d*)/g)) {
    const n = m[2] === "" ? 1 : Number(m[2]);
    out.fill(m[1].charCodeAt(0) - 0x61, at, at + n);
    at += n;
  }
  if (at !== bins) fail(`map covers ${at} bins, expected ${bins}`);
  return out;
}

/** The map state of one frame. */
function probeState(boot: number, state: number, owner: number, mapped: boolean): number {
  if (boot === P_CARVEOUT) return M_CARVEOUT;
  if (owner === OWNER_SECURE) return mapped ? M_LENT : M_LENT_UNMAPPED;
  if (!mapped && boot !== P_KERNEL) return M_UNMAPPED;
  if (state === PS_CONTIG) return M_CMA_USED;
  if (state === PS_FREE) return boot === P_CMA ? M_CMA : M_FREE;
  if (state === PS_MOVABLE) return M_MOVABLE;
  if (state === PS_RESERVED && boot !== P_KERNEL) return M_CARVEOUT;
  return M_KERNEL;
}

/** probeState() for every (boot, state, owner, mapped), indexed as the sampler's hot loop reads it. */
const STATE_OF = new Uint8Array(4 << 5);
for (let boot = 0; boot < 4; boot++)
  for (let state = 0; state < 8; state++)
    for (let owner = 0; owner < 2; owner++)
      for (let mapped = 0; mapped < 2; mapped++)
        STATE_OF[(boot << 5) | (state << 2) | (owner << 1) | mapped] = probeState(
          boot,
          state,
          owner,
          mapped === 1,
        );

/** Bytes the linear map holds valid, from its leaf counters. */
function validLinearBytes(system: System): number {
  const c = system.machine.directMap.counters;
  return c.valid1G * SZ_1G + c.valid2M * SZ_2M + c.valid4K * PAGE_SIZE;
}
