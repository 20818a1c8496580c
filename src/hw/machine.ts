/**
 * The simulated machine: DRAM frames and bytes, firewall (TZC-400, RME granule protection or none),
 * the kernel's direct map and TLB, caches, bus masters, the SMC conduit and the cost model.
 *
 * `access()` is the single checkpoint every memory access goes through (ARCHITECTURE.md §3, §8): it
 * applies the firewall and the mapping, moves taint, decides ok or fault, traces, and reports the
 * invariant findings an access can show. Protection and ownership changes go through this class too,
 * so the hazards they create are checked where they happen; so do the linear map's live changes
 * (break-before-make) and the host stage-2 of an EL2 hypervisor.
 */
import type { Sim } from "../sim/sim.ts";
import { Caches } from "./cache.ts";
import { costModel, type CostModel } from "./costs.ts";
import { OWNER_NORMAL, OWNER_SECURE, PageFrames, TAINT_NS_DATA, TAINT_SECRET } from "./frames.ts";
import { GPT_GPI_SECURE, GranuleProtectionTable } from "./gpt.ts";
import { DirectMap, type LiveChange } from "./mmu.ts";
import { PageStore } from "./pagestore.ts";
import { hex, PAGE_SIZE, type MasterDesc, type PlatformDesc, type World } from "./platform.ts";
import { SmcConduit } from "./smc.ts";
import { Speculation } from "./speculation.ts";
import { HostStage2 } from "./stage2.ts";
import { gptTransition, setOwner, tzcConfigureRegion } from "./protection.ts";
import {
  TZC_ALLOWED,
  TZC_OVERLAP,
  TZC_REGION_S_RDWR,
  Tzc400,
  tzcAccessRdWr,
  type TzcRegionConfig,
} from "./tzc400.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

export type AccessOp = "read" | "write" | "fill" | "writeback";

/** Access outcomes. */
export const ACCESS_OK = 0;
/** The firewall or granule protection denied it and the master saw an abort. */
export const FAULT_DENIED = 1;
/** No valid translation (the access went through the direct map). */
export const FAULT_UNMAPPED = 2;
/** No memory at that address (decode error). */
export const FAULT_NO_MEMORY = 3;

export const FAULT_NAMES = ["ok", "denied", "unmapped", "no-memory"] as const;

export interface AccessOptions {
  /** The kernel itself touches the page through its linear map (kernel-no-touch applies). */
  readonly kernel?: boolean;
  /** Go through the kernel's direct map: a missing translation faults. Implied by `kernel`. */
  readonly viaDirectMap?: boolean;
  /** Taint a write leaves; by default the writer's world decides (secret in restricted memory). */
  readonly taint?: number;
}

export interface AccessStats {
  accesses: number;
  faults: number;
  /** Denied accesses the master did not see (TZC action none/int: reads return zeros, writes drop). */
  silentDenials: number;
  specFills: number;
  deniedFills: number;
  writebacks: number;
  deniedWritebacks: number;
}

/** Cache maintenance by virtual address to the point of coherency (dcache_clean_inval_poc). */
export interface MaintenanceStats {
  /** Clean+invalidate operations, bytes they covered, and dirty pages they wrote back. */
  cleanInvalOps: number;
  bytesCleaned: number;
  dirtyPagesWrittenBack: number;
  /** Bytes zeroed by a scrub (zeroPages()). */
  bytesZeroed: number;
}

export interface LastFault {
  readonly code: number;
  readonly master: string;
  readonly address: number;
  readonly op: AccessOp;
  readonly why: string;
}

export class Machine implements Snapshottable {
  readonly frames: PageFrames;
  readonly bytes = new PageStore();
  readonly caches: Caches;
  readonly directMap: DirectMap;
  readonly tzc: Tzc400 | null;
  readonly gpt: GranuleProtectionTable | null;
  readonly smc: SmcConduit;
  /** The host's stage 2 under an EL2 hypervisor (platform `hypervisor`), else null. */
  readonly stage2: HostStage2 | null;
  readonly costs: CostModel;
  readonly masters: readonly MasterDesc[];
  /** The CPU's speculative fills and write-backs over time (its daemon is speculationTask()). */
  readonly speculation: Speculation;
  /** The access counters as they stand (speculation's bulk counts up to its last settling). */
  readonly accessStats: AccessStats = {
    accesses: 0,
    faults: 0,
    silentDenials: 0,
    specFills: 0,
    deniedFills: 0,
    writebacks: 0,
    deniedWritebacks: 0,
  };
  /** The access counters, with every speculative event up to now counted. */
  get stats(): AccessStats {
    this.speculation.sync();
    return this.accessStats;
  }

  readonly maintenance: MaintenanceStats = {
    cleanInvalOps: 0,
    bytesCleaned: 0,
    dirtyPagesWrittenBack: 0,
    bytesZeroed: 0,
  };
  lastFault: LastFault | null = null;
  /** The last access was denied but answered OKAY (TZC action none/int): no data moved. */
  lastSilentDenial = false;
  /**
   * Bumped by every change of who may access what: firewall regions, granule protection, page owners,
   * the host stage 2. A caller that saw the same epoch twice knows no access verdict changed between.
   */
  protectionEpoch = 0;
  /** Set when an SError or a never-answered fill hung the machine. */
  hung: string | null = null;
  readonly dramBase: number;
  readonly dramEnd: number;
  /** Per use case: bit mask of master indices allowed into its restricted memory. */
  readonly #useCaseMasters = new Map<number, number>();
  readonly #masterIndex = new Map<string, number>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { useCaseMasters: this.#useCaseMasters, masterIndex: this.#masterIndex };
  }

  constructor(
    readonly sim: Sim,
    readonly platform: PlatformDesc,
    costOverrides: Partial<CostModel> = {},
  ) {
    const { base, size } = platform.dram;
    this.dramBase = base;
    this.dramEnd = base + size;
    this.frames = new PageFrames(base, size);
    this.caches = new Caches(
      this.frames.count,
      Math.floor(platform.caches.sizeBytes / PAGE_SIZE),
      this.frames.dirty,
    );
    this.costs = costModel({ ...platform.costs, ...costOverrides });
    this.masters = platform.masters;
    platform.masters.forEach((m, i) => this.#masterIndex.set(m.name, i));
    this.smc = new SmcConduit(sim, () => this.costs.smcRoundTripNs);
    // A dirty line the cache evicts for capacity is a write-back like any other: through the checkpoint.
    const cpuNs = this.masterIndex("cpu-ns");
    if (cpuNs >= 0) this.caches.writeBack = (i) => this.access(cpuNs, this.frames.paOf(i), 64, "writeback");

    // The boot linear map: all DRAM but no-map carveouts (arch/arm64/mm/mmu.c map_mem()), blocks unless
    // force_pte_mapping() (rodata=full without BBML2/BBML3); `ll-map` CMA areas with pages.
    this.directMap = new DirectMap(base, size);
    const splitsLive = platform.mmu.bbml2 || platform.mmu.bbml3 === true;
    const pteOnly = platform.mmu.rodataFull && !splitsLive;
    this.directMap.setOptions({ blocks: !pteOnly, cont: !pteOnly && platform.mmu.contHint });
    let cursor = base;
    const noMap = platform.reserved.filter((r) => r.noMap).sort((a, b) => a.base - b.base);
    for (const r of noMap) {
      if (r.base > cursor) this.directMap.create(cursor, r.base);
      cursor = Math.max(cursor, r.base + r.size);
    }
    if (cursor < this.dramEnd) this.directMap.create(cursor, this.dramEnd);
    for (const c of platform.cma) {
      if (c.llMap === true && !pteOnly) this.directMap.bootPageGranular(c.base, c.base + c.size);
    }
    this.directMap.onLiveChange = (what, start, end, entries) =>
      this.#liveLinearMapChange(what, start, end, entries);
    this.stage2 = platform.hypervisor === "pkvm" ? new HostStage2() : null;

    const fw = platform.firewall;
    this.tzc = null;
    this.gpt = null;
    if (fw.kind === "tzc400") {
      // Boot configuration as on Renesas RZ/G2L (hardware.md §1.6): region 0 open to secure and to every
      // NSAID, secure carveouts closed to the normal world in regions 1.. .
      const tzc = new Tzc400(fw.regions, fw.action);
      let all = 0;
      for (let id = 0; id < 16; id++) all |= tzcAccessRdWr(id);
      tzc.configureRegion0(TZC_REGION_S_RDWR, all);
      for (const r of platform.reserved.filter((x) => x.secure)) {
        const n = tzc.freeRegion();
        if (n < 0) throw new Error(`platform ${platform.name}: more secure carveouts than TZC regions`);
        tzc.configureRegion(n, {
          base: r.base,
          top: r.base + r.size - 1,
          secAttr: TZC_REGION_S_RDWR,
          nsDeviceAccess: 0,
        });
      }
      this.tzc = tzc;
    } else if (fw.kind === "rme") {
      const gpt = new GranuleProtectionTable(this.frames.basePfn, this.frames.count, this.frames.dirty);
      for (const r of platform.reserved.filter((x) => x.secure)) {
        const i = this.frames.indexOf(r.base);
        if (i >= 0) gpt.initRange(i, r.size / PAGE_SIZE, GPT_GPI_SECURE);
      }
      this.gpt = gpt;
    }
    for (const r of platform.reserved.filter((x) => x.secure)) {
      const i = this.frames.indexOf(r.base);
      if (i >= 0) this.frames.setOwner(i, r.size / PAGE_SIZE, OWNER_SECURE, 0);
    }

    // The speculation model hears of every change to what the CPU may fill from or write back to.
    const spec = new Speculation(this);
    this.speculation = spec;
    this.directMap.onChange = spec;
    this.caches.listener = spec;
    if (this.tzc)
      this.tzc.onChange = {
        before: () => spec.beforeFirewallChange(),
        after: () => {
          this.protectionEpoch++;
          spec.afterFirewallChange();
        },
      };
    // Whoever reads the findings or the counters sees every event up to now counted.
    sim.findings.beforeRead = () => spec.sync();
  }

  /** Index of a named master, or −1. */
  masterIndex(name: string): number {
    return this.#masterIndex.get(name) ?? -1;
  }

  /** Declares which masters a use case's restricted memory is for (OP-TEE's per-use-case config). */
  setUseCaseMasters(useCase: number, masterNames: readonly string[]): void {
    let mask = 0;
    for (const n of masterNames) {
      const i = this.masterIndex(n);
      if (i < 0) throw new Error(`no bus master "${n}" on ${this.platform.name}`);
      mask |= 1 << i;
    }
    this.#useCaseMasters.set(useCase, mask);
  }

  /** Whether master m may be in restricted memory of use case u: secure-world masters and the use case's devices. */
  /** Whether master `m` is one of the devices a use case's memory is for (secure masters always are). */
  allowedIn(m: number, useCase: number): boolean {
    return this.#allowedIn(m, useCase);
  }

  #allowedIn(m: number, useCase: number): boolean {
    if (this.masters[m].world === "s") return true;
    return ((this.#useCaseMasters.get(useCase) ?? 0) & (1 << m)) !== 0;
  }

  /** The firewall's verdict on a real transaction (a TZC denial latches its fail registers). */
  #firewallPermits(world: World, nsaid: number, pa: number, length: number, write: boolean): number {
    if (this.tzc) return this.tzc.check(world, nsaid, pa, length, write);
    if (this.gpt) return this.gpt.permits(world, pa, length) ? TZC_ALLOWED : 1;
    return TZC_ALLOWED;
  }

  /** The same verdict for the model's own questions: nothing is latched. */
  wouldPermit(world: World, nsaid: number, pa: number, length: number, write: boolean): number {
    if (this.tzc) return this.tzc.probe(world, nsaid, pa, length, write);
    if (this.gpt) return this.gpt.permits(world, pa, length) ? TZC_ALLOWED : 1;
    return TZC_ALLOWED;
  }

  /**
   * The checkpoint. Returns ACCESS_OK or a FAULT_* code; details of a fault are in `lastFault`.
   * Findings: ns-no-access (a normal-world master got into restricted memory), kernel-no-touch (the
   * kernel touched memory it lent), no-speculation-hazard (a denied fill or write-back had an effect).
   */
  access(master: number, pa: number, length: number, op: AccessOp, opts?: AccessOptions): number {
    const st = this.accessStats;
    st.accesses++;
    this.lastSilentDenial = false;
    const m = this.masters[master];
    if (length <= 0 || pa < this.dramBase || pa + length > this.dramEnd) {
      const sram = this.platform.secureRam.find((r) => pa >= r.base && pa + length <= r.base + r.size);
      if (!sram || length <= 0) return this.#fault(FAULT_NO_MEMORY, m, pa, op, "no memory at this address");
      if (m.world !== "s")
        return this.#fault(FAULT_DENIED, m, pa, op, `${sram.name} is only reachable from the secure world`);
      return ACCESS_OK;
    }
    const frames = this.frames;
    const first = Math.floor(pa / PAGE_SIZE) - frames.basePfn;
    const last = Math.floor((pa + length - 1) / PAGE_SIZE) - frames.basePfn;
    const kernel = opts?.kernel === true;
    const cpu = m.kind === "cpu";

    if (op === "fill" || op === "writeback") return this.#cacheTraffic(m, pa, first, op);

    const write = op === "write";
    const runs = frames.restrictedRuns;
    const restricted = runs.length === 0 ? -1 : frames.firstRestricted(first, last);
    // A kernel touch of lent memory is a kernel bug whether or not anything stops it.
    if (kernel && restricted >= 0 && m.world === "ns") {
      this.sim.findings.report(
        "kernel-no-touch",
        `kernel ${op} of ${hex(frames.paOf(restricted))}, which is lent`,
        {
          address: hex(frames.paOf(restricted)),
        },
      );
    }
    // Every page valid in the tables (counted by leaf): reachable, without asking page by page.
    if (
      cpu &&
      (kernel || opts?.viaDirectMap === true) &&
      this.directMap.validPages(frames.paOf(first), frames.paOf(last + 1)) !== last - first + 1
    ) {
      for (let i = first; i <= last; i++) {
        if (!this.directMap.reachable(frames.paOf(i))) {
          return this.#fault(FAULT_UNMAPPED, m, frames.paOf(i), op, "no valid linear-map translation");
        }
      }
    }
    // The host's stage 2 (MMU-side, before the bus): pKVM injects an abort for memory the host lost.
    if (cpu && this.stage2 !== null && m.world === "ns" && this.stage2.holeCount > 0) {
      const at = this.stage2.firstUntranslated(pa, length);
      if (at >= 0)
        return this.#fault(FAULT_DENIED, m, at, op, "host stage-2 fault: the hypervisor took this page");
    }

    const verdict = this.#firewallPermits(m.world, m.nsaid, pa, length, write);
    if (verdict !== TZC_ALLOWED) {
      const why = verdict === TZC_OVERLAP ? "TZC regions overlap (UNDEFINED; OVERLAP set)" : this.#denier();
      const action = this.tzc?.action;
      if (this.tzc && (action === "none" || action === "int") && verdict !== TZC_OVERLAP) {
        // OKAY response: reads return zeros, writes are dropped (hardware.md §1.8).
        st.silentDenials++;
        this.lastSilentDenial = true;
        return ACCESS_OK;
      }
      return this.#fault(FAULT_DENIED, m, pa, op, why);
    }

    // The restricted runs within [first, last]: the first the master is not allowed in is a finding.
    if (restricted >= 0) {
      for (let k = frames.runAfter(first); k < runs.length && runs[k] <= last; k += 4) {
        if (!this.#allowedIn(master, runs[k + 3])) {
          const i = Math.max(runs[k], first);
          this.sim.findings.report(
            "ns-no-access",
            `${m.name} ${op} of restricted ${hex(frames.paOf(i))} succeeded`,
            { master: m.name, address: hex(frames.paOf(i)), useCase: runs[k + 3] },
          );
          break;
        }
      }
    }
    if (write) {
      // A range write: normal-world data, and secret data of the use case where the writer is allowed.
      const taint = frames.taint;
      frames.dirty.touch(first, last + 1 - first);
      // One page (a fault's write) is a plain store: fill() costs a call per page otherwise.
      if (opts?.taint !== undefined) {
        if (first === last) taint[first] = opts.taint;
        else taint.fill(opts.taint, first, last + 1);
      } else {
        taint.fill(TAINT_NS_DATA, first, last + 1);
        if (restricted >= 0) {
          for (let k = frames.runAfter(first); k < runs.length && runs[k] <= last; k += 4) {
            if (this.#allowedIn(master, runs[k + 3]))
              taint.fill(
                TAINT_SECRET | runs[k + 3],
                Math.max(runs[k], first),
                Math.min(runs[k + 1], last + 1),
              );
          }
        }
      }
      // A normal-world CPU writes through its cacheable mappings: lines may stay dirty.
      if (cpu && m.world === "ns") this.caches.markDirty(first, last - first + 1);
    }
    if (this.sim.trace.perAccess) {
      this.sim.trace.emit("hw", "access", { master: m.name, pa: hex(pa), length, op, result: "ok" });
    }
    return ACCESS_OK;
  }

  /** A speculative line fill or a dirty line's write-back from the normal-world CPU's caches. */
  #cacheTraffic(m: MasterDesc, pa: number, i: number, op: "fill" | "writeback"): number {
    const st = this.accessStats;
    const fill = op === "fill";
    // A fill needs a stage-2 translation: the host's stage 2 stops it inside the core (never issued).
    if (fill && this.stage2 !== null && m.world === "ns" && !this.stage2.translates(pa)) return ACCESS_OK;
    if (fill) st.specFills++;
    else st.writebacks++;
    if (!fill) this.caches.clean(i);
    // Granule protection is checked inside the core: a denied fill or write-back is never issued.
    if (this.gpt) return ACCESS_OK;
    const verdict = this.#firewallPermits(m.world, m.nsaid, pa, 64, !fill);
    if (verdict === TZC_ALLOWED) return ACCESS_OK;
    if (fill) st.deniedFills++;
    else st.deniedWritebacks++;
    const effect = fill ? this.platform.caches.deniedFill : this.platform.caches.deniedWriteback;
    const what = fill ? "speculative fill" : "dirty write-back";
    this.sim.findings.report(
      "no-speculation-hazard",
      `${what} of ${hex(pa)} denied by the firewall: ${effect}`,
      {
        address: hex(pa),
        effect,
      },
    );
    if (effect === "serror-hang") {
      this.hung = `SError: ${what} of ${hex(pa)} denied by the firewall`;
      this.sim.sched.stop(this.hung);
    }
    return effect === "ignored" ? ACCESS_OK : this.#fault(FAULT_DENIED, m, pa, op, `${what} denied`);
  }

  #denier(): string {
    if (this.gpt) return "granule protection fault (GPF)";
    const r = this.tzc?.lastRegion ?? 0;
    return `TZC region ${r} denies it (${this.tzc?.action === "err-int" || this.tzc?.action === "err" ? "DECERR" : "OKAY"})`;
  }

  #fault(code: number, m: MasterDesc, address: number, op: AccessOp, why: string): number {
    this.accessStats.faults++;
    this.lastFault = { code, master: m.name, address, op, why };
    if (this.sim.trace.listening) {
      this.sim.trace.emit("hw", "access", {
        master: m.name,
        pa: hex(address),
        op,
        result: FAULT_NAMES[code],
        why,
      });
    }
    return code;
  }

  /** Reads bytes through the checkpoint; a denied or faulting read yields zeros. */
  readBytes(
    master: number,
    pa: number,
    length: number,
    opts?: AccessOptions,
  ): { code: number; bytes: Uint8Array } {
    const code = this.access(master, pa, length, "read", opts);
    const moved = code === ACCESS_OK && !this.lastSilentDenial;
    return { code, bytes: moved ? this.bytes.read(pa, length) : new Uint8Array(length) };
  }

  /** Writes bytes through the checkpoint. */
  writeBytes(master: number, pa: number, data: Uint8Array, opts?: AccessOptions): number {
    const code = this.access(master, pa, data.length, "write", opts);
    if (code === ACCESS_OK && !this.lastSilentDenial) this.bytes.write(pa, data);
    return code;
  }

  /**
   * Whether the normal-world CPU may hold or fetch lines of frame i through a cacheable mapping: another
   * cacheable mapping, a valid Normal linear-map entry, or a translation still in the TLB — and, under a
   * hypervisor, a host stage-2 translation. O(1) when no stage-2 hole and no stale TLB range exist.
   */
  cacheableInNormalWorld(i: number): boolean {
    const pa = this.frames.paOf(i);
    if (this.stage2 !== null && !this.stage2.translates(pa)) return false;
    return this.caches.extraMaps[i] > 0 || this.directMap.cacheable(pa);
  }

  /**
   * A live change of the linear map (mmu.ts `onLiveChange`), checked as it happens: break-before-make.
   * A memory-type change of an entry the TLB may hold always needs it; a block split or a contiguous
   * group unfolded needs it unless every CPU has BBML2_NOABORT or BBML3.
   */
  #liveLinearMapChange(what: LiveChange, start: number, end: number, entries: number): void {
    const mmu = this.platform.mmu;
    if (what === "split" && (mmu.bbml2 || mmu.bbml3 === true)) return;
    const message =
      what === "attr"
        ? `memory type of ${entries} live linear-map entries in ${hex(start)}..${hex(end)} changed in place, without invalidate + TLB flush first`
        : `${entries} live linear-map block or contiguous entries in ${hex(start)}..${hex(end)} split without break-before-make on a CPU without BBML2/BBML3`;
    this.sim.findings.report("break-before-make", message, {
      change: what,
      address: hex(start),
      end: hex(end),
      entries,
    });
  }

  // ---- Cache maintenance ----

  /**
   * dcache_clean_inval_poc() over [pa, pa + length), whole pages: every page that may hold dirty lines is
   * written back through the checkpoint (a write-back into memory protected meanwhile is still seen
   * there), then the range's lines are invalidated. Returns the pages written back.
   */
  cleanInvalidatePoc(pa: number, length: number): number {
    const i0 = this.frames.indexOf(pa);
    const n = Math.ceil(length / PAGE_SIZE);
    if (i0 < 0 || i0 + n > this.frames.count)
      throw new Error(`clean+invalidate outside DRAM: ${hex(pa)}+${hex(length)}`);
    const caches = this.caches;
    const cpu = this.masterIndex("cpu-ns");
    let written = 0;
    // Speculation's write-backs up to now first: the pages still dirty are then written back here.
    this.speculation.sync();
    if (caches.dirtyPages > 0 && cpu >= 0) {
      const m = this.masters[cpu];
      if (
        this.gpt !== null ||
        this.wouldPermit(m.world, m.nsaid, this.frames.paOf(i0), n * PAGE_SIZE, true) === TZC_ALLOWED
      ) {
        // No write-back of the range can be denied (a range the firewall allows is allowed in every
        // part): the same counts as access() of each dirty page's write-back, without the walk;
        // cleanInvalidate() below cleans them.
        written = caches.dirtyIn(i0, n);
        this.accessStats.accesses += written;
        this.accessStats.writebacks += written;
        this.lastSilentDenial = false;
      } else
        for (const i of caches.dirtyPagesIn(i0, n)) {
          this.access(cpu, this.frames.paOf(i), 64, "writeback");
          written++;
        }
    }
    caches.cleanInvalidate(i0, n);
    const st = this.maintenance;
    st.cleanInvalOps++;
    st.bytesCleaned += n * PAGE_SIZE;
    st.dirtyPagesWrittenBack += written;
    return written;
  }

  // ---- The host stage 2 (an EL2 hypervisor's, platform `hypervisor`) ----

  /** The hypervisor takes [pa, pa + length) from the host's stage 2. Returns the pages changed; −95 with no hypervisor. */
  hostStage2Unmap(pa: number, length: number): number {
    if (this.stage2 === null) return -95;
    this.protectionEpoch++;
    this.speculation.before(pa, pa + length);
    const n = this.stage2.unmap(pa, pa + length);
    this.speculation.after(pa, pa + length);
    this.stage2.counters.hypercalls++;
    this.stage2.counters.tlbFlushes++;
    if (this.sim.trace.listening) this.sim.trace.emit("hw", "stage2_unmap", { pa: hex(pa), pages: n });
    return n;
  }

  /** The hypervisor gives [pa, pa + length) back to the host's stage 2. Returns the pages changed; −95 with no hypervisor. */
  hostStage2Map(pa: number, length: number): number {
    if (this.stage2 === null) return -95;
    this.protectionEpoch++;
    this.speculation.before(pa, pa + length);
    const n = this.stage2.map(pa, pa + length);
    this.speculation.after(pa, pa + length);
    this.stage2.counters.hypercalls++;
    this.stage2.counters.tlbFlushes++;
    if (this.sim.trace.listening) this.sim.trace.emit("hw", "stage2_map", { pa: hex(pa), pages: n });
    return n;
  }

  // ---- Protection and ownership changes (protection.ts): each checks the hazards it creates ----

  /**
   * Programs a TZC region (OP-TEE's or a vendor's platform hook). Returns 0 or −22. Pages the normal
   * world loses access to are checked for no-speculation-hazard and no-dirty-lend.
   */
  tzcConfigureRegion(n: number, cfg: TzcRegionConfig): number {
    return tzcConfigureRegion(this, n, cfg);
  }

  /** RME: moves [pa, pa + length) between NS and Secure one granule at a time; see protection.ts. */
  gptTransition(pa: number, length: number, toSecure: boolean): { rc: number; done: number } {
    this.protectionEpoch++;
    return gptTransition(this, pa, length, toSecure);
  }

  /** Marks pages restricted (lend, donate) or back to the normal world (reclaim); see protection.ts. */
  setOwner(pa: number, length: number, owner: typeof OWNER_NORMAL | typeof OWNER_SECURE, useCase = 0): void {
    this.protectionEpoch++;
    setOwner(this, pa, length, owner, useCase);
  }

  /** Zeroes whole pages (a scrub): bytes and taint cleared. Returns the ns it costs. */
  zeroPages(pa: number, length: number): number {
    const i0 = this.frames.indexOf(pa);
    const n = Math.ceil(length / PAGE_SIZE);
    this.frames.taint.fill(0, i0, i0 + n);
    this.frames.dirty.touch(i0, n);
    this.bytes.zeroPages(Math.floor(pa / PAGE_SIZE), n);
    this.maintenance.bytesZeroed += n * PAGE_SIZE;
    return (n * PAGE_SIZE) / this.costs.memsetBytesPerNs;
  }
}
