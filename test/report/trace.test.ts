/**
 * The trace files of a run, parsed back: the Chrome trace-event JSON opens as Perfetto expects
 * (displayTimeUnit first, small named pids/tids, X slices that nest on every thread with each syscall
 * inside its workload phase, counters in time order, findings as global instants, one slice per frame
 * and no event per page), the ftrace text has the kernel's header, line layout and cma_* formats with
 * balanced tracing_mark_write spans and timestamps that never go back; both stay small per simulated
 * minute and are the same bytes for the same run. Spans nest whatever order emitters close them in
 * (property), and a run without a listener emits nothing.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { chromeTraceText, ChromeTraceWriter } from "../../src/report/chrome-trace.ts";
import { FtraceWriter, ftraceText } from "../../src/report/ftrace.ts";
import { memoryOf } from "../../src/report/trace-files.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import { TraceBus, type Layer, type TraceEvent } from "../../src/sim/trace.ts";

/** A short run with every kind of span: sessions with seeks, trusted UI, background load and pins in CMA. */
const SCENARIO = `
name: trace-test
platform: tzc400-board
until: 4s
workloads:
  - secure-video: { start: 100ms, sessions: 2, length: 2s, gap: 1s, frames: 8, bitstream: { count: 2, size: 1MiB }, seeks: 1 }
  - trusted-ui: { start: 500ms, sessions: 2, length: 1s, gap: 2s, width: 1080, height: 2400, bpp: 4, buffers: 2 }
  - background: { movable: { rate: 200MiB/s, working_set: 256MiB }, unmovable: 16MiB, pins: { count: 2, in_cma: true } }
`;

interface Traced {
  result: RunResult;
  json: string;
  ftrace: string;
}

function traced(): Traced {
  const sc = loadScenarioText(SCENARIO, "trace-test.yaml");
  const chunks: string[] = [];
  const opts = { title: "trace-test", stepLists: ["steps"] };
  const chrome = new ChromeTraceWriter((c) => chunks.push(c), opts);
  const ftrace = new FtraceWriter(opts);
  const result = runScenario(sc, {
    trace: (e) => {
      chrome.listener(e);
      ftrace.listener(e);
    },
    tracePerAccess: false,
    timeline: {},
  });
  const end = { t: result.simTimeNs, memory: memoryOf(result), otherData: { seed: result.seed } };
  chrome.finish(end);
  const text: string[] = [];
  ftrace.finish(end, (c) => text.push(c));
  return { result, json: chunks.join(""), ftrace: text.join("") };
}

interface Ev {
  name: string;
  ph: string;
  ts: number;
  pid: number;
  tid: number;
  dur?: number;
  cat?: string;
  s?: string;
  args?: Record<string, unknown>;
}

const ns = (us: number) => Math.round(us * 1000);

/** Every X slice on a thread either holds the next one or ends before it starts. */
function nestingProblems(events: readonly Ev[]): string[] {
  const byTid = new Map<string, Ev[]>();
  for (const e of events) {
    if (e.ph !== "X") continue;
    const k = `${e.pid}/${e.tid}`;
    byTid.set(k, [...(byTid.get(k) ?? []), e]);
  }
  const problems: string[] = [];
  for (const [k, list] of byTid) {
    list.sort((a, b) => ns(a.ts) - ns(b.ts) || ns(b.dur!) - ns(a.dur!));
    const stack: Ev[] = [];
    for (const e of list) {
      while (stack.length > 0 && ns(stack.at(-1)!.ts) + ns(stack.at(-1)!.dur!) <= ns(e.ts)) stack.pop();
      const top = stack.at(-1);
      if (top && ns(e.ts) + ns(e.dur!) > ns(top.ts) + ns(top.dur!))
        problems.push(`${k}: ${e.name} at ${e.ts} overlaps ${top.name} at ${top.ts}`);
      stack.push(e);
    }
  }
  return problems;
}

/** The slice that holds `e` most closely on its thread. */
function parentOf(events: readonly Ev[], e: Ev): Ev | undefined {
  return events
    .filter(
      (p) =>
        p !== e &&
        p.ph === "X" &&
        p.pid === e.pid &&
        p.tid === e.tid &&
        ns(p.ts) <= ns(e.ts) &&
        ns(p.ts) + ns(p.dur!) >= ns(e.ts) + ns(e.dur!) &&
        ns(p.dur!) >= ns(e.dur!),
    )
    .sort((a, b) => ns(a.dur!) - ns(b.dur!))[0];
}

/** `comm-pid [cpu] flags seconds.micros: event: fields` — trace_print_context(). */
const LINE = /^ {0,16}(.{1,15})-(\d+) {0,7} \[000\] \.{5} +(\d+)\.(\d{6}): ([a-z_]+): (.*)$/;
const CMA = {
  cma_alloc_start: /^name=\S+ request_count=\d+ available_count=\d+ total_count=\d+ align=\d+$/,
  cma_alloc_finish: /^name=\S+ pfn=0x[0-9a-f]+ page=[0-9a-f]{16} count=\d+ align=\d+ errorno=-?\d+$/,
  cma_alloc_busy_retry: /^name=\S+ pfn=0x[0-9a-f]+ page=[0-9a-f]{16} count=\d+ align=\d+$/,
  cma_release: /^name=\S+ pfn=0x[0-9a-f]+ page=[0-9a-f]{16} count=\d+$/,
} as Record<string, RegExp>;
const MARK = /^(B\|\d+\|[^|\n]+|E\|\d+|C\|\d+\|[^|\n]+\|-?\d+|I\|\d+\|[^|\n]+)$/;

describe("trace files of a workload run", () => {
  let t: Traced;
  let events: Ev[];
  beforeAll(() => {
    t = traced();
    events = (JSON.parse(t.json) as { traceEvents: Ev[] }).traceEvents;
  });

  it("the Chrome JSON parses, says displayTimeUnit before any event, and names every pid and tid", () => {
    expect(t.json.startsWith('{"displayTimeUnit":"ns","traceEvents":[')).toBe(true);
    const procs = new Set(events.filter((e) => e.name === "process_name").map((e) => e.pid));
    const threads = new Set(events.filter((e) => e.name === "thread_name").map((e) => `${e.pid}/${e.tid}`));
    for (const e of events) {
      expect(Number.isInteger(e.pid) && e.pid > 0 && e.pid < 100, `pid of ${e.name}`).toBe(true);
      expect(procs.has(e.pid), `process ${e.pid} has a name`).toBe(true);
      if (e.ph === "X" || (e.ph === "i" && e.s !== "g"))
        expect(threads.has(`${e.pid}/${e.tid}`), `thread of ${e.name} has a name`).toBe(true);
    }
    const names = events.filter((e) => e.name === "process_name").map((e) => e.args?.name);
    expect(names).toEqual(
      expect.arrayContaining(["trace-test", "secure-video#0", "trusted-ui#1", "background#2"]),
    );
  });

  it("X slices nest on every thread, and each syscall lies inside its session's phase", () => {
    expect(nestingProblems(events)).toEqual([]);
    const allocs = events.filter((e) => e.ph === "X" && e.name === "ioctl DMA_HEAP_IOCTL_ALLOC");
    expect(allocs.length).toBeGreaterThan(10);
    for (const a of allocs) {
      expect(["allocate frames", "allocate buffers"]).toContain(parentOf(events, a)?.name);
      expect(a.args).toMatchObject({ ret: 0 });
    }
    const frames = events.filter((e) => e.ph === "X" && e.name === "allocate frames");
    for (const f of frames)
      expect(parentOf(events, f)?.name).toMatch(
        /^(session secure-video\.0\.s\d|session trusted-ui\.1\.s\d|seek)$/,
      );
    // cma_alloc() is a slice inside the first allocation, its busy retries counted there.
    const cma = events.filter((e) => e.ph === "X" && e.name === "cma_alloc");
    expect(cma.length).toBeGreaterThan(0);
    expect(parentOf(events, cma[0])?.name).toBe("ioctl DMA_HEAP_IOCTL_ALLOC");
    expect(Number(cma[0].args?.busy_retries)).toBeGreaterThan(0);
  });

  it("a frame is one slice, and no successful memory access is an event", () => {
    const video = t.result.workloads!.find((w) => w.kind === "secure-video")!;
    const ui = t.result.workloads!.find((w) => w.kind === "trusted-ui")!;
    const frames = events.filter((e) => e.ph === "X" && e.name === "frame");
    expect(frames.length).toBe(video.framesShown + ui.framesShown);
    expect(events.filter((e) => e.name.endsWith(": ok") || e.args?.result === "ok")).toEqual([]);
    expect(t.result.machine.accesses).toBeGreaterThan(100 * events.length);
  });

  it("memory by state is a counter track per state, matching the run's timeline", () => {
    const samples = t.result.timeline!.samples;
    const STATES = ["free", "movable", "kernel", "cma_used", "lent", "carveout", "unmapped"];
    for (const state of STATES) {
      const track = events.filter((e) => e.ph === "C" && e.name === `memory: ${state}`);
      expect(track.length, state).toBe(samples.length);
    }
    // Lent memory rises while a session holds the chunk, and the values are the timeline's bytes.
    const lent = events
      .filter((e) => e.ph === "C" && e.name === "memory: lent")
      .map((e) => e.args!.MiB as number);
    expect(Math.max(...lent)).toBe(Math.max(...samples.map((x) => x.lentBytes)) / (1024 * 1024));
    expect(Math.max(...lent)).toBeGreaterThan(0);
    expect(t.ftrace).toMatch(/tracing_mark_write: C\|\d+\|mem\.lent\|[1-9]\d*\n/);
  });

  it("counters run forward in time, findings are global instants, frequent kinds become counts", () => {
    const last = new Map<string, number>();
    for (const e of events.filter((x) => x.ph === "C")) {
      expect(ns(e.ts)).toBeGreaterThanOrEqual(last.get(e.name) ?? 0);
      last.set(e.name, ns(e.ts));
      expect(Object.values(e.args ?? {}).every((v) => typeof v === "number")).toBe(true);
    }
    const hazards = t.result.findings["no-speculation-hazard"];
    expect(hazards).toBeGreaterThan(100);
    const instants = events.filter((e) => e.ph === "i" && e.name === "finding no-speculation-hazard");
    expect(instants.length).toBe(100);
    expect(instants.every((e) => e.s === "g")).toBe(true);
    const counts = events.filter((e) => e.ph === "C" && e.name === "finding no-speculation-hazard (count)");
    expect(counts.at(-1)?.args?.count).toBe(hazards);
  });

  it("the ftrace text has the header, the kernel's line layout and cma formats, balanced marks, time never going back", () => {
    const lines = t.ftrace.split("\n");
    expect(lines[0]).toBe("# tracer: nop");
    const body = lines.filter((l) => l !== "" && !l.startsWith("#"));
    expect(t.ftrace).toContain(`# entries-in-buffer/entries-written: ${body.length}/${body.length}   #P:1`);
    let prev = 0;
    const depth = new Map<string, number>();
    const seen = new Set<string>();
    for (const l of body) {
      const m = LINE.exec(l);
      expect(m, l).not.toBeNull();
      const [, , pid, sec, usec, event, fields] = m!;
      const tUs = Number(sec) * 1e6 + Number(usec);
      expect(tUs).toBeGreaterThanOrEqual(prev);
      prev = tUs;
      seen.add(event);
      if (event === "tracing_mark_write") {
        expect(fields, l).toMatch(MARK);
        const d = depth.get(pid) ?? 0;
        if (fields.startsWith("B|")) depth.set(pid, d + 1);
        if (fields.startsWith("E|")) {
          expect(d, `E without B: ${l}`).toBeGreaterThan(0);
          depth.set(pid, d - 1);
        }
        if (fields.startsWith("B|") || fields.startsWith("E|")) expect(fields.split("|")[1]).toBe(pid);
      } else {
        expect(CMA[event], `unknown event ${event}`).toBeDefined();
        expect(fields, l).toMatch(CMA[event]);
      }
    }
    expect([...depth.values()].every((d) => d === 0)).toBe(true);
    expect([...seen].sort()).toEqual([
      "cma_alloc_busy_retry",
      "cma_alloc_finish",
      "cma_alloc_start",
      "cma_release",
      "tracing_mark_write",
    ]);
    expect(t.ftrace).toMatch(/tracing_mark_write: B\|\d+\|session secure-video\.0\.s0\n/);
  });

  it("both stay well under 100 MB for ten simulated minutes, at this run's density", () => {
    const minutes = t.result.simTimeNs / 60e9;
    const MiB = 1024 * 1024;
    expect(t.json.length / minutes).toBeLessThan(5 * MiB);
    expect(t.ftrace.length / minutes).toBeLessThan(5 * MiB);
  });

  it("the same run gives the same bytes", () => {
    const again = traced();
    expect(again.json).toBe(t.json);
    expect(again.ftrace).toBe(t.ftrace);
  });
});

describe("spans from any emitter", () => {
  const LAYERS: Layer[] = ["user", "kernel", "scenario"];
  const op = fc.record({
    task: fc.constantFrom("a", "b", "workload:w", "-"),
    layer: fc.constantFrom(...LAYERS),
    name: fc.constantFrom("x", "y", "z"),
    span: fc.constantFrom<"B" | "E" | undefined>("B", "E", undefined),
    dt: fc.nat(5),
  });

  it("nest on every thread and balance in ftrace, whatever order they close in (or never)", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let now = 0;
        const events: TraceEvent[] = ops.map((o) => {
          now += o.dt * 1000;
          const base = { t: now, task: o.task, layer: o.layer, name: o.name, args: {} };
          return o.span ? { ...base, span: o.span } : base;
        });
        const end = { t: now + 1000 };
        const json = JSON.parse(chromeTraceText(events, { title: "p" }, end)) as { traceEvents: Ev[] };
        expect(nestingProblems(json.traceEvents)).toEqual([]);
        const opened = events.filter((e) => e.span === "B").length;
        expect(json.traceEvents.filter((e) => e.ph === "X").length).toBe(opened);
        const depth = new Map<string, number>();
        for (const l of ftraceText(events, end).split("\n")) {
          const m = /-(\d+) .*tracing_mark_write: ([BE])\|/.exec(l);
          if (!m) continue;
          const d = (depth.get(m[1]) ?? 0) + (m[2] === "B" ? 1 : -1);
          expect(d).toBeGreaterThanOrEqual(0);
          depth.set(m[1], d);
        }
        expect([...depth.values()].every((d) => d === 0)).toBe(true);
      }),
    );
  });
});

describe("the trace bus", () => {
  it("emits nothing without a listener, and per-access events only to a listener that asks", () => {
    let t = 0;
    const bus = new TraceBus(
      () => t++,
      () => "task",
    );
    expect(bus.listening).toBe(false);
    const all: TraceEvent[] = [];
    const files: TraceEvent[] = [];
    const off = bus.subscribe((e) => all.push(e));
    bus.subscribe((e) => files.push(e), { perAccess: false });
    expect(bus.perAccess).toBe(true);
    bus.emit("hw", "access", { result: "ok" });
    bus.emit("hw", "access", { result: "denied" });
    expect(all.length).toBe(2);
    expect(files.map((e) => e.args.result)).toEqual(["denied"]);
    off();
    expect(bus.perAccess).toBe(false);
    expect(bus.listening).toBe(true);
  });
});

describe("rstmem run --trace / --ftrace", () => {
  const S = (name: string) => join(import.meta.dirname, "..", "scenarios", name);

  it("writes both files: step slices hold their syscalls", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-trace-"));
    const r = await rstmem(
      "run",
      S("proc-system-heap.yaml"),
      "--trace",
      join(dir, "t.json"),
      "--ftrace",
      join(dir, "t.txt"),
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(readFileSync(join(dir, "t.json"), "utf8")) as { traceEvents: Ev[] };
    expect(nestingProblems(j.traceEvents)).toEqual([]);
    const steps = j.traceEvents.filter((e) => e.ph === "X" && e.name.startsWith("step "));
    expect(steps.length).toBeGreaterThan(0);
    const calls = j.traceEvents.filter((e) => e.ph === "X" && e.cat === "user");
    expect(calls.map((e) => e.name)).toEqual(
      expect.arrayContaining(["open", "ioctl DMA_HEAP_IOCTL_ALLOC", "mmap"]),
    );
    for (const c of calls) expect(parentOf(j.traceEvents, c)?.name, c.name).toMatch(/^step \d+: proc$/);
    expect(j.traceEvents.find((e) => e.name === "process_name" && e.pid === 2)?.args?.name).toBe(
      "scenario steps",
    );
    expect(readFileSync(join(dir, "t.txt"), "utf8")).toMatch(/^# tracer: nop\n/);
  });

  it("tracing does not change the run: --json is the same with and without the traces", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-trace-"));
    const plain = await rstmem("run", "--json", S("proc-system-heap.yaml"));
    const traced = await rstmem(
      "run",
      "--json",
      S("proc-system-heap.yaml"),
      "--trace",
      join(dir, "t.json"),
      "--ftrace",
      join(dir, "t.txt"),
    );
    expect(traced.code).toBe(plain.code);
    expect(traced.out).toBe(plain.out);
  });

  it("rstmem compare writes one trace per policy, the policy's name before the extension", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-trace-"));
    const f = join(dir, "c.yaml");
    writeFileSync(
      f,
      "name: c\nplatform: tzc400-board\nworkloads:\n  - secure-video: { sessions: 1, length: 200ms, resolution: 1920x1080, frames: 2 }\n",
    );
    const r = await rstmem(
      "compare",
      f,
      "--policies",
      "upstream,safe",
      "--trace",
      join(dir, "t.json"),
      "--ftrace",
      join(dir, "t.txt"),
    );
    expect(r.err).toBe("");
    for (const policy of ["upstream", "safe"]) {
      const j = JSON.parse(readFileSync(join(dir, `t.${policy}.json`), "utf8")) as {
        traceEvents: Ev[];
        otherData: { policy: string };
      };
      expect(j.otherData.policy).toBe(policy);
      expect(nestingProblems(j.traceEvents)).toEqual([]);
      expect(j.traceEvents.filter((e) => e.ph === "X" && e.name === "frame").length).toBe(6);
      expect(readFileSync(join(dir, `t.${policy}.txt`), "utf8")).toMatch(
        /cma_alloc_finish: name=\S+ .* errorno=0\n/,
      );
    }
  });

  it("a trace file that cannot be written is a usage error (exit 2), before the run", async () => {
    const r = await rstmem("run", S("protected-read.yaml"), "--trace", "/nonexistent-dir/t.json");
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "rstmem: --trace /nonexistent-dir/t.json: cannot write the file (no such directory)\n",
    );
    expect(r.out).toBe("");
  });
});
