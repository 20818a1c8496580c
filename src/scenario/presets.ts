/**
 * Platform presets (ARCHITECTURE.md §3, issue "Foundation"). Addresses and sizes are our choices where
 * no single real board fixes them; each says so.
 */
import type { MasterDesc, PlatformDesc } from "../hw/platform.ts";

const GiB = 0x40000000;
const MiB = 0x100000;

/** TZC-400 masters: CPUs and devices issue non-secure transactions with an NSAID (our assignment). */
const TZC_MASTERS: MasterDesc[] = [
  { name: "cpu-ns", kind: "cpu", world: "ns", nsaid: 0 },
  { name: "cpu-s", kind: "cpu", world: "s", nsaid: 0 },
  { name: "video-decoder", kind: "device", world: "ns", nsaid: 1 },
  { name: "display", kind: "device", world: "ns", nsaid: 2 },
  { name: "gpu", kind: "device", world: "ns", nsaid: 3 },
];

/** Under RME the decoder and display sit behind an SMMU stream configured for the Secure PAS (our choice). */
const RME_MASTERS: MasterDesc[] = [
  { name: "cpu-ns", kind: "cpu", world: "ns", nsaid: 0 },
  { name: "cpu-s", kind: "cpu", world: "s", nsaid: 0 },
  { name: "video-decoder", kind: "device", world: "s", nsaid: 0 },
  { name: "display", kind: "device", world: "s", nsaid: 0 },
  { name: "gpu", kind: "device", world: "ns", nsaid: 0 },
];

export const PRESETS: Readonly<Record<string, PlatformDesc>> = {
  "qemu-virt": {
    name: "qemu-virt",
    description: "QEMU virt, 4 GiB: OP-TEE is the SPMC at S-EL1, and nothing can protect lent memory",
    dram: { base: 0x40000000, size: 4 * GiB },
    // OP-TEE runs from QEMU's separate secure RAM (0x0e000000), not from DRAM: no carveout here.
    reserved: [],
    // QEMU virt's VIRT_SECURE_MEM (hw/arm/virt.c): 16 MiB only the secure world can address.
    secureRam: [{ name: "secure-ram", base: 0x0e000000, size: 16 * MiB }],
    // The default CMA area, placed top-down below 4 GiB as the kernel does for DMA32 (size is our choice).
    cma: [{ name: "reserved", base: 0xf0000000, size: 256 * MiB }],
    firewall: { kind: "none" },
    spmc: "optee-sel1",
    ffaVersion: "1.2",
    masters: TZC_MASTERS,
    mmu: { rodataFull: true, bbml2: false, contHint: true },
    // QEMU's TCG has no caches to speak of: nothing is filled speculatively.
    caches: { specFillsPerMs: 0, sizeBytes: 0, deniedFill: "ignored", deniedWriteback: "ignored" },
    maxOrder: 10,
    rxtxBufferSize: 4096,
    costs: {},
  },
  "tzc400-board": {
    name: "tzc400-board",
    description: "A board with a TZC-400 (8 regions + background) and OP-TEE as the SPMC at S-EL1",
    dram: { base: 0x40000000, size: 4 * GiB },
    reserved: [
      // OP-TEE's own memory (TZDRAM), secure from boot and no-map in the DT (our placement).
      { name: "optee_core", base: 0x7e000000, size: 32 * MiB, noMap: true, secure: true },
      // A mapped carveout (e.g. ramoops), to show that not every reserved region is no-map.
      { name: "ramoops", base: 0x7dc00000, size: 2 * MiB, noMap: false, secure: false },
    ],
    secureRam: [],
    cma: [{ name: "reserved", base: 0xc0000000, size: 1 * GiB }],
    firewall: { kind: "tzc400", regions: 8, action: "err" },
    spmc: "optee-sel1",
    ffaVersion: "1.2",
    masters: TZC_MASTERS,
    mmu: { rodataFull: true, bbml2: false, contHint: true },
    // RK3399-class A72 cluster: 1 MiB L2 holds dirty lines. A denied speculative fill is ignored by the core
    // (TRM); a denied dirty write-back under TZC_ACTION_ERR arrives as an asynchronous SError (hardware.md
    // §1.8). Linux would most likely panic on it; the preset reports it and runs on (`serror`) so the rest of
    // a run stays observable; `denied_writeback: serror-hang` stops the machine there instead. The fill rate
    // is an assumption.
    caches: {
      specFillsPerMs: 100,
      sizeBytes: 1 * MiB,
      deniedFill: "ignored",
      deniedWriteback: "serror",
    },
    maxOrder: 10,
    rxtxBufferSize: 4096,
    costs: {},
  },
  "fvp-rme": {
    name: "fvp-rme",
    description:
      "Arm FVP with RME, 8 GiB: Hafnium is the SPMC at S-EL2 and protects through granule protection",
    dram: { base: 0x80000000, size: 8 * GiB },
    reserved: [
      // Secure partitions' memory at the top of DRAM0, as TF-A's FVP memory map reserves it (placement ours).
      { name: "spmc_sps", base: 0xfc000000, size: 64 * MiB, noMap: true, secure: true },
    ],
    secureRam: [],
    cma: [{ name: "reserved", base: 0xc0000000, size: 1 * GiB }],
    firewall: { kind: "rme" },
    spmc: "hafnium",
    ffaVersion: "1.2",
    masters: RME_MASTERS,
    mmu: { rodataFull: true, bbml2: false, contHint: true },
    // Granule protection stops fills and write-backs inside the core; the effects never occur.
    caches: { specFillsPerMs: 100, sizeBytes: 1 * MiB, deniedFill: "ignored", deniedWriteback: "ignored" },
    maxOrder: 10,
    rxtxBufferSize: 4096,
    costs: {},
  },
};

export const PRESET_NAMES = Object.keys(PRESETS) as readonly string[];
