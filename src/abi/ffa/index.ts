/**
 * FF-A codec (`abi/ffa`): function IDs, error codes, versions, handles, and bit-exact v1.0 / v1.1 /
 * v1.2 memory transaction descriptors (header, EMADs, composite, constituents), relinquish
 * descriptors, attributes, permissions and flags. Decoding never throws; validation says which field
 * is wrong and at which byte. Facts: reference/ffa.md.
 */

export * from "./func.ts";
export * from "./attributes.ts";
export * from "./flags.ts";
export {
  FFA_PAGE_SIZE,
  emadSize,
  emadArrayOffset,
  compositeOffsetFor,
  mtdHeaderSize,
  mtdTotalSize,
  mtdReservedLayout,
} from "./layout.ts";
export type { FfaProblem, Decoded } from "./problem.ts";
export type { Emad } from "./emad.ts";
export type { Composite, Constituent } from "./composite.ts";
export {
  decodeMemRegion,
  encodeMemRegion,
  emadOffsetOf,
  type ConstituentInput,
  type EmadInput,
  type MemRegion,
  type MemRegionInput,
  type MemRegionOverrides,
} from "./mem_region.ts";
export { validateMemRegion, validateMemRegion as validate, type ValidateOptions } from "./validate.ts";
export {
  decodeRelinquish,
  encodeRelinquish,
  validateRelinquish,
  RELINQUISH_HEADER_SIZE,
  type Relinquish,
  type RelinquishInput,
  type RelinquishOverrides,
} from "./relinquish.ts";
export { FFA_MEM_CALL_NAMES, parseMemCall, type FfaMemCall } from "./call.ts";
export {
  FFA_SPMCS,
  callNotChecked,
  validateCall,
  type CallOptions,
  type CallProblem,
  type CallVerdict,
  type FfaSpmc,
} from "./validate_call.ts";
export {
  describeDescriptor,
  describeDescriptorForCall,
  describeRelinquish,
  parseHexOrBytes,
  type Json,
} from "./json.ts";
