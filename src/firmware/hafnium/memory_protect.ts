/**
 * arch_memory_protect() / arch_memory_unprotect() — Hafnium src/arch/aarch64/memory_protect/rme.c:
 * without RME the memory is "not protected" (FFA_NOT_SUPPORTED, and the caller lets the lend go
 * through); with RME, an SMC PLAT_PROTECT_MEM_64 / PLAT_UNPROTECT_MEM_64 to EL3 moves the range to
 * the Secure PAS or back (optee.md §1.5, hardware.md §2.6).
 */
import { FFA_DENIED, FFA_INVALID_PARAMETERS, FFA_NOT_SUPPORTED } from "../../abi/ffa/index.ts";
import { armSipProtectMem, SMC_DENIED, SMC_INVALID_PARAM, SMC_OK } from "../el3/protect_mem.ts";
import type { Machine } from "../../hw/machine.ts";
import type { CallCtx } from "../spmc/regs.ts";

// Module-level copies of imported constants (read per constituent).
const OK = SMC_OK;
const DENIED_SMC = SMC_DENIED;
const INVALID_SMC = SMC_INVALID_PARAM;
const NOT_SUPPORTED = FFA_NOT_SUPPORTED;
const DENIED = FFA_DENIED;
const INVALID = FFA_INVALID_PARAMETERS;

export interface ProtectOutcome {
  /** 0 on success, else FFA_NOT_SUPPORTED / FFA_DENIED / FFA_INVALID_PARAMETERS. */
  readonly code: number;
  /** On FFA_DENIED: the last granule the monitor moved (0 when none). */
  readonly lastProtected: number;
}

/** is_arch_feat_rme_supported(). */
export function rmeSupported(machine: Machine): boolean {
  return machine.platform.firewall.kind === "rme";
}

/** arch_memory_protect(begin, end): charges the SMC round trip and the granule transitions. */
export function archMemoryProtect(
  machine: Machine,
  ctx: CallCtx,
  base: number,
  size: number,
): ProtectOutcome {
  if (!rmeSupported(machine)) return { code: NOT_SUPPORTED, lastProtected: 0 };
  const r = armSipProtectMem(machine, base, size, true, true);
  ctx.costNs += machine.costs.smcRoundTripNs + r.costNs;
  if (r.rc === OK) return { code: 0, lastProtected: 0 };
  if (r.rc === DENIED_SMC) return { code: DENIED, lastProtected: r.lastUpdated };
  if (r.rc === INVALID_SMC) return { code: INVALID, lastProtected: r.lastUpdated };
  return { code: NOT_SUPPORTED, lastProtected: 0 };
}

/** arch_memory_unprotect(begin, end): true on success (Hafnium CHECKs it). */
export function archMemoryUnprotect(machine: Machine, ctx: CallCtx, base: number, size: number): boolean {
  const r = armSipProtectMem(machine, base, size, false, true);
  ctx.costNs += machine.costs.smcRoundTripNs + r.costNs;
  return r.rc === OK;
}
