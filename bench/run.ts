/**
 * `npm run bench`: performance figures as JSON lines {name, value, unit}, also written to
 * bench/results.json. Wall-clock time is read here only, never inside the simulation.
 * Each figure states its budget (issue text) in `budget` so a reader sees the margin.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { Machine } from "../src/hw/machine.ts";
import { DirectMap } from "../src/hw/mmu.ts";
import { SZ_2M } from "../src/hw/platform.ts";
import { loadScenarioFile } from "../src/scenario/loader.ts";
import { PRESETS } from "../src/scenario/presets.ts";
import { runScenario } from "../src/scenario/runner.ts";
import { DEFAULT_SCENARIO } from "../src/cli/main.ts";
import { preempt } from "../src/sim/scheduler.ts";
import { Sim } from "../src/sim/sim.ts";
import type { PlatformDesc } from "../src/hw/platform.ts";
import { Mm } from "../src/kernel/mm/mm.ts";
import { GFP_HIGHUSER_MOVABLE } from "../src/kernel/mm/gfp.ts";
import { PS_MOVABLE } from "../src/kernel/mm/gfp.ts";
import { allocContigRange } from "../src/kernel/mm/alloc_contig.ts";
import { SECTION_SIZE } from "../src/kernel/mm/direct_map.ts";
import {
  cleanInvalidateToPoc,
  remapAfterReclaim,
  UNMAP_KINDS,
  unmapForLend,
} from "../src/kernel/mm/unmap.ts";
import { benchFfa } from "./ffa.ts";
import { benchMutants } from "./mutants.ts";
import { benchFuzz } from "./fuzz.ts";
import { benchDefaultRun } from "./default-run.ts";
import { benchExplore } from "./explore.ts";
import { namedPolicy } from "../src/scenario/policies.ts";
import { htmlReport } from "../src/report/html.ts";
import { loadScenarioText } from "../src/scenario/loader.ts";
import { buildSystem } from "../src/scenario/system.ts";
import { TimelineSampler } from "../src/scenario/timeline.ts";

interface Figure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
  /** The bench group that made it (`npx tsx bench/run.ts GROUP` runs one). */
  group?: string;
  /**
   * This machine's speed when the group began: task switches per second of a short probe (the
   * `switches` group's loop, 400,000 switches). The shared 2-core machine the bench runs on swings by up
   * to 3× within an hour; a figure read against its budget needs the speed it was made at.
   */
  machineSwitchesPerSec?: number;
}

const figures: Figure[] = [];
const only = process.argv.slice(2);
/** The group running now: each figure records it, so a partial run knows which figures it replaces. */
let group = "";
/** The speed probe's reading at the start of the group running now. */
let machineSpeed = 0;

function figure(f: Figure): void {
  const g = { ...f, group, machineSwitchesPerSec: machineSpeed };
  figures.push(g);
  console.log(JSON.stringify(g));
}

/** Task switches per second: `per` preemption points in each of 4 tasks, one scheduler run. */
function switchRate(per: number): number {
  const sim = new Sim(1);
  for (const name of ["a", "b", "c", "d"]) {
    sim.sched.spawn(name, function* () {
      for (let i = 0; i < per; i++) yield preempt();
    });
  }
  const t0 = performance.now();
  sim.sched.run();
  return Math.round((sim.sched.switches / (performance.now() - t0)) * 1000);
}

/** Best of `reps` timings of fn, in ms. */
function best(reps: number, fn: () => void): number {
  let b = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    b = Math.min(b, performance.now() - t0);
  }
  return b;
}

const benches: Record<string, () => void> = {
  access() {
    for (const preset of ["tzc400-board", "fvp-rme", "qemu-virt"]) {
      const m = new Machine(new Sim(1), PRESETS[preset]);
      const cpu = m.masterIndex("cpu-ns");
      const n = 2_000_000;
      // Addresses spread over the first GiB of DRAM, none of it protected.
      const addrs = new Float64Array(4096);
      for (let i = 0; i < addrs.length; i++)
        addrs[i] = m.dramBase + ((i * 7919) % 262144) * 4096 + (i % 64) * 8;
      const ms = best(3, () => {
        for (let i = 0; i < n; i++) m.access(cpu, addrs[i & 4095], 8, "read");
      });
      figure({
        name: `access checks per second (cpu-ns reads of unprotected pages, ${preset})`,
        value: Math.round((n / ms) * 1000),
        unit: "checks/s",
        budget: ">= 10000000",
      });
    }
  },

  directmap() {
    for (const [label, blocks] of [
      ["4 KiB pages (rodata=full)", false],
      ["blocks (BBML2)", true],
    ] as const) {
      const base = 0x80000000;
      const size = 64 * 1024 ** 3;
      const ranges = new Float64Array(1000);
      let x = 12345;
      for (let i = 0; i < ranges.length; i++) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        ranges[i] = base + (x % ((size - SZ_2M) / 4096)) * 4096;
      }
      // Best of three; boot mapping is set up outside the timed part.
      let ms = Infinity;
      for (let rep = 0; rep < 3; rep++) {
        const dm = new DirectMap(base, size);
        dm.setOptions({ blocks, cont: blocks });
        dm.create(base, base + size);
        const t0 = performance.now();
        for (const s of ranges) {
          dm.invalidate(s, s + SZ_2M);
          dm.flushTlbKernelRange(s, s + SZ_2M);
        }
        for (const s of ranges) dm.restore(s, s + SZ_2M);
        ms = Math.min(ms, performance.now() - t0);
      }
      figure({
        name: `invalidate + restore of 1,000 random 2 MiB ranges, 64 GiB direct map, ${label}`,
        value: Number(ms.toFixed(2)),
        unit: "ms",
        budget: "<= 50",
      });
    }
  },

  switches() {
    figure({
      name: "task switches per second (4 tasks yielding)",
      value: switchRate(500_000),
      unit: "switches/s",
      budget: ">= 2000000",
    });
  },

  mm() {
    const GiB = 1024 ** 3;
    // A platform with a 1 GiB CMA area, at 4 GiB and at 64 GiB of DRAM.
    const platform = (dramGiB: number): PlatformDesc => ({
      ...PRESETS["tzc400-board"],
      dram: { base: 0x40000000, size: dramGiB * GiB },
      cma: [{ name: "reserved", base: 0xc0000000, size: GiB }],
      caches: { ...PRESETS["tzc400-board"].caches, specFillsPerMs: 0 },
    });
    const CONTIG_PAGES = (256 * 1024 * 1024) / 4096;
    /** One alloc_contig_range of 256 MiB (half its pages movable, migrated): its wall time in ms. */
    const contigOnce = (dramGiB: number): number => {
      const sim = new Sim(1);
      const machine = new Machine(sim, platform(dramGiB));
      const mm = new Mm(sim, machine);
      const cma = mm.cmaAreas[0];
      // Half of the area's pages become movable user pages, every other page.
      for (let i = cma.base; i < cma.base + cma.count; i += 2) {
        mm.buddy.takeOffBuddy(i, i + 1);
        machine.frames.state[i] = PS_MOVABLE;
      }
      const start = cma.base + cma.count / 4;
      const n = CONTIG_PAGES;
      let rc = -1;
      const t0 = performance.now();
      sim.sched.spawn("bench", function* () {
        rc = yield* allocContigRange(mm, start, start + n);
      });
      sim.sched.run();
      const ms = performance.now() - t0;
      if (rc !== 0) throw new Error(`alloc_contig_range failed: ${rc}`);
      return ms;
    };
    // One call untimed first: the first size measured otherwise pays the JIT's warm-up for both (the
    // 4 GiB figure read 16–28 ms across benches, the 64 GiB one after it 17–19, a ratio below 1).
    contigOnce(4);
    const contig: Record<number, number> = {};
    for (const dramGiB of [4, 64]) {
      let bestMs = Infinity;
      for (let rep = 0; rep < 3; rep++) bestMs = Math.min(bestMs, contigOnce(dramGiB));
      const migrated = CONTIG_PAGES / 2;
      contig[dramGiB] = bestMs;
      figure({
        name: `alloc_contig_range of 256 MiB in a 1 GiB CMA area 50% movable, ${dramGiB} GiB DRAM (${migrated} migrations)`,
        value: Number(bestMs.toFixed(2)),
        unit: "ms",
        budget: "<= 20",
      });
    }
    figure({
      name: "alloc_contig_range 64 GiB / 4 GiB time ratio",
      value: Number((contig[64] / contig[4]).toFixed(2)),
      unit: "x",
      budget: "<= 1.5",
    });

    const sim = new Sim(1);
    const machine = new Machine(sim, platform(4));
    const mm = new Mm(sim, machine);
    const pairs = 2_000_000;
    const ms = best(3, () => {
      for (let k = 0; k < pairs; k++) mm.buddy.freePages(mm.buddy.allocPages(0, GFP_HIGHUSER_MOVABLE), 0);
    });
    figure({
      name: "order-0 alloc/free pairs per second",
      value: Math.round((pairs / ms) * 1000),
      unit: "pairs/s",
      budget: ">= 1000000",
    });
  },

  unmap() {
    // Lend/reclaim pairs of 4 MiB chunks (128 MiB sections for linear-remove) under each strategy, with a
    // clean+invalidate to PoC before each lend, on 4 and 64 GiB of DRAM: the work is per chunk, not per DRAM.
    const GiB = 1024 ** 3;
    const platform = (dramGiB: number): PlatformDesc => ({
      ...PRESETS["tzc400-board"],
      dram: { base: 0x40000000, size: dramGiB * GiB },
      cma: [{ name: "reserved", base: 0xc0000000, size: GiB }],
      caches: { ...PRESETS["tzc400-board"].caches, specFillsPerMs: 0 },
      hypervisor: "pkvm",
    });
    for (const kind of UNMAP_KINDS) {
      const ms: Record<number, number> = {};
      const pairs = kind === "linear-remove" ? 32 : 1024;
      for (const dramGiB of [4, 64]) {
        ms[dramGiB] = Infinity;
        // Best of three, each on a fresh machine (booting it is not timed).
        for (let rep = 0; rep < 3; rep++) {
          const sim = new Sim(1);
          const machine = new Machine(sim, platform(dramGiB));
          const mm = new Mm(sim, machine);
          const size = kind === "linear-remove" ? SECTION_SIZE : 4 * 1024 * 1024;
          const slots = GiB / size;
          sim.sched.spawn("bench", function* () {
            for (let k = 0; k < pairs; k++) {
              const pa = 0xc0000000 + (k % slots) * size;
              yield* cleanInvalidateToPoc(mm, pa, size);
              if ((yield* unmapForLend(mm, kind, pa, size)) !== 0) throw new Error(`${kind} lend failed`);
              if ((yield* remapAfterReclaim(mm, kind, pa, size)) !== 0)
                throw new Error(`${kind} reclaim failed`);
            }
          });
          const t0 = performance.now();
          sim.sched.run();
          ms[dramGiB] = Math.min(ms[dramGiB], performance.now() - t0);
        }
      }
      figure({
        name: `${pairs} clean + lend + reclaim of ${kind === "linear-remove" ? "128 MiB sections" : "4 MiB chunks"}, unmap ${kind}, 64 GiB DRAM`,
        value: Number(ms[64].toFixed(2)),
        unit: "ms",
      });
      figure({
        // No budget: at tens of ms the figure is within the machine's noise; ~1 means no per-DRAM work.
        name: `unmap ${kind}: 64 GiB / 4 GiB time ratio`,
        value: Number((ms[64] / ms[4]).toFixed(2)),
        unit: "x",
      });
    }
  },

  ffa() {
    benchFfa(figure);
  },

  mutants() {
    benchMutants(figure);
  },

  fuzz() {
    benchFuzz(figure);
  },

  explore() {
    benchExplore(figure);
  },

  startup() {
    // The shipped command as a user starts it: compiled JavaScript from dist/ (npm ci builds it).
    const bin = fileURLToPath(new URL("../bin/rstmem.js", import.meta.url));
    for (const args of [["--version"], ["presets"]]) {
      const ms = best(5, () => {
        execFileSync(process.execPath, [bin, ...args], { stdio: "ignore" });
      });
      figure({
        name: `start-up: rstmem ${args.join(" ")} (wall, best of 5)`,
        value: Number(ms.toFixed(1)),
        unit: "ms",
        budget: "<= 250",
      });
    }
  },

  defaultrun() {
    benchDefaultRun(figure);
  },

  scenario() {
    const sc = loadScenarioFile(DEFAULT_SCENARIO);
    const t0 = performance.now();
    const r = runScenario(sc);
    const ms = performance.now() - t0;
    figure({ name: "default scenario wall time", value: Number(ms.toFixed(2)), unit: "ms" });
    figure({
      name: "default scenario simulated seconds per wall second",
      value: Number((r.simTimeNs / 1e9 / (ms / 1000)).toFixed(3)),
      unit: "sim-s/s",
    });
    figure({
      name: "peak resident memory",
      value: Math.round(process.memoryUsage().rss / 2 ** 20),
      unit: "MiB",
    });
  },

  report() {
    // A timeline sample (bins × probes frame reads): the same cost whatever DRAM's size.
    const GiB = 1024 ** 3;
    for (const dramGiB of [4, 64]) {
      const platform: PlatformDesc = {
        ...PRESETS["tzc400-board"],
        dram: { base: 0x40000000, size: dramGiB * GiB },
      };
      const system = buildSystem(new Sim(1), platform, { policy: namedPolicy("upstream", platform) });
      const sampler = new TimelineSampler(system, {}, null, false);
      const n = 200;
      const ms = best(3, () => {
        for (let i = 0; i < n; i++) sampler.final(i);
      });
      figure({
        name: `timeline sample (${sampler.bins} bins × ${sampler.probes} probes), ${dramGiB} GiB DRAM`,
        value: Number(((ms * 1000) / n).toFixed(1)),
        unit: "µs",
      });
    }
    // The HTML report of a run with two sessions, under upstream and safe.
    const runs = ["upstream", "safe"].map((policy) => {
      const sc = loadScenarioText(
        `platform: tzc400-board
policy: ${policy}
workloads:
  - secure-video: { sessions: 2, length: 2s, gap: 1s }
`,
        "bench.yaml",
      );
      return { result: runScenario(sc, { timeline: {} }), label: policy, replay: "rstmem run bench.yaml" };
    });
    let bytes = 0;
    const ms = best(5, () => {
      bytes = htmlReport({ title: "bench", runs }).length;
    });
    figure({
      name: "HTML report build, two runs",
      value: Number(ms.toFixed(2)),
      unit: "ms",
      budget: "< 100",
    });
    figure({ name: "HTML report size, two runs", value: Math.round(bytes / 1024), unit: "KiB" });
  },
};

for (const [name, fn] of Object.entries(benches)) {
  if (only.length > 0 && !only.includes(name)) continue;
  group = name;
  // The probe runs warm: its first call, at the first group, also compiles it.
  if (machineSpeed === 0) switchRate(100_000);
  machineSpeed = switchRate(100_000);
  fn();
}

// A partial run (`npx tsx bench/run.ts NAME`) replaces its groups' figures and keeps the others'. A
// figure of a group it ran that it did not make again is gone: a renamed figure leaves no stale twin.
const results = new URL("./results.json", import.meta.url);
const previous: Figure[] =
  only.length > 0 && existsSync(results) ? (JSON.parse(readFileSync(results, "utf8")) as Figure[]) : [];
const merged = previous
  .filter((f) => f.group === undefined || !only.includes(f.group) || figures.some((g) => g.name === f.name))
  .map((f) => figures.find((g) => g.name === f.name) ?? f);
for (const f of figures) if (!merged.some((g) => g.name === f.name)) merged.push(f);
writeFileSync(results, JSON.stringify(merged, null, 2) + "\n");
