/**
 * Which protected-memory pool the OP-TEE driver builds for a use case, by the run's policy
 * (ARCHITECTURE.md §5): upstream's dynamic pool (protmem.c), or one of the policies' pools. Upstream
 * calls optee_protmem_alloc_dyn_pool() here; the others ask OP-TEE for the same configuration
 * (GET_PROTMEM_CONFIG: min_size, PA width, the endpoints and their access) and build their own pool.
 */
import { ENOMEM, ERRNO } from "../../abi/uapi/errno.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { TeeProtmemPool } from "../tee/tee_heap.ts";
import { opteeSetDmaMask } from "./core.ts";
import type { Optee } from "./optee.ts";
import { getProtmemConfig, opteeProtmemAllocDynPool } from "./protmem.ts";
import { protmemCarveoutPool } from "./protmem_carveout.ts";
import { ProtmemGrowablePool } from "./protmem_growable.ts";
import type { ProtmemPolicy } from "./protmem_lend.ts";
import { ProtmemPerBufferPool } from "./protmem_per_buffer.ts";

/** OP-TEE's configuration for a use case, asked as protmem.c asks it (the size query, then the attributes). */
function* protmemConfig(
  optee: Optee,
  useCase: number,
): Sleeps<{ minSize: number; memAttrs: number[] } | number> {
  let cfg = yield* getProtmemConfig(optee, useCase, null, 0);
  let memAttrs: number[] = [];
  if (cfg.rc) {
    if (cfg.rc !== -ERRNO.ENOSPC) return cfg.rc;
    memAttrs = new Array<number>(cfg.maCount).fill(0);
    cfg = yield* getProtmemConfig(optee, useCase, memAttrs, cfg.maCount);
    if (cfg.rc) return cfg.rc;
    memAttrs = memAttrs.slice(0, cfg.maCount);
  }
  const rc = opteeSetDmaMask(optee, cfg.paWidth);
  if (rc) return rc;
  if (cfg.minSize < PAGE_SIZE) return -ENOMEM;
  return { minSize: cfg.minSize, memAttrs };
}

/** The pool for use case `useCase` under `policy`, or −errno. */
export function* opteeProtmemPoolForPolicy(
  optee: Optee,
  useCase: number,
  policy: ProtmemPolicy,
): Sleeps<TeeProtmemPool | number> {
  switch (policy.pool) {
    case "dynamic": {
      const rp = yield* opteeProtmemAllocDynPool(optee, useCase);
      if (typeof rp !== "number") rp.policy = policy;
      return rp;
    }
    case "growable":
    case "per-buffer": {
      const cfg = yield* protmemConfig(optee, useCase);
      if (typeof cfg === "number") return cfg;
      return policy.pool === "growable"
        ? new ProtmemGrowablePool(optee, useCase, cfg.memAttrs, cfg.minSize, policy)
        : new ProtmemPerBufferPool(optee, useCase, cfg.memAttrs, policy);
    }
    case "static": {
      const cfg = yield* protmemConfig(optee, useCase);
      if (typeof cfg === "number") return cfg;
      return yield* protmemCarveoutPool(optee, useCase, cfg.memAttrs, cfg.minSize, policy);
    }
  }
}
