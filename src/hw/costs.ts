/**
 * The cost model: named parameters that turn work into virtual time (ARCHITECTURE.md §3).
 *
 * Each default names its source (see ../shared/reference/hardware.md §5–6) or says "assumption".
 * A platform preset may override any of them, and so may a scenario (`platform: {costs: {...}}`).
 */
export interface CostModel {
  /** memcpy bandwidth, bytes per ns. */
  memcpyBytesPerNs: number;
  /** memset / zeroing bandwidth, bytes per ns. */
  memsetBytesPerNs: number;
  /** One TLBI VAALE1IS + its share of DSB, per 4 KiB page, ns. */
  tlbiPageNs: number;
  /** flush_tlb_all(): TLBI VMALLE1IS; DSB ISH; ISB, ns (refills not counted). */
  tlbFlushAllNs: number;
  /** Splitting one block mapping of the linear map into a table (alloc + BBM/BBML2 + TLBI), ns. */
  blockSplitNs: number;
  /** Creating or removing one page-table page of the linear map, ns. */
  pageTablePageNs: number;
  /** DC CIVAC over one 64-byte line, ns. */
  cacheLineMaintNs: number;
  /** An SMC round trip to EL3 and back (fast SMC), ns. */
  smcRoundTripNs: number;
  /** Extra world switch into a secure partition at S-EL1 (OP-TEE) and back, ns. */
  worldSwitchSel1Ns: number;
  /** Extra world switch through an S-EL2 SPMC (Hafnium) and back, ns. */
  worldSwitchSel2Ns: number;
  /** One 32-bit MMIO write on the APB (TZC register), ns. */
  mmioWriteNs: number;
  /** One RME granule transition at EL3 (2× DC CIPAPA, GPT write, TLBI RPALOS, DSB), ns. */
  gptGranuleTransitionNs: number;
  /** Migrating one movable 4 KiB page (unmap, copy, remap, TLB flush), ns. */
  migratePageNs: number;
  /** Writing dirty cache lines back to DRAM during clean+invalidate to PoC, bytes per ns. */
  dirtyWritebackBytesPerNs: number;
  /** One hypercall from the host kernel to its EL2 hypervisor (HVC, pKVM host handler) and back, ns. */
  hypercallNs: number;
  /** Changing the host stage-2 entry of one 4 KiB page at EL2 (walk, owner annotation, store), ns. */
  stage2PageNs: number;
  /** Stage-2 TLB maintenance after a host stage-2 change (TLBI VMALLS12E1IS; DSB ISH), ns. */
  stage2TlbFlushNs: number;
  /**
   * Slowdown of memory-heavy kernel work, percent, when the whole linear map is 4 KiB pages rather than
   * blocks: the reports scale it by the share of the linear map split into pages at run time.
   */
  linearMapPagesSlowdownPct: number;
}

export const DEFAULT_COSTS: Readonly<CostModel> = {
  // sbc-bench tinymembench, RockPro64 RK3399 (A72 @2.0 GHz): memcpy 3,690 MB/s (hardware.md §5.1).
  memcpyBytesPerNs: 3.69,
  // Same source: memset 8,360 MB/s.
  memsetBytesPerNs: 8.36,
  // Inferred from Dev Jain's mprotect numbers, 3.2 → 2.85 µs without the flush (hardware.md §3.6).
  tlbiPageNs: 350,
  // Assumption: one broadcast TLBI + DSB ISH + ISB, a few single-page flushes' worth (hardware.md §5.6).
  tlbFlushAllNs: 1_000,
  // Assumption: a page-table page allocation plus a TLBI; no public number (hardware.md §3.3).
  blockSplitNs: 2_000,
  // Assumption: allocating/zeroing a 4 KiB table page at memset speed plus bookkeeping.
  pageTablePageNs: 1_000,
  // Assumption: ~1 ns per DC CIVAC line when the line is clean, more when dirty; no public number.
  cacheLineMaintNs: 2,
  // TF-A PSCI_VERSION round trip, Juno A53 cluster, TF-A 2.14 CSV: 680–1020 ns (hardware.md §5.2).
  smcRoundTripNs: 1_000,
  // Assumption: EL3 round trip plus context save/restore for an S-EL1 partition (hardware.md §5.2, "1–5 µs").
  worldSwitchSel1Ns: 3_000,
  // Assumption: an S-EL2 SPMC adds a second switch and stage-2 work (hardware.md §6, "1–20 µs").
  worldSwitchSel2Ns: 6_000,
  // Assumption: APB MMIO write, 0.1–1 µs (hardware.md §5.3).
  mmioWriteNs: 500,
  // Assumption: no measured number (hardware.md §2.5); 2 × 64 lines of DC CIPAPA + GPT write + TLBI RPALOS.
  gptGranuleTransitionNs: 1_500,
  // Inference: copy 4 KiB (~1.1 µs at 3.69 B/ns) + unmap/remap + TLB flush + locking; QEMU's 57 µs/page is
  // the pessimistic bound and 2.7 µs the discard-clean bound (hardware.md §5.4–5.5).
  migratePageNs: 5_000,
  // Inference: a write-back is a DRAM write like memset's; sbc-bench memset 8,360 MB/s on RK3399 (hardware.md §5.1).
  dirtyWritebackBytesPerNs: 8.36,
  // Assumption: an exception-level round trip like the EL3 fast SMC, Juno A53 680–1020 ns (hardware.md §5.2);
  // no published pKVM hypercall figure.
  hypercallNs: 700,
  // Assumption: a page-table walk with a store per page in EL2's own tables; no public number.
  stage2PageNs: 20,
  // Assumption: one broadcast TLBI + DSB ISH, as flush_tlb_all() (tlbFlushAllNs, hardware.md §5.6).
  stage2TlbFlushNs: 1_000,
  // Yang Shi's BBML2 series (linux-kernel.md §4.3): block-mapping the linear map under rodata=full gave
  // Memcached +3.5% ops/s on AmpereOne (kernel TLB MPKI −28.5%); we take 3.5% as the cost of an all-pages
  // linear map for memory-heavy kernel work, and assume it scales linearly with the share split (assumption).
  linearMapPagesSlowdownPct: 3.5,
};

export function costModel(overrides: Partial<CostModel> = {}): CostModel {
  return { ...DEFAULT_COSTS, ...overrides };
}

/** Names of the cost parameters, for schema validation and listings. */
export const COST_NAMES = Object.keys(DEFAULT_COSTS) as (keyof CostModel)[];
