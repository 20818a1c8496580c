/**
 * plat_get_protmem_config() — core/include/mm/mobj.h l.388-433, weak default in core/mm/mobj.c
 * l.549-564 (optee.md §1.2, §1.3): the minimal size and alignment of the memory Linux must lend for a
 * use case. The weak default knows only MOBJ_USE_CASE_SEC_VIDEO_PLAY, 1 MiB, 4 KiB alignment ("a dummy
 * configuration for now. This will be configured by platform specific function").
 *
 * Which platform gets which table is our choice (no upstream platform overrides the hook):
 * - a platform without a memory firewall (QEMU) has no platform port: the weak default;
 * - a platform with a firewall (TZC-400 board, FVP with RME) is configured for 4K playback: 320 MiB
 *   for secure video (24 NV12 4K frames of 12,441,600 bytes = 3038 pages each, 72,912 pages, fit in
 *   81,920 — ARCHITECTURE.md §6) and 32 MiB for trusted UI.
 * A boot option overrides the sizes (`protmemSizes`). OPTEE_MSG_PROTMEM_SECURE_VIDEO_RECORD (3) has
 * no enum mobj_use_case value and is always refused, whatever the option says.
 */
import type { PlatformDesc } from "../../hw/platform.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { MOBJ_USE_CASE_SEC_VIDEO_PLAY, MOBJ_USE_CASE_TRUSTED_UI } from "../../abi/optee/protmem.ts";

const MiB = 0x100000;

/** SIZE_1M — the weak default's min_mem_sz. */
export const WEAK_DEFAULT_MIN_SIZE = 1 * MiB;
/** Our board configuration: 24 4K NV12 frames for playback (rounded up to 320 MiB). */
export const BOARD_SEC_VIDEO_PLAY_SIZE = 320 * MiB;
/** Our board configuration for trusted UI: a few 1080p/4K ARGB surfaces. */
export const BOARD_TRUSTED_UI_SIZE = 32 * MiB;

/** Sizes by OPTEE_MSG_PROTMEM_* use case (1 secure video play, 2 trusted UI, 3 secure video record). */
export type ProtmemSizes = Partial<Record<1 | 2 | 3, number>>;

export interface ProtmemConfig {
  /** min_mem_sz: the size Linux lends (protmem.c: one chunk of this size). */
  readonly minSizeBytes: number;
  /** min_mem_align: alignment of start and size. */
  readonly alignBytes: number;
}

/** The use cases enum mobj_use_case has (entry_std.c lend_protmem(), mobj_ffa_sel1_spmc_new()). */
export function isMobjProtmemUseCase(useCase: number): boolean {
  return useCase === MOBJ_USE_CASE_SEC_VIDEO_PLAY || useCase === MOBJ_USE_CASE_TRUSTED_UI;
}

/** The platform's table: use case → config (only use cases the platform supports). */
export function platProtmemConfigs(
  platform: PlatformDesc,
  overrides: ProtmemSizes = {},
): ReadonlyMap<number, ProtmemConfig> {
  const base: ProtmemSizes =
    platform.firewall.kind === "none"
      ? { 1: WEAK_DEFAULT_MIN_SIZE }
      : { 1: BOARD_SEC_VIDEO_PLAY_SIZE, 2: BOARD_TRUSTED_UI_SIZE };
  const sizes: ProtmemSizes = { ...base, ...overrides };
  const out = new Map<number, ProtmemConfig>();
  for (const uc of [1, 2, 3] as const) {
    const size = sizes[uc];
    if (size === undefined || !isMobjProtmemUseCase(uc)) continue;
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0)
      throw new Error(`protmem size for use case ${uc} must be a positive multiple of 4 KiB, got ${size}`);
    out.set(uc, { minSizeBytes: size, alignBytes: PAGE_SIZE });
  }
  return out;
}

/** plat_get_protmem_config(): the config, or null (TEE_ERROR_BAD_PARAMETERS). */
export function platGetProtmemConfig(
  configs: ReadonlyMap<number, ProtmemConfig>,
  useCase: number,
): ProtmemConfig | null {
  return configs.get(useCase) ?? null;
}
