/**
 * The run's timeline (RunOptions.timeline → RunResult.timeline), what the HTML report and the trace
 * counters draw: sampling never changes the run, samples fall on their interval, and the counters and
 * the memory map show a session's chunk lent while it plays and gone after, unmapped under `safe`.
 * And the latency CDF each workload reports for the report's plot.
 */
import { describe, expect, it } from "vitest";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { namedPolicy } from "../../src/scenario/policies.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import {
  decodeMap,
  MAP_STATES,
  MAX_CHANGE_SAMPLES,
  MAX_SAMPLES,
  type Timeline,
  type TimelineSample,
} from "../../src/scenario/timeline.ts";
import { randomChooser } from "../../src/sim/scheduler.ts";
import { CDF_POINTS, summarize } from "../../src/user/workloads/env.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const scenario = (policy: string) =>
  loadScenarioText(
    `
name: timeline
platform: tzc400-board
policy: ${policy}
workloads:
  - secure-video: { sessions: 2, length: 300ms, gap: 200ms, frames: 4 }
`,
    "timeline.yaml",
  );

const without = (r: RunResult) => {
  const { timeline: _t, ...rest } = r;
  return JSON.stringify(rest);
};

const code = (s: (typeof MAP_STATES)[number]) => MAP_STATES.indexOf(s);
const binsIn = (tl: Timeline, i: number, s: (typeof MAP_STATES)[number]) =>
  decodeMap(tl.samples[i].map, tl.bins).filter((c) => c === code(s)).length;

describe("the timeline", () => {
  const sc = scenario("upstream");
  const plain = runScenario(sc);
  const sampled = runScenario(sc, { timeline: { everyNs: 20_000_000 } });
  const tl = sampled.timeline!;

  it("sampling changes nothing else in the result, byte for byte", () => {
    expect(plain.timeline).toBeUndefined();
    expect(without(sampled)).toBe(without(plain));
  });

  it("samples start at 0, fall on multiples of the interval, and end with the run's end and the exits", () => {
    expect(tl.exact).toBe(true);
    expect(tl.samples[0].t).toBe(0);
    const inner = tl.samples.slice(0, -2);
    for (const [i, s] of inner.entries()) expect(s.t).toBe(i * tl.everyNs);
    expect(tl.samples.at(-1)!.t).toBe(sampled.simTimeNs);
    expect(tl.samples.length).toBeLessThanOrEqual(MAX_SAMPLES + 2);
    expect(tl.samples.length).toBeGreaterThan(10);
  });

  it("a long run keeps at most MAX_SAMPLES samples by doubling the interval", () => {
    const r = runScenario(sc, { timeline: { everyNs: 1_000_000 } });
    const t = r.timeline!;
    expect(t.everyNs).toBeGreaterThan(1_000_000);
    expect(t.samples.length).toBeLessThanOrEqual(MAX_SAMPLES + 2);
    for (const [i, s] of t.samples.slice(0, -2).entries()) expect(s.t).toBe(i * t.everyNs);
  });

  it("the chunk shows lent while a session plays, in the counters and on the map, and is gone at the end", () => {
    const lent = tl.samples.findIndex((s) => s.lentBytes > 0);
    expect(lent).toBeGreaterThan(0);
    expect(tl.samples[lent].cmaUsedBytes).toBeGreaterThanOrEqual(tl.samples[lent].lentBytes);
    // upstream leaves the chunk in the linear map: lent, still mapped.
    const lentBins = binsIn(tl, lent, "lent");
    expect(lentBins * tl.binBytes).toBeGreaterThanOrEqual(tl.samples[lent].lentBytes * 0.9);
    expect(binsIn(tl, 0, "lent")).toBe(0);
    const last = tl.samples.at(-1)!;
    expect(last.lentBytes).toBe(0);
    expect(last.map).toBe(tl.samples[0].map);
    expect(last.freeBytes).toBe(tl.samples[0].freeBytes);
  });

  it("names the CMA area and the kernel's reserved range as regions of the map", () => {
    expect(tl.regions.map((r) => r.kind)).toContain("cma");
    expect(tl.regions.map((r) => r.kind)).toContain("kernel");
    for (const r of tl.regions) expect(r.endBin).toBeLessThanOrEqual(tl.bins);
    const cma = tl.regions.find((r) => r.kind === "cma")!;
    const boot = decodeMap(tl.samples[0].map, tl.bins);
    expect(boot[cma.firstBin + 1]).toBe(code("cma"));
  });

  it("under safe the lent chunk is out of the linear map: lent-unmapped bins and unmapped bytes", () => {
    const safe = runScenario(scenario("safe"), { timeline: { everyNs: 20_000_000 } }).timeline!;
    const i = safe.samples.findIndex((s) => s.lentBytes > 0);
    expect(i).toBeGreaterThan(0);
    expect(safe.samples[i].unmappedBytes).toBeGreaterThanOrEqual(safe.samples[i].lentBytes);
    expect(binsIn(safe, i, "lent-unmapped")).toBeGreaterThan(0);
    expect(binsIn(safe, i, "lent")).toBe(0);
  });

  it("with a windowed chooser (an explorer's schedule) the replay is unchanged too", () => {
    let x = 7;
    const next = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
    const explored = runScenario(sc, { chooser: randomChooser(next, 100_000) });
    expect(explored.schedule).toMatch(/^w100000:/);
    const replay = runScenario(sc, { schedule: explored.schedule });
    const replaySampled = runScenario(sc, { schedule: explored.schedule, timeline: {} });
    expect(replaySampled.timeline!.exact).toBe(false);
    expect(without(replaySampled)).toBe(without(replay));
    // Sampled as its steps end (it cannot pause): its memory over time, not only its start and end.
    const samples = replaySampled.timeline!.samples;
    expect(samples.length).toBeGreaterThan(4);
    expect(samples.some((x) => x.t > 0 && x.t < replay.simTimeNs && x.lentBytes > 0)).toBe(true);
  });

  it("a windowed run is sampled at the times and with the state a paused run is, to its `until`", () => {
    // A window and a chooser that always takes the earliest: the default schedule, unpausable.
    const earliest = { name: "earliest", windowNs: 100_000, choose: () => 0 };
    const cut = loadScenarioText(
      `
name: cut
platform: tzc400-board
policy: upstream
until: 1500ms
workloads:
  - secure-video: { sessions: 2, length: 300ms, gap: 200ms, frames: 4 }
tasks:
  a: [{ sleep: 1h }]
`,
      "cut.yaml",
    );
    for (const s of [sc, cut]) {
      const paused = runScenario(s, { timeline: {} }).timeline!;
      const windowed = runScenario(s, { chooser: earliest, timeline: {} }).timeline!;
      expect(windowed.exact).toBe(false);
      expect(windowed.samples.length).toBeGreaterThan(20);
      expect(windowed.samples).toEqual(paused.samples);
    }
  });

  it("decodeMap reads the run-length encoding", () => {
    expect([...decodeMap("a3ei2", 6)]).toEqual([0, 0, 0, 4, 8, 8]);
    expect(() => decodeMap("a3", 4)).toThrow(/3 bins, expected 4/);
  });
});

describe("a timeline sampled where memory changes too (replays: `replay --html`, `explore --html`)", () => {
  // The upstream protmem.c race in pool-race, as `rstmem explore pool-race --policy upstream` shrinks
  // it (seed 1): over in 1.5 ms, where the interval is 10 ms.
  const base = loadScenarioFile("scenarios/pool-race.yaml", "pool-race");
  const race = { ...base, policy: namedPolicy("upstream", base.platform) };
  const schedule = "w100000:0*21,1*3,0*10";
  const plain = runScenario(race, { schedule });
  const changes = runScenario(race, { schedule, timeline: { changes: true } });
  const tl = changes.timeline!;
  const counts = (s: TimelineSample) => [s.freeBytes, s.lentBytes, s.cmaUsedBytes, s.unmappedBytes].join();

  it("changes nothing else in the result, byte for byte", () => {
    expect(plain.failure).toMatch(/kernel-warn/);
    expect(without(changes)).toBe(without(plain));
  });

  it("shows the chunk the race lends, at its time, where interval samples alone show nothing lent", () => {
    const interval = runScenario(race, { schedule, timeline: {} }).timeline!;
    expect(interval.changes).toBe(false);
    expect(interval.samples.every((s) => s.lentBytes === 0)).toBe(true);
    expect(tl.changes).toBe(true);
    const lent = tl.samples.filter((s) => s.lentBytes > 0);
    expect(lent.length).toBeGreaterThan(0);
    expect(lent[0].t).toBeGreaterThan(1_000_000);
    expect(lent[0].t).toBeLessThan(changes.simTimeNs);
    expect(binsIn(tl, tl.samples.indexOf(lent[0]), "lent")).toBeGreaterThan(0);
  });

  it("each sample off the interval is a change: its counts differ from the sample before", () => {
    for (let i = 1; i < tl.samples.length; i++) {
      const s = tl.samples[i];
      expect(s.t).toBeGreaterThanOrEqual(tl.samples[i - 1].t);
      if (i < tl.samples.length - 2 && s.t % tl.everyNs !== 0)
        expect(counts(s)).not.toBe(counts(tl.samples[i - 1]));
    }
  });

  it("a run with more changes than MAX_CHANGE_SAMPLES keeps at most that many, in time order", () => {
    // Every allocation lends upstream's chunk and every close reclaims it: four changes a cycle.
    const many = loadScenarioText(
      `
name: many
platform: ${SMALL_BOARD}
policy: upstream
steps:
  - proc: p
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - repeat: 400
    steps:
      - proc: p
        ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
        save: buf
      - proc: p
        close: $buf
`,
      "many.yaml",
    );
    const r = runScenario(many, { timeline: { changes: true } });
    expect(r.passed).toBe(true);
    const t = r.timeline!;
    expect(r.protmem!.lends).toBe(400);
    expect(t.samples.length).toBeLessThanOrEqual(MAX_CHANGE_SAMPLES + 2);
    expect(t.samples.length).toBeGreaterThan(MAX_CHANGE_SAMPLES / 2);
    for (let i = 1; i < t.samples.length; i++)
      expect(t.samples[i].t).toBeGreaterThanOrEqual(t.samples[i - 1].t);
    expect(t.samples.filter((s) => s.lentBytes > 0).length).toBeGreaterThan(100);
  });
});

describe("the latency CDF a workload reports", () => {
  it("is every latency in order when few, else the percentiles from min to max", () => {
    expect(summarize([5, 1, 3]).cdf).toEqual([1, 3, 5]);
    expect(summarize([]).cdf).toEqual([]);
    const many = Array.from({ length: 1000 }, (_, i) => 1000 - i);
    const s = summarize(many);
    expect(s.cdf).toHaveLength(CDF_POINTS);
    expect(s.cdf[0]).toBe(1);
    expect(s.cdf.at(-1)).toBe(1000);
    expect(s.cdf[50]).toBe(s.p50);
    expect(s.cdf[99]).toBe(s.p99);
    expect([...s.cdf].sort((a, b) => a - b)).toEqual(s.cdf);
  });
});
