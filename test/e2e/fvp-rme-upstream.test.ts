/**
 * End to end on fvp-rme (Hafnium at S-EL2 with RME): what OP-TEE 4.9's own retrieve request does to
 * protected allocations. Linux 6.18 lends the chunk (FFA_MEM_LEND, tag = use case), then
 * ASSIGN_PROTMEM; OP-TEE retrieves with perm = FFA_MEM_ACC_RW (instruction access not specified,
 * thread_spmc.c spmc_retrieve_req()); Hafnium refuses that for a single-borrower LEND
 * (ffa_memory_retrieve_is_memory_access_valid(): INVALID_PARAMETERS); OP-TEE answers
 * TEE_ERROR_ITEM_NOT_FOUND (mobj_ffa_assign_protmem()); do_call_lend_protmem() turns it into -EINVAL
 * and optee_ffa_lend_protmem() reclaims. So every DMA_HEAP_IOCTL_ALLOC is EINVAL and nothing leaks.
 * With `optee_retrieve: fixed` (RW + NX) a secure-video session runs.
 *
 * Before any of that, ffa_init() meets Hafnium v2.15.0's discovery and notification calls: the
 * notification bitmap is created (api_ffa_notification_bitmap_create(), VM 0) and, with Hafnium's
 * schedule-receiver interrupt, kept; the partitions come from FFA_PARTITION_INFO_GET_REGS_64
 * (api_ffa_partition_info_get_regs()), whose 48-byte v1.3 descriptors take six registers each while
 * Linux 6.18's __ffa_partition_info_get_regs() steps three: the first partition (OP-TEE) is read right,
 * the second (sp2) from the first one's image UUID and version registers.
 */
import { describe, expect, it } from "vitest";
import {
  FFA_FEATURES_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_SUCCESS_64,
  FFA_VERSION_1_2,
} from "../../src/abi/ffa/index.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { EINVAL } from "../../src/abi/uapi/errno.ts";
import { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { POLICY_PRESETS } from "../../src/scenario/policies.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { OPTEE_UUID_WORDS } from "../../src/firmware/spmc/endpoint.ts";
import { recordSmcs, w } from "../kernel/ffa-fixture.ts";
import { expectQuiesced, FRAME, heapAlloc, run, SECURE_VIDEO, teeSystem } from "../kernel/tee-fixture.ts";

const RULE = "FFA_MEM_RETRIEVE_REQ_32: retrieve-instruction-access-not-specified";

const ALLOC = `
  - proc: player
    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 12441600, fd_flags: [O_RDWR, O_CLOEXEC] } }`;

function upstreamScenario(policy: string): string {
  return `
name: fvp-rme-upstream
platform: fvp-rme
${policy}
seed: 1
steps:
  - proc: player
    open: /dev/dma_heap/protected,secure-video
    save: heap
    expect: ok${ALLOC}
    expect: EINVAL${ALLOC}
    expect: EINVAL
  - proc: player
    exit: true
    expect: ok
expect:
  findings:
    quiesce-clean: 0
    kernel-warn: 0
    ffa-consistency: 0
`;
}

const FIXED_SESSION = `
name: fvp-rme-fixed-session
platform: fvp-rme
policy: { preset: upstream, optee_retrieve: fixed }
seed: 1
steps:
  - proc: player
    open: /dev/dma_heap/protected,secure-video
    save: heap
    expect: ok${ALLOC}
    save: frame0
    expect: ok${ALLOC}
    save: frame1
    expect: ok
  - device: { by: video-decoder, buffer: { proc: player, fd: $frame0 }, op: write, expect: ok }
  - device: { by: display, buffer: { proc: player, fd: $frame0 }, op: read, expect: ok }
  - device: { by: video-decoder, buffer: { proc: player, fd: $frame1 }, op: write, expect: ok }
  - device: { by: display, buffer: { proc: player, fd: $frame1 }, op: read, expect: ok }
  - device: { by: cpu-ns, buffer: { proc: player, fd: $frame0 }, op: read, length: 4KiB, expect: fault }
  - proc: player
    exit: true
    expect: ok
expect:
  findings:
    quiesce-clean: 0
    kernel-warn: 0
    ns-no-access: 0
`;

describe("fvp-rme with OP-TEE 4.9's retrieve request (optee_retrieve: upstream)", () => {
  for (const [what, policy] of [
    ["the default policy", ""],
    ["optee_retrieve: upstream", "policy: { preset: upstream, optee_retrieve: upstream }"],
  ] as const) {
    it(`${what}: every protected allocation is EINVAL, each lend is reclaimed, nothing leaks`, () => {
      const r = runScenario(loadScenarioText(upstreamScenario(policy), "fvp-rme-upstream.yaml"));
      expect(r.failure).toBeNull();
      expect(r.passed).toBe(true);
      expect(r.steps.filter((s) => s.got === "EINVAL").length).toBe(2);
      expect(r.findings["quiesce-clean"]).toBe(0);
      // The rule that refused the retrieve, once per allocation; nothing else was refused.
      expect(r.ffaRejections).toEqual({ [RULE]: 2 });
      // Two lends, each reclaimed, and get_protmem_config()'s attribute buffer (tee_shm_alloc_priv_buf():
      // shared, retrieved by OP-TEE for the memref, relinquished at UNREGISTER_SHM, reclaimed): three
      // reclaims. Four retrieves: the driver's arg page and that buffer (SHAREs, granted), then the two
      // lends (refused).
      const lends = (r.ffaCalls.FFA_MEM_LEND_32 ?? 0) + (r.ffaCalls.FFA_MEM_LEND_64 ?? 0);
      expect(lends).toBe(2);
      expect(r.ffaCalls.FFA_MEM_RECLAIM_32).toBe(3);
      expect(r.ffaCalls.FFA_MEM_RETRIEVE_REQ_32).toBe(4);
    });
  }

  it("no share state is left in Hafnium and the lent pages are back in the normal world", () => {
    const sys = teeSystem("fvp-rme");
    const hf = sys.spmc as HafniumSpmc;
    expect(hf).toBeInstanceOf(HafniumSpmc);
    const before = hf.shares.used;
    const p = sys.procs.spawn("player");
    const rcs = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return [yield* heapAlloc(p, heap, FRAME), yield* heapAlloc(p, heap, FRAME)];
    });
    expect(rcs).toEqual([-EINVAL, -EINVAL]);
    expect(hf.shares.used).toBe(before);
    expect(hf.rejections.get(RULE)).toBe(2);
    // The refused retrieve filled no RX buffer: OP-TEE's (which it does not release) is free.
    expect(hf.endpoint(0x8001)!.rxFull).toBe(false);
    expect(sys.pool.lends).toBe(sys.pool.reclaims);
    expectQuiesced(sys);
  });
});

describe("fvp-rme with optee_retrieve: fixed", () => {
  it("a secure-video session runs: allocations succeed, the decoder writes, the display reads", () => {
    const r = runScenario(loadScenarioText(FIXED_SESSION, "fvp-rme-fixed-session.yaml"));
    expect(r.failure).toBeNull();
    expect(r.passed).toBe(true);
    const devices = r.steps.filter((s) => s.kind === "device");
    expect(devices.map((s) => s.got)).toEqual(["ok", "ok", "ok", "ok", "fault"]);
    expect(r.ffaRejections).toEqual({});
    // The arg page, get_protmem_config()'s attribute buffer (relinquished at UNREGISTER_SHM), then the
    // chunk lent at the first allocation (relinquished when the pool gives it back at exit).
    expect(r.ffaCalls.FFA_MEM_RETRIEVE_REQ_32).toBe(3);
    expect(r.ffaCalls.FFA_MEM_RELINQUISH_32).toBe(2);
  });

  it("the same session under the upstream request fails at its first allocation", () => {
    const r = runScenario(
      loadScenarioText(
        FIXED_SESSION.replace("optee_retrieve: fixed", "optee_retrieve: upstream"),
        "fvp-rme-fixed-session.yaml",
      ),
    );
    expect(r.passed).toBe(false);
    expect(r.failure).toMatch(/expected ok, got EINVAL/);
    expect(r.ffaRejections).toEqual({ [RULE]: 1 });
  });

  it("a policy object works as well as the preset spelling", () => {
    const sys = teeSystem("fvp-rme", { policy: { ...POLICY_PRESETS.upstream, optee_retrieve: "fixed" } });
    const p = sys.procs.spawn("player");
    const fd = run(sys.sim, function* () {
      const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
      return yield* heapAlloc(p, heap, FRAME);
    });
    expect(fd).toBeGreaterThan(0);
    expectQuiesced(sys);
  });
});

describe("ffa_init() on fvp-rme (Linux 6.18, Hafnium v2.15.0)", () => {
  it("creates the notification bitmap and keeps it: Hafnium has the schedule-receiver interrupt", () => {
    const sys = teeSystem("fvp-rme");
    const drv = sys.kernel.armFfa!;
    expect(drv.bitmapCreated).toBe(true);
    expect(drv.notifEnabled).toBe(true);
    expect(drv.calls.get(FFA_NOTIFICATION_BITMAP_CREATE_32)).toBe(1);
    expect((sys.spmc as HafniumSpmc).nwdNotifications.otherWorldEnabled).toBe(true);
    expect(sys.spmc.rejections.size).toBe(0);
  });

  it("discovers with FFA_PARTITION_INFO_GET_REGS_64 and misreads the second 48-byte descriptor", () => {
    const rec = recordSmcs();
    let sys: ReturnType<typeof teeSystem>;
    try {
      sys = teeSystem("fvp-rme");
    } finally {
      rec.stop();
    }
    const drv = sys.kernel.armFfa!;
    // FFA_FEATURES(REGS) → SUCCESS; the count; the descriptors (two fit one answer); no RX form.
    const probe = rec.log.filter(
      (r) =>
        w(r.regs, 0) === FFA_PARTITION_INFO_GET_REGS_64 ||
        w(r.regs, 0) === FFA_PARTITION_INFO_GET_32 ||
        (w(r.regs, 0) === FFA_FEATURES_32 && w(r.regs, 1) === FFA_PARTITION_INFO_GET_REGS_64),
    );
    expect(probe.map((r) => w(r.regs, 0))).toEqual([
      FFA_FEATURES_32,
      FFA_PARTITION_INFO_GET_REGS_64,
      FFA_PARTITION_INFO_GET_REGS_64,
    ]);
    const answer = probe[2].out!;
    expect(w(answer, 0)).toBe(FFA_SUCCESS_64);
    expect(answer[2]).toBe((48n << 48n) | (1n << 16n) | 1n); // size 48, current 1, last 1
    expect(answer[9] & 0xffffn).toBe(0x8002n); // sp2's descriptor starts at x9
    // OP-TEE, read from x3..x5: its ID, UUID and (for a normal-world caller) receive-only properties.
    expect(drv.devices[0].vmId).toBe(0x8001);
    expect(drv.devices[0].uuid).toEqual([...OPTEE_UUID_WORDS]);
    expect(drv.devices[0].properties).toBe(0x101);
    // sp2, read from x6..x8: OP-TEE's (nil) image UUID and its FF-A version.
    expect(drv.devices[1].vmId).toBe(0);
    expect(drv.devices[1].properties).toBe(0);
    expect(drv.devices[1].uuid).toEqual([0, 0, FFA_VERSION_1_2, 0]);
    expect(drv.devices[1].mode32Bit).toBe(true);
    // A device with the host's ID now exists: ffa_setup_partitions() adds no host partition.
    expect(drv.devices.length).toBe(2);
  });
});
