/**
 * What a platform is: DRAM, reserved memory and CMA areas as its device tree describes them, the
 * memory firewall, the bus masters, the MMU and cache behaviour, and which SPMC runs (ARCHITECTURE.md §3).
 * The presets live in src/scenario/presets.ts.
 */
import type { CostModel } from "./costs.ts";

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const SZ_64K = 0x10000;
export const SZ_2M = 0x200000;
export const SZ_32M = 0x2000000;
export const SZ_1G = 0x40000000;

/** Security state a master issues its transactions in. */
export type World = "ns" | "s";

export interface MasterDesc {
  readonly name: string;
  readonly kind: "cpu" | "device";
  readonly world: World;
  /** TZC-400 non-secure access ID (NSAID, 0..15) the master's transactions carry. */
  readonly nsaid: number;
}

/** A device tree /reserved-memory node. */
export interface ReservedMemDesc {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /** `no-map`: not in the kernel's linear map, never speculatively accessed. */
  readonly noMap: boolean;
  /** Protected for the secure world from boot (e.g. OP-TEE's own memory). */
  readonly secure: boolean;
}

/** A CMA area ("shared-dma-pool", `reusable`); the first is the default area (`linux,cma-default`). */
export interface CmaAreaDesc {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  /**
   * DT `ll-map;` on the node: the area is mapped at the last level (4 KiB pages, no contiguous hint) in
   * the linear map from boot, the rest keeping its blocks — what the FF-A lend pool (Google, 2026,
   * drivers/firmware/arm_ffa/lend_pool.c) accepts in place of rodata=full. Default false.
   */
  readonly llMap?: boolean;
}

/** TZC-400 reaction to a denied access (ACTION register, TFA tzc_common.h). */
export type TzcAction = "none" | "err" | "int" | "err-int";

export type FirewallDesc =
  | { readonly kind: "none" }
  | { readonly kind: "tzc400"; readonly regions: number; readonly action: TzcAction }
  | { readonly kind: "rme" };

/**
 * What a speculative fill or dirty write-back does when the firewall denies it: nothing the core
 * notices (ignored); a synchronous external abort; an asynchronous SError that is reported and the run
 * goes on (serror); or an SError the system does not survive, which stops the machine (serror-hang).
 */
export type DeniedEffect = "ignored" | "external-abort" | "serror" | "serror-hang";

export type SpmcFlavor = "hafnium" | "optee-sel1";
/** How Linux's OP-TEE driver reaches OP-TEE: FF-A (ffa_abi.c) or OP-TEE's own SMC ABI (smc_abi.c). */
export type OpteeAbi = "ffa" | "smc";
export type FfaVersionName = "1.0" | "1.1" | "1.2";

export interface PlatformDesc {
  readonly name: string;
  readonly description: string;
  readonly dram: { readonly base: number; readonly size: number };
  readonly reserved: readonly ReservedMemDesc[];
  /** Memory outside DRAM that only the secure world reaches (QEMU virt's secure RAM). */
  readonly secureRam: readonly { readonly name: string; readonly base: number; readonly size: number }[];
  readonly cma: readonly CmaAreaDesc[];
  readonly firewall: FirewallDesc;
  readonly spmc: SpmcFlavor;
  readonly ffaVersion: FfaVersionName;
  readonly masters: readonly MasterDesc[];
  readonly mmu: {
    /** rodata=full without BBML2: the linear map is 4 KiB pages from boot. */
    readonly rodataFull: boolean;
    /** BBML2_NOABORT: live blocks can be split at run time. */
    readonly bbml2: boolean;
    /** Use the contiguous hint (64 KiB / 32 MiB) where blocks are allowed. */
    readonly contHint: boolean;
    /**
     * FEAT_BBML3 on every CPU (ID_AA64MMFR2_EL1.BBM >= 3; ARM64_HAS_BBML3 in 7.2-era trees, which
     * replaces the BBML2_NOABORT allow-list): like `bbml2`, live blocks split without break-before-make
     * and the linear map keeps its blocks; the FF-A lend pool accepts a block-mapped region. Default false.
     */
    readonly bbml3?: boolean;
  };
  readonly caches: {
    /** Speculative line fills per ms of virtual time, picked among all DRAM pages. */
    readonly specFillsPerMs: number;
    /** Capacity for dirty data (the last-level cache), bytes; older dirty lines are evicted beyond it. */
    readonly sizeBytes: number;
    readonly deniedFill: DeniedEffect;
    readonly deniedWriteback: DeniedEffect;
    /**
     * How the speculation model is computed (speculation.ts): `skip-ahead` (default) wakes only for the
     * events that can matter and counts the rest in bulk; `per-fill` steps every fill and write-back, the
     * reference the skip-ahead is tested against. Both are the same random process.
     */
    readonly speculation?: "skip-ahead" | "per-fill";
  };
  /** Buddy allocator MAX_ORDER (orders 0..maxOrder). */
  readonly maxOrder: number;
  /** FF-A RX/TX buffer size per endpoint, bytes. */
  readonly rxtxBufferSize: number;
  readonly costs: Partial<CostModel>;
  /**
   * OP-TEE's protected-memory minimum size per use case (plat_get_protmem_config), overriding what
   * OP-TEE's port for this platform gives: keys are OPTEE_MSG_PROTMEM_* (1 secure video, 2 trusted UI,
   * 3 secure video record).
   */
  readonly protmemSizes?: Readonly<Partial<Record<1 | 2 | 3, number>>>;
  /**
   * Boot the TEE stack (OP-TEE's message handler, the kernel's arm_ffa/TEE/OP-TEE drivers); default
   * true. False leaves the firmware alone, with the SPMC's echo stand-in at OP-TEE's endpoint: for
   * FF-A conformance cases that need empty tables.
   */
  readonly tee?: boolean;
  /** The SPMC's table limits, overriding the flavor's (share states, fragments per send, receivers). */
  readonly spmcLimits?: Readonly<{ maxShares?: number; maxFragments?: number; maxRecipients?: number }>;
  /**
   * The ABI between Linux's OP-TEE driver and OP-TEE; default "ffa". With "smc", EL3 routes OP-TEE's
   * SMC function ids (OPTEE_SMC_*) to OP-TEE and the driver probes with smc_abi.c; the SPMC stays
   * (it is the platform's firmware) but the OP-TEE driver does not use it.
   */
  readonly opteeAbi?: OpteeAbi;
  /**
   * A static protected-memory carveout (OP-TEE CFG_TEE_SDP_MEM_BASE/SIZE, SMC ABI only): reported by
   * OPTEE_SMC_GET_PROTMEM_CONFIG and protected from OP-TEE's boot. It is also a `reserved` entry
   * (no-map) so that Linux never maps it. Without it, OP-TEE over SMC has CFG_CORE_DYN_PROTMEM.
   */
  readonly staticProtmem?: { readonly base: number; readonly size: number };
  /**
   * An EL2 hypervisor that owns the host's stage-2 translation ("pkvm": protected KVM, the host kernel
   * at EL1 under it), so lent memory can be taken out of the host's reach at stage 2 (the `hypervisor`
   * unmap strategy; src/hw/stage2.ts). Default none: the kernel runs with no stage 2.
   */
  readonly hypervisor?: "pkvm";
  /** The kernel's panic_on_oops sysctl: an oops stops the machine (default false, as most distros). */
  readonly panicOnOops?: boolean;
  /** kernel.hung_task_timeout_secs (CONFIG_DEFAULT_HUNG_TASK_TIMEOUT, 120); 0 disables khungtaskd. */
  readonly hungTaskTimeoutSecs?: number;
}

export function pfnOf(pa: number): number {
  return Math.floor(pa / PAGE_SIZE);
}

export function hex(n: number | bigint): string {
  return `0x${n.toString(16)}`;
}
