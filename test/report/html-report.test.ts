/**
 * The HTML report as a file: self-contained (uPlot and the page's script inline, nothing fetched), the
 * scenario's strings only inside the escaped JSON block, and the data the page reads (runs, metrics,
 * latency CDFs, the timeline's columns and maps) taken from the results as they are.
 */
import { describe, expect, it } from "vitest";
import { htmlReport, htmlReportData, scriptSafeJson, STORY_EVENTS_MAX } from "../../src/report/html.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const NAME = `</script><script>alert("x")</script><!-- & \u2028`;

const result = runScenario(
  loadScenarioText(
    `
name: ${JSON.stringify(NAME)}
platform: tzc400-board
policy: upstream
workloads:
  - secure-video: { sessions: 1, length: 200ms, frames: 4 }
`,
    "r.yaml",
  ),
  { timeline: {} },
);
const input = { title: NAME, runs: [{ result, label: "upstream", replay: "rstmem run r.yaml --seed 1" }] };

describe("the HTML report file", () => {
  const html = htmlReport(input);

  it("holds the scenario's strings only as escaped JSON: no markup of theirs survives", () => {
    expect(html).not.toContain("<script>alert(");
    expect(html).not.toContain("<!-- &");
    expect(html.match(/<script/g)).toHaveLength(3);
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    const json = /<script type="application\/json" id="rstmem-data">(.*?)<\/script>/s.exec(html)![1];
    expect(json).not.toMatch(/[<>&\u2028\u2029]/);
    const data = JSON.parse(json) as { title: string; runs: { scenario: string }[] };
    expect(data.title).toBe(NAME);
    expect(data.runs[0].scenario).toBe(NAME);
  });

  it("is self-contained: uPlot inline, no src or href, a policy that forbids the network", () => {
    expect(html).toContain("https://github.com/leeoniya/uPlot");
    expect(html).not.toMatch(/\s(src|href)=/i);
    expect(html).toContain(`default-src 'none'`);
    // uPlot's ~50 KB and its stylesheet, the page, and a short run's data.
    expect(html.length).toBeGreaterThan(50_000);
    expect(html.length).toBeLessThan(200_000);
  });

  it("gives the page each run's metrics, latency CDFs and timeline columns from the result", () => {
    const data = htmlReportData(input) as {
      runs: {
        metrics: Record<string, number>;
        latency: { name: string; all: number[]; first: number[] }[];
        timeline: { t: number[]; lent: number[]; maps: string[]; bins: number };
        details: { id: string; t: number }[];
      }[];
    };
    const r = data.runs[0];
    const w = result.workloads![0];
    expect(r.latency).toEqual([{ name: w.name, all: w.allocNs.cdf, first: w.firstFrameAllocNs.cdf }]);
    expect(r.latency[0].all.length).toBeGreaterThan(1);
    expect(r.metrics.firstFrameP99Ms).toBe(w.firstFrameAllocNs.p99 / 1e6);
    expect(r.metrics.peakLentMiB).toBe(result.protmem!.peakLentBytes / 1048576);
    expect(r.metrics.findings).toBe(Object.values(result.findings).reduce((a, b) => a + b, 0));
    const tl = result.timeline!;
    expect(r.timeline.t).toEqual(tl.samples.map((s) => s.t));
    expect(r.timeline.lent).toEqual(tl.samples.map((s) => s.lentBytes));
    expect(r.timeline.maps).toEqual(tl.samples.map((s) => s.map));
    expect(r.details.map((f) => f.id)).toEqual(result.findingDetails.map((f) => f.id));
  });

  it("escapes what could end a script element or break a parser", () => {
    expect(scriptSafeJson({ a: "</script>&\u2028\u2029" })).toBe(
      '{"a":"\\u003c/script\\u003e\\u0026\\u2028\\u2029"}',
    );
  });

  it("holds a replayed run's story as columns, at most STORY_EVENTS_MAX events a part, and none for other runs", () => {
    const ev = (i: number) => ({ t: i, task: "a", layer: "kernel", call: `c${i}`, what: `n=${i}` });
    const many = Array.from({ length: STORY_EVENTS_MAX + 5 }, (_, i) => ev(i));
    const d = htmlReportData({
      title: "t",
      runs: [
        { ...input.runs[0], story: { boot: [ev(0), ev(1)], run: many } },
        { ...input.runs[0], label: "plain" },
      ],
    }) as {
      runs: {
        story: {
          boot: { total: number; call: string[] };
          run: { total: number; t: number[]; what: string[] };
          bootOpen: boolean;
        } | null;
      }[];
    };
    const s = d.runs[0].story!;
    expect(s.boot).toMatchObject({ total: 2, call: ["c0", "c1"] });
    expect(s.bootOpen).toBe(false);
    expect(s.run.total).toBe(STORY_EVENTS_MAX + 5);
    expect(s.run.t).toHaveLength(STORY_EVENTS_MAX);
    expect(s.run.what.at(-1)).toBe(`n=${STORY_EVENTS_MAX - 1}`);
    expect(d.runs[1].story).toBeNull();
  });
});
