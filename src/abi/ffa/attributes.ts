/**
 * Memory region attributes (transaction descriptor offset 2) and memory access permissions (EMAD
 * byte 2), as raw numbers and as typed objects.
 *
 * Bit layouts: Hafnium inc/vmapi/hf/ffa.h (`FFA_MEMORY_*_OFFSET/MASK`, `enum ffa_memory_type`, …),
 * Linux include/linux/arm_ffa.h (`FFA_MEM_NORMAL`, `FFA_MEM_WRITE_BACK`, `FFA_MEM_RW`, …), Arm's
 * arm-ffa crate src/memory_management.rs (reference/ffa.md §3.7, §3.8).
 */

// ---- memory region attributes ----------------------------------------------------------------

/** bits[1:0] shareability — FFA_MEMORY_SHAREABILITY_MASK, Hafnium. */
export const FFA_MEMORY_SHAREABILITY_MASK = 0x3;
/** bits[3:2] cacheability (Normal) or device attributes (Device) — FFA_MEMORY_CACHEABILITY_MASK. */
export const FFA_MEMORY_CACHEABILITY_OFFSET = 2;
export const FFA_MEMORY_CACHEABILITY_MASK = 0xc;
/** bits[5:4] memory type — FFA_MEMORY_TYPE_MASK. */
export const FFA_MEMORY_TYPE_OFFSET = 4;
export const FFA_MEMORY_TYPE_MASK = 0x30;
/** bit 6, security state (1 = non-secure) — TF-A `FFA_MEM_ATTR_NS_BIT`. */
export const FFA_MEMORY_SECURITY_NS_BIT = 0x40;
/** bits[15:7] MBZ in the 16-bit v1.1+ field — Hafnium `FFA_MEMORY_ATTRIBUTES_MBZ_MASK`. */
export const FFA_MEMORY_ATTRIBUTES_MBZ_MASK = 0xff80;
/** bit 7 MBZ in the 8-bit v1.0 field (Hafnium `ffa_memory_attributes_t` is u8 in v1.0). */
export const FFA_MEMORY_ATTRIBUTES_MBZ_MASK_V1_0 = 0x80;

/** FFA_MEM_NORMAL — include/linux/arm_ffa.h. */
export const FFA_MEM_NORMAL = 1 << 5;
/** FFA_MEM_DEVICE — include/linux/arm_ffa.h. */
export const FFA_MEM_DEVICE = 1 << 4;
/** FFA_MEM_WRITE_BACK — include/linux/arm_ffa.h. */
export const FFA_MEM_WRITE_BACK = 3 << 2;
/** FFA_MEM_NON_CACHEABLE — include/linux/arm_ffa.h. */
export const FFA_MEM_NON_CACHEABLE = 1 << 2;
/** FFA_DEV_nGnRnE … FFA_DEV_GRE — include/linux/arm_ffa.h. */
export const FFA_DEV_nGnRnE = 0 << 2;
export const FFA_DEV_nGnRE = 1 << 2;
export const FFA_DEV_nGRE = 2 << 2;
export const FFA_DEV_GRE = 3 << 2;
/** FFA_MEM_*_SHAREABLE — include/linux/arm_ffa.h. */
export const FFA_MEM_NON_SHAREABLE = 0;
export const FFA_MEM_OUTER_SHAREABLE = 2;
export const FFA_MEM_INNER_SHAREABLE = 3;
/**
 * Normal | write-back | inner-shareable = 0x2F: what Linux sends for FFA_MEM_SHARE
 * (ffa_memory_attributes_get(), drivers/firmware/arm_ffa/driver.c) and OP-TEE's
 * `FFA_NORMAL_MEM_REG_ATTR` (core/arch/arm/include/ffa.h).
 */
export const FFA_NORMAL_MEM_REG_ATTR = FFA_MEM_NORMAL | FFA_MEM_WRITE_BACK | FFA_MEM_INNER_SHAREABLE;

/** enum ffa_memory_type — Hafnium (value 3 is reserved). */
export type FfaMemoryType = "not-specified" | "device" | "normal" | "reserved";
/** enum ffa_memory_cacheability, Normal memory half — Hafnium (0 and 2 are reserved). */
export type FfaCacheability = "non-cacheable" | "write-back" | "reserved";
/** enum ffa_memory_cacheability, Device half (FFA_MEMORY_DEV_*) — Hafnium. */
export type FfaDeviceAttributes = "nGnRnE" | "nGnRE" | "nGRE" | "GRE";
/** enum ffa_memory_shareability — Hafnium (1 is reserved). */
export type FfaShareability = "non-shareable" | "reserved" | "outer" | "inner";

/**
 * Typed memory region attributes. `cacheability` is set only for Normal memory and `device` only
 * for Device memory (bits[3:2] mean one or the other). Reserved bits[15:7] are not represented:
 * keep the raw number when you need them.
 */
export interface MemAttributes {
  readonly type: FfaMemoryType;
  readonly cacheability: FfaCacheability | null;
  readonly device: FfaDeviceAttributes | null;
  readonly shareability: FfaShareability;
  /** bit 6: the region is non-secure (v1.1+; set by the SPMC in a retrieve response). */
  readonly ns: boolean;
}

const MEMORY_TYPES: readonly FfaMemoryType[] = ["not-specified", "device", "normal", "reserved"];
const CACHEABILITIES: readonly FfaCacheability[] = ["reserved", "non-cacheable", "reserved", "write-back"];
const DEVICE_ATTRS: readonly FfaDeviceAttributes[] = ["nGnRnE", "nGnRE", "nGRE", "GRE"];
const SHAREABILITIES: readonly FfaShareability[] = ["non-shareable", "reserved", "outer", "inner"];

/** Raw attributes → typed (ffa_get_memory_type_attr() and friends, Hafnium). */
export function unpackMemAttributes(raw: number): MemAttributes {
  const type = MEMORY_TYPES[(raw & FFA_MEMORY_TYPE_MASK) >> FFA_MEMORY_TYPE_OFFSET];
  const bits32 = (raw & FFA_MEMORY_CACHEABILITY_MASK) >> FFA_MEMORY_CACHEABILITY_OFFSET;
  return {
    type,
    cacheability: type === "normal" ? CACHEABILITIES[bits32] : null,
    device: type === "device" ? DEVICE_ATTRS[bits32] : null,
    shareability: SHAREABILITIES[raw & FFA_MEMORY_SHAREABILITY_MASK],
    ns: (raw & FFA_MEMORY_SECURITY_NS_BIT) !== 0,
  };
}

/**
 * Typed attributes → raw (ffa_set_memory_type_attr() and friends, Hafnium). A "reserved"
 * cacheability packs as 0b00; bits[3:2] are 0 for the not-specified and reserved types.
 */
export function packMemAttributes(attrs: MemAttributes): number {
  let bits32 = 0;
  if (attrs.type === "normal") {
    bits32 = attrs.cacheability === "write-back" ? 3 : attrs.cacheability === "non-cacheable" ? 1 : 0;
  } else if (attrs.type === "device") {
    bits32 = attrs.device === null ? 0 : DEVICE_ATTRS.indexOf(attrs.device);
  }
  return (
    (MEMORY_TYPES.indexOf(attrs.type) << FFA_MEMORY_TYPE_OFFSET) |
    (bits32 << FFA_MEMORY_CACHEABILITY_OFFSET) |
    SHAREABILITIES.indexOf(attrs.shareability) |
    (attrs.ns ? FFA_MEMORY_SECURITY_NS_BIT : 0)
  );
}

// ---- memory access permissions (EMAD byte 2) --------------------------------------------------

/** bits[1:0] data access — FFA_DATA_ACCESS_MASK, Hafnium. */
export const FFA_DATA_ACCESS_MASK = 0x3;
/** bits[3:2] instruction access — FFA_INSTRUCTION_ACCESS_MASK, Hafnium. */
export const FFA_INSTRUCTION_ACCESS_OFFSET = 2;
export const FFA_INSTRUCTION_ACCESS_MASK = 0xc;
/** bits[7:4] MBZ (reference/ffa.md §3.8). */
export const FFA_MEM_PERM_MBZ_MASK = 0xf0;
/** FFA_MEM_RO / FFA_MEM_RW / FFA_MEM_NO_EXEC / FFA_MEM_EXEC — include/linux/arm_ffa.h. */
export const FFA_MEM_RO = 1 << 0;
export const FFA_MEM_RW = 1 << 1;
export const FFA_MEM_NO_EXEC = 1 << 2;
export const FFA_MEM_EXEC = 1 << 3;

/** enum ffa_data_access — Hafnium. */
export type FfaDataAccess = "not-specified" | "ro" | "rw" | "reserved";
/** enum ffa_instruction_access — Hafnium. */
export type FfaInstructionAccess = "not-specified" | "nx" | "x" | "reserved";

/** Typed memory access permissions. Reserved bits[7:4] are not represented. */
export interface MemAccessPermissions {
  readonly data: FfaDataAccess;
  readonly instruction: FfaInstructionAccess;
}

const DATA_ACCESS: readonly FfaDataAccess[] = ["not-specified", "ro", "rw", "reserved"];
const INSTRUCTION_ACCESS: readonly FfaInstructionAccess[] = ["not-specified", "nx", "x", "reserved"];

/** Raw permissions → typed (ffa_get_data_access_attr(), ffa_get_instruction_access_attr(), Hafnium). */
export function unpackMemAccessPermissions(raw: number): MemAccessPermissions {
  return {
    data: DATA_ACCESS[raw & FFA_DATA_ACCESS_MASK],
    instruction: INSTRUCTION_ACCESS[(raw & FFA_INSTRUCTION_ACCESS_MASK) >> FFA_INSTRUCTION_ACCESS_OFFSET],
  };
}

/** Typed permissions → raw (ffa_set_data_access_attr(), ffa_set_instruction_access_attr(), Hafnium). */
export function packMemAccessPermissions(perm: MemAccessPermissions): number {
  return (
    DATA_ACCESS.indexOf(perm.data) |
    (INSTRUCTION_ACCESS.indexOf(perm.instruction) << FFA_INSTRUCTION_ACCESS_OFFSET)
  );
}

// ---- EMAD receiver flags (EMAD byte 3) --------------------------------------------------------

/**
 * FFA_MEM_RETRIEVE_SELF_BORROWER — include/linux/arm_ffa.h (TF-A: "non-retrieval borrower"):
 * used in retrieve requests/responses with several borrowers.
 */
export const FFA_MEM_RETRIEVE_SELF_BORROWER = 1 << 0;
/** bits[7:1] of the receiver flags are reserved (DEN0077A, endpoint memory access descriptor). */
export const FFA_EMAD_FLAGS_MBZ_MASK = 0xfe;

// ---- FFA_MEM_PERM_GET / FFA_MEM_PERM_SET (a different encoding) --------------------------------

/** FFA_MEM_PERM_RO / RW / RX — Hafnium inc/vmapi/hf/ffa.h. Data bits[1:0]: 00 none, 01 RW, 11 RO; bit 2 = NX. */
export const FFA_MEM_PERM_RO = 0x7;
export const FFA_MEM_PERM_RW = 0x5;
export const FFA_MEM_PERM_RX = 0x3;
