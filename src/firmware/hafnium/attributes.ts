/**
 * ffa_memory_attributes_validate() — Hafnium src/ffa_memory.c: memory Hafnium maps must be Normal
 * write-back or Device nGnRnE, and inner shareable. A violation is FFA_DENIED (reference/ffa.md §5.3).
 */
import { unpackMemAttributes } from "../../abi/ffa/index.ts";

/** Why the attributes are refused, or null when they are Normal-WB / Device-nGnRnE and inner shareable. */
export function attributesValidate(raw: number): string | null {
  const a = unpackMemAttributes(raw);
  if (a.type === "normal" && a.cacheability !== "write-back")
    return `Normal memory: cacheability ${a.cacheability}, expected write-back`;
  if (a.type === "device" && a.device !== "nGnRnE") return `Device memory: ${a.device}, expected nGnRnE`;
  if (a.shareability !== "inner") return `shareability ${a.shareability}, expected inner`;
  return null;
}

/**
 * `ffa_memory_attributes_t.security` — Hafnium inc/vmapi/hf/ffa.h: the 2-bit field [7:6] (bit 6 is NS,
 * bit 7 reserved). ffa_memory_send_validate() and ffa_memory_retrieve_validate() compare it with
 * FFA_MEMORY_SECURITY_UNSPECIFIED (0), so either bit set is FFA_INVALID_PARAMETERS.
 */
export function memorySecurity(raw: number): number {
  return (raw >> 6) & 0x3;
}
