/**
 * Firmware (ARCHITECTURE.md §4): EL3 services, the SPMC core and its two flavors — Hafnium at S-EL2
 * and OP-TEE as its own SPMC at S-EL1 — and their boot.
 */
export {
  bootFirmware,
  platformEndpoints,
  partitionMemory,
  drain,
  NWD_RXTX_OFFSET,
  type Firmware,
  type FirmwareOptions,
} from "./boot.ts";
export { Spmc, MM_PPOOL_ENTRY_SIZE, type SpmcLimits, type SpmcFlavorName } from "./spmc/spmc.ts";
export {
  SpmcEndpoint,
  FFA_NWD_ID,
  FFA_OPTEE_ID,
  FFA_SP2_ID,
  isSecureId,
  type EndpointDesc,
} from "./spmc/endpoint.ts";
export { PartitionRegistry, echoHandler, type PartitionHandler } from "./spmc/partitions.ts";
export { HafniumSpmc, HAFNIUM_LIMITS, HAFNIUM_FFA_VERSION } from "./hafnium/hafnium.ts";
export { OpteeSel1Spmc, OPTEE_SEL1_LIMITS } from "./optee_sel1/optee_sel1.ts";
export { MobjFfaTable, FFA_MEMORY_HANDLE_NON_SECURE_BIT, type MobjFfa } from "./optee_sel1/mobj_ffa.ts";
export { armSipProtectMem, PLAT_PROTECT_MEM_SMC64, PLAT_UNPROTECT_MEM_SMC64 } from "./el3/protect_mem.ts";
export type { Rejection } from "./spmc/regs.ts";
