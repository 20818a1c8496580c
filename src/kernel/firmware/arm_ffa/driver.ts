/**
 * The arm_ffa driver's core — drivers/firmware/arm_ffa/driver.c: `drv_info` (negotiated version, own
 * VM ID, the RX/TX buffer pair and their locks, whether memory operations use the native 64-bit
 * function IDs), invoke_ffa_fn() through the SMC conduit, FFA_FEATURES, FFA_PARTITION_INFO_GET and
 * FFA_MSG_SEND_DIRECT_REQ. The memory operations are in mem_ops.ts.
 *
 * Probe: in this model the FF-A harness (scenario/steps/ffa_client.ts) performs ffa_init()'s first
 * calls (FFA_VERSION, FFA_ID_GET, FFA_RXTX_MAP) before the kernel boots, so that raw `ffa:` steps and
 * the driver share one endpoint state. The driver adopts that result (same buffers, same version) and
 * performs the rest of ffa_init(): ffa_set_up_mem_ops_native_flag() and the partition discovery.
 *
 * Locks: tx_lock and rx_lock are sim mutexes. Calls made at boot (no task is running) take no lock:
 * boot is single-threaded, as the kernel's initcalls are.
 */
import {
  FFA_ERROR_32,
  FFA_FEATURES_32,
  FFA_INTERRUPT_32,
  FFA_MEM_LEND_64,
  FFA_MEM_SHARE_64,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_MSG_SEND_DIRECT_RESP_64,
  FFA_PARTITION_INFO_GET_32,
  FFA_RUN_32,
  FFA_RX_RELEASE_32,
  FFA_ID_GET_32,
  FFA_RXTX_MAP_64,
  FFA_VERSION_32,
  ffaToLinuxErrno,
  ffaVersionLayout,
  ffaVersionNumber,
  type FfaVersion,
} from "../../../abi/ffa/index.ts";
import { FFA_VERSION_1_0, FFA_VERSION_1_1, FFA_VERSION_1_2 } from "../../../abi/ffa/version.ts";
import type { Machine } from "../../../hw/machine.ts";
import { smcRegs, type SmcRegs } from "../../../hw/smc.ts";
import { Mutex } from "../../../sim/mutex.ts";
import type { Op, Sleeps } from "../../../sim/scheduler.ts";
import type { Sim } from "../../../sim/sim.ts";

/** What the boot-time probe negotiated: the endpoint's buffers, version and ID. */
export interface FfaProbeResult {
  readonly vmId: number;
  readonly txPa: number;
  readonly rxPa: number;
  /** rxtx_bufsz: the buffer size mapped with FFA_RXTX_MAP. */
  readonly bufferSize: number;
  /** The negotiated descriptor layout (the lower of the driver's and the SPMC's version). */
  readonly version: FfaVersion;
}

/** struct ffa_send_direct_data: data0..data4 travel in w3..w7. */
export type FfaSendDirectData = [bigint, bigint, bigint, bigint, bigint];

/** struct ffa_partition_info */
export interface FfaPartitionInfo {
  readonly id: number;
  readonly execCtxt: number;
  readonly properties: number;
  readonly uuid: readonly [number, number, number, number];
}

/** PARTITION_INFO_GET_RETURN_COUNT_ONLY */
const PARTITION_INFO_GET_RETURN_COUNT_ONLY = 1;

const VERSION_NUMBER: Record<FfaVersion, number> = {
  "1.0": FFA_VERSION_1_0,
  "1.1": FFA_VERSION_1_1,
  "1.2": FFA_VERSION_1_2,
};

/** The low 32 bits of a register. */
export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** struct ffa_drv_info plus the machine it runs on. */
export class ArmFfaDriver {
  readonly txLock: Mutex;
  readonly rxLock: Mutex;
  /** mem_ops_native: FFA_FEATURES said a native (64-bit) MEM_LEND or MEM_SHARE exists. */
  memOpsNative = false;
  /** Partitions found at probe (ffa_setup_partitions()). */
  partitions: FfaPartitionInfo[] = [];
  /** SMCs issued by this driver, per function ID (for tests and reports). */
  readonly calls = new Map<number, number>();
  readonly #cpuNs: number;

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
    readonly probe: FfaProbeResult,
  ) {
    this.txLock = new Mutex(sim, "ffa:tx_lock");
    this.rxLock = new Mutex(sim, "ffa:rx_lock");
    this.#cpuNs = machine.masterIndex("cpu-ns");
  }

  get vmId(): number {
    return this.probe.vmId;
  }
  get version(): FfaVersion {
    return this.probe.version;
  }
  /** drv_info->version as a number (FFA_VERSION_1_x). */
  get versionNumber(): number {
    return VERSION_NUMBER[this.probe.version];
  }
  get rxtxBufsz(): number {
    return this.probe.bufferSize;
  }

  /** invoke_ffa_fn(): one SMC through the conduit. */
  *invoke(regs: SmcRegs): Sleeps<SmcRegs> {
    const fid = w(regs, 0);
    this.calls.set(fid, (this.calls.get(fid) ?? 0) + 1);
    return yield* this.machine.smc.smc(regs, "ns");
  }

  /** mutex_lock(), or nothing at boot when no task runs. */
  *lock(m: Mutex): Sleeps<boolean> {
    if (this.sim.sched.current === null) return false;
    yield* m.lock();
    return true;
  }

  /** Writes bytes into the TX buffer as the kernel (memcpy into drv_info->tx_buffer). */
  writeTx(bytes: Uint8Array, offset = 0): number {
    return this.machine.writeBytes(this.#cpuNs, this.probe.txPa + offset, bytes, { kernel: true });
  }

  /** Reads the RX buffer as the kernel. */
  readRx(offset: number, length: number): Uint8Array {
    return this.machine.readBytes(this.#cpuNs, this.probe.rxPa + offset, length, { kernel: true }).bytes;
  }

  /** ffa_features(func_feat_id, input_props, ...): 0 when supported, else −errno. */
  *features(funcId: number, inputProps = 0): Sleeps<number> {
    const ret = yield* this.invoke(smcRegs(FFA_FEATURES_32, funcId, inputProps));
    if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
    return 0;
  }

  /** ffa_set_up_mem_ops_native_flag() */
  *setUpMemOpsNativeFlag(): Sleeps {
    if ((yield* this.features(FFA_MEM_LEND_64)) === 0 || (yield* this.features(FFA_MEM_SHARE_64)) === 0)
      this.memOpsNative = true;
  }

  /**
   * __ffa_partition_info_get(uuid): the partitions whose UUID matches (all for the nil UUID), or
   * −errno. v1.1+: the count first (RETURN_COUNT_ONLY), then the descriptors, as ffa_partition_probe().
   */
  *partitionInfoGet(uuid: readonly number[]): Sleeps<FfaPartitionInfo[] | number> {
    const v10 = this.probe.version === "1.0";
    let count = 0;
    if (!v10) {
      const locked = yield* this.lock(this.rxLock);
      const r = yield* this.invoke(
        smcRegs(
          FFA_PARTITION_INFO_GET_32,
          uuid[0],
          uuid[1],
          uuid[2],
          uuid[3],
          PARTITION_INFO_GET_RETURN_COUNT_ONLY,
        ),
      );
      if (locked) this.rxLock.unlock();
      if (w(r, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(r, 2) | 0);
      count = w(r, 2);
      if (count === 0) return [];
    }
    const locked = yield* this.lock(this.rxLock);
    const r = yield* this.invoke(smcRegs(FFA_PARTITION_INFO_GET_32, uuid[0], uuid[1], uuid[2], uuid[3], 0));
    if (w(r, 0) === FFA_ERROR_32) {
      if (locked) this.rxLock.unlock();
      return ffaToLinuxErrno(w(r, 2) | 0);
    }
    count = w(r, 2);
    const sz = v10 ? 8 : w(r, 3);
    const out: FfaPartitionInfo[] = [];
    const bytes = this.readRx(0, count * sz);
    const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < count; i++) {
      const o = i * sz;
      const u: [number, number, number, number] = [0, 0, 0, 0];
      if (sz >= 24) for (let k = 0; k < 4; k++) u[k] = d.getUint32(o + 8 + 4 * k, true);
      out.push({
        id: d.getUint16(o, true),
        execCtxt: d.getUint16(o + 2, true),
        properties: d.getUint32(o + 4, true),
        uuid: u,
      });
    }
    yield* this.invoke(smcRegs(FFA_RX_RELEASE_32));
    if (locked) this.rxLock.unlock();
    return out;
  }

  /**
   * ffa_msg_send_direct_req(src, dst, mode_32bit, data): 0 with `data` replaced by w3..w7 of the
   * response, or −errno (FFA_ERROR mapped; an unexpected answer is −EINVAL). FFA_INTERRUPT is
   * resumed with FFA_RUN.
   */
  *msgSendDirectReq(dst: number, mode32: boolean, data: FfaSendDirectData): Sleeps<number> {
    const reqId = mode32 ? FFA_MSG_SEND_DIRECT_REQ_32 : FFA_MSG_SEND_DIRECT_REQ_64;
    const respId = mode32 ? FFA_MSG_SEND_DIRECT_RESP_32 : FFA_MSG_SEND_DIRECT_RESP_64;
    const srcDst = ((this.vmId << 16) | (dst & 0xffff)) >>> 0;
    let ret = yield* this.invoke(smcRegs(reqId, srcDst, 0, ...data));
    while (w(ret, 0) === FFA_INTERRUPT_32) ret = yield* this.invoke(smcRegs(FFA_RUN_32, ret[1]));
    if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
    if (w(ret, 0) !== respId) return -22;
    for (let i = 0; i < 5; i++) data[i] = mode32 ? ret[3 + i] & 0xffff_ffffn : ret[3 + i];
    return 0;
  }
}

/** Runs a boot-time call chain to its end (initcalls run before any task; nothing may block). */
export function bootDrain<T>(gen: Sleeps<T>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
    const op: Op = r.value;
    if (op.kind === "block") throw new Error("a boot-time kernel call blocked");
  }
}

/**
 * The start of ffa_init() — drivers/firmware/arm_ffa/driver.c: ffa_version_check() (FFA_VERSION with
 * the version the driver asks for; the layout it then writes is the lower of asked and answered),
 * FFA_ID_GET for its own VM ID, and FFA_RXTX_MAP of its RX/TX pair. The pair is the firmware boot's
 * stand-in pages (firmware/boot.ts). Returns what the rest of the driver runs on, or the errno.
 */
export function* armFfaProbe(
  machine: Machine,
  buffers: { txPa: number; rxPa: number; bufferSize: number },
  asked: FfaVersion,
): Sleeps<FfaProbeResult | number> {
  const requested = ffaVersionNumber(asked);
  const v = yield* machine.smc.smc(smcRegs(FFA_VERSION_32, requested));
  const answer = Number(v[0] & 0xffff_ffffn);
  // FFA_RET_NOT_SUPPORTED (negative as w0): no FF-A here (-EOPNOTSUPP, as ffa_version_check()).
  if (answer >>> 31 !== 0) return -95;
  const version = ffaVersionLayout(Math.min(requested, answer)) ?? asked;
  const id = yield* machine.smc.smc(smcRegs(FFA_ID_GET_32));
  if (Number(id[0] & 0xffff_ffffn) === FFA_ERROR_32) return ffaToLinuxErrno(Number(BigInt.asIntN(32, id[2])));
  const map = yield* machine.smc.smc(
    smcRegs(FFA_RXTX_MAP_64, buffers.txPa, buffers.rxPa, buffers.bufferSize / 4096),
  );
  if (Number(map[0] & 0xffff_ffffn) === FFA_ERROR_32)
    return ffaToLinuxErrno(Number(BigInt.asIntN(32, map[2])));
  return {
    vmId: Number(id[2] & 0xffffn),
    txPa: buffers.txPa,
    rxPa: buffers.rxPa,
    bufferSize: buffers.bufferSize,
    version,
  };
}

/**
 * The rest of the arm_ffa initcall (ffa_init() after armFfaProbe()): the native memory-ops flag and the
 * partitions on the bus. Registers the driver in `kernel.armFfa`.
 */
export function armFfaInitcall(
  probe: FfaProbeResult,
): (kernel: { sim: Sim; machine: Machine; armFfa?: ArmFfaDriver }) => number {
  return function ffa_init(kernel) {
    const drv = new ArmFfaDriver(kernel.sim, kernel.machine, probe);
    bootDrain(drv.setUpMemOpsNativeFlag());
    const parts = bootDrain(drv.partitionInfoGet([0, 0, 0, 0]));
    if (typeof parts !== "number") drv.partitions = parts;
    kernel.armFfa = drv;
    return 0;
  };
}
