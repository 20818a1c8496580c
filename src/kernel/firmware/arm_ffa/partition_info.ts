/**
 * Partition discovery of the arm_ffa driver — drivers/firmware/arm_ffa/driver.c (torvalds/linux
 * v6.18): __ffa_partition_info_get() (FFA_PARTITION_INFO_GET through the RX buffer),
 * __ffa_partition_info_get_regs() (FFA_PARTITION_INFO_GET_REGS_64, the descriptors in x3..x17) and
 * ffa_partition_probe(), which picks the register form when FFA_FEATURES says it exists and asks twice:
 * once for the count, once for the descriptors.
 *
 * - Above v1.0 the first FFA_PARTITION_INFO_GET sets PARTITION_INFO_GET_RETURN_COUNT_ONLY; the RX buffer
 *   is then not the caller's, so FFA_RX_RELEASE follows only a call without that flag ("Skip Rx buffer
 *   ownership release if not acquired"). At v1.0 both calls fill the RX buffer and both release it.
 * - Descriptors are 8 bytes at v1.0 (no UUID); above, w3 gives the size and at most
 *   sizeof(struct ffa_partition_info) = 24 bytes of each are copied; the UUID only if that is above 8.
 * - The register form returns up to 5 descriptors per call (3 registers each); the caller continues
 *   from the last index + 1 with the UUID info tag until the last index is reached.
 */
import {
  FFA_ERROR_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  ffaToLinuxErrno,
} from "../../../abi/ffa/index.ts";
import { smcRegs } from "../../../hw/smc.ts";
import type { Sleeps } from "../../../sim/scheduler.ts";
import { w, type ArmFfaDriver } from "./driver.ts";

/** struct ffa_partition_info (include/linux/arm_ffa.h); the UUID as FF-A's four little-endian words. */
export interface FfaPartitionInfo {
  readonly id: number;
  readonly execCtxt: number;
  readonly properties: number;
  readonly uuid: readonly [number, number, number, number];
}

/** PARTITION_INFO_GET_RETURN_COUNT_ONLY — BIT(0) of w5. */
export const PARTITION_INFO_GET_RETURN_COUNT_ONLY = 1;
/** sizeof(struct ffa_partition_info): u16 id, u16 exec_ctxt, u32 properties, uuid_t uuid. */
export const FFA_PARTITION_INFO_SIZE = 24;
/** FFA_PARTITION_AARCH64_EXEC — BIT(8) of the properties. */
export const FFA_PARTITION_AARCH64_EXEC = 1 << 8;

const NIL_UUID: readonly [number, number, number, number] = [0, 0, 0, 0];

/** uuid_is_null() */
export function uuidIsNull(uuid: readonly number[]): boolean {
  return uuid.every((x) => x === 0);
}

/**
 * __ffa_partition_info_get(uuid, buffer, num_partitions): the count (or −errno); `out` gets the
 * descriptors when given and the count fits.
 */
function* partitionInfoGet(
  drv: ArmFfaDriver,
  uuid: readonly number[],
  out: FfaPartitionInfo[] | null,
  num: number,
): Sleeps<number> {
  const v10 = drv.versionNumber <= 0x1_0000;
  const flags = !v10 && (!out || !num) ? PARTITION_INFO_GET_RETURN_COUNT_ONLY : 0;
  const locked = yield* drv.lock(drv.rxLock);
  const r = yield* drv.invoke(smcRegs(FFA_PARTITION_INFO_GET_32, uuid[0], uuid[1], uuid[2], uuid[3], flags));
  if (w(r, 0) === FFA_ERROR_32) {
    if (locked) yield* drv.rxLock.unlockPreempt();
    return ffaToLinuxErrno(w(r, 2) | 0);
  }
  const count = w(r, 2) | 0;
  const sz = v10 ? 8 : w(r, 3);
  const bufSz = Math.min(sz, FFA_PARTITION_INFO_SIZE);
  if (out && count <= num) {
    const bytes = drv.readRx(0, count * sz);
    const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      const o = i * sz;
      const u: [number, number, number, number] = [0, 0, 0, 0];
      if (bufSz > 8) for (let k = 0; k < 4; k++) u[k] = d.getUint32(o + 8 + 4 * k, true);
      out[i] = {
        id: d.getUint16(o, true),
        execCtxt: d.getUint16(o + 2, true),
        properties: d.getUint32(o + 4, true),
        uuid: u,
      };
    }
  }
  if (!(flags & PARTITION_INFO_GET_RETURN_COUNT_ONLY)) yield* drv.rxRelease();
  if (locked) yield* drv.rxLock.unlockPreempt();
  return count;
}

/**
 * __ffa_partition_info_get_regs(uuid, buffer, num_parts): x1 = uuid1 << 32 | uuid0, x2 = uuid3 << 32 |
 * uuid2, x3 = start index | tag << 16. x2 of the answer: last index [15:0], current index [31:16], UUID
 * info tag [47:32], descriptor size [63:48]; descriptors from x3, three registers each (id, exec_ctxt,
 * properties; then the UUID).
 */
function* partitionInfoGetRegs(
  drv: ArmFfaDriver,
  uuid: readonly number[],
  out: FfaPartitionInfo[] | null,
  num: number,
): Sleeps<number> {
  const u64 = (lo: number, hi: number) => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
  let count = 0;
  let prevIdx = 0;
  let tag = 0;
  let curIdx = 0;
  let n = 0;
  do {
    const startIdx = prevIdx ? prevIdx + 1 : 0;
    const r = yield* drv.invoke(
      smcRegs(
        FFA_PARTITION_INFO_GET_REGS_64,
        u64(uuid[0], uuid[1]),
        u64(uuid[2], uuid[3]),
        (startIdx | (tag << 16)) >>> 0,
      ),
    );
    if (w(r, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(r, 2) | 0);
    const a2 = r[2];
    if (!count) count = (Number(a2 & 0xffffn) + 1) & 0xffff;
    if (!out || !num) return count;
    curIdx = Number((a2 >> 16n) & 0xffffn);
    tag = Number((a2 >> 32n) & 0xffffn);
    for (let i = 0; i < curIdx - startIdx + 1; i++) {
      const base = 3 + 3 * i;
      if (base + 2 >= r.length) break; // x3..x17 hold five descriptors at most
      const val = r[base];
      const uuidWords: [number, number, number, number] = [
        Number(r[base + 1] & 0xffff_ffffn),
        Number(r[base + 1] >> 32n),
        Number(r[base + 2] & 0xffff_ffffn),
        Number(r[base + 2] >> 32n),
      ];
      if (n < num)
        out[n] = {
          id: Number(val & 0xffffn),
          execCtxt: Number((val >> 16n) & 0xffffn),
          properties: Number((val >> 32n) & 0xffff_ffffn),
          uuid: uuidWords,
        };
      n++;
    }
    prevIdx = curIdx;
  } while (curIdx < count - 1);
  return count;
}

/**
 * ffa_partition_probe(uuid, &buffer): the descriptors (possibly none), or −errno. FFA_FEATURES(
 * FFA_PARTITION_INFO_GET_REGS_64) first; then the count, then the descriptors, in the chosen form.
 */
export function* ffaPartitionProbe(
  drv: ArmFfaDriver,
  uuid: readonly number[] = NIL_UUID,
): Sleeps<FfaPartitionInfo[] | number> {
  const regMode = (yield* drv.features(FFA_PARTITION_INFO_GET_REGS_64)).rc === 0;
  const get = regMode ? partitionInfoGetRegs : partitionInfoGet;
  let count = yield* get(drv, uuid, null, 0);
  if (count <= 0) return count < 0 ? count : [];
  const pbuf: FfaPartitionInfo[] = Array.from({ length: count }, () => ({
    id: 0,
    execCtxt: 0,
    properties: 0,
    uuid: [0, 0, 0, 0] as [number, number, number, number],
  }));
  count = yield* get(drv, uuid, pbuf, count);
  if (count <= 0) return count < 0 ? count : [];
  return pbuf.slice(0, Math.min(count, pbuf.length));
}
