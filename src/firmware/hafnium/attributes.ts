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
