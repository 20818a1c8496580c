/**
 * Partition discovery at Hafnium v2.15.0 — src/api.c api_ffa_partition_info_get(),
 * api_ffa_partition_info_get_regs(), api_ffa_fill_partitions_info_array(),
 * api_ffa_partitions_info_get_properties(), send_versioned_partition_info_descriptors(); the
 * register decode in src/arch/aarch64/hypervisor/handler.c ffa_handler(); the SPMC's
 * ffa_setup_partition_properties() (src/ffa/spmc/setup_and_discovery.c).
 *
 * Since v2.15.0 (4e80e890 "support extended partition info descriptor") the descriptor is FF-A v1.3's
 * `struct ffa_partition_info`, 48 bytes: u16 id, u16 vcpu_count, u32 properties, the protocol UUID, the
 * image UUID, u32 partition_ffa_version, u32 reserved. Hafnium sends it in that size to every caller
 * above v1.0 ("the client is expected to appropriately interpret the descriptors ... by looking at the
 * size"): in the RX buffer with w3 = 48, and in registers, six per descriptor, so
 * MAX_INFO_REGS_ENTRIES_PER_CALL = 15 * 8 / 48 = 2 per FFA_PARTITION_INFO_GET_REGS_64 (v2.14.0 and
 * before: 24 bytes, three registers, five per call).
 *
 * With a nil UUID each descriptor carries the protocol UUID and the image UUID; with a UUID, only the
 * image UUID (the protocol UUID is zero). Image UUIDs come only from partitions that support live
 * activation (manifest.c parse_image_uuid()); the model's have none, so theirs is zero. Matching by
 * image UUID needs a v1.3 caller, several protocol UUIDs per partition a v1.2 one: the model's callers
 * are at most v1.2 and its partitions have one UUID each. A secure caller's query is also forwarded to
 * the SPMD for EL3 logical partitions; the model has none (the SPMD answers NOT_SUPPORTED, which
 * Hafnium takes as "none"). The per-CPU buffer holds 85 descriptors (NO_MEMORY beyond); the model's
 * platforms have two partitions at most. Neither form checks the caller's FF-A version; TF-A's SPMD forwards
 * FFA_PARTITION_INFO_GET_REGS_64 from the normal world once its SMCCC version is 1.2 or later (it is
 * 1.5: spmd_main.c, include/lib/smccc.h).
 */
import {
  FFA_ABORTED,
  FFA_BUSY,
  FFA_INVALID_PARAMETERS,
  FFA_RETRY,
  FFA_SUCCESS_64,
  FFA_VERSION_1_1,
  FFA_VERSION_1_2,
} from "../../abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { SpmcEndpoint } from "../spmc/endpoint.ts";
import { FFA_PARTITION_COUNT_FLAG, matchPartitions } from "../spmc/partition_info.ts";
import { CallCtx, ffaSuccess, hex, w } from "../spmc/regs.ts";
import type { Spmc } from "../spmc/spmc.ts";

/** sizeof(struct ffa_partition_info) — FF-A v1.3 ALP2 Table 6.1 (static_assert in api.c). */
export const HF_PARTITION_INFO_SIZE = 48;
/** sizeof(struct ffa_partition_info_v1_0). */
export const HF_PARTITION_INFO_SIZE_V1_0 = 8;
/** MAX_INFO_REGS_ENTRIES_PER_CALL: x3..x17 (15 registers) hold two 48-byte descriptors. */
export const MAX_INFO_REGS_ENTRIES_PER_CALL = Math.floor((15 * 8) / HF_PARTITION_INFO_SIZE);

/** Partition properties — inc/vmapi/hf/ffa.h. */
export const FFA_PARTITION_DIRECT_REQ_RECV = 1 << 0;
export const FFA_PARTITION_DIRECT_REQ_SEND = 1 << 1;
export const FFA_PARTITION_INDIRECT_MSG = 1 << 2;
export const FFA_PARTITION_AARCH64_EXEC = 1 << 8;
export const FFA_PARTITION_DIRECT_REQ2_RECV = 1 << 9;
export const FFA_PARTITION_DIRECT_REQ2_SEND = 1 << 10;
/** FFA_PARTITION_v1_0_RES_MASK (inc/vmapi/hf/ffa_v1_0.h): only bits[2:0] are defined at v1.0. */
const FFA_PARTITION_V1_0_DEFINED = 0x7;

type Uuid = readonly [number, number, number, number];
const NIL: Uuid = [0, 0, 0, 0];

/** One `struct ffa_partition_info` as api_ffa_fill_partitions_info_array() fills it. */
export interface HfPartitionInfo {
  readonly vmId: number;
  readonly vcpuCount: number;
  readonly properties: number;
  readonly protocolUuid: Uuid;
  readonly imageUuid: Uuid;
  readonly partitionFfaVersion: number;
}

/**
 * api_ffa_partitions_info_get_properties() with the SPMC's ffa_setup_partition_properties(): the
 * manifest's messaging method (the endpoint's declared properties) masked to what the caller may see —
 * an SP caller sees the send bits, a VM only the receive bits; DIRECT_REQ2 bits for a v1.2 target —
 * then AArch64 execution, and from v1.1 the indirect-message bit. (Notification support and the VM
 * availability messages come from manifest fields the model's partitions do not set.)
 */
export function hfPartitionProperties(caller: SpmcEndpoint, target: SpmcEndpoint): number {
  const messaging = target.desc.properties;
  const version = target.version ?? FFA_VERSION_1_2;
  let dir = FFA_PARTITION_DIRECT_REQ_RECV;
  let dir2 = FFA_PARTITION_DIRECT_REQ2_RECV;
  if (caller.secure) {
    dir |= FFA_PARTITION_DIRECT_REQ_SEND;
    dir2 |= FFA_PARTITION_DIRECT_REQ2_SEND;
  }
  const mask = version >= FFA_VERSION_1_2 ? dir | dir2 : dir;
  let props = (messaging & mask) | FFA_PARTITION_AARCH64_EXEC;
  if (version >= FFA_VERSION_1_1) props |= messaging & FFA_PARTITION_INDIRECT_MSG;
  return props >>> 0;
}

/** api_ffa_fill_partitions_info_array(): the descriptors for `uuid` (every partition for the nil UUID). */
export function hfFillPartitionsInfo(spmc: Spmc, caller: SpmcEndpoint, uuid: Uuid): HfPartitionInfo[] {
  const nil = uuid.every((x) => x === 0);
  const sps = matchPartitions(
    [...spmc.endpoints.values()].filter((e) => e.secure),
    uuid,
  );
  return sps.map((p) => ({
    vmId: p.id,
    vcpuCount: p.desc.execContexts,
    properties: hfPartitionProperties(caller, p),
    // "If the ABI has specified an UUID, then do not write it": only the image UUID then.
    protocolUuid: nil ? p.desc.uuid : NIL,
    imageUuid: NIL,
    partitionFfaVersion: p.version ?? FFA_VERSION_1_2,
  }));
}

/** The descriptors as send_versioned_partition_info_descriptors() lays them out for `v10` or later. */
export function hfEncodePartitionInfo(parts: readonly HfPartitionInfo[], v10: boolean): Uint8Array {
  const size = v10 ? HF_PARTITION_INFO_SIZE_V1_0 : HF_PARTITION_INFO_SIZE;
  const out = new Uint8Array(size * parts.length);
  const d = new DataView(out.buffer);
  parts.forEach((p, i) => {
    const o = i * size;
    d.setUint16(o, p.vmId, true);
    d.setUint16(o + 2, p.vcpuCount, true);
    d.setUint32(o + 4, (v10 ? p.properties & FFA_PARTITION_V1_0_DEFINED : p.properties) >>> 0, true);
    if (v10) return;
    p.protocolUuid.forEach((x, k) => d.setUint32(o + 8 + 4 * k, x >>> 0, true));
    p.imageUuid.forEach((x, k) => d.setUint32(o + 24 + 4 * k, x >>> 0, true));
    d.setUint32(o + 40, p.partitionFfaVersion >>> 0, true);
    // reserved_0 (o + 44) = 0
  });
  return out;
}

/**
 * api_ffa_partition_info_get(): w1..w4 = UUID, w5 = flags (bit 0: count only; bits[31:1] MBZ).
 * Unrecognized UUID → INVALID_PARAMETERS; the count flag → FFA_SUCCESS_32(w2 = count); otherwise the
 * caller's RX buffer must be mapped and empty (vm_is_mailbox_busy() → BUSY), and takes the
 * descriptors: w2 = count, w3 = the size of one (8 at v1.0, else 48).
 */
export function hfPartitionInfoGet(spmc: Spmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const uuid: Uuid = [w(regs, 1), w(regs, 2), w(regs, 3), w(regs, 4)];
  const flags = w(regs, 5);
  if ((flags & ~FFA_PARTITION_COUNT_FLAG) !== 0)
    return ctx.reject(
      FFA_INVALID_PARAMETERS,
      "partition-info-flags",
      () => `flags ${hex(flags)}: bits[31:1] MBZ`,
    );
  const parts = hfFillPartitionsInfo(spmc, ep, uuid);
  if (parts.length === 0)
    return ctx.reject(FFA_INVALID_PARAMETERS, "partition-info-uuid", "unrecognized UUID");
  if ((flags & FFA_PARTITION_COUNT_FLAG) !== 0) return ffaSuccess(parts.length);
  if (ep.rx === null || ep.rxFull)
    return ctx.reject(FFA_BUSY, "rx-busy", () => `RX buffer of ${hex(ep.id)} not ready (unmapped or full)`);
  const v10 = ep.layout === "1.0";
  if (!spmc.writeRx(ctx, ep, hfEncodePartitionInfo(parts, v10)))
    return ctx.reject(FFA_ABORTED, "copy-faulted", "writing the descriptors into RX faulted");
  ep.rxFull = true;
  return ffaSuccess(parts.length, v10 ? HF_PARTITION_INFO_SIZE_V1_0 : HF_PARTITION_INFO_SIZE);
}

/**
 * api_ffa_partition_info_get_regs(): x1 = uuid1 << 32 | uuid0, x2 = uuid3 << 32 | uuid2, x3[15:0] =
 * start index, x3[31:16] = UUID info tag. A tag other than 0 → RETRY ("Unsupported tag"); no match →
 * INVALID_PARAMETERS; a start index at or past the count → INVALID_PARAMETERS. Otherwise
 * FFA_SUCCESS_64 with x2 = last index [15:0] | current index [31:16] | tag 0 [47:32] | descriptor size
 * 48 [63:48], and from x3 on six registers per descriptor: id | vcpu_count << 16 | properties << 32,
 * the protocol UUID (two), the image UUID (two), partition_ffa_version — at most two descriptors.
 */
export function hfPartitionInfoGetRegs(spmc: Spmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const lo = regs[1];
  const hi = regs[2];
  const uuid: Uuid = [
    Number(lo & 0xffff_ffffn),
    Number(lo >> 32n),
    Number(hi & 0xffff_ffffn),
    Number(hi >> 32n),
  ];
  const startIndex = Number(regs[3] & 0xffffn);
  const tag = Number((regs[3] >> 16n) & 0xffffn);
  if (tag !== 0) return ctx.reject(FFA_RETRY, "partition-info-regs-tag", () => `tag ${tag}: unsupported tag`);
  const parts = hfFillPartitionsInfo(spmc, ep, uuid);
  if (parts.length === 0)
    return ctx.reject(FFA_INVALID_PARAMETERS, "partition-info-uuid", "unrecognized UUID");
  if (startIndex >= parts.length)
    return ctx.reject(
      FFA_INVALID_PARAMETERS,
      "partition-info-regs-start-index",
      () => `start index ${startIndex} must be less than the count ${parts.length}`,
    );
  const maxIdx = parts.length - 1;
  const num = Math.min(maxIdx - startIndex + 1, MAX_INFO_REGS_ENTRIES_PER_CALL);
  const currIdx = startIndex + num - 1;
  const out = smcRegs(
    FFA_SUCCESS_64,
    0,
    (BigInt(HF_PARTITION_INFO_SIZE) << 48n) | (BigInt(currIdx) << 16n) | BigInt(maxIdx),
  );
  const u64 = (a: number, b: number) => (BigInt(b >>> 0) << 32n) | BigInt(a >>> 0);
  let r = 3;
  for (let i = startIndex; i <= currIdx; i++) {
    const p = parts[i];
    out[r++] = BigInt(p.vmId) | (BigInt(p.vcpuCount) << 16n) | (BigInt(p.properties >>> 0) << 32n);
    out[r++] = u64(p.protocolUuid[0], p.protocolUuid[1]);
    out[r++] = u64(p.protocolUuid[2], p.protocolUuid[3]);
    out[r++] = u64(p.imageUuid[0], p.imageUuid[1]);
    out[r++] = u64(p.imageUuid[2], p.imageUuid[3]);
    out[r++] = BigInt(p.partitionFfaVersion >>> 0);
  }
  return out;
}
