/**
 * End to end on fvp-rme (Hafnium at S-EL2 with RME): what OP-TEE 4.9's own retrieve request does to
 * protected allocations. Linux 6.18 lends the chunk (FFA_MEM_LEND, tag = use case), then
 * ASSIGN_PROTMEM; OP-TEE retrieves with perm = FFA_MEM_ACC_RW (instruction access not specified,
 * thread_spmc.c spmc_retrieve_req()); Hafnium refuses that for a single-borrower LEND
 * (ffa_memory_retrieve_is_memory_access_valid(): INVALID_PARAMETERS); OP-TEE answers
 * TEE_ERROR_ITEM_NOT_FOUND (mobj_ffa_assign_protmem()); do_call_lend_protmem() turns it into -EINVAL
 * and optee_ffa_lend_protmem() reclaims. So every DMA_HEAP_IOCTL_ALLOC is EINVAL and nothing leaks.
 * With `optee_retrieve: fixed` (RW + NX) a secure-video session runs.
 */
import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { EINVAL } from "../../src/abi/uapi/errno.ts";
import { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { POLICY_PRESETS } from "../../src/scenario/policies.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
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
      // Two lends, two reclaims; three retrieves: the driver's shared arg page (a SHARE, granted),
      // then the two lends (refused).
      const lends = (r.ffaCalls.FFA_MEM_LEND_32 ?? 0) + (r.ffaCalls.FFA_MEM_LEND_64 ?? 0);
      expect(lends).toBe(2);
      expect(r.ffaCalls.FFA_MEM_RECLAIM_32).toBe(2);
      expect(r.ffaCalls.FFA_MEM_RETRIEVE_REQ_32).toBe(3);
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
    // The arg page, then the chunk lent at the first allocation.
    expect(r.ffaCalls.FFA_MEM_RETRIEVE_REQ_32).toBe(2);
    expect(r.ffaCalls.FFA_MEM_RELINQUISH_32).toBe(1);
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
