/**
 * "Upstream, exactly": the FF-A calls of one protected allocation — boot (arm_ffa's ffa_init(), the
 * OP-TEE driver's probe) through the first DMA_HEAP_IOCTL_ALLOC on protected,secure-video (lend and
 * assign) — on tzc400-board (OP-TEE 4.9 as its own SPMC), as the SPMC sees them, against the list
 * derived from the sources: torvalds/linux v6.18 drivers/firmware/arm_ffa/driver.c and bus.c,
 * drivers/tee/optee/ffa_abi.c, call.c, core.c, device.c, protmem.c, drivers/tee/tee_shm.c; OP-TEE
 * 4.9.0 core/arch/arm/kernel/thread_spmc.c (its answers decide the branches Linux takes).
 *
 * OP-TEE 4.9's handle_features() lists FFA_NOTIFICATION_BITMAP_CREATE, and its thread_spmc_msg_recv()
 * handles it (handle_notification_bitmap_create(): VM 0's bitmap, SUCCESS): Linux's
 * ffa_notifications_setup() creates the bitmap, finds neither interrupt (the schedule-receiver one only
 * when spmc_notif_is_ready, which needs a platform with CFG_CORE_ASYNC_NOTIF; the notification-pending
 * one is not listed), and ffa_notifications_cleanup() destroys it (handle_notification_bitmap_destroy():
 * nothing bound or pending, SUCCESS).
 *
 * Where the model's secure side answers differently from a real OP-TEE 4.9 build, Linux takes another
 * branch and the real table differs (the list follows the model's answers; each is marked):
 * - none for the device enumeration: OP-TEE 4.9's device.pta (secure/optee/pta_device.ts) answers the
 *   first PTA_CMD_GET_DEVICES (no buffer, size 0) with TEE_SUCCESS and size 0 when the build has no
 *   TA with TA_FLAG_DEVICE_ENUM (the default configuration), so optee_enumerate_devices() neither
 *   allocates a buffer nor invokes again: OPEN_SESSION, INVOKE_COMMAND, CLOSE_SESSION.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  FFA_MEM_LEND_64,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_SHARE_64,
  FFA_MSG_SEND_DIRECT_REQ2_64,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_RESP2_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_RXTX_MAP_64,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import {
  OPTEE_FFA_EXCHANGE_CAPABILITIES,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_GET_OS_VERSION,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
} from "../../src/abi/optee/index.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import type { OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { fid, fname, recordSmcs, w, type SmcRecord } from "./ffa-fixture.ts";
import { heapAlloc, MiB, run, SECURE_VIDEO } from "./tee-fixture.ts";

/** One expected call: the function ID, and for FFA_FEATURES / direct requests the ID it carries. */
interface Expected {
  readonly fid: number;
  /** w1 of FFA_FEATURES; w3 of a direct request (OP-TEE service ID). */
  readonly arg?: number;
  /** For a yielding call: the optee_msg_arg command. */
  readonly cmd?: number;
  /** Where it comes from in the source. */
  readonly src: string;
}

const F = (name: string, arg?: number, src = ""): Expected => ({ fid: fid(name), arg, src });
const DIRECT = (service: number, src: string, cmd?: number): Expected => ({
  fid: FFA_MSG_SEND_DIRECT_REQ_32,
  arg: service,
  cmd,
  src,
});

/**
 * The sequence, derived from the sources (comments: the function that makes the call, and the branch
 * taken on OP-TEE 4.9's answers):
 */
const EXPECTED: Expected[] = [
  // arm_ffa ffa_init() (driver.c, rootfs_initcall)
  F("FFA_VERSION_32", undefined, "ffa_version_check(): FFA_VERSION(FFA_DRIVER_VERSION = 1.2)"),
  F("FFA_ID_GET_32", undefined, "ffa_id_get()"),
  F(
    "FFA_FEATURES_32",
    FFA_RXTX_MAP_64,
    "ffa_init(): ffa_features(FFA_FN_NATIVE(RXTX_MAP)) — min buffer size",
  ),
  F("FFA_RXTX_MAP_64", undefined, "ffa_rxtx_map()"),
  F("FFA_FEATURES_32", FFA_MEM_LEND_64, "ffa_drvinfo_flags_init(): MEM_LEND_64 → NOT_SUPPORTED, so …"),
  F("FFA_FEATURES_32", FFA_MEM_SHARE_64, "… MEM_SHARE_64 → SUCCESS: mem_ops_native"),
  F(
    "FFA_FEATURES_32",
    FFA_MSG_SEND_DIRECT_REQ2_64,
    "ffa_drvinfo_flags_init(): DIRECT_REQ2 → NOT_SUPPORTED, so …",
  ),
  F("FFA_FEATURES_32", FFA_MSG_SEND_DIRECT_RESP2_64, "… DIRECT_RESP2 → NOT_SUPPORTED"),
  F(
    "FFA_FEATURES_32",
    FFA_NOTIFICATION_BITMAP_CREATE_32,
    "ffa_notifications_setup(): handle_features() lists it → SUCCESS, so …",
  ),
  F(
    "FFA_NOTIFICATION_BITMAP_CREATE_32",
    undefined,
    "… ffa_notification_bitmap_create(vm_id 0, nr_cpu_ids) → SUCCESS: bitmap_created",
  ),
  F(
    "FFA_FEATURES_32",
    2,
    "ffa_irq_map(FFA_FEAT_SCHEDULE_RECEIVER_INT) → NOT_SUPPORTED (spmc_notif_is_ready false)",
  ),
  F("FFA_FEATURES_32", 1, "ffa_irq_map(FFA_FEAT_NOTIFICATION_PENDING_INT) → NOT_SUPPORTED (not listed)"),
  F(
    "FFA_NOTIFICATION_BITMAP_DESTROY_32",
    undefined,
    'no IRQ: "Notification setup failed" → ffa_notifications_cleanup() → ffa_notification_bitmap_destroy()',
  ),
  F(
    "FFA_FEATURES_32",
    FFA_PARTITION_INFO_GET_REGS_64,
    "ffa_setup_partitions() → ffa_partition_probe(uuid_null)",
  ),
  F("FFA_PARTITION_INFO_GET_32", undefined, "__ffa_partition_info_get(): RETURN_COUNT_ONLY (no RX_RELEASE)"),
  F("FFA_PARTITION_INFO_GET_32", undefined, "__ffa_partition_info_get(): the descriptors …"),
  F("FFA_RX_RELEASE_32", undefined, "… then ffa_rx_release()"),
  // optee_ffa_probe() (ffa_abi.c), bound by the FF-A bus on OP-TEE's UUID: every request is 32-bit
  DIRECT(OPTEE_FFA_GET_API_VERSION, "optee_ffa_api_is_compatible() after mode_32bit_set()"),
  DIRECT(OPTEE_FFA_GET_OS_VERSION, "optee_ffa_api_is_compatible()"),
  DIRECT(OPTEE_FFA_EXCHANGE_CAPABILITIES, "optee_ffa_exchange_caps(): ARG_OFFSET | RPMB_PROBE | PROTMEM"),
  F(
    "FFA_MEM_SHARE_64",
    undefined,
    "protmem get_protmem_config() #1 → optee_get_msg_arg(): the arg cache's page (tee_shm_alloc_kernel_buf → optee_ffa_shm_register)",
  ),
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "get_protmem_config() #1: no buffer → TEEC_ERROR_SHORT_BUFFER",
    OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  ),
  F("FFA_MEM_SHARE_64", undefined, "get_protmem_config() #2: tee_shm_alloc_priv_buf(ma_count * 4)"),
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "get_protmem_config() #2: the attribute into that buffer",
    OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  ),
  DIRECT(OPTEE_FFA_UNREGISTER_SHM, "tee_shm_free(shm_param) → optee_ffa_shm_unregister()"),
  F("FFA_MEM_RECLAIM_32", undefined, "optee_ffa_shm_unregister(): memory_reclaim()"),
  // optee_enumerate_devices(PTA_CMD_GET_DEVICES) (device.c) against OP-TEE 4.9's device.pta
  // (core/pta/device.c, CFG_DEVICE_ENUM_PTA ?= y), the messages in the arg cache's page:
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "tee_client_open_session() → optee_open_session(): entry_open_session() finds the pseudo TA",
    OPTEE_MSG_CMD_OPEN_SESSION,
  ),
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "get_devices(NULL, size 0) → optee_invoke_func(): get_devices() lists no TA by default → TEE_SUCCESS, size 0",
    OPTEE_MSG_CMD_INVOKE_COMMAND,
  ),
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "`!shm_size` → out_sess: tee_client_close_session() → optee_close_session_helper()",
    OPTEE_MSG_CMD_CLOSE_SESSION,
  ),
  // the first DMA_HEAP_IOCTL_ALLOC: protmem.c init_dyn_protmem() → optee_ffa_lend_protmem()
  F("FFA_MEM_LEND_64", undefined, "ffa_memory_lend() (mem_ops_native)"),
  DIRECT(
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    "do_call_lend_protmem(): ASSIGN_PROTMEM",
    OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  ),
];

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

describe("the FF-A call table of one protected allocation (tzc400-board)", () => {
  it("is the Linux 6.18 sequence, call by call, as the SPMC sees it", () => {
    const rec = recordSmcs();
    stop = rec.stop;
    const sim = new Sim(1);
    const spmcSeen: number[] = [];
    const commands: number[] = [];
    sim.trace.subscribe((e) => {
      if (e.layer === "firmware" && e.name === "ffa" && e.args.from === "0x0")
        spmcSeen.push(fid(String(e.args.call)));
      if (e.layer === "secure" && e.name === "yielding-call") commands.push(Number(e.args.cmd));
    });
    const sys = buildSystem(sim, PRESETS["tzc400-board"]);
    const p = userSpaceOf(sys.kernel).spawn("player");
    const fd = run(sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return yield* heapAlloc(p, heap, MiB);
    });
    expect(fd).toBeGreaterThan(0);

    // 1. The function IDs the SPMC handled from the normal world, in its order.
    expect(spmcSeen.map(fname)).toEqual(EXPECTED.map((e) => fname(e.fid)));
    // 2. The SPMC's per-function counters agree.
    const counts = new Map<number, number>();
    for (const e of EXPECTED) counts.set(e.fid, (counts.get(e.fid) ?? 0) + 1);
    expect(new Map([...sys.spmc.calls].sort())).toEqual(new Map([...counts].sort()));
    // 3. The registers: FFA_FEATURES' w1 and the direct requests' service ID (w3), call by call.
    const nwd = rec.log.filter((r) => r.caller === "ns");
    const show = (f: number, a?: number) => `${fname(f)}${a !== undefined ? `(0x${a.toString(16)})` : ""}`;
    const argOf = (r: SmcRecord) =>
      w(r.regs, 0) === fid("FFA_FEATURES_32")
        ? w(r.regs, 1)
        : w(r.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32
          ? w(r.regs, 3)
          : undefined;
    expect(nwd.map((r) => show(w(r.regs, 0), argOf(r)))).toEqual(EXPECTED.map((e) => show(e.fid, e.arg)));
    // 4. The yielding calls' messages, as OP-TEE read them.
    expect(commands).toEqual(EXPECTED.filter((e) => e.cmd !== undefined).map((e) => e.cmd));
    // Every direct request was 32-bit, answered 32-bit, with x3..x7 within 32 bits.
    for (const r of nwd.filter((x) => w(x.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32)) {
      expect(w(r.out!, 0)).toBe(FFA_MSG_SEND_DIRECT_RESP_32);
      for (let i = 3; i <= 7; i++) expect(r.regs[i] >> 32n).toBe(0n);
    }
    // The bitmap calls name VM 0 (drv_info->vm_id; create also nr_cpu_ids = 1 in w2) and succeed.
    const bitmaps = nwd.filter((r) =>
      [FFA_NOTIFICATION_BITMAP_CREATE_32, FFA_NOTIFICATION_BITMAP_DESTROY_32].includes(w(r.regs, 0)),
    );
    expect(bitmaps.map((r) => [w(r.regs, 1), w(r.regs, 2), w(r.out!, 0), w(r.out!, 2)])).toEqual([
      [0, 1, FFA_SUCCESS_32, 0],
      [0, 0, FFA_SUCCESS_32, 0],
    ]);
    // The shares were answered FFA_SUCCESS_32; the attribute buffer (the second share) is the one
    // unregistered and reclaimed; the arg cache's page (the first) stays, and every message used it.
    const shares = nwd.filter((r) => w(r.regs, 0) === FFA_MEM_SHARE_64);
    expect(shares.map((r) => w(r.out!, 0))).toEqual([FFA_SUCCESS_32, FFA_SUCCESS_32]);
    const handle = (r: SmcRecord) => (r.out![2] & 0xffff_ffffn) | ((r.out![3] & 0xffff_ffffn) << 32n);
    const reclaim = nwd.find((r) => w(r.regs, 0) === FFA_MEM_RECLAIM_32)!;
    expect(reclaim.regs[1] | (reclaim.regs[2] << 32n)).toBe(handle(shares[1]));
    const unreg = nwd.find(
      (r) => w(r.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32 && w(r.regs, 3) === OPTEE_FFA_UNREGISTER_SHM,
    )!;
    expect(unreg.regs[4] | (unreg.regs[5] << 32n)).toBe(handle(shares[1]));
    const optee = sys.kernel.optee!;
    expect(optee.shmArgCache.entries.map((e) => e.shm.secWorldId)).toEqual([handle(shares[0])]);
    for (const r of nwd.filter((x) => w(x.regs, 3) === OPTEE_FFA_YIELDING_CALL_WITH_ARG))
      expect(r.regs[4] | (r.regs[5] << 32n)).toBe(handle(shares[0]));
    // The table holds the arg page and the lent chunk (OP-TEE reused the freed cookie for the lend).
    const pool = optee.protmemPool as OpteeProtmemDynPool;
    expect([...optee.ffaHandles.values()]).toEqual([optee.shmArgCache.entries[0].shm, pool.protmem]);
  });
});
