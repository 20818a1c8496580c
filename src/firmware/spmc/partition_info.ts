/**
 * FFA_PARTITION_INFO_GET descriptors (DEN0077A Table 6.1 / 13.x): v1.0 `struct ffa_partition_info`
 * {u16 id; u16 execution context count; u32 properties} (8 bytes); v1.1+ adds the 16-byte UUID
 * (24 bytes) — Hafnium src/api.c send_versioned_partition_info_descriptors(), OP-TEE
 * spmc_fill_partition_entry() (thread_spmc.c).
 */
import type { SpmcEndpoint } from "./endpoint.ts";
import {
  FFA_PART_PROP_AARCH64_STATE,
  FFA_PART_PROP_DIRECT_REQ_RECV,
  FFA_PART_PROP_DIRECT_REQ_SEND,
  FFA_PART_PROP_INDIRECT_MSGS,
} from "./endpoint.ts";

/** FFA_PARTITION_INFO_GET w5 bit 0 (v1.1): return the count only. */
export const FFA_PARTITION_COUNT_FLAG = 1;
export const PARTITION_INFO_SIZE_V1_0 = 8;
export const PARTITION_INFO_SIZE_V1_1 = 24;

/** True for the nil UUID (all partitions). */
export function isNilUuid(words: readonly number[]): boolean {
  return words.every((v) => v === 0);
}

/** Partitions whose UUID is `words` (every partition for the nil UUID). */
export function matchPartitions(
  partitions: readonly SpmcEndpoint[],
  words: readonly number[],
): SpmcEndpoint[] {
  if (isNilUuid(words)) return partitions.slice();
  return partitions.filter((p) => p.desc.uuid.every((v, i) => v === words[i]));
}

/** The descriptors as the caller's version lays them out. */
export function encodePartitionInfo(partitions: readonly SpmcEndpoint[], v10: boolean): Uint8Array {
  const size = v10 ? PARTITION_INFO_SIZE_V1_0 : PARTITION_INFO_SIZE_V1_1;
  const out = new Uint8Array(size * partitions.length);
  const d = new DataView(out.buffer);
  partitions.forEach((p, i) => {
    const off = i * size;
    d.setUint16(off, p.id, true);
    d.setUint16(off + 2, p.desc.execContexts, true);
    // In FF-A 1.0 only bits [2:0] are defined (OP-TEE masks the others).
    const props = v10
      ? p.desc.properties &
        (FFA_PART_PROP_DIRECT_REQ_RECV | FFA_PART_PROP_DIRECT_REQ_SEND | FFA_PART_PROP_INDIRECT_MSGS)
      : p.desc.properties;
    d.setUint32(off + 4, props >>> 0, true);
    if (!v10) p.desc.uuid.forEach((v, k) => d.setUint32(off + 8 + 4 * k, v >>> 0, true));
  });
  return out;
}

export const DEFAULT_SP_PROPERTIES =
  FFA_PART_PROP_DIRECT_REQ_RECV | FFA_PART_PROP_DIRECT_REQ_SEND | FFA_PART_PROP_AARCH64_STATE;
