/**
 * TF-A's Arm SiP service PLAT_PROTECT_MEM / PLAT_UNPROTECT_MEM — plat/arm/common/arm_sip_svc.c
 * `arm_sip_protect_mem_handler()`, include/plat/arm/common/arm_sip_svc.h (hardware.md §2.6): the
 * S-EL2 SPMC asks EL3 to move a range between the Non-secure and Secure physical address spaces,
 * one 4 KiB granule per gpt_transition_pas() call.
 *
 * - no RME, or a caller that is not secure: SMC_UNK;
 * - base or size not 4 KiB aligned, or base + size overflows: SMC_INVALID_PARAM;
 * - a granule the GPT refuses: SMC_DENIED (-EPERM) or SMC_INVALID_PARAM (-EINVAL), with the last
 *   granule that did move in x1 — the granules before it stay moved (partial progress).
 *
 * Hafnium reaches it with an SMC from S-EL2; since EL3 runs on the SPMC's CPU while the SPMC holds its
 * locks, the call is synchronous here and its cost is returned to the caller to charge.
 */
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE, type World } from "../../hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { sleep, elapse } from "../../sim/scheduler.ts";

/** PLAT_PROTECT_MEM_SMC64 / PLAT_UNPROTECT_MEM_SMC64 — TF-A arm_sip_svc.h. */
export const PLAT_PROTECT_MEM_SMC64 = 0xc200_0101;
export const PLAT_UNPROTECT_MEM_SMC64 = 0xc200_0102;

/** SMC return codes — TF-A include/lib/smccc.h. */
export const SMC_OK = 0;
export const SMC_UNK = -1;
export const SMC_DENIED = -3;
export const SMC_INVALID_PARAM = -4;

/** GPT error codes (hw/gpt.ts mirrors -EPERM / -EINVAL). */
const EPERM = -1;

export interface ProtectResult {
  /** SMC_OK, SMC_UNK, SMC_DENIED or SMC_INVALID_PARAM. */
  readonly rc: number;
  /** x1 on SMC_DENIED / SMC_INVALID_PARAM: the last granule moved (0 when none). */
  readonly lastUpdated: number;
  /** Virtual time the handler took (granule transitions). */
  readonly costNs: number;
}

/** arm_sip_protect_mem_handler() without the SMC around it. */
export function armSipProtectMem(
  machine: Machine,
  base: number,
  size: number,
  protect: boolean,
  secureOrigin: boolean,
): ProtectResult {
  if (machine.platform.firewall.kind !== "rme" || !secureOrigin)
    return { rc: SMC_UNK, lastUpdated: 0, costNs: 0 };
  if (base % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0)
    return { rc: SMC_INVALID_PARAM, lastUpdated: 0, costNs: 0 };
  if (base + size > 2 ** 64) return { rc: SMC_INVALID_PARAM, lastUpdated: 0, costNs: 0 };
  const r = machine.gptTransition(base, size, protect);
  const costNs = r.done * machine.costs.gptGranuleTransitionNs;
  if (r.rc === 0) return { rc: SMC_OK, lastUpdated: 0, costNs };
  const lastUpdated = r.done > 0 ? base + (r.done - 1) * PAGE_SIZE : 0;
  return { rc: r.rc === EPERM ? SMC_DENIED : SMC_INVALID_PARAM, lastUpdated, costNs };
}

/** Registers the SiP calls on the conduit, for SMCs that reach EL3 the ordinary way. */
export function attachArmSip(machine: Machine): void {
  machine.smc.register(
    "tf-a-arm-sip-protect-mem",
    PLAT_PROTECT_MEM_SMC64,
    PLAT_UNPROTECT_MEM_SMC64,
    // eslint-disable-next-line no-restricted-syntax -- made once, when the platform is built, part of the booted system
    function* (regs: SmcRegs, caller: World): Sleeps<SmcRegs> {
      const fid = Number(regs[0] & 0xffff_ffffn);
      const r = armSipProtectMem(
        machine,
        Number(regs[1]),
        Number(regs[2]),
        fid === PLAT_PROTECT_MEM_SMC64,
        caller === "s",
      );
      if (!elapse(r.costNs)) yield sleep(r.costNs);
      return smcRegs(r.rc, r.lastUpdated);
    },
  );
}
