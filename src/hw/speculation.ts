/**
 * The normal-world CPU's speculation and cache evictions.
 *
 * The process: at the platform's rate (a Poisson process in virtual time) one event happens. It writes
 * back one line of a page that may hold dirty lines (a dirty page chosen uniformly), and unless that
 * write-back faulted it picks one DRAM page uniformly: if the CPU can reach that page through a
 * cacheable mapping it speculatively fills a line from it. Both go through the access checkpoint, where
 * a denied fill or write-back has the platform's effect (ignored, external abort, SError/hang). Uniform
 * picking over DRAM keeps each event O(1) whatever the DRAM size; the chance to hit a range is its share
 * of DRAM, as for a real prefetcher with no locality (assumption).
 *
 * Stepping through every event (100 a millisecond on most presets) costs the same whether or not
 * anything is at risk, so the model skips ahead (`skip-ahead`, the default; `per-fill` is the
 * reference it is tested against). Between two changes of what the caches and mappings hold, events
 * split, by the thinning of a Poisson process, into independent Poisson streams:
 * - fills of a hazard page (one the firewall denies to the CPU while it is cacheable) — delivered one
 *   by one at their own time by the daemon task, so their findings and effects (a hang stops the
 *   machine then and there) happen when they should; once the finding's details are all kept and the
 *   effect is `ignored`, they are counted in bulk too;
 * - all other events, whose only effects are counters and the write-back of dirty pages: counted in
 *   bulk (Poisson counts) when the state is about to change or the run ends, each event cleaning one
 *   uniformly chosen dirty page until none is left.
 * While a dirty page is one the firewall denies (a write-back could fault) every event steps as in
 * `per-fill`: there are at most a cache-full of them. The counts are the same random variables as the
 * per-fill path's, drawn differently: statistically equivalent, deterministic from the seeded stream.
 *
 * The machine tells this model before and after each change that matters: translations (DirectMap),
 * firewall regions (Tzc400), the host stage 2, extra cacheable mappings and the dirty set (Caches).
 */
import { fail } from "../sim/assert.ts";
import type { RandomStream } from "../sim/prng.ts";
import { WaitList, sleep, type Sleeps, type Task, elapse } from "../sim/scheduler.ts";
import { FINDING_DETAILS_KEPT } from "../sim/findings.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
import type { CacheListener } from "./cache.ts";
import type { Machine } from "./machine.ts";
import type { MapChangeListener } from "./mmu.ts";
import { hex, PAGE_SIZE } from "./platform.ts";
import { poisson } from "./poisson.ts";

/** What the skip-ahead did, for tests and benchmarks. */
export interface SpeculationCounters {
  /** Intervals counted in bulk, and the events they held. */
  bulkSyncs: number;
  bulkEvents: number;
  /** Events stepped one by one: hazard fills delivered at their time, and per-fill steps. */
  hazardEvents: number;
  steppedEvents: number;
}

export class Speculation implements CacheListener, MapChangeListener, Snapshottable {
  readonly counters: SpeculationCounters = { bulkSyncs: 0, bulkEvents: 0, hazardEvents: 0, steppedEvents: 0 };
  readonly #m: Machine;
  /** Events per ns. */
  readonly #rate: number;
  readonly #perFill: boolean;
  #daemon: Task | null = null;
  #rng: RandomStream | null = null;
  #cpu = -1;
  /** Events up to this virtual time are accounted for. */
  #last = 0;
  /** Pages the CPU can fill from (machine.cacheableInNormalWorld). */
  #cacheable = 0;
  /** Firewall-denied [start, end) address segments of DRAM, for the CPU's reads and writes. */
  #deniedRead: number[] = [];
  #deniedWrite: number[] = [];
  /** Hazard pages (cacheable and read-denied): runs [first frame, count] and the running total per run. */
  #hazRuns: number[] = [];
  #hazEnds: number[] = [];
  #hazPages = 0;
  /** Some dirty page is write-denied: events step one by one. */
  #dirtyHazard = false;
  /** Hazard fills are counted in bulk (their details are kept and their effect is `ignored`). */
  #bulkHazards = false;
  readonly #idle = new WaitList("cpu-speculation idle");

  /** Snapshot support (sim/snapshot.ts): the private state (at a snapshot the daemon has not started). */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#daemon = saved.daemon as Task | null;
      this.#rng = saved.rng as RandomStream | null;
      this.#cpu = saved.cpu as number;
      this.#last = saved.last as number;
      this.#cacheable = saved.cacheable as number;
      this.#deniedRead = saved.deniedRead as number[];
      this.#deniedWrite = saved.deniedWrite as number[];
      this.#hazRuns = saved.hazRuns as number[];
      this.#hazEnds = saved.hazEnds as number[];
      this.#hazPages = saved.hazPages as number;
      this.#dirtyHazard = saved.dirtyHazard as boolean;
      this.#bulkHazards = saved.bulkHazards as boolean;
    }
    return {
      daemon: this.#daemon,
      rng: this.#rng,
      cpu: this.#cpu,
      last: this.#last,
      cacheable: this.#cacheable,
      deniedRead: this.#deniedRead,
      deniedWrite: this.#deniedWrite,
      hazRuns: this.#hazRuns,
      hazEnds: this.#hazEnds,
      hazPages: this.#hazPages,
      dirtyHazard: this.#dirtyHazard,
      bulkHazards: this.#bulkHazards,
      idle: this.#idle,
    };
  }

  constructor(machine: Machine) {
    this.#m = machine;
    const c = machine.platform.caches;
    this.#rate = c.specFillsPerMs / 1e6;
    this.#perFill = c.speculation === "per-fill";
  }

  /** Whether the daemon runs (a rate, a normal-world CPU, and someone started it). */
  get active(): boolean {
    return this.#daemon !== null;
  }

  /** The daemon's body: see speculationTask(). */
  *run(): Sleeps {
    const m = this.#m;
    const sched = m.sim.sched;
    this.#cpu = m.masterIndex("cpu-ns");
    if (this.#rate <= 0 || this.#cpu < 0 || this.#daemon !== null || sched.current === null) return;
    this.#daemon = sched.current;
    const rng = (this.#rng = m.sim.prng.stream("hw.speculation"));
    this.#last = m.sim.now;
    this.#cacheable = this.#totalCacheable();
    this.#firewallChanged();
    while (m.hung === null) {
      const r = this.#wakeRate();
      if (r === 0) {
        yield { kind: "block", list: this.#idle };
        continue;
      }
      const costNs = rng.exponential(1 / r);
      if (!elapse(costNs)) yield sleep(costNs);
      if (m.hung !== null) return;
      // A change since the sleep began re-armed it at the rate of the new state (retime()).
      if (this.#stepping()) this.#step();
      else if (this.#wakeRate() > 0) this.#hazardFill();
    }
  }

  // ---- Bulk accounting ----

  /** Accounts every event up to now that was not stepped: called before each change, and when a run ends. */
  sync(): void {
    const m = this.#m;
    const now = m.sim.now;
    if (this.#daemon === null || now <= this.#last) return;
    const dt = now - this.#last;
    this.#last = now;
    if (this.#stepping() || m.hung !== null) return;
    const rng = this.#rng!;
    const count = m.frames.count;
    const perPage = (this.#rate * dt) / count;
    // Thinning: fills of cacheable pages that are not hazards, events whose page is not cacheable, and
    // (in bulk mode) hazard fills — independent Poisson counts.
    const fills = poisson(rng, perPage * (this.#cacheable - this.#hazPages));
    const others = poisson(rng, perPage * (count - this.#cacheable));
    const hazards = this.#bulkHazards ? poisson(rng, perPage * this.#hazPages) : 0;
    const events = fills + others + hazards;
    this.counters.bulkSyncs++;
    this.counters.bulkEvents += events;
    const st = m.accessStats;
    const caches = m.caches;
    // Each event wrote back one line of a dirty page, chosen uniformly, until none was left.
    let wb = 0;
    if (events > 0 && caches.dirtyPages > 0) {
      if (events >= caches.dirtyPages) wb = caches.cleanAllQuietly();
      else {
        const list = caches.dirtyList();
        for (let k = 0; k < events; k++) {
          const j = k + Math.floor(rng.float() * (list.length - k));
          const d = list[j];
          list[j] = list[k];
          caches.cleanQuietly(d);
        }
        wb = events;
      }
    }
    st.writebacks += wb;
    st.specFills += fills + hazards;
    st.accesses += wb + fills + hazards;
    if (hazards > 0) {
      st.deniedFills += hazards;
      const effect = m.platform.caches.deniedFill;
      m.sim.findings.reportMany(
        "no-speculation-hazard",
        hazards,
        `${hazards} speculative fills of ${this.#hazPages} protected cacheable pages denied by the firewall: ${effect}`,
        { pages: this.#hazPages, address: hex(m.frames.paOf(this.#hazRuns[0])), effect },
      );
    }
  }

  // ---- Told by the machine ----

  beforeDirtyChange(): void {
    this.sync();
  }

  beforeMapsChange(first: number, count: number): void {
    if (this.#daemon === null) return;
    this.sync();
    this.#cacheable -= this.#countCacheable(this.#m.frames.paOf(first), this.#m.frames.paOf(first + count));
  }

  afterMapsChange(first: number, count: number): void {
    if (this.#daemon === null) return;
    const m = this.#m;
    this.#cacheable += this.#countCacheable(m.frames.paOf(first), m.frames.paOf(first + count));
    this.#hazardsChanged(m.frames.paOf(first), m.frames.paOf(first + count));
  }

  /** Before the translations of [start, end) change (linear map, TLB, host stage 2). */
  before(start: number, end: number): void {
    if (this.#daemon === null) return;
    this.sync();
    this.#cacheable -= this.#countCacheable(start, end);
  }

  after(start: number, end: number): void {
    if (this.#daemon === null) return;
    this.#cacheable += this.#countCacheable(start, end);
    this.#hazardsChanged(start, end);
  }

  /** Before and after a firewall region changes. */
  beforeFirewallChange(): void {
    this.sync();
  }

  afterFirewallChange(): void {
    if (this.#daemon === null) return;
    this.#firewallChanged();
  }

  // ---- Modes and the daemon's timer ----

  /** Every event steps (per-fill), as while some dirty page's write-back would be denied. */
  #stepping(): boolean {
    return this.#perFill || this.#dirtyHazard;
  }

  /** How often the daemon must wake, per ns: every event while stepping, else each hazard fill not counted in bulk. */
  #wakeRate(): number {
    if (this.#stepping()) return this.#rate;
    if (this.#bulkHazards || this.#hazPages === 0) return 0;
    return (this.#rate * this.#hazPages) / this.#m.frames.count;
  }

  /** Re-arms the daemon after a change: the process is memoryless, so the next wake is drawn afresh. */
  #retime(): void {
    const t = this.#daemon;
    const m = this.#m;
    if (t === null || t.state === "done" || m.sim.sched.current === t || m.hung !== null) return;
    const r = this.#wakeRate();
    // A rate of 0: a sleeping daemon finds nothing to do when it wakes and blocks.
    if (r === 0) return;
    m.sim.sched.retime(t, m.sim.now + this.#rng!.exponential(1 / r));
  }

  // ---- Events stepped one by one ----

  /** One event as the per-fill model has it. */
  #step(): void {
    const m = this.#m;
    const rng = this.#rng!;
    const caches = m.caches;
    const frames = m.frames;
    this.counters.steppedEvents++;
    this.#last = m.sim.now;
    let fill = true;
    if (caches.dirtyPages > 0) {
      const d = caches.pickDirty(rng.float());
      if (d >= 0 && m.access(this.#cpu, frames.paOf(d) + (rng.u32() & 63) * 64, 64, "writeback") !== 0)
        fill = false;
    }
    if (fill) {
      // One 32-bit draw picks the page (its high bits) and the line (its low six bits).
      const r = rng.u32();
      const i = Math.floor((r / 0x100000000) * frames.count);
      if (m.cacheableInNormalWorld(i)) m.access(this.#cpu, frames.paOf(i) + (r & 63) * 64, 64, "fill");
    }
    if (!this.#perFill && this.#dirtyHazard) this.#dirtyHazard = this.#scanDirtyHazard();
  }

  /** One event whose fill hits a hazard page, at its time: everything before it is counted first. */
  #hazardFill(): void {
    const m = this.#m;
    const rng = this.#rng!;
    const frames = m.frames;
    this.sync();
    this.counters.hazardEvents++;
    const caches = m.caches;
    // Its write-back (no dirty page is write-denied outside stepping, so it cannot fault).
    if (caches.dirtyPages > 0) {
      const d = caches.pickDirty(rng.float());
      if (d >= 0) m.access(this.#cpu, frames.paOf(d) + (rng.u32() & 63) * 64, 64, "writeback");
    }
    const i = this.#hazardPage(rng.float());
    m.access(this.#cpu, frames.paOf(i) + (rng.u32() & 63) * 64, 64, "fill");
    const c = m.platform.caches;
    if (c.deniedFill === "ignored" && m.sim.findings.count("no-speculation-hazard") >= FINDING_DETAILS_KEPT)
      this.#bulkHazards = true;
  }

  /** The hazard page a uniform r in [0, 1) picks. */
  #hazardPage(r: number): number {
    const k = Math.floor(r * this.#hazPages);
    const ends = this.#hazEnds;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (ends[mid] > k) hi = mid;
      else lo = mid + 1;
    }
    const before = lo === 0 ? 0 : ends[lo - 1];
    return this.#hazRuns[2 * lo] + (k - before);
  }

  // ---- What is cacheable and what is denied ----

  /** Pages of [start, end) for which machine.cacheableInNormalWorld() holds, without a page loop where it can. */
  #countCacheable(start: number, end: number): number {
    const m = this.#m;
    start = Math.max(start, m.dramBase);
    end = Math.min(end, m.dramEnd);
    if (start >= end) return 0;
    let n = m.directMap.cacheablePages(start, end) + this.#extraOnly(start, end);
    const s2 = m.stage2;
    if (s2 !== null && s2.holeCount > 0) {
      const h = s2.holes;
      for (let k = 0; k < h.length; k += 2) {
        const a = Math.max(start, h[k]);
        const b = Math.min(end, h[k + 1]);
        if (a < b) n -= m.directMap.cacheablePages(a, b) + this.#extraOnly(a, b);
      }
    }
    return n;
  }

  /** Pages of [start, end) cacheable only through an extra mapping (the linear map does not make them so). */
  #extraOnly(start: number, end: number): number {
    const m = this.#m;
    if (m.caches.extraMappedFrames === 0) return 0;
    const maps = m.caches.extraMaps;
    const i0 = m.frames.indexOf(start);
    const n = (end - start) / PAGE_SIZE;
    let c = 0;
    for (let i = i0; i < i0 + n; i++) if (maps[i] > 0 && !m.directMap.cacheable(m.frames.paOf(i))) c++;
    return c;
  }

  /** All of DRAM: from the map's leaf counters when nothing but the boot map exists. */
  #totalCacheable(): number {
    const m = this.#m;
    const dm = m.directMap;
    const plain =
      dm.staleRanges.length === 0 &&
      dm.retypedRanges.length === 0 &&
      m.caches.extraMappedFrames === 0 &&
      (m.stage2 === null || m.stage2.holeCount === 0);
    if (plain) {
      const c = dm.counters;
      return c.valid4K + c.valid2M * 512 + c.valid1G * 512 * 512;
    }
    return this.#countCacheable(m.dramBase, m.dramEnd);
  }

  /** After the firewall changed: its denied segments, the hazard pages, and whether a dirty page is denied. */
  #firewallChanged(): void {
    const m = this.#m;
    this.#deniedRead = [];
    this.#deniedWrite = [];
    // Granule protection stops fills and write-backs inside the core; no firewall denies nothing.
    const tzc = m.tzc;
    if (tzc !== null && m.gpt === null) {
      const cpu = m.masters[this.#cpu];
      this.#deniedRead = tzc.deniedSegments(cpu.world, cpu.nsaid, false, m.dramBase, m.dramEnd);
      this.#deniedWrite = tzc.deniedSegments(cpu.world, cpu.nsaid, true, m.dramBase, m.dramEnd);
    }
    this.#recomputeHazards();
    this.#dirtyHazard = this.#scanDirtyHazard();
    this.#retime();
  }

  /** After the cacheability of [start, end) changed: the hazard pages, if the range meets a denied segment. */
  #hazardsChanged(start: number, end: number): void {
    const d = this.#deniedRead;
    for (let k = 0; k < d.length; k += 2) {
      if (d[k] < end && start < d[k + 1]) {
        this.#recomputeHazards();
        this.#retime();
        return;
      }
    }
  }

  #recomputeHazards(): void {
    const m = this.#m;
    const runs: number[] = [];
    const ends: number[] = [];
    let total = 0;
    const d = this.#deniedRead;
    for (let k = 0; k < d.length; k += 2) {
      const n = this.#countCacheable(d[k], d[k + 1]);
      if (n === 0) continue;
      const i0 = m.frames.indexOf(d[k]);
      const i1 = m.frames.indexOf(d[k + 1] - PAGE_SIZE) + 1;
      if (n === i1 - i0) {
        runs.push(i0, n);
        total += n;
        ends.push(total);
        continue;
      }
      let runStart = -1;
      for (let i = i0; i <= i1; i++) {
        const c = i < i1 && m.cacheableInNormalWorld(i);
        if (c && runStart < 0) runStart = i;
        if (!c && runStart >= 0) {
          runs.push(runStart, i - runStart);
          total += i - runStart;
          ends.push(total);
          runStart = -1;
        }
      }
    }
    this.#hazRuns = runs;
    this.#hazEnds = ends;
    this.#hazPages = total;
    if (!(total <= this.#cacheable)) fail(`${total} hazard pages but ${this.#cacheable} cacheable`);
  }

  /** Whether some dirty page is one the firewall denies a write-back to. */
  #scanDirtyHazard(): boolean {
    const d = this.#deniedWrite;
    const m = this.#m;
    if (d.length === 0 || m.caches.dirtyPages === 0) return false;
    for (const i of m.caches.dirtyList()) {
      const pa = m.frames.paOf(i);
      for (let k = 0; k < d.length; k += 2) if (pa >= d[k] && pa < d[k + 1]) return true;
    }
    return false;
  }
}

/**
 * The speculation daemon (a task of the hardware, spawned at boot): runs the machine's speculation
 * model. It sleeps until the next event that must happen at its own time; everything else is counted
 * when the state changes or the run ends.
 */
export function* speculationTask(machine: Machine): Sleeps {
  yield* machine.speculation.run();
}
