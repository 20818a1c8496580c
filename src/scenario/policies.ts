/**
 * Policies: the open questions of the upstream design made explicit and comparable (ARCHITECTURE.md §5).
 * A scenario's `policy:` takes a preset name, `{preset: NAME, ...overrides}`, or the fields themselves.
 * `upstream` is exactly Linux 6.18 + OP-TEE 4.9: a dynamic pool lent on first use, no unmap from the
 * linear map (protmem.c's TODO), no cache maintenance before lending, no scrub on release.
 */
import { z } from "zod";

export const POOL_KINDS = ["static", "dynamic", "growable", "per-buffer"] as const;
export const UNMAP_KINDS = ["none", "pte", "linear-remove", "boot-pte-region", "hypervisor"] as const;
export const CACHE_KINDS = ["none", "clean-invalidate"] as const;
export const SCRUB_KINDS = ["none", "secure-on-release"] as const;
/**
 * How OP-TEE under an S-EL2 SPMC asks to retrieve lent memory: `upstream` as 4.9's thread_spmc.c
 * builds the request (RW with instruction access not specified, SHARE transaction type), which
 * Hafnium refuses for a single-borrower lend; `fixed` asks RW+NX with the LEND transaction type.
 */
export const OPTEE_RETRIEVE_KINDS = ["upstream", "fixed"] as const;

export interface Policy {
  readonly name: string;
  /** static carveout (no-map), dynamic (upstream), growable (more chunks on demand), per-buffer (each buffer lent alone). */
  readonly pool: (typeof POOL_KINDS)[number];
  /** How lent memory leaves the kernel's linear map: not at all (upstream), secretmem-style PTEs, memtrace-style sections, … */
  readonly unmap: (typeof UNMAP_KINDS)[number];
  /** Clean + invalidate the range to PoC before lending, or not (upstream). */
  readonly cache: (typeof CACHE_KINDS)[number];
  /** The secure side zeroes memory before giving it back, or not (upstream OP-TEE). */
  readonly scrub: (typeof SCRUB_KINDS)[number];
  /** OP-TEE's retrieve request under Hafnium: as 4.9 builds it (upstream), or one Hafnium accepts. */
  readonly optee_retrieve: (typeof OPTEE_RETRIEVE_KINDS)[number];
}

export const POLICY_PRESETS: Readonly<Record<string, Policy>> = {
  upstream: {
    name: "upstream",
    pool: "dynamic",
    unmap: "none",
    cache: "none",
    scrub: "none",
    optee_retrieve: "upstream",
  },
};

export const POLICY_PRESET_NAMES = Object.keys(POLICY_PRESETS) as readonly string[];

const fields = {
  pool: z.enum(POOL_KINDS).optional(),
  unmap: z.enum(UNMAP_KINDS).optional(),
  cache: z.enum(CACHE_KINDS).optional(),
  scrub: z.enum(SCRUB_KINDS).optional(),
  optee_retrieve: z.enum(OPTEE_RETRIEVE_KINDS).optional(),
};

export const policySchema = z.union([
  z.enum(POLICY_PRESET_NAMES as [string, ...string[]]).describe("a policy preset name"),
  z.strictObject({ preset: z.enum(POLICY_PRESET_NAMES as [string, ...string[]]), ...fields }),
  z.strictObject(fields),
]);

export type PolicyInput = z.output<typeof policySchema>;

/** Resolves `policy:` (absent: upstream). Fields not given come from the preset, or from upstream. */
export function resolvePolicy(p: PolicyInput | undefined): Policy {
  if (p === undefined) return POLICY_PRESETS.upstream;
  if (typeof p === "string") return POLICY_PRESETS[p];
  const base = "preset" in p && p.preset ? POLICY_PRESETS[p.preset] : POLICY_PRESETS.upstream;
  const merged: Policy = {
    name: "",
    pool: p.pool ?? base.pool,
    unmap: p.unmap ?? base.unmap,
    cache: p.cache ?? base.cache,
    scrub: p.scrub ?? base.scrub,
    optee_retrieve: p.optee_retrieve ?? base.optee_retrieve,
  };
  const same =
    merged.pool === base.pool &&
    merged.unmap === base.unmap &&
    merged.cache === base.cache &&
    merged.scrub === base.scrub &&
    merged.optee_retrieve === base.optee_retrieve;
  return { ...merged, name: same ? base.name : `${base.name}+custom` };
}
