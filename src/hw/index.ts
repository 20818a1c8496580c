export { Caches, CACHE_LINE } from "./cache.ts";
export { costModel, DEFAULT_COSTS, COST_NAMES, type CostModel } from "./costs.ts";
export {
  PageFrames,
  OWNER_NORMAL,
  OWNER_SECURE,
  TAINT_CLEAN,
  TAINT_NS_DATA,
  TAINT_SECRET,
  isSecret,
} from "./frames.ts";
export { GranuleProtectionTable, GPT_GPI_NS, GPT_GPI_SECURE } from "./gpt.ts";
export {
  Machine,
  ACCESS_OK,
  FAULT_DENIED,
  FAULT_UNMAPPED,
  FAULT_NO_MEMORY,
  FAULT_NAMES,
  type AccessOp,
  type AccessOptions,
} from "./machine.ts";
export { DirectMap, PT_NONE, PT_VALID, PT_INVALID, PT_TABLE, MAX_DVM_OPS } from "./mmu.ts";
export { PageStore } from "./pagestore.ts";
export * from "./platform.ts";
export { SmcConduit, smcRegs, SMC_UNK, type SmcRegs, type SmcHandler } from "./smc.ts";
export { speculationTask } from "./speculation.ts";
export * from "./tzc400.ts";
