/**
 * The arm_ffa driver's core — drivers/firmware/arm_ffa/driver.c (torvalds/linux v6.18): `drv_info`
 * (negotiated version, own VM ID, the RX/TX buffer pair and their locks, mem_ops_native,
 * msg_direct_req2_supp, the notification state), invoke_ffa_fn() through the SMC conduit,
 * ffa_features(), ffa_rx_release(), ffa_msg_send_direct_req() with ffa_msg_send_wait_for_completion(),
 * and ffa_init(). ffa_rxtx_unmap() has no caller in 6.18.0 but ffa_exit(), which a built-in driver never
 * runs (see armFfaInitcall()), so it is not modelled. Partition discovery is in partition_info.ts, the
 * FF-A bus (devices, drivers, ffa_setup_partitions()) in bus.ts, notifications in notif.ts, memory
 * operations in mem_ops.ts.
 *
 * ffa_init(), in order (every call an SMC the SPMC sees):
 *   FFA_VERSION(FFA_DRIVER_VERSION) → FFA_ID_GET → FFA_FEATURES(FFA_RXTX_MAP_64) → FFA_RXTX_MAP_64
 *   → ffa_drvinfo_flags_init(): FFA_FEATURES(MEM_LEND_64) [then FFA_FEATURES(MEM_SHARE_64) only if
 *     that failed], FFA_FEATURES(MSG_SEND_DIRECT_REQ2) [then FFA_FEATURES(MSG_SEND_DIRECT_RESP2) only
 *     if that failed]
 *   → ffa_notifications_setup() (notif.ts) → ffa_setup_partitions() (bus.ts).
 * In this model the first four calls are armFfaProbe(), run before the kernel boots so that raw `ffa:`
 * steps and the driver share one endpoint state (scenario/system.ts); armFfaInitcall() does the rest.
 * FFA_DRIVER_VERSION is FFA_VERSION_1_2 in 6.18; the platform's `ffaVersion` stands for it, so that a
 * platform can put the driver on an older negotiated version (the layout is the lower of the two).
 *
 * Locks: tx_lock and rx_lock are sim mutexes. Calls made at boot (no task is running) take no lock:
 * boot is single-threaded, as the kernel's initcalls are.
 */
import {
  FFA_ERROR_32,
  FFA_FEATURES_32,
  FFA_ID_GET_32,
  FFA_INTERRUPT_32,
  FFA_MEM_LEND_64,
  FFA_MEM_SHARE_64,
  FFA_MSG_SEND_DIRECT_REQ2_64,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_MSG_SEND_DIRECT_RESP2_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_MSG_SEND_DIRECT_RESP_64,
  FFA_RUN_32,
  FFA_RX_RELEASE_32,
  FFA_RXTX_MAP_64,
  FFA_VERSION_32,
  FFA_YIELD_32,
  ffaToLinuxErrno,
  ffaVersionLayout,
  ffaVersionMajor,
  ffaVersionNumber,
  type FfaVersion,
} from "../../../abi/ffa/index.ts";
import { FFA_VERSION_1_0 } from "../../../abi/ffa/version.ts";
import { EINVAL, ENODEV, ENOMEM, EOPNOTSUPP } from "../../../abi/uapi/errno.ts";
import type { Machine } from "../../../hw/machine.ts";
import { PS_RESERVED } from "../../mm/gfp.ts";
import type { Mm } from "../../mm/mm.ts";
import { SideTable } from "../../../sim/side_table.ts";
import { smcRegs, type SmcRegs } from "../../../hw/smc.ts";
import { Mutex } from "../../../sim/mutex.ts";
import { drainSync, elapse, sleep, type Sleeps } from "../../../sim/scheduler.ts";
import type { Sim } from "../../../sim/sim.ts";
import { ffaSetupPartitions, type FfaDevice } from "./bus.ts";
import { ffaNotificationsCleanup, ffaNotificationsSetup } from "./notif.ts";

/** What the boot-time part of ffa_init() negotiated: the endpoint's buffers, version and ID. */
export interface FfaProbeResult {
  readonly vmId: number;
  readonly txPa: number;
  readonly rxPa: number;
  /** drv_info->rxtx_bufsz: the buffer size mapped with FFA_RXTX_MAP (from FFA_FEATURES(RXTX_MAP)). */
  readonly bufferSize: number;
  /** The negotiated descriptor layout (ffa_compatible_version_find() of the SPMC's answer). */
  readonly version: FfaVersion;
  /** drv_info->version as a number. */
  readonly versionNumber: number;
  /** The SMCs made so far, per function ID (the driver's `calls` starts from them). */
  readonly calls: ReadonlyMap<number, number>;
}

/** struct ffa_send_direct_data: data0..data4 travel in x3..x7. */
export type FfaSendDirectData = [bigint, bigint, bigint, bigint, bigint];

/** FFA_RET_NOT_SUPPORTED as FFA_VERSION returns it, in w0 itself. */
const FFA_RET_NOT_SUPPORTED = -1;
/** RXTX_MAP_MIN_BUFSZ(x): bits[1:0] of FFA_FEATURES(FFA_RXTX_MAP)'s w2 — 0: 4K, 1: 64K, 2: 16K. */
const RXTX_MAP_MIN_BUFSZ_MASK = 0x3;
const SZ_4K = 4096;
const SZ_16K = 16384;
const SZ_64K = 65536;
/** ffa_msg_send_wait_for_completion(): fsleep(1000) after FFA_YIELD — 1000 µs. */
export const FFA_YIELD_SLEEP_NS = 1_000_000;

/** The low 32 bits of a register. */
export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** (int)ret.a2: an FF-A error code as the driver casts it. */
function errCode(regs: SmcRegs): number {
  return w(regs, 2) | 0;
}

/** struct ffa_drv_info plus the machine it runs on. */
export class ArmFfaDriver {
  readonly txLock: Mutex;
  readonly rxLock: Mutex;
  /** mem_ops_native: FFA_FEATURES said a native (64-bit) MEM_LEND or MEM_SHARE exists. */
  memOpsNative = false;
  /** msg_direct_req2_supp: FFA_MSG_SEND_DIRECT_REQ2 or RESP2 is supported. */
  msgDirectReq2Supp = false;
  /** bitmap_created / notif_enabled and the two interrupts (notif.ts). */
  bitmapCreated = false;
  notifEnabled = false;
  schedRecvIrq = 0;
  notifPendIrq = 0;
  /** The devices on the FF-A bus (bus.ts), in registration order. */
  readonly devices: FfaDevice[] = [];
  /** SMCs issued by this driver since FFA_VERSION, per function ID (for tests and reports). */
  readonly calls: Map<number, number>;
  readonly #cpuNs: number;

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
    readonly probe: FfaProbeResult,
  ) {
    this.txLock = new Mutex(sim, "ffa:tx_lock");
    this.rxLock = new Mutex(sim, "ffa:rx_lock");
    this.#cpuNs = machine.masterIndex("cpu-ns");
    this.calls = new Map(probe.calls);
  }

  get vmId(): number {
    return this.probe.vmId;
  }
  /** The descriptor layout of drv_info->version. */
  get version(): FfaVersion {
    return this.probe.version;
  }
  /** drv_info->version as a number (FFA_VERSION_1_x). */
  get versionNumber(): number {
    return this.probe.versionNumber;
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

  /** Stores bytes into the TX buffer as the kernel (drv_info->tx_buffer); the machine's access code. */
  writeTx(bytes: Uint8Array, offset = 0): number {
    return this.machine.writeBytes(this.#cpuNs, this.probe.txPa + offset, bytes, { kernel: true });
  }

  /** Reads the RX buffer as the kernel. */
  readRx(offset: number, length: number): Uint8Array {
    return this.machine.readBytes(this.#cpuNs, this.probe.rxPa + offset, length, { kernel: true }).bytes;
  }

  /**
   * ffa_features(func_feat_id, input_props, &if_props_1, &if_props_2): 0 with w2 and w3 of the
   * answer, or −errno. A non-fast-call ID (a feature ID) with input properties is refused without a call.
   */
  *features(funcFeatId: number, inputProps = 0): Sleeps<{ rc: number; props1: number; props2: number }> {
    const fastCall = (funcFeatId & 0x8000_0000) !== 0;
    if (!fastCall && inputProps) return { rc: -EINVAL, props1: 0, props2: 0 };
    const ret = yield* this.invoke(smcRegs(FFA_FEATURES_32, funcFeatId, inputProps));
    if (w(ret, 0) === FFA_ERROR_32) return { rc: ffaToLinuxErrno(errCode(ret)), props1: 0, props2: 0 };
    return { rc: 0, props1: w(ret, 2), props2: w(ret, 3) };
  }

  /** ffa_rx_release(): 0 or −errno (the answer is not checked further, as upstream's TODO says). */
  *rxRelease(): Sleeps<number> {
    const ret = yield* this.invoke(smcRegs(FFA_RX_RELEASE_32));
    return w(ret, 0) === FFA_ERROR_32 ? ffaToLinuxErrno(errCode(ret)) : 0;
  }

  /** ffa_drvinfo_flags_init(): the `||` stops at the first supported ID, as in C. */
  *drvinfoFlagsInit(): Sleeps {
    if ((yield* this.features(FFA_MEM_LEND_64)).rc === 0 || (yield* this.features(FFA_MEM_SHARE_64)).rc === 0)
      this.memOpsNative = true;
    if (
      (yield* this.features(FFA_MSG_SEND_DIRECT_REQ2_64)).rc === 0 ||
      (yield* this.features(FFA_MSG_SEND_DIRECT_RESP2_64)).rc === 0
    )
      this.msgDirectReq2Supp = true;
  }

  /**
   * ffa_msg_send_direct_req(src_id, dst_id, mode_32bit, data): FFA_MSG_SEND_DIRECT_REQ_32 when
   * mode_32bit, else the native (64-bit) ID; x3..x7 = data0..data4 as given (the OP-TEE driver's values
   * all fit in 32 bits, and an SMC32 callee reads only w3..w7). ffa_msg_send_wait_for_completion():
   * while the answer is FFA_INTERRUPT or FFA_YIELD, FFA_RUN(w1 of that answer) — after fsleep(1000) for
   * FFA_YIELD. Then FFA_ERROR → ffa_to_linux_errno(); the response ID of the request's width → 0 with
   * data0..data4 = x3..x7 (copied whole, as upstream); anything else → −EINVAL.
   */
  *msgSendDirectReq(dst: number, mode32: boolean, data: FfaSendDirectData): Sleeps<number> {
    const reqId = mode32 ? FFA_MSG_SEND_DIRECT_REQ_32 : FFA_MSG_SEND_DIRECT_REQ_64;
    const respId = mode32 ? FFA_MSG_SEND_DIRECT_RESP_32 : FFA_MSG_SEND_DIRECT_RESP_64;
    const srcDst = (((this.vmId & 0xffff) << 16) | (dst & 0xffff)) >>> 0;
    let ret = yield* this.invoke(smcRegs(reqId, srcDst, 0, ...data));
    while (w(ret, 0) === FFA_INTERRUPT_32 || w(ret, 0) === FFA_YIELD_32) {
      if (w(ret, 0) === FFA_YIELD_32 && !elapse(FFA_YIELD_SLEEP_NS)) yield sleep(FFA_YIELD_SLEEP_NS);
      ret = yield* this.invoke(smcRegs(FFA_RUN_32, ret[1]));
    }
    if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(errCode(ret));
    if (w(ret, 0) !== respId) return -EINVAL;
    for (let i = 0; i < 5; i++) data[i] = ret[3 + i];
    return 0;
  }

  /** ffa_mode_32bit_set() (msg_ops->mode_32bit_set). */
  mode32BitSet(dev: FfaDevice): void {
    dev.mode32Bit = true;
  }

  /** ffa_sync_send_receive() (msg_ops->sync_send_receive): a direct request to the device's partition. */
  *syncSendReceive(dev: FfaDevice, data: FfaSendDirectData): Sleeps<number> {
    return yield* this.msgSendDirectReq(dev.vmId, dev.mode32Bit, data);
  }
}

/** Runs a boot-time call chain to its end (initcalls run before any task; nothing may block). */
export function bootDrain<T>(gen: Sleeps<T>): T {
  return drainSync(gen, "a boot-time kernel call");
}

/**
 * The start of ffa_init() — drivers/firmware/arm_ffa/driver.c v6.18:
 * - ffa_version_check(): FFA_VERSION(driver version); (s32)w0 == FFA_RET_NOT_SUPPORTED → −EOPNOTSUPP;
 *   a higher major or an answer below v1.0 → −EINVAL; ffa_compatible_version_find() keeps the
 *   answer unless it is above the driver's version;
 * - ffa_id_get(): FFA_ID_GET, the VM ID from w2 (any failure → −ENODEV, "failed to obtain VM id");
 * - FFA_FEATURES(FFA_RXTX_MAP_64): the minimum buffer size (4K when the call fails);
 * - ffa_rxtx_map(): FFA_RXTX_MAP_64(tx, rx, page count) ("failed to register FFA RxTx buffers").
 * The buffers are the firmware boot's stand-in pages for alloc_pages_exact() (firmware/boot.ts): a
 * minimum size larger than they are is −ENOMEM here (a model limit). Returns what the rest of the
 * driver runs on, or the errno.
 */
export function* armFfaProbe(
  machine: Machine,
  buffers: { txPa: number; rxPa: number; bufferSize: number },
  driverVersion: FfaVersion = "1.2",
): Sleeps<FfaProbeResult | number> {
  const calls = new Map<number, number>();
  // eslint-disable-next-line no-restricted-syntax -- made once, at ffa_init(), part of the booted system
  const invoke = function* (regs: SmcRegs): Sleeps<SmcRegs> {
    const fid = w(regs, 0);
    calls.set(fid, (calls.get(fid) ?? 0) + 1);
    return yield* machine.smc.smc(regs, "ns");
  };
  const drvVersion = ffaVersionNumber(driverVersion);
  const ver = yield* invoke(smcRegs(FFA_VERSION_32, drvVersion));
  if (Number(BigInt.asIntN(32, ver[0] & 0xffff_ffffn)) === FFA_RET_NOT_SUPPORTED) return -EOPNOTSUPP;
  const answer = ver[0];
  if (BigInt(ffaVersionMajor(Number(answer & 0xffff_ffffn))) > BigInt(ffaVersionMajor(drvVersion)))
    return -EINVAL;
  if (answer < BigInt(FFA_VERSION_1_0)) return -EINVAL;
  const a = Number(answer & 0xffff_ffffn);
  const versionNumber = a <= drvVersion ? a : drvVersion;
  const version = ffaVersionLayout(versionNumber) ?? driverVersion;
  const id = yield* invoke(smcRegs(FFA_ID_GET_32));
  if (w(id, 0) === FFA_ERROR_32) return -ENODEV;
  let rxtxBufsz = SZ_4K;
  const feat = yield* invoke(smcRegs(FFA_FEATURES_32, FFA_RXTX_MAP_64, 0));
  if (w(feat, 0) !== FFA_ERROR_32) {
    const min = w(feat, 2) & RXTX_MAP_MIN_BUFSZ_MASK;
    rxtxBufsz = min === 1 ? SZ_64K : min === 2 ? SZ_16K : SZ_4K;
  }
  if (rxtxBufsz > buffers.bufferSize) return -ENOMEM;
  const map = yield* invoke(smcRegs(FFA_RXTX_MAP_64, buffers.txPa, buffers.rxPa, rxtxBufsz / SZ_4K));
  if (w(map, 0) === FFA_ERROR_32) return ffaToLinuxErrno(errCode(map));
  return {
    vmId: Number(id[2] & 0xffffn),
    txPa: buffers.txPa,
    rxPa: buffers.rxPa,
    bufferSize: rxtxBufsz,
    version,
    versionNumber,
    calls,
  };
}

function prErr(sim: Sim, msg: string): void {
  if (sim.trace.listening) sim.trace.emit("kernel", "pr_err", { msg: `ARM FF-A: ${msg}` });
}

/** The RX/TX pair ffa_init() freed while the SPMC still maps it (see armFfaInitcall()). */
export interface FfaFreedRxtx {
  readonly txPa: number;
  readonly rxPa: number;
  /** rxtx_bufsz: the size of each buffer, as mapped and as freed. */
  readonly bytes: number;
}

const freedRxtx = new SideTable<object, FfaFreedRxtx>("arm_ffa-freed-rxtx");

/** The RX/TX pair this kernel's ffa_init() freed without FFA_RXTX_UNMAP, or null. */
export function armFfaFreedRxtx(kernel: object): FfaFreedRxtx | null {
  return freedRxtx.get(kernel) ?? null;
}

/**
 * Pages of an endpoint's RX/TX mapping (as the SPMC holds it: tx, rx, page count) that lie in the pair
 * this kernel's ffa_init() freed: 0 when it never gave up, or when the mapping has gone since.
 */
export function armFfaFreedPagesStillMapped(
  kernel: object,
  mapped: { readonly tx: number | null; readonly rx: number | null; readonly pageCount: number },
): number {
  const freed = freedRxtx.get(kernel);
  if (!freed) return 0;
  const overlap = (pa: number | null, bytes: number, start: number, size: number): number =>
    pa === null ? 0 : Math.max(0, Math.min(pa + bytes, start + size) - Math.max(pa, start)) / SZ_4K;
  const bytes = mapped.pageCount * SZ_4K;
  let pages = 0;
  for (const pa of [mapped.tx, mapped.rx])
    pages += overlap(pa, bytes, freed.txPa, freed.bytes) + overlap(pa, bytes, freed.rxPa, freed.bytes);
  return pages;
}

/**
 * free_pages_exact(buf, size) of a buffer ffa_init() took with alloc_pages_exact(): the pages go back
 * to the page allocator, for anyone's next allocation. Here they are the firmware boot's stand-in pages
 * (firmware/boot.ts), inside the range memblock reserved for the kernel image (mm.ts), so they join the
 * buddy as reserved memory freed at boot does: the end state free_pages_exact() leaves.
 */
function freePagesExact(mm: Mm, pa: number, size: number): void {
  const frames = mm.machine.frames;
  const start = frames.indexOf(pa);
  const end = start + size / SZ_4K;
  if (start < 0 || end > frames.count) return;
  for (let i = start; i < end; i++) if (frames.state[i] !== PS_RESERVED) return;
  mm.buddy.freeBootRange(start, end);
}

/**
 * The rest of ffa_init() after armFfaProbe(): ffa_drvinfo_flags_init(), ffa_notifications_setup(),
 * ffa_setup_partitions(). Otherwise the driver is registered in `kernel.armFfa`.
 *
 * When the partitions cannot be set up ("failed to setup partitions"), 6.18.0 cleans up the
 * notifications and falls through to its `free_pages:` label — free_pages_exact() of the TX and RX
 * buffers, kfree(drv_info) — WITHOUT ffa_rxtx_unmap(). The SPMC still holds those pages as endpoint
 * 0's RX/TX pair while the page allocator hands them out again: whatever the SPMC writes into that RX
 * buffer later (a partition's FFA_MSG_SEND2 to the normal world, an answer to a normal-world call)
 * lands in memory Linux reused, and a second FFA_RXTX_MAP for the ID (arm_ffa loaded again as a
 * module, a kexec'd kernel) is DENIED, "already mapped". The unmap came with "firmware: arm_ffa: Unmap
 * Rx/Tx buffers on init failure" (upstream 9fda364cb78c, after v6.19; Message-Id
 * 20251210031656.56194-1-lihaoxiang@isrc.iscas.ac.cn), queued for 6.19.y and 6.18.y stable in March
 * 2026 (linux-stable-rc 6.18.y: e209192dfef4). The pair freed is recorded for the end of the run
 * (armFfaFreedPagesStillMapped()), and `kernel.armFfa` stays unset.
 * ffa_init()'s earlier failures happen in armFfaProbe(), before this kernel's page allocator exists:
 * after a failed ffa_rxtx_map() 6.18.0 frees both buffers (no mapping to undo), which the model leaves
 * reserved.
 */
export function armFfaInitcall(
  probe: FfaProbeResult,
): (kernel: { sim: Sim; machine: Machine; mm: Mm; armFfa?: ArmFfaDriver }) => number {
  return function ffa_init(kernel) {
    const drv = new ArmFfaDriver(kernel.sim, kernel.machine, probe);
    bootDrain(drv.drvinfoFlagsInit());
    bootDrain(ffaNotificationsSetup(drv));
    const ret = bootDrain(ffaSetupPartitions(drv));
    if (ret) {
      prErr(kernel.sim, "failed to setup partitions");
      bootDrain(ffaNotificationsCleanup(drv));
      freePagesExact(kernel.mm, probe.txPa, probe.bufferSize);
      freePagesExact(kernel.mm, probe.rxPa, probe.bufferSize);
      freedRxtx.set(kernel, { txPa: probe.txPa, rxPa: probe.rxPa, bytes: probe.bufferSize });
      return ret;
    }
    kernel.armFfa = drv;
    return 0;
  };
}
