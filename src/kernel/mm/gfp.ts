/**
 * GFP flags, migratetypes, zones and page states — include/linux/gfp_types.h, include/linux/mmzone.h.
 * Only what the model uses; the numeric GFP values are ours (the model never sees a raw gfp_t).
 */

/** enum migratetype — include/linux/mmzone.h (MIGRATE_PCPTYPES first, then CMA and ISOLATE). */
export const MIGRATE_UNMOVABLE = 0;
export const MIGRATE_MOVABLE = 1;
export const MIGRATE_RECLAIMABLE = 2;
export const MIGRATE_CMA = 3;
export const MIGRATE_ISOLATE = 4;
export const MIGRATE_TYPES = 5;
export const MIGRATETYPE_NAMES = ["Unmovable", "Movable", "Reclaimable", "CMA", "Isolate"] as const;

/** The fallback order of __rmqueue_fallback() — mm/page_alloc.c `fallbacks[]`. CMA and ISOLATE have none. */
export const FALLBACKS: readonly (readonly number[])[] = [
  [MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE], // UNMOVABLE
  [MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE], // MOVABLE
  [MIGRATE_UNMOVABLE, MIGRATE_MOVABLE], // RECLAIMABLE
];

/** Zones on arm64: ZONE_DMA below 4 GiB (zone_dma_limit for 32-bit devices), ZONE_NORMAL above. */
export const ZONE_DMA = 0;
export const ZONE_NORMAL = 1;
export const ZONE_NAMES = ["DMA", "Normal"] as const;
export const ZONE_DMA_LIMIT = 0x100000000;

/** What an allocation asks for. */
export interface Gfp {
  readonly name: string;
  /** gfp_migratetype() */
  readonly migratetype: number;
  /** Highest zone it may use (gfp_zone()); the zonelist falls back to lower zones. */
  readonly highestZone: number;
  /** __GFP_DIRECT_RECLAIM: may sleep (gfpflags_allow_blocking()). */
  readonly canBlock: boolean;
  /** __GFP_ZERO */
  readonly zero: boolean;
  /** __GFP_NOWARN */
  readonly noWarn: boolean;
}

export const GFP_KERNEL: Gfp = {
  name: "GFP_KERNEL",
  migratetype: MIGRATE_UNMOVABLE,
  highestZone: ZONE_NORMAL,
  canBlock: true,
  zero: false,
  noWarn: false,
};
export const GFP_HIGHUSER_MOVABLE: Gfp = {
  ...GFP_KERNEL,
  name: "GFP_HIGHUSER_MOVABLE",
  migratetype: MIGRATE_MOVABLE,
};
export const GFP_RECLAIMABLE: Gfp = {
  ...GFP_KERNEL,
  name: "GFP_KERNEL|__GFP_RECLAIMABLE",
  migratetype: MIGRATE_RECLAIMABLE,
};
export const GFP_DMA: Gfp = { ...GFP_KERNEL, name: "GFP_KERNEL|GFP_DMA", highestZone: ZONE_DMA };
export const GFP_ATOMIC: Gfp = { ...GFP_KERNEL, name: "GFP_ATOMIC", canBlock: false };

export function withFlags(gfp: Gfp, flags: { zero?: boolean; noWarn?: boolean }): Gfp {
  return {
    ...gfp,
    name: gfp.name + (flags.zero ? "|__GFP_ZERO" : "") + (flags.noWarn ? "|__GFP_NOWARN" : ""),
    zero: flags.zero ?? gfp.zero,
    noWarn: flags.noWarn ?? gfp.noWarn,
  };
}

/**
 * What each page frame is, from the kernel's side (PageFrames.state). Every frame is in exactly one
 * state: the conservation invariant adds them up.
 */
export const PS_RESERVED = 0; // memblock-reserved, no-map, firmware carveouts: never in the buddy
export const PS_FREE = 1; // in the buddy allocator's free lists
export const PS_MOVABLE = 2; // a user page (page cache, anonymous): can be migrated
export const PS_UNMOVABLE = 3; // a kernel allocation
export const PS_RECLAIMABLE = 4; // slab-reclaimable kernel memory
export const PS_CONTIG = 5; // taken by alloc_contig_range() for a caller (CMA, dma_alloc_pages)
export const PAGE_STATE_NAMES = [
  "reserved",
  "free",
  "movable",
  "unmovable",
  "reclaimable",
  "contig",
] as const;

export const PS_OF_MIGRATETYPE = [PS_UNMOVABLE, PS_MOVABLE, PS_RECLAIMABLE, PS_MOVABLE, PS_UNMOVABLE];
