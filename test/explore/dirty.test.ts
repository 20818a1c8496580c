/**
 * Dirty tracking (sim/dirty.ts): a snapshot restore copies back only the blocks written since, and the
 * end-of-run checks count only those. Both are right only if every writer of a tracked array touches
 * what it wrote: scenarios that go through every path that writes page state (buddy alloc/free and the
 * per-cpu lists, CMA, migration and pins, lend/reclaim, taint and scrubs, the cache's dirty lines,
 * user mappings) must leave no change in an untouched block.
 */
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BootedScenario } from "../../src/explore/explore.ts";
import { loadScenarioFile, loadScenarioText, type Scenario } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { DirtyBlocks } from "../../src/sim/dirty.ts";
import { Prng } from "../../src/sim/prng.ts";
import { randomChooser, type Chooser } from "../../src/sim/scheduler.ts";
import { Snapshot } from "../../src/sim/snapshot.ts";

const ROOT = join(import.meta.dirname, "..", "..");

/** A built-in or test scenario file, or an inline one (text starting with "platform:"). */
function scenario(file: string, policy: string | null): Scenario {
  const sc = file.startsWith("platform:")
    ? loadScenarioText(file, "inline.yaml")
    : loadScenarioFile(join(ROOT, file));
  return { ...sc, schedule: null, ...(policy ? { policy: namedPolicy(policy, sc.platform) } : {}) };
}

const chooser = (seed: number): Chooser => {
  const w = new Prng(seed).stream("dirty-test");
  return randomChooser((n) => w.int(0, n - 1), 100_000);
};

/**
 * Every tracked array: the frames' own, the caches' (the ring's slot index is private), the buddy's
 * (its list links, one pair of arrays per order, are private too).
 */
const TRACKED = [
  "frames.owner",
  "frames.useCase",
  "frames.taint",
  "frames.state",
  "frames.pins",
  "caches.dirty",
  "caches.extraMaps",
  "caches.slot",
  "buddy.freeOrder",
  "buddy.freeMt",
  "buddy.links",
  "buddy.pageblockMt",
  "gpt.gpi",
  "spmc.pages.owner",
  "spmc.pages.mode",
  "spmc.pages.holder",
  "spmc.pages.nwdView",
];

/** A secure-video session on the RME board: Hafnium's page state and the granule protection table. */
const RME = `platform: fvp-rme
policy: safe
workloads:
  - secure-video: { length: 100ms }
`;

/** Pins (in CMA and long-term, migrated out of it) and movable churn beside a secure-video session. */
const BACKGROUND = (inCma: boolean) => `platform: tzc400-board
policy: safe
workloads:
  - secure-video: { length: 100ms }
  - background: { movable: { rate: 32MiB, working_set: 16MiB }, unmovable: 4MiB, pins: { count: 2, in_cma: ${inCma} } }
`;

describe("every writer of page state touches the dirty blocks", () => {
  // Between them these write every tracked array: lend/reclaim and CMA (pool-race, the secure-video
  // session), pins and migration out of CMA (cma-pinned), user mappings (proc-mmap), a killed
  // allocation, a pool left broken by the race (protmem-race-bug), Hafnium's page state and the
  // granule protection table (the session on fvp-rme; a donate, the one call that moves a page's owner).
  const cases: [string, string | null][] = [
    ["scenarios/pool-race.yaml", "upstream"],
    ["scenarios/pool-race.yaml", "safe"],
    ["scenarios/faults/cma-pinned.yaml", null],
    ["scenarios/faults/kill-during-alloc.yaml", null],
    ["scenarios/upstream/protmem-race-bug.yaml", null],
    ["test/scenarios/proc-mmap.yaml", null],
    ["scenarios/secure-video-session.yaml", "safe"],
    [BACKGROUND(true), null],
    [BACKGROUND(false), null],
    [RME, null],
    ["test/conformance/ffa/hf-donate-retrieve-then-reclaim-invalid.yaml", null],
    // A partition's page in the normal world's own page tables (PageState.nwdView).
    ["test/conformance/ffa/hf-first-fragment-partition-page.yaml", null],
  ];
  const written = new Set<string>();

  for (const [file, policy] of cases) {
    const name =
      file === RME ? "secure video on fvp-rme" : file.startsWith("platform:") ? "background workload" : file;
    it(`leaves no write outside the touched blocks, and counts states over them exactly: ${name} (${policy ?? "its policy"})`, () => {
      const booted = new BootedScenario(scenario(file, policy));
      const { machine, kernel } = booted.system;
      const frames = machine.frames;
      const tracker = frames.dirty;
      const b = kernel.mm.buddy;
      const known = new Map<object, string>([
        [frames.owner, "frames.owner"],
        [frames.useCase, "frames.useCase"],
        [frames.taint, "frames.taint"],
        [frames.state, "frames.state"],
        [frames.pins, "frames.pins"],
        [machine.caches.extraMaps, "caches.extraMaps"],
        [b.freeOrder, "buddy.freeOrder"],
        [b.freeMt, "buddy.freeMt"],
        [b.pageblockMt, "buddy.pageblockMt"],
      ]);
      if (machine.gpt) known.set(machine.gpt.gpi, "gpt.gpi");
      const pages = (
        booted.system.spmc as {
          pages?: { owner: Uint16Array; mode: Uint8Array; holder: Uint16Array; nwdView: Uint8Array };
        }
      ).pages;
      if (pages) {
        known.set(pages.owner, "spmc.pages.owner");
        known.set(pages.mode, "spmc.pages.mode");
        known.set(pages.holder, "spmc.pages.holder");
        known.set(pages.nwdView, "spmc.pages.nwdView");
      }
      // The private ones by their place: the caches' dirty bits before extraMaps (the getter of the
      // dirty bits would settle pending writes), the ring's slots after, the links after freeMt.
      const mapsAt = tracker.arrays.indexOf(machine.caches.extraMaps);
      const linksFrom = tracker.arrays.indexOf(b.freeMt) + 1;
      const names = tracker.arrays.map(
        (a, k) =>
          known.get(a) ?? (k >= linksFrom ? "buddy.links" : k < mapsAt ? "caches.dirty" : "caches.slot"),
      );
      expect(names.filter((n) => n === "caches.slot" || n === "caches.dirty").length).toBeLessThanOrEqual(2);
      const atBoot = tracker.arrays.map((a) => a.slice());
      const look = (): void => {
        expect(booted.snapshot.untouchedWrites()).toEqual([]);
        tracker.arrays.forEach((a, k) => {
          if (!written.has(names[k]) && a.some((v, i) => v !== atBoot[k][i])) written.add(names[k]);
        });
      };
      for (let seed = 1; seed <= (file.includes("pool-race") ? 3 : 1); seed++) {
        booted.snapshot.restore();
        // Looks (each O(DRAM)) spaced ever wider: many early in the run, a dozen or two in all.
        let events = 0;
        let next = 1;
        booted.runOnSystem(chooser(seed), () => {
          if (++events < next) return;
          next = Math.ceil(next * 1.8) + 1;
          look();
        });
        look();
        // The end-of-run histogram from the boot baseline equals a full count.
        expect(frames.stateHistogram(booted.system.boot.state)).toEqual(frames.stateHistogram(null));
      }
    });
  }

  it("the scenarios above write every tracked array (so the checks cover every writer)", () => {
    expect([...written].sort()).toEqual([...TRACKED].sort());
  });
});

describe("restores from dirty blocks", () => {
  it("put back exactly the state at take(), with several snapshots restored in any order", () => {
    const FRAMES = 4096;
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("write" as const),
        at: fc.nat(FRAMES - 1),
        n: fc.integer({ min: 1, max: 700 }),
        v: fc.integer({ min: 1, max: 255 }),
      }),
      fc.record({ kind: fc.constant("take" as const) }),
      fc.record({ kind: fc.constant("restore" as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const tracker = new DirtyBlocks(FRAMES);
        const root = {
          tracker,
          a: tracker.track(new Uint8Array(FRAMES)),
          b: tracker.track(new Int32Array(FRAMES)),
          // One element per 1,024 frames (two blocks), as the buddy's high-order links.
          c: tracker.track(new Int32Array(FRAMES >> 10), 10),
        };
        const boot = { mark: tracker.mark(), a: root.a.slice() };
        const snaps: { snap: Snapshot; a: Uint8Array; b: Int32Array; c: Int32Array }[] = [];
        for (const o of ops) {
          if (o.kind === "write") {
            const n = Math.min(o.n, FRAMES - o.at);
            root.a.fill(o.v, o.at, o.at + n);
            root.b.fill(-o.v, o.at, o.at + n);
            root.c[(o.at + n - 1) >> 10] = o.v;
            tracker.touch(o.at, n);
          } else if (o.kind === "take") {
            snaps.push({
              snap: Snapshot.take(root),
              a: root.a.slice(),
              b: root.b.slice(),
              c: root.c.slice(),
            });
          } else if (snaps.length > 0) {
            const s = snaps[o.which % snaps.length];
            s.snap.restore();
            expect(root.a).toEqual(s.a);
            expect(root.b).toEqual(s.b);
            expect(root.c).toEqual(s.c);
          }
          // A still-valid boot mark names every block that differs from boot.
          if (tracker.valid(boot.mark)) {
            const since = new Set(Array.from(tracker.since(boot.mark)));
            for (let i = 0; i < FRAMES; i++)
              if (root.a[i] !== boot.a[i]) expect(since.has(i >> tracker.blockShift)).toBe(true);
          }
        }
      }),
      { numRuns: 80 },
    );
  });

  it("restore an older snapshot right after a newer one whose mark an earlier restore invalidated", () => {
    // The property above found it (about one run in 170): restoring S1 after S0 made S1's mark invalid
    // rebuilt the log from the stamps alone and dropped the entries S0's (and the boot's) stamps need, so
    // a later restore of S0 left a block stamped with no entry: since() missed it, and a restore of an
    // older snapshot skipped it (a[0] stayed 2 where it was 0).
    const tracker = new DirtyBlocks(4096);
    const root = { tracker, a: tracker.track(new Uint8Array(4096)) };
    const boot = tracker.mark();
    const write = (v: number) => {
      root.a[0] = v;
      tracker.touch(0);
    };
    const s0 = Snapshot.take(root);
    write(2);
    const s1 = Snapshot.take(root);
    write(3);
    const s2 = Snapshot.take(root);
    s1.restore();
    s2.restore();
    s1.restore();
    expect(root.a[0]).toBe(2);
    expect(Array.from(tracker.since(boot))).toEqual([0]);
    s0.restore();
    expect(root.a[0]).toBe(0);
    s2.restore();
    expect(root.a[0]).toBe(3);
  });

  it("copy each block back from its own saved bytes, restore after restore (a block's copy is kept)", () => {
    const FRAMES = 512 * 8;
    const tracker = new DirtyBlocks(FRAMES);
    const root = { a: tracker.track(new Uint8Array(FRAMES)), b: tracker.track(new Int32Array(FRAMES)) };
    // Every block different at take().
    for (let i = 0; i < FRAMES; i++) {
      root.a[i] = (i >> 9) + 1;
      root.b[i] = -((i >> 9) + 1) * 1000 - (i & 511);
    }
    const a0 = root.a.slice();
    const b0 = root.b.slice();
    const snap = Snapshot.take(root);
    for (const block of [0, 1, 3, 2, 1, 0, 7, 6, 7, 3]) {
      root.a.fill(99, block * 512, block * 512 + 512);
      root.b.fill(99, block * 512, block * 512 + 512);
      tracker.touch(block * 512, 512);
      snap.restore();
      expect(root.a).toEqual(a0);
      expect(root.b).toEqual(b0);
    }
  });

  it("copy only the blocks written since (a run's touched blocks, not the whole array)", () => {
    const tracker = new DirtyBlocks(1 << 16);
    const root = { a: tracker.track(new Uint8Array(1 << 16)) };
    const snap = Snapshot.take(root);
    root.a.fill(7, 100, 200);
    tracker.touch(100, 100);
    // A write nobody touched stays: the restore only looks where writers said they wrote.
    root.a[60_000] = 9;
    snap.restore();
    expect(root.a[150]).toBe(0);
    expect(root.a[60_000]).toBe(9);
    expect(snap.untouchedWrites()).toEqual([{ array: 0, frame: 60_000 }]);
  });
});

describe("DirtyBlocks.forChangedSince()", () => {
  it("visits exactly the frames that differ in blocks written since the mark, in order, aligned or not", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.array(
          fc.record({ at: fc.nat(), n: fc.integer({ min: 1, max: 700 }), v: fc.integer({ min: 0, max: 3 }) }),
          {
            maxLength: 12,
          },
        ),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.integer({ min: 0, max: 3 }),
        (frames, writes, strays, offset) => {
          const tracker = new DirtyBlocks(frames);
          // `now` at a byte offset of 0–3 in its buffer: the word compare must fall back when unaligned.
          const now = new Uint8Array(new ArrayBuffer(frames + 8), offset, frames);
          const then = new Uint8Array(frames);
          for (let i = 0; i < frames; i++) now[i] = then[i] = i % 3;
          const mark = tracker.mark();
          for (const w of writes) {
            const at = w.at % frames;
            const n = Math.min(w.n, frames - at);
            now.fill(w.v, at, at + n);
            tracker.touch(at, n);
          }
          // Writes a writer did not touch(): outside written blocks they must not be visited.
          const touched = new Set(Array.from(tracker.since(mark)));
          for (const x of strays) {
            const i = x % frames;
            if (!touched.has(i >> tracker.blockShift)) now[i] ^= 0x80;
          }
          const want: number[] = [];
          for (let i = 0; i < frames; i++)
            if (touched.has(i >> tracker.blockShift) && now[i] !== then[i]) want.push(i);
          const got: number[] = [];
          tracker.forChangedSince(mark, now, then, (i) => got.push(i));
          expect(got).toEqual(want);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe("DirtyBlocks' log", () => {
  /** What the log must answer: every block whose stamp is at or after the mark, by a scan of them all. */
  const scan = (t: DirtyBlocks, mark: number) => {
    const out: number[] = [];
    for (let b = 0; b < t.blocks; b++) if (t.stamp[b] >= mark) out.push(b);
    return out;
  };

  it("answers since() as a scan of the stamps would, through marks, compactions and restores to snapshots in any order", () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant("touch" as const),
        at: fc.nat(),
        n: fc.integer({ min: 1, max: 20_000 }),
      }),
      fc.record({ kind: fc.constant("mark" as const) }),
      fc.record({ kind: fc.constant("snapshot" as const) }),
      fc.record({ kind: fc.constant("restore" as const), which: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40_000 }), fc.array(op, { maxLength: 80 }), (frames, ops) => {
        const t = new DirtyBlocks(frames);
        const marks: number[] = [];
        const snaps: { mark: number; stamps: Uint32Array }[] = [];
        for (const o of ops) {
          if (o.kind === "touch") {
            const at = o.at % frames;
            t.touch(at, Math.min(o.n, frames - at));
          } else if (o.kind === "mark") marks.push(t.mark());
          else if (o.kind === "snapshot") {
            const mark = t.snapshotMark();
            snaps.push({ mark, stamps: t.stamp.slice() });
            marks.push(mark);
          } else if (snaps.length > 0) {
            const s = snaps[o.which % snaps.length];
            // What a snapshot's restore does (restoreTracked()): a fresh snapshot mark after a full one.
            const valid = t.valid(s.mark);
            t.restoredTo(s.mark, s.stamps);
            expect([...t.stamp]).toEqual([...s.stamps]);
            if (!valid) {
              s.mark = t.snapshotMark();
              marks.push(s.mark);
            }
          }
          for (const m of marks) if (t.valid(m)) expect(Array.from(t.since(m))).toEqual(scan(t, m));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("still holds the blocks written before a snapshot after compactions and a restore to it", () => {
    const t = new DirtyBlocks(100 * 512);
    const before = t.mark();
    t.touch(0, 50 * 512);
    const snap = t.snapshotMark();
    const stamps = t.stamp.slice();
    // Runs that write every block anew fill the log again and again: its stale entries are compacted,
    // but not those the snapshot's stamps stand on.
    for (let run = 0; run < 20; run++) {
      t.mark();
      t.touch(0, 100 * 512);
    }
    t.restoredTo(snap, stamps);
    expect(Array.from(t.since(before))).toEqual(scan(t, before));
    expect(Array.from(t.since(before))).toHaveLength(50);
    expect(Array.from(t.since(snap))).toEqual([]);
  });

  it("stays within twice the blocks however many runs touch and restore", () => {
    const t = new DirtyBlocks(1 << 20);
    const mark = t.snapshotMark();
    const stamps = t.stamp.slice();
    for (let run = 0; run < 2000; run++) {
      t.mark();
      for (let k = 0; k < 20; k++) t.touch(((run * 7919 + k * 104_729) % (1 << 20)) | 0, 600);
      if (run % 3 !== 0) t.restoredTo(mark, stamps);
    }
    expect(t.logLength).toBeLessThanOrEqual(2 * t.blocks + 64);
  });
});
