/**
 * pool-consistency for the pools that keep no count of buffers — the static pool of the SMC ABI
 * (tee_heap.c) and the FF-A carveout pool: their record is their gen_pool, so the count compared is the
 * bytes it has handed out (gen_pool_size() − gen_pool_avail()) against the live buffers' page-rounded
 * bytes. A clean run agrees at every quiescent point; a sub-allocation nobody frees (or one freed behind
 * the pool's back) is caught at the next one.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { genPoolAlloc, genPoolFree } from "../../src/kernel/mm/genalloc.ts";
import type { ProtmemCarveoutPool } from "../../src/kernel/optee/protmem_carveout.ts";
import type { TeeProtmemStaticPool } from "../../src/kernel/tee/tee_protmem_static.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { bootScenario, runOnSystem } from "../../src/scenario/runner.ts";

const STATIC = loadScenarioFile(
  join(import.meta.dirname, "../scenarios/smc-static-tzc400-board.yaml"),
  "smc-static-tzc400-board",
);

const CARVEOUT = loadScenarioText(
  [
    "platform: tzc400-board",
    "policy: carveout",
    "steps:",
    "  - proc: p",
    "    open: /dev/dma_heap/protected,secure-video",
    "    save: heap",
    "  - proc: p",
    "    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1000000, fd_flags: [O_RDWR, O_CLOEXEC] } }",
    "    save: a",
    "    expect: ok",
    "  - proc: p",
    "    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }",
    "    save: b",
    "    expect: ok",
    "  - proc: p",
    "    close: $a",
    "  - proc: p",
    "    close: $b",
  ].join("\n"),
  "carveout.yaml",
);

describe("pool-consistency counts a gen_pool's bytes for the pools without a count of their own", () => {
  it("the static pool (SMC ABI) agrees with its live buffers at every quiescent point of a clean run", () => {
    const system = bootScenario(STATIC, STATIC.seed);
    const pool = system.kernel.optee!.protmemPool! as TeeProtmemStaticPool;
    let checked = 0;
    const r = runOnSystem(STATIC, system, {
      trace: () => {
        if (pool.ledger.busy > 0 || pool.genPool.destroyed) return;
        expect(pool.ops.ownCount!(pool)).toBe(pool.ledger.bytes);
        if (pool.ledger.bytes > 0) checked++;
      },
      tracePerAccess: false,
    });
    expect(r.failure).toBeNull();
    expect(checked).toBeGreaterThan(0);
    expect(r.findings["pool-consistency"]).toBe(0);
  });

  it("the static pool: a sub-allocation nobody frees is caught, with its bytes", () => {
    const system = bootScenario(STATIC, STATIC.seed);
    const pool = system.kernel.optee!.protmemPool! as TeeProtmemStaticPool;
    // A gen_pool_alloc() whose gen_pool_free() never comes, as a leaking free path would leave.
    expect(genPoolAlloc(pool.genPool, 8192)).not.toBe(0);
    const r = runOnSystem(STATIC, system);
    const found = r.findingDetails.filter((f) => f.id === "pool-consistency").map((f) => f.message);
    expect(found[0]).toMatch(
      /^static pool \(tee_heap\.c\): its gen_pool's bytes handed out is (\d+) with (\d+) bytes in \d+ live buffer\(s\)$/,
    );
    const [, own, live] = /is (\d+) with (\d+) bytes/.exec(found[0])!.map(Number);
    expect(own - live).toBe(8192);
  });

  it("the carveout pool (FF-A): page-rounded buffers agree; a range freed behind its back is caught", () => {
    const clean = runOnSystem(CARVEOUT, bootScenario(CARVEOUT, CARVEOUT.seed));
    expect(clean.failure).toBeNull();
    expect(clean.findings["pool-consistency"]).toBe(0);

    const system = bootScenario(CARVEOUT, CARVEOUT.seed);
    const pool = system.kernel.optee!.protmemPool! as ProtmemCarveoutPool;
    let freedBehind = false;
    const r = runOnSystem(CARVEOUT, system, {
      trace: () => {
        // Once the first buffer lives, its range goes back to the gen_pool without the pool knowing.
        if (freedBehind || pool.ledger.busy > 0 || pool.ledger.buffers !== 1) return;
        freedBehind = true;
        genPoolFree(pool.genPool, pool.shm.paddr, 4096);
      },
      tracePerAccess: false,
    });
    expect(freedBehind).toBe(true);
    const found = r.findingDetails.filter((f) => f.id === "pool-consistency").map((f) => f.message);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(
      /^carveout pool, use case 1: its gen_pool's bytes handed out is \d+ with \d+ bytes in/,
    );
  });
});
