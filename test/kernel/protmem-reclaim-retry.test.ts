/**
 * A refused reclaim under the policies' pools (kernel/optee/protmem_reclaim.ts): the chunk stays lent
 * and unmapped, its FF-A handle is kept, and the reclaim is asked again — 10 ms, 20 ms, 40 ms … later, up
 * to RECLAIM_RETRIES times — when the refusal may end; after that, or on a refusal for good, it is given
 * up (`stuck`). (A refusal for good, INVALID_PARAMETERS, is in ffa-clear.test.ts: no retry, stuck.)
 */
import { describe, expect, it } from "vitest";
import { RECLAIM_RETRIES, RECLAIM_RETRY_FIRST_NS } from "../../src/kernel/optee/protmem_reclaim.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import { FAULT_TA_HOLD_NS } from "../../src/secure/optee/thread_spmc.ts";

/** One 1 MiB buffer allocated and freed on tzc400-board under `policy`, with `faults`. */
function run(policy: string, faults: string[]): RunResult {
  const text = [
    "platform: tzc400-board",
    `policy: ${policy}`,
    "faults:",
    ...faults.map((f) => `  - ${f}`),
    "steps:",
    "  - proc: player",
    "    open: /dev/dma_heap/protected,secure-video",
    "    save: heap",
    "  - proc: player",
    "    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }",
    "    save: buf",
    "    expect: ok",
    "  - proc: player",
    "    close: $buf",
    "    expect: ok",
  ].join("\n");
  return runScenario(loadScenarioText(text, "retry.yaml"));
}

const denied = (n: number) =>
  Array.from({ length: n }, (_, i) => `ffa: { call: MEM_RECLAIM, error: DENIED, nth: ${i + 1} }`);

describe("a refused reclaim is asked again", () => {
  it("three refusals, then the third retry gets the chunk back: nothing leaks", () => {
    const r = run("safe", denied(3));
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: fault": 3 });
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings["kernel-no-touch"]).toBe(0);
    expect(r.findings["pool-consistency"]).toBe(0);
  });

  it(`a refusal that outlasts ${RECLAIM_RETRIES} retries leaves the chunk lent for good, counted stuck`, () => {
    const r = run("safe", denied(RECLAIM_RETRIES + 1));
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: fault": RECLAIM_RETRIES + 1 });
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 0, stuck: 1 });
    expect(r.findings["kernel-no-touch"]).toBe(0);
    expect(r.findingDetails.map((f) => f.message)).toContain(
      "81920 pages are not owned by the world that owned them at boot",
    );
  });

  it("RELEASE_PROTMEM BUSY: refused while the TA's invoke holds the buffer, reclaimed once it ends", () => {
    const r = run("safe", ["optee: { cmd: RELEASE_PROTMEM, error: TEE_ERROR_BUSY, nth: 1 }"]);
    // Refused at once and at each retry that comes before the TA lets go: 10 ms, then 10 + 20 ms.
    let waited = 0;
    let refusals = 1;
    for (let d = RECLAIM_RETRY_FIRST_NS; waited + d < FAULT_TA_HOLD_NS; d *= 2) {
      waited += d;
      refusals++;
    }
    expect(refusals).toBe(3);
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: cookie-busy": refusals });
    expect(r.protmem).toMatchObject({ reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("the per-buffer pool asks again too", () => {
    const r = run("{ preset: safe, pool: per-buffer }", denied(1));
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: fault": 1 });
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("upstream's dynamic pool never asks again: its driver forgot the handle, and frees the chunk anyway", () => {
    const r = run("upstream", denied(1));
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: fault": 1 });
    expect(r.findings["quiesce-clean"]).toBeGreaterThan(0);
  });

  describe("a lend that fails after FFA_MEM_LEND, whose own reclaim the SPMC refuses", () => {
    // OP-TEE's ASSIGN_PROTMEM fails, so optee_ffa_lend_protmem() reclaims what it lent (err_reclaim), and
    // that reclaim is refused: the memory is still lent when the lend returns its error.
    const text = (policy: string) =>
      [
        "platform: tzc400-board",
        `policy: ${policy}`,
        "faults:",
        "  - optee: { cmd: ASSIGN_PROTMEM, error: TEE_ERROR_OUT_OF_MEMORY, nth: 1 }",
        "  - ffa: { call: MEM_RECLAIM, error: DENIED, nth: 1 }",
        "steps:",
        "  - proc: player",
        "    open: /dev/dma_heap/protected,secure-video",
        "    save: heap",
        ...[0, 1, 2].flatMap((i) => [
          ...(i === 2 ? ["  - sleep: 100ms"] : []),
          "  - proc: player",
          "    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }",
        ]),
      ].join("\n");
    const allocs = (r: RunResult) =>
      r.steps
        .filter((s) => s.kind === "proc")
        .slice(1)
        .map((s) => s.got);

    it("safe keeps it lent and unmapped, reclaims it 10 ms later, and never touches it", () => {
      const r = runScenario(loadScenarioText(text("safe"), "lend-refused.yaml"));
      // EINVAL (ASSIGN), then ENOMEM while the first chunk is still lent, then the reclaimed room again.
      expect(allocs(r)).toEqual(["EINVAL", "ENOMEM", "ok"]);
      expect(r.findings["kernel-no-touch"]).toBe(0);
      expect(r.findings["kernel-warn"]).toBe(0);
      expect(r.findings["no-speculation-hazard"]).toBe(0);
      expect(r.findings["quiesce-clean"]).toBe(0);
      expect(r.protmem).toMatchObject({ stuck: 0, lentBytes: 0 });
    });

    it("upstream ignores that reclaim's result and frees the chunk: the next allocation's memset touches lent memory", () => {
      const r = runScenario(loadScenarioText(text("upstream"), "lend-refused.yaml"));
      expect(r.findings["kernel-no-touch"]).toBeGreaterThan(0);
      expect(r.findingDetails.some((f) => /in dma_alloc_pages\(\) memset/.test(f.message))).toBe(true);
      expect(r.findings["quiesce-clean"]).toBeGreaterThan(0);
    });
  });
});
