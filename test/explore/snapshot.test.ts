/**
 * Every explored run starts from a snapshot of the booted platform: a run from a restored snapshot must
 * be byte-identical to a run from a fresh boot — the whole RunResult and every trace event — whatever
 * ran on the system before the restore. And the snapshot mechanism itself restores what it promises.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BootedScenario } from "../../src/explore/explore.ts";
import { loadScenarioFile, type Scenario } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { shmFromPtr } from "../../src/kernel/optee/smc_shm.ts";
import { bootScenario, runScenario } from "../../src/scenario/runner.ts";
import { Prng } from "../../src/sim/prng.ts";
import { defaultChooser, randomChooser, type Chooser } from "../../src/sim/scheduler.ts";
import { SideTable } from "../../src/sim/side_table.ts";
import { hiddenState, Snapshot, type Snapshottable } from "../../src/sim/snapshot.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";

const SCENARIOS = join(import.meta.dirname, "..", "..", "scenarios");

function withPolicy(file: string, policy: string | null): Scenario {
  const sc = loadScenarioFile(file);
  return { ...sc, schedule: null, ...(policy ? { policy: namedPolicy(policy, sc.platform) } : {}) };
}

const chooser = (seed: number, windowNs: number): Chooser => {
  const w = new Prng(seed).stream("test");
  return randomChooser((n) => w.int(0, n - 1), windowNs);
};

describe("a run from a restored snapshot", () => {
  // [name, file, policy, window, seeds]: the 4 GiB board boots slowly, so it gets fewer schedules.
  const cases: [string, string, string | null, number, number][] = [
    ["pool-race under upstream", "pool-race.yaml", "upstream", 100_000, 8],
    ["pool-race under safe", "pool-race.yaml", "safe", 100_000, 8],
    ["protmem-race-bug (oops, leak, hung task)", "upstream/protmem-race-bug.yaml", null, 0, 3],
    // The OP-TEE SMC ABI's driver (no FF-A): its guard against FF-A use must let the walk look at it.
    ["an OP-TEE SMC ABI system", "../test/scenarios/smc-dynamic-tzc400-board.yaml", null, 100_000, 3],
  ];
  for (const [name, file, policy, windowNs, seeds] of cases) {
    it(`is byte-identical to a run from a fresh boot, over many schedules: ${name}`, () => {
      const sc = withPolicy(join(SCENARIOS, file), policy);
      const booted = new BootedScenario(sc);
      let failing = 0;
      for (let seed = 1; seed <= seeds; seed++) {
        const freshTrace: TraceEvent[] = [];
        const fresh = runScenario(sc, { chooser: chooser(seed, windowNs), trace: (e) => freshTrace.push(e) });
        // A fresh run's trace starts with its boot, which a restored run does not repeat.
        const bootTrace: TraceEvent[] = [];
        bootScenario(sc, sc.seed, { listener: (e) => bootTrace.push(e), perAccess: true });
        expect(JSON.stringify(freshTrace.slice(0, bootTrace.length))).toBe(JSON.stringify(bootTrace));
        const restoredTrace: TraceEvent[] = [];
        booted.snapshot.restore();
        const { runOnSystem } = booted;
        const restored = runOnSystem(chooser(seed, windowNs), (e) => restoredTrace.push(e));
        expect(JSON.stringify(restored)).toBe(JSON.stringify(fresh));
        expect(JSON.stringify(restoredTrace)).toBe(JSON.stringify(freshTrace.slice(bootTrace.length)));
        if (!fresh.passed) failing++;
      }
      // The schedules differ in outcome where the scenario races: the comparison covers failing runs too.
      if (policy === "upstream") expect(failing).toBeGreaterThan(0);
    });
  }
});

describe("restored runs across the model", () => {
  // One scenario per part a run can touch that pool-race does not: workloads, faults (kill, CMA pins,
  // a busy RX buffer), raw FF-A steps. Each runs schedule 2 from the snapshot after schedule 1 ran on it.
  const files = [
    "secure-video-session.yaml",
    "faults/kill-during-alloc.yaml",
    "faults/cma-pinned.yaml",
    "faults/rx-busy-retrieve.yaml",
    "upstream/stale-tx-emad-bytes.yaml",
  ];
  for (const file of files) {
    it(`match fresh boots: ${file}`, () => {
      const sc = withPolicy(join(SCENARIOS, file), null);
      const booted = new BootedScenario(sc);
      booted.run(chooser(1, 100_000));
      const restored = booted.run(chooser(2, 100_000));
      expect(JSON.stringify(restored)).toBe(
        JSON.stringify(runScenario(sc, { chooser: chooser(2, 100_000) })),
      );
    });
  }
});

describe("Snapshot", () => {
  class Counter implements Snapshottable {
    #n = 0;
    readonly #log: number[] = [];
    bump(): void {
      this.#log.push(this.#n++);
    }
    get state(): string {
      return `${this.#n}:${this.#log.join(",")}`;
    }
    [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
      if (saved) this.#n = saved.n as number;
      return { n: this.#n, log: this.#log };
    }
  }

  it("puts objects, arrays, Maps, Sets, typed arrays, private state and side tables back in place", () => {
    const side = new SideTable<object, string[]>("test");
    const shared = { v: 1 };
    const root = {
      n: 1,
      list: [shared, 2],
      map: new Map([["a", shared]]),
      set: new Set([1, 2]),
      bytes: new Uint32Array([1, 2, 3]),
      counter: new Counter(),
      owner: {} as object,
    };
    root.counter.bump();
    const keep = { list: root.list, map: root.map, bytes: root.bytes, shared };
    const snap = Snapshot.take(root);
    root.n = 2;
    root.list.push(3);
    root.list[0] = { v: 9 };
    shared.v = 5;
    root.map.set("b", { v: 2 });
    root.set.delete(1);
    root.bytes[1] = 99;
    root.counter.bump();
    side.set(root.owner, ["made in the run"]);
    snap.restore();
    expect(root.n).toBe(1);
    expect(root.list).toBe(keep.list);
    expect(root.list).toEqual([shared, 2]);
    expect(shared.v).toBe(1);
    expect([...root.map.keys()]).toEqual(["a"]);
    expect(root.map).toBe(keep.map);
    expect([...root.set]).toEqual([1, 2]);
    expect([...root.bytes]).toEqual([1, 2, 3]);
    expect(root.bytes).toBe(keep.bytes);
    expect(root.counter.state).toBe("1:0");
    expect(side.has(root.owner)).toBe(false);
  });

  it("puts a Map back entry for entry, in order, whatever a run did to it, run after run", () => {
    const op = fc.oneof(
      fc.record({ set: fc.integer({ min: 0, max: 9 }), v: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ del: fc.integer({ min: 0, max: 9 }) }),
      fc.constant("clear" as const),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 3 })), { maxLength: 8 }),
        fc.array(fc.array(op, { maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        (initial, runs) => {
          const values = [{ v: 0 }, { v: 1 }, { v: 2 }, { v: 3 }];
          const root = { m: new Map(initial.map(([k, v]) => [`k${k}`, values[v]])) };
          const want = [...root.m];
          const snap = Snapshot.take(root);
          for (const ops of runs) {
            for (const o of ops) {
              if (o === "clear") root.m.clear();
              else if ("del" in o) root.m.delete(`k${o.del}`);
              else root.m.set(`k${o.set}`, values[o.v]);
            }
            snap.restore();
            expect([...root.m]).toEqual(want);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("puts back objects and arrays of any shape and size, past one compiled function's worth of stores", () => {
    const sym = Symbol("k");
    fc.assert(
      fc.property(
        // Objects with keys a compiled store must quote, and arrays short (unrolled) and long (a loop).
        fc.array(fc.dictionary(fc.string({ maxLength: 6 }), fc.integer()), { maxLength: 40 }),
        fc.array(fc.array(fc.integer(), { maxLength: 40 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 3000 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        (dicts, arrays, many, edits) => {
          // Every other object with a symbol key (the loop of stores), the rest string keys only (the
          // compiled stores, keys quoted).
          const objects = dicts.map((d, i) => (i % 2 === 0 ? { ...d, [sym]: 1 } : { ...d }));
          // `many` small objects: together more stores than one compiled function holds.
          const filler = Array.from({ length: many }, (_, i) => ({ i }));
          const root = { objects, arrays, filler };
          const want = JSON.stringify(root);
          const kept = { objects: [...objects], arrays: [...arrays], filler: [...filler] };
          const snap = Snapshot.take(root);
          for (let run = 0; run < 2; run++) {
            for (const e of edits) {
              if (objects.length > 0) {
                const o = objects[e % objects.length] as Record<PropertyKey, unknown>;
                for (const k of Object.keys(o)) o[k] = e;
                if (sym in o) o[sym] = e;
              }
              if (arrays.length > 0) {
                const a = arrays[e % arrays.length];
                if (e % 3 === 0) a.push(e);
                else if (e % 3 === 1) a.length = 0;
                else a[0] = e;
              }
              if (filler.length > 0) filler[e % filler.length].i = -e;
            }
            snap.restore();
            expect(JSON.stringify(root)).toBe(want);
            objects.forEach((o, i) => {
              expect(o).toBe(kept.objects[i]);
              expect((o as Record<symbol, unknown>)[sym]).toBe(i % 2 === 0 ? 1 : undefined);
            });
            arrays.forEach((a, i) => expect(a).toBe(kept.arrays[i]));
            filler.forEach((f, i) => expect(f).toBe(kept.filler[i]));
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it("refuses a WeakMap, whose entries it cannot list", () => {
    expect(() => Snapshot.take({ w: new WeakMap() })).toThrow(/WeakMap/);
  });
});

describe("the OP-TEE SMC ABI driver's shm pointers", () => {
  it("are the system's state: after a restore, a value an earlier run handed out finds nothing", () => {
    const sc = loadScenarioFile(
      new URL("../scenarios/smc-dynamic-tzc400-board.yaml", import.meta.url).pathname,
    );
    const booted = new BootedScenario({ ...sc, schedule: null });
    const teedev = booted.system.kernel.optee!.teedev!;
    const atBoot = teedev.shmSerial;
    booted.run(defaultChooser);
    const ptr = (serial: number) => 0xffff_0000_8000_0000n + BigInt(serial) * 0x80n;
    const handed: bigint[] = [];
    for (let s = atBoot + 1; s <= teedev.shmSerial; s++) if (shmFromPtr(teedev, ptr(s))) handed.push(ptr(s));
    expect(handed.length).toBeGreaterThan(0);
    booted.snapshot.restore();
    for (const p of handed) expect(shmFromPtr(teedev, p)).toBeNull();
  });
});
