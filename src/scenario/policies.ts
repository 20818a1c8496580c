/**
 * Policies: the open questions of the upstream design made explicit and comparable (ARCHITECTURE.md §5).
 * A scenario's `policy:` takes a named policy, `{preset: NAME, ...overrides}`, or the fields themselves
 * (on top of `upstream`). The field names and values are a public contract.
 *
 * `upstream` is exactly Linux 6.18 + OP-TEE 4.9: a dynamic pool lent on first use, no unmap from the
 * linear map (protmem.c's TODO), no cache maintenance before lending, no scrub on release, and 4.9's
 * retrieve request under an S-EL2 SPMC. The other named policies are the answers to the upstream
 * review's question (linux-kernel.md §4.8, optee.md §5).
 */
import { z } from "zod";
import type { PlatformDesc } from "../hw/platform.ts";
import { UNMAP_KINDS, unmapSupport, type UnmapKind } from "../kernel/mm/unmap.ts";
import { durationSchema, sizeSchema } from "./schema-units.ts";

export const POOL_KINDS = ["static", "dynamic", "growable", "per-buffer"] as const;
export { UNMAP_KINDS };
export const CACHE_KINDS = ["none", "clean-invalidate"] as const;
export const SCRUB_KINDS = ["none", "secure-on-release", "ffa-clear"] as const;
/**
 * How OP-TEE under an S-EL2 SPMC asks to retrieve lent memory: `upstream` as 4.9's thread_spmc.c
 * builds the request (RW with instruction access not specified), which Hafnium refuses for a
 * single-borrower lend; `fixed` asks RW+NX, which it accepts.
 */
export const OPTEE_RETRIEVE_KINDS = ["upstream", "fixed"] as const;

export type PoolKind = (typeof POOL_KINDS)[number];
export type { UnmapKind };

const MiB = 1024 * 1024;

export interface Policy {
  readonly name: string;
  /** static carveout (no-map), dynamic (upstream), growable (more chunks on demand), per-buffer (each buffer lent alone). */
  readonly pool: PoolKind;
  /** How lent memory leaves the kernel's linear map: not at all (upstream), secretmem-style PTEs, … */
  readonly unmap: UnmapKind;
  /** Clean + invalidate the range to PoC before lending, or not (upstream). */
  readonly cache: (typeof CACHE_KINDS)[number];
  /** Who zeroes memory before Linux gets it back: nobody (upstream), OP-TEE on release, the SPMC (FF-A clear flag). */
  readonly scrub: (typeof SCRUB_KINDS)[number];
  /** OP-TEE's retrieve request under Hafnium: as 4.9 builds it (upstream), or one Hafnium accepts. */
  readonly optee_retrieve: (typeof OPTEE_RETRIEVE_KINDS)[number];
  /** `growable`: bytes lent per chunk (0: OP-TEE's min_size for the use case). */
  readonly chunk: number;
  /** `growable`: the most bytes lent at once per use case. */
  readonly max: number;
  /** `growable`: how long a chunk stays lent with no buffer in it before it is reclaimed, ns. */
  readonly idle_release: number;
}

type PolicyFields = Omit<Policy, "name">;

/**
 * `safe`'s unmap: the cheapest strategy the platform supports, in this order (our choice, from the
 * costs in docs/policies.md): an EL2 hypervisor's stage-2 (one hypercall a range, no kernel page-table
 * work); PTEs when the linear map is already page-granular (rodata=full: no split); a CMA area mapped
 * with pages from boot; PTEs with BBML2 splitting; whole sections.
 */
export function cheapestUnmap(platform: PlatformDesc): UnmapKind {
  if (platform.hypervisor === "pkvm") return "hypervisor";
  if (platform.mmu.rodataFull) return "pte";
  return "boot-pte-region";
}

const UPSTREAM: PolicyFields = {
  pool: "dynamic",
  unmap: "none",
  cache: "none",
  scrub: "none",
  optee_retrieve: "upstream",
  chunk: 0,
  max: 512 * MiB,
  idle_release: 5_000_000_000,
};

/** A named policy: its fields, and a sentence for `rstmem policies`. `unmap: "cheapest"` is resolved per platform. */
interface NamedPolicy {
  readonly summary: string;
  readonly fields: Omit<PolicyFields, "unmap"> & { readonly unmap: UnmapKind | "cheapest" };
}

export const NAMED_POLICIES: Readonly<Record<string, NamedPolicy>> = {
  upstream: {
    summary:
      "Linux 6.18 + OP-TEE 4.9 as merged: one chunk lent on first use, nothing unmapped, no cache maintenance, no scrub",
    fields: UPSTREAM,
  },
  safe: {
    summary:
      "growable pool, the cheapest unmap the platform supports, clean+invalidate before lending, OP-TEE scrubs on release, a retrieve Hafnium accepts",
    fields: {
      ...UPSTREAM,
      pool: "growable",
      unmap: "cheapest",
      cache: "clean-invalidate",
      scrub: "secure-on-release",
      optee_retrieve: "fixed",
    },
  },
  carveout: {
    summary: "a static carveout reserved at boot with no-map: never in the linear map, never given back",
    fields: { ...UPSTREAM, pool: "static", optee_retrieve: "fixed" },
  },
  "lend-pool": {
    summary:
      "Google's FF-A lend pool (2026): a reusable CMA region invalidated per page in the linear map before each lend",
    fields: { ...UPSTREAM, unmap: "lend-pool", optee_retrieve: "fixed" },
  },
  "tegra-vpr": {
    summary:
      "NVIDIA Tegra VPR v3 (2026): chunks of their own CMA areas, the linear alias remapped as Device memory while protected",
    fields: { ...UPSTREAM, pool: "growable", unmap: "device-remap", optee_retrieve: "fixed" },
  },
};

export const POLICY_PRESET_NAMES = Object.keys(NAMED_POLICIES) as readonly string[];

/** The named policy `name` on `platform`, resolved. */
export function namedPolicy(name: string, platform: PlatformDesc): Policy {
  const f = NAMED_POLICIES[name].fields;
  return { name, ...f, unmap: f.unmap === "cheapest" ? cheapestUnmap(platform) : f.unmap };
}

/** `upstream`, resolved (the default when a scenario names no policy). */
export const UPSTREAM_POLICY: Policy = { name: "upstream", ...UPSTREAM };

/** @deprecated use namedPolicy(); kept for callers that only need `upstream`. */
export const POLICY_PRESETS: Readonly<Record<string, Policy>> = { upstream: UPSTREAM_POLICY };

const presetName = z.enum(POLICY_PRESET_NAMES as [string, ...string[]]);

const fields = {
  pool: z.enum(POOL_KINDS).optional(),
  unmap: z.enum(UNMAP_KINDS).optional(),
  cache: z.enum(CACHE_KINDS).optional(),
  scrub: z.enum(SCRUB_KINDS).optional(),
  optee_retrieve: z.enum(OPTEE_RETRIEVE_KINDS).optional(),
  chunk: sizeSchema.optional().describe("growable: bytes lent per chunk (default OP-TEE's min_size)"),
  max: sizeSchema.optional().describe("growable: most bytes lent at once (default 512MiB)"),
  idle_release: durationSchema
    .optional()
    .describe("growable: an empty chunk is reclaimed after this (default 5s)"),
};

export const policySchema = z.union([
  presetName.describe("a named policy: upstream, safe, carveout, lend-pool, tegra-vpr"),
  z.strictObject({ preset: presetName, ...fields }),
  z.strictObject(fields),
]);

export type PolicyInput = z.output<typeof policySchema>;

const FIELD_NAMES = Object.keys(fields) as (keyof typeof fields)[];

/**
 * Why the policy cannot run on the platform, or null: an unmap strategy the platform lacks what it
 * needs for (kernel/mm/unmap.ts unmapSupport()), or a policy the SMC-ABI driver cannot carry out.
 */
export function policyProblem(p: Policy, platform: PlatformDesc): { field: string; why: string } | null {
  if (platform.opteeAbi === "smc") {
    // smc_abi.c builds its pool itself (a static carveout, else protmem.c's dynamic pool) and lends with
    // OPTEE_MSG_CMD_LEND_PROTMEM: no FF-A, so no FF-A clear flag; the policies' pools and the unmap and
    // cache steps are built for the FF-A driver only.
    const upstreamLike: (keyof Policy)[] = ["pool", "unmap", "cache"];
    for (const k of upstreamLike) {
      if (p[k] !== UPSTREAM[k as keyof PolicyFields])
        return {
          field: k,
          why: `${k}: ${String(p[k])} needs the FF-A driver; with optee_abi: smc only upstream's ${k}: ${String(UPSTREAM[k as keyof PolicyFields])} runs (smc_abi.c builds its own pool)`,
        };
    }
    if (p.scrub === "ffa-clear")
      return {
        field: "scrub",
        why: "ffa-clear needs FF-A; with optee_abi: smc there is no FFA_MEM_RECLAIM to carry the clear flag",
      };
  }
  if (p.unmap === "linear-remove" && (p.pool === "dynamic" || p.pool === "static")) {
    return {
      field: "unmap",
      why: `\`linear-remove\` removes whole 128 MiB sections: it needs a pool that takes section-aligned chunks (growable or per-buffer), not ${p.pool}`,
    };
  }
  const why = unmapSupport(platform, p.unmap);
  return why === null ? null : { field: "unmap", why };
}

/**
 * Resolves `policy:` on a platform (absent: upstream). Fields not given come from the named policy, or
 * from upstream; the name says when fields were changed (`safe+custom`).
 */
export function resolvePolicy(p: PolicyInput | undefined, platform: PlatformDesc): Policy {
  if (p === undefined) return UPSTREAM_POLICY;
  if (typeof p === "string") return namedPolicy(p, platform);
  const base = namedPolicy("preset" in p && p.preset ? p.preset : "upstream", platform);
  const merged = { ...base } as Record<string, unknown>;
  let changed = false;
  for (const k of FIELD_NAMES) {
    const v = p[k];
    if (v === undefined) continue;
    if (v !== base[k]) changed = true;
    merged[k] = v;
  }
  return { ...(merged as unknown as Policy), name: changed ? `${base.name}+custom` : base.name };
}
