/**
 * `scrub: ffa-clear` end to end: the OP-TEE driver reclaims every protected chunk with
 * FFA_MEM_RECLAIM_CLEAR (w3 bit 0), and each SPMC does what its code does with it:
 * - OP-TEE as its own SPMC (tzc400-board, qemu-virt): thread_spmc.c handle_mem_reclaim() wants
 *   w3..w7 zero, so the reclaim is FFA_INVALID_PARAMETERS (−EINVAL in Linux); the chunk stays lent.
 * - Hafnium v2.15.0 with RME (fvp-rme): reclaim_shared_state() → ffa_retrieve_check_update() clears
 *   through the NS alias before unprotecting: a granule protection fault at S-EL2, panic().
 * - Hafnium without RME (qemu-virt with spmc: hafnium): nothing was protected, the clear zeroes.
 * Under `scrub: ffa-clear` OP-TEE does not scrub on release (scenario/system.ts), so the SPMC is the
 * only one who could.
 */
import { sessionScenario } from "../../src/report/policy_table.ts";
import { describe, expect, it } from "vitest";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";

/** One secure-video session (8 4K NV12 frames decoded into protected buffers), then 6 s idle. */
const session = (platform: string, policy: string): string => sessionScenario(platform, policy);

const FFA_CLEAR = "{ preset: safe, scrub: ffa-clear }";
const NO_SCRUB = "{ preset: safe, scrub: none }";

function run(platform: string, policy: string, trace?: (e: TraceEvent) => void): RunResult {
  return runScenario(loadScenarioText(session(platform, policy), "ffa-clear.yaml"), trace ? { trace } : {});
}

/** The FF-A calls the SPMC saw, as "<call> <result>". */
function ffaCalls(events: TraceEvent[]): string[] {
  return events
    .filter((e) => e.layer === "firmware" && e.name === "ffa")
    .map((e) => `${String(e.args.call)} ${String(e.args.result)}`);
}

describe("scrub: ffa-clear with OP-TEE as the SPMC (tzc400-board)", () => {
  it("the reclaim's clear flag is FFA_INVALID_PARAMETERS, Linux sees -EINVAL, and the chunk stays lent", () => {
    const events: TraceEvent[] = [];
    const r = run("tzc400-board", FFA_CLEAR, (e) => events.push(e));
    expect(r.failure).toBeNull();
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: reclaim-mbz": 1 });
    // The probe's shared buffers (GET_PROTMEM_CONFIG's attributes, one per use case, at boot) are
    // reclaimed with flags 0, as upstream; only protected memory carries the clear flag.
    const reclaims = ffaCalls(events).filter((c) => c.startsWith("FFA_MEM_RECLAIM"));
    expect(reclaims.length).toBeGreaterThanOrEqual(2);
    expect(reclaims.slice(0, -1).every((c) => c === "FFA_MEM_RECLAIM_32 FFA_SUCCESS_32")).toBe(true);
    expect(reclaims.at(-1)).toBe("FFA_MEM_RECLAIM_32 FFA_INVALID_PARAMETERS");
    const errs = events
      .filter((e) => e.layer === "kernel" && e.name === "pr_err")
      .map((e) => String(e.args.msg));
    expect(errs.some((m) => /^optee: mem_reclaim: 0x[0-9a-f]+ -22$/.test(m))).toBe(true);
    // The growable pool never frees a chunk whose reclaim failed: 320 MiB stay lent and protected.
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 0, stuck: 1, lentBytes: 320 * 1024 * 1024 });
    expect(r.findings["scrub-before-return"]).toBe(0);
    expect(r.findings["ns-no-access"]).toBe(0);
    // …and the end of the run sees memory the normal world lent and never got back.
    expect(r.findingDetails.map((f) => f.message)).toContain(
      "81920 pages are not owned by the world that owned them at boot",
    );
  });

  it("the same session without any scrub returns the decoded frames to Linux", () => {
    const r = run("tzc400-board", NO_SCRUB);
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0 });
    expect(r.findings["scrub-before-return"]).toBe(1);
  });

  it("upstream's dynamic pool frees the chunk whatever the reclaim said: the kernel gets protected memory back", () => {
    const r = run("tzc400-board", "{ preset: safe, pool: dynamic, scrub: ffa-clear }");
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: reclaim-mbz": 1 });
    // Counted as a reclaim (protmem.c pool_op_dyn_free() ignores the result), though the SPMC refused.
    expect(r.protmem).toMatchObject({ reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(r.findings["scrub-before-return"]).toBe(0);
    // Back in the linear map and the page allocator while the TZC still protects it.
    expect(r.findings["no-speculation-hazard"]).toBeGreaterThan(0);
    expect(r.findings["quiesce-clean"]).toBeGreaterThan(0);
  });
});

describe("scrub: ffa-clear with OP-TEE as the SPMC (qemu-virt)", () => {
  it("every chunk's reclaim is refused and every chunk stays lent", () => {
    const r = run("qemu-virt", FFA_CLEAR);
    expect(r.failure).toBeNull();
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: reclaim-mbz": 8 });
    expect(r.protmem).toMatchObject({ lends: 8, reclaims: 0, stuck: 8 });
    expect(r.findings["scrub-before-return"]).toBe(0);
  });
});

describe("scrub: ffa-clear with Hafnium at S-EL2 and RME (fvp-rme)", () => {
  it("the first reclaim panics Hafnium: clear_memory() stores through the NS alias to Secure granules", () => {
    const events: TraceEvent[] = [];
    const r = run("fvp-rme", FFA_CLEAR, (e) => events.push(e));
    expect(r.end).toBe("stopped");
    expect(r.hung).toBe(
      "Hafnium panic: EL2 exception: granule protection fault at 0xc0000000 in clear_memory() " +
        "(an NS-PAS store to a granule still in the Secure PAS)",
    );
    expect(r.failure).toMatch(/^the machine hung before step \d+ could run: Hafnium panic/);
    expect(events.some((e) => e.layer === "firmware" && e.name === "panic")).toBe(true);
    // The session itself ran: the chunk was lent, the frames decoded and shown; the reclaim never returned.
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 0 });
    expect(r.errnos).toEqual({});
    expect(r.findings["scrub-before-return"]).toBe(0);
  });

  it("the same session without any scrub reclaims and returns the decoded frames to Linux", () => {
    const r = run("fvp-rme", NO_SCRUB);
    expect(r.hung).toBeNull();
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1 });
    expect(r.findings["scrub-before-return"]).toBe(1);
  });

  it("is deterministic: two runs give the same result", () => {
    expect(JSON.stringify(run("fvp-rme", FFA_CLEAR))).toBe(JSON.stringify(run("fvp-rme", FFA_CLEAR)));
  });
});

describe("scrub: ffa-clear with Hafnium without RME (qemu-virt, spmc: hafnium)", () => {
  const platform = "{ preset: qemu-virt, spmc: hafnium }";

  it("Hafnium zeroes every chunk at reclaim: no secret comes back", () => {
    const r = run(platform, FFA_CLEAR);
    expect(r.failure).toBeNull();
    expect(r.ffaRejections).toEqual({});
    expect(r.protmem).toMatchObject({ lends: 8, reclaims: 8, stuck: 0, lentBytes: 0 });
    expect(r.findings["scrub-before-return"]).toBe(0);
    // Without RME Hafnium cannot protect anything (arch_memory_protect(): NOT_SUPPORTED).
    expect(r.findings["protected-when-lent"]).toBe(8);
  });

  it("the clear costs a memset of each chunk inside the reclaim", () => {
    const cleared = run(platform, FFA_CLEAR).protmem!;
    const plain = run(platform, NO_SCRUB).protmem!;
    expect(cleared.reclaimNs).toBeGreaterThan(plain.reclaimNs);
  });

  it("without the flag the same session returns every chunk with its frames", () => {
    expect(run(platform, NO_SCRUB).findings["scrub-before-return"]).toBe(8);
  });
});
