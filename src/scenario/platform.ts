/**
 * A scenario's `platform:` — a preset name, or a preset with overrides — resolved to a PlatformDesc.
 */
import type { CostModel } from "../hw/costs.ts";
import type { PlatformDesc } from "../hw/platform.ts";
import { SZ_2M } from "../hw/platform.ts";
import type { SourceMap } from "./errors.ts";
import { PRESETS } from "./presets.ts";
import { COST_KEYS, type platformSchema } from "./schema.ts";
import type { z } from "zod";

type PlatformParsed = z.output<typeof platformSchema>;

export function resolvePlatform(p: PlatformParsed, map: SourceMap): PlatformDesc {
  if (typeof p === "string") return PRESETS[p];
  const base = PRESETS[p.preset];
  const costs: Partial<CostModel> = { ...base.costs };
  for (const [k, v] of Object.entries(p.costs ?? {})) if (v !== undefined) costs[COST_KEYS[k]] = v;
  let firewall = base.firewall;
  if (p.firewall_action !== undefined || p.tzc_regions !== undefined) {
    if (firewall.kind !== "tzc400") {
      const key = p.firewall_action !== undefined ? "firewall_action" : "tzc_regions";
      throw map.error(
        ["platform", key],
        `${p.preset} has no TZC-400 (its firewall is ${firewall.kind})`,
        true,
      );
    }
    firewall = {
      ...firewall,
      action: p.firewall_action ?? firewall.action,
      regions: p.tzc_regions ?? firewall.regions,
    };
  }
  const desc: PlatformDesc = {
    ...base,
    dram: { base: base.dram.base, size: p.dram_size ?? base.dram.size },
    spmc: p.spmc ?? base.spmc,
    ffaVersion: p.ffa_version ?? base.ffaVersion,
    firewall,
    mmu: {
      rodataFull: p.rodata_full ?? base.mmu.rodataFull,
      bbml2: p.bbml2 ?? base.mmu.bbml2,
      ...(p.bbml3 !== undefined
        ? { bbml3: p.bbml3 }
        : base.mmu.bbml3 !== undefined
          ? { bbml3: base.mmu.bbml3 }
          : {}),
      contHint: p.cont_hint ?? base.mmu.contHint,
    },
    caches: {
      specFillsPerMs: p.spec_fills_per_ms ?? base.caches.specFillsPerMs,
      sizeBytes: p.cache_size ?? base.caches.sizeBytes,
      deniedFill: p.denied_fill ?? base.caches.deniedFill,
      deniedWriteback: p.denied_writeback ?? base.caches.deniedWriteback,
    },
    maxOrder: p.max_order ?? base.maxOrder,
    rxtxBufferSize: p.rxtx_buffer_size ?? base.rxtxBufferSize,
    cma: p.cma
      ? p.cma.map(({ ll_map, ...c }) => (ll_map !== undefined ? { ...c, llMap: ll_map } : c))
      : base.cma,
    costs,
    ...(p.tee !== undefined ? { tee: p.tee } : {}),
    ...(p.spmc_limits
      ? {
          spmcLimits: {
            ...(p.spmc_limits.share_states !== undefined ? { maxShares: p.spmc_limits.share_states } : {}),
            ...(p.spmc_limits.fragments !== undefined ? { maxFragments: p.spmc_limits.fragments } : {}),
            ...(p.spmc_limits.receivers !== undefined ? { maxRecipients: p.spmc_limits.receivers } : {}),
          },
        }
      : {}),
    ...(p.optee_abi !== undefined ? { opteeAbi: p.optee_abi } : {}),
    ...(p.panic_on_oops !== undefined ? { panicOnOops: p.panic_on_oops } : {}),
    ...(p.hypervisor === "pkvm" ? { hypervisor: "pkvm" as const } : {}),
    ...(p.hung_task_timeout_secs !== undefined ? { hungTaskTimeoutSecs: p.hung_task_timeout_secs } : {}),
    ...staticProtmem(p, base, map),
    ...(p.protmem
      ? {
          protmemSizes: {
            ...base.protmemSizes,
            ...(p.protmem["secure-video"] !== undefined ? { 1: p.protmem["secure-video"] } : {}),
            ...(p.protmem["trusted-ui"] !== undefined ? { 2: p.protmem["trusted-ui"] } : {}),
            ...(p.protmem["secure-video-record"] !== undefined
              ? { 3: p.protmem["secure-video-record"] }
              : {}),
          },
        }
      : {}),
  };
  for (const [k, v] of Object.entries(desc.protmemSizes ?? {})) {
    if (v === undefined || v % 4096 !== 0 || v === 0) {
      const name = ["", "secure-video", "trusted-ui", "secure-video-record"][Number(k)];
      throw map.error(["platform", "protmem", name], "expected a non-zero multiple of 4 KiB");
    }
  }
  const end = desc.dram.base + desc.dram.size;
  if (desc.staticProtmem) checkStaticProtmem(desc, map);
  if (desc.dram.size % SZ_2M !== 0 || desc.dram.size === 0) {
    throw map.error(["platform", "dram_size"], "expected a non-zero multiple of 2 MiB");
  }
  desc.reserved.forEach((r) => {
    if (r.base + r.size > end) {
      throw map.error(
        ["platform", "dram_size"],
        `too small: the ${r.name} carveout ends at 0x${(r.base + r.size).toString(16)}`,
      );
    }
  });
  desc.cma.forEach((c, i) => {
    const where = p.cma ? ["platform", "cma", i] : ["platform", "dram_size"];
    if (c.base % 0x400000 !== 0 || c.size % 0x400000 !== 0 || c.size === 0) {
      throw map.error(
        where,
        `CMA area ${c.name}: base and size must be multiples of 4 MiB (MAX_PAGE_ORDER pages, as cma_init_reserved_mem requires)`,
      );
    }
    if (c.base < desc.dram.base || c.base + c.size > end) {
      throw map.error(
        where,
        `CMA area ${c.name} is not inside DRAM (0x${desc.dram.base.toString(16)}..0x${end.toString(16)})`,
      );
    }
  });
  return desc;
}

/**
 * `static_protmem: {base, size}`: the carveout OP-TEE reports over the SMC ABI, added to the DT's
 * reserved memory as a no-map node (not secure from the machine's boot: OP-TEE protects it for the
 * use case's devices when it boots, secure/optee/smc_boot.ts).
 */
function staticProtmem(
  p: Exclude<PlatformParsed, string>,
  base: PlatformDesc,
  map: SourceMap,
): Partial<PlatformDesc> {
  if (!p.static_protmem) return {};
  if ((p.optee_abi ?? base.opteeAbi ?? "ffa") !== "smc") {
    throw map.error(
      ["platform", "static_protmem"],
      "a static carveout needs optee_abi: smc (OPTEE_SMC_GET_PROTMEM_CONFIG has no FF-A counterpart)",
      true,
    );
  }
  const { base: pa, size } = p.static_protmem;
  return {
    staticProtmem: { base: pa, size },
    reserved: [...base.reserved, { name: "sdp_protmem", base: pa, size, noMap: true, secure: false }],
  };
}

function checkStaticProtmem(desc: PlatformDesc, map: SourceMap): void {
  const { base, size } = desc.staticProtmem!;
  const where = ["platform", "static_protmem"];
  if (base % 4096 !== 0 || size % 4096 !== 0 || size === 0) {
    throw map.error(
      where,
      "base and size must be non-zero multiples of 4 KiB (tee_protmem_static_pool_alloc)",
    );
  }
  const end = desc.dram.base + desc.dram.size;
  if (base < desc.dram.base || base + size > end) {
    throw map.error(where, `not inside DRAM (0x${desc.dram.base.toString(16)}..0x${end.toString(16)})`);
  }
  const clash = [...desc.reserved.filter((r) => r.name !== "sdp_protmem"), ...desc.cma].find(
    (r) => base < r.base + r.size && r.base < base + size,
  );
  if (clash) throw map.error(where, `overlaps ${clash.name} at 0x${clash.base.toString(16)}`);
}
