/**
 * Invariant `pool-consistency` — "pool refcounts equal live buffers; no buffer outlives its chunk"
 * (kernel/tee/protmem_ledger.ts, check/pool_consistency.ts): the rules firing on the ledger, every pool
 * of the model keeping it (clean runs report nothing and the ledger holds the pool's chunks), a pool
 * whose own count is wrong caught at the first quiescent point, and what upstream protmem.c's get/put
 * race leaves behind.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import type { ProtmemCarveoutPool } from "../../src/kernel/optee/protmem_carveout.ts";
import type { ProtmemGrowablePool } from "../../src/kernel/optee/protmem_growable.ts";
import type { ProtmemPerBufferPool } from "../../src/kernel/optee/protmem_per_buffer.ts";
import { ProtmemLedger } from "../../src/kernel/tee/protmem_ledger.ts";
import type { TeeProtmemPool } from "../../src/kernel/tee/tee_heap.ts";
import type { TeeShm } from "../../src/kernel/tee/tee_shm.ts";
import { loadScenarioFile, loadScenarioText, type Scenario } from "../../src/scenario/loader.ts";
import { bootScenario, runOnSystem, runScenario, type RunResult } from "../../src/scenario/runner.ts";
import type { System } from "../../src/scenario/system.ts";
import { REFCOUNT_SATURATED } from "../../src/sim/refcount.ts";
import { Sim } from "../../src/sim/sim.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const MiB = 1 << 20;

function ledger(): { l: ProtmemLedger; sim: Sim; messages: () => string[] } {
  const sim = new Sim(1);
  const l = new ProtmemLedger(sim, "test pool", "its refcount");
  const messages = () => sim.findings.details().map((f) => `${f.id}: ${f.message}`);
  return { l, sim, messages };
}

describe("the pool-consistency rules", () => {
  it("a chunk reclaimed while a buffer lives in it is reported, with the chunk and the count", () => {
    const { l, messages } = ledger();
    l.chunkAdded(0x7000_0000, 4 * MiB);
    l.bufferLive([{ pa: 0x7010_0000, length: MiB }]);
    l.chunkReclaiming(0x7000_0000);
    expect(messages()).toEqual([
      "pool-consistency: test pool: chunk 0x70000000 (+0x400000) is reclaimed while 1 buffer(s) still live in it",
    ]);
  });

  it("a chunk freed to the page allocator while a buffer lives in it is reported, and leaves the ledger", () => {
    const { l, messages } = ledger();
    l.chunkAdded(0x7000_0000, 4 * MiB);
    l.bufferLive([{ pa: 0x7000_0000, length: MiB }]);
    l.bufferLive([{ pa: 0x7020_0000, length: MiB }]);
    l.chunkFreeing(0x7000_0000);
    expect(messages()).toEqual([
      "pool-consistency: test pool: chunk 0x70000000 (+0x400000) is freed to the page allocator while 2 buffer(s) still live in it",
    ]);
    expect(l.chunks.size).toBe(0);
  });

  it("a chunk reclaimed and freed after its last buffer went is not reported", () => {
    const { l, messages } = ledger();
    l.chunkAdded(0x7000_0000, 4 * MiB);
    const sgl = [{ pa: 0x7000_0000, length: MiB }];
    l.bufferLive(sgl);
    l.bufferDead(sgl);
    l.chunkReclaiming(0x7000_0000);
    l.chunkFreeing(0x7000_0000);
    expect(messages()).toEqual([]);
  });

  it("a buffer handed out from a reclaimed chunk, or from memory in no chunk, is reported", () => {
    const { l, messages } = ledger();
    l.chunkAdded(0x7000_0000, 4 * MiB);
    l.chunkReclaiming(0x7000_0000);
    l.bufferLive([{ pa: 0x7000_0000, length: MiB }]);
    l.bufferLive([{ pa: 0x9000_0000, length: MiB }]);
    expect(messages()).toEqual([
      "pool-consistency: test pool: a buffer at 0x70000000 (+0x100000) is handed out from chunk 0x70000000, already reclaimed",
      "pool-consistency: test pool: a buffer at 0x90000000 (+0x100000) is handed out from memory in no chunk of the pool",
    ]);
  });

  it("a count that differs at a quiescent point is reported once, and again only after it agreed", () => {
    const { l, messages } = ledger();
    l.chunkAdded(0x7000_0000, 4 * MiB);
    l.enter();
    l.bufferLive([{ pa: 0x7000_0000, length: MiB }]);
    l.enter(); // a second operation in flight: not quiescent, nothing compared
    l.leave(7);
    expect(messages()).toEqual([]);
    l.leave(2);
    l.checkCount(REFCOUNT_SATURATED);
    l.checkCount(1);
    l.checkCount(3);
    expect(messages()).toEqual([
      "pool-consistency: test pool: its refcount is 2 with 1 live buffer(s)",
      "pool-consistency: test pool: its refcount is 3 with 1 live buffer(s)",
    ]);
    l.checkCount(null); // a pool that keeps no count is never compared
    expect(messages()).toHaveLength(2);
  });

  it("a saturated refcount is named as such", () => {
    const { l, messages } = ledger();
    l.checkCount(REFCOUNT_SATURATED);
    expect(messages()).toEqual([
      "pool-consistency: test pool: its refcount is saturated (-1073741824) with 0 live buffer(s)",
    ]);
  });

  it("property: a pool whose count follows its buffers, over any sequence, is never reported", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("alloc" as const), chunk: fc.nat(3), slot: fc.nat(3) }),
      fc.record({ kind: fc.constant("free" as const), pick: fc.nat() }),
      fc.record({ kind: fc.constant("release" as const), chunk: fc.nat(3) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { l, messages } = ledger();
        const live: { pa: number; length: number }[] = [];
        const lent = new Set<number>();
        const base = (k: number) => 0x7000_0000 + k * 4 * MiB;
        for (const o of ops) {
          if (o.kind === "alloc") {
            if (!lent.has(o.chunk)) {
              l.chunkAdded(base(o.chunk), 4 * MiB);
              lent.add(o.chunk);
            }
            const sg = { pa: base(o.chunk) + o.slot * MiB, length: MiB };
            l.enter();
            l.bufferLive([sg]);
            live.push(sg);
            l.leave(live.length);
          } else if (o.kind === "free" && live.length > 0) {
            const [sg] = live.splice(o.pick % live.length, 1);
            l.enter();
            l.bufferDead([sg]);
            l.leave(live.length);
          } else if (o.kind === "release" && lent.has(o.chunk)) {
            // A correct pool releases only a chunk no live buffer is in.
            if (live.some((sg) => sg.pa >= base(o.chunk) && sg.pa < base(o.chunk) + 4 * MiB)) continue;
            l.chunkReclaiming(base(o.chunk));
            l.chunkFreeing(base(o.chunk));
            lent.delete(o.chunk);
          }
        }
        return messages().length === 0 && l.buffers === live.length;
      }),
      { seed: 11, numRuns: 200 },
    );
  });
});

const POOL_RACE = loadScenarioFile(join(import.meta.dirname, "../../scenarios/pool-race.yaml"), "pool-race");

/** pool-race's three processes under `policy`, on its small board (tzc400-board for the carveout). */
function poolRace(policy: string, platform?: string): Scenario {
  const text = [
    `platform: ${platform ?? SMALL_BOARD}`,
    `policy: ${policy}`,
    "steps:",
    ...["a", "b", "c"].flatMap((p) => [
      `  - proc: ${p}`,
      "    open: /dev/dma_heap/protected,secure-video",
      `    save: heap${p}`,
    ]),
    "tasks:",
    ...["a", "b", "c"].flatMap((p) => [
      `  ${p}:`,
      "    - sleep: 1ms",
      "    - repeat: 3",
      "      steps:",
      `        - proc: ${p}`,
      `          ioctl: { fd: $heap${p}, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }`,
      "          save: buf",
      "          expect: ok",
      `        - proc: ${p}`,
      "          close: $buf",
      "          expect: ok",
    ]),
  ].join("\n");
  return loadScenarioText(text, `pool-race-${policy}.yaml`);
}

function runKeeping(sc: Scenario): { r: RunResult; system: System; pool: TeeProtmemPool } {
  const system = bootScenario(sc, sc.seed);
  const r = runOnSystem(sc, system);
  const pool = system.kernel.optee!.protmemPool!;
  return { r, system, pool };
}

describe("every pool keeps the ledger", () => {
  const cases: { name: string; sc: () => Scenario; chunks: (pool: TeeProtmemPool) => number }[] = [
    {
      name: "upstream's dynamic pool (protmem.c)",
      sc: () => poolRace("upstream"),
      chunks: (p) => ((p as OpteeProtmemDynPool).protmem ? 1 : 0),
    },
    {
      name: "the growable pool (safe)",
      sc: () => POOL_RACE,
      chunks: (p) => (p as ProtmemGrowablePool).chunks.length,
    },
    {
      name: "the per-buffer pool",
      sc: () => poolRace("{ preset: safe, pool: per-buffer }"),
      chunks: (p) => (p as ProtmemPerBufferPool).buffers.size,
    },
    {
      name: "the carveout pool",
      sc: () => poolRace("carveout", "tzc400-board"),
      chunks: (p) => ((p as ProtmemCarveoutPool).shm ? 1 : 0),
    },
  ];
  it.each(cases)("$name: a clean run reports nothing, and the ledger holds the pool's chunks", (c) => {
    const { r, pool } = runKeeping(c.sc());
    expect(r.failure).toBeNull();
    expect(r.findings["pool-consistency"]).toBe(0);
    expect(pool.ledger.buffers).toBe(0);
    expect(pool.ledger.chunks.size).toBe(c.chunks(pool));
  });

  it("the growable pool's per-chunk counts equal the ledger's at every quiescent moment of a run", () => {
    const sc = POOL_RACE;
    const system = bootScenario(sc, sc.seed);
    const pool = system.kernel.optee!.protmemPool! as ProtmemGrowablePool;
    let most = 0;
    runOnSystem(sc, system, {
      trace: () => {
        most = Math.max(most, pool.ledger.buffers);
        // Inside an allocation the pool counts the buffer before the heap has it: compare when quiescent.
        if (pool.ledger.busy > 0) return;
        for (const c of pool.ledger.chunks.values())
          expect(c.buffers).toBe(pool.chunks.find((k) => k.shm.paddr === c.base)?.live ?? 0);
      },
      tracePerAccess: false,
    });
    expect(most).toBeGreaterThan(0);
  });

  it("a pool whose own count is wrong is caught at the first quiescent point, by the task that made it", () => {
    const sc = poolRace("{ preset: safe, pool: per-buffer }");
    const system = bootScenario(sc, sc.seed);
    const pool = system.kernel.optee!.protmemPool! as ProtmemPerBufferPool;
    // A stray entry in the buffer table, as a pool that forgot to drop one would have.
    pool.buffers.set(0x1000, null as unknown as TeeShm);
    const r = runOnSystem(sc, system);
    const found = r.findingDetails.filter((f) => f.id === "pool-consistency");
    expect(found).toHaveLength(1);
    const m =
      /^per-buffer pool, use case 1: its table of lent buffers is (\d+) with (\d+) live buffer\(s\)$/.exec(
        found[0].message,
      );
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(Number(m![2]) + 1);
    expect(["a", "b", "c"]).toContain(found[0].task);
  });
});

describe("upstream protmem.c's get/put race leaves its refcount saturated for good", () => {
  const upstream = (name: string) =>
    runScenario(loadScenarioFile(join(import.meta.dirname, "../../scenarios/upstream", name), name));

  it.each(["protmem-race-bug.yaml", "protmem-race-null-pool.yaml"])(
    "%s: one finding, at the end of the run, once every buffer is gone",
    (name) => {
      const r = upstream(name);
      expect(r.passed).toBe(true);
      const found = r.findingDetails.filter((f) => f.id === "pool-consistency");
      expect(found.map((f) => [f.task, f.message])).toEqual([
        [
          "-",
          "dynamic pool (protmem.c), use case 1: its refcount is saturated (-1073741824) with 0 live buffer(s)",
        ],
      ]);
    },
  );
});
