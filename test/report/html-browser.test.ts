/**
 * The HTML report in headless Chromium (playwright-core driving the system's chromium, which .ci/run
 * installs): the page loads with no console error, every chart has drawn its data, moving the slider
 * redraws the memory map, a hostile scenario name stays text, and a replayed run's story is a table
 * with its boot folded and a working filter. The screenshot goes to a temp dir.
 *
 * Without a chromium binary the test is skipped with a message, except under CI (CI set), where a
 * missing browser fails it: the report must not go untested silently.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { htmlReport } from "../../src/report/html.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { bootScenario, runOnSystem, runScenario } from "../../src/scenario/runner.ts";
import { storyEvent, type StoryEvent } from "../../src/report/story.ts";

const HOSTILE = "<script>alert(1)</script>";

/** What the page's elements offer here (the project builds without the DOM's types). */
interface Canvas {
  width: number;
  height: number;
  getContext(kind: "2d"): {
    getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
  };
  toDataURL(): string;
}
interface RangeInput {
  value: string;
  max: string;
  dispatchEvent(e: Event): boolean;
}

/** The chromium binary: $CHROMIUM, else the first of the usual names on PATH. */
function findChromium(): string | null {
  if (process.env.CHROMIUM && existsSync(process.env.CHROMIUM)) return process.env.CHROMIUM;
  for (const name of ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]) {
    try {
      const path = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (path) return path;
    } catch {
      // not this one
    }
  }
  return null;
}

const executable = findChromium();
if (!executable && !process.env.CI)
  console.warn("html-browser: no chromium on PATH (apt-get install chromium): skipping the browser test");

function report(): string {
  const runs = ["upstream", "safe"].map((policy) => {
    const sc = loadScenarioText(
      `
name: ${JSON.stringify(HOSTILE)}
platform: tzc400-board
policy: ${policy}
workloads:
  - secure-video: { sessions: 2, length: 300ms, gap: 200ms, frames: 4 }
`,
      "hostile.yaml",
    );
    const result = runScenario(sc, { timeline: {} });
    return {
      result,
      label: policy,
      replay: `rstmem run hostile.yaml --seed ${result.seed} --policy ${policy}`,
    };
  });
  return htmlReport({ title: runs[0].result.scenario, runs });
}

/** Pixels of a canvas within a few levels of an RGB colour. */
async function pixelsOf(page: Page, selector: string, index: number, hex: string): Promise<number> {
  return page.$$eval(
    selector,
    (canvases, [i, color]) => {
      const c = canvases[i as number] as unknown as Canvas;
      const want = [1, 3, 5].map((k) => parseInt((color as string).slice(k, k + 2), 16));
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let p = 0; p < d.length; p += 4)
        if (d[p + 3] > 200 && want.every((v, k) => Math.abs(d[p + k] - v) <= 12)) n++;
      return n;
    },
    [index, hex] as const,
  );
}

describe.skipIf(!executable && !process.env.CI)("the HTML report in Chromium", () => {
  let browser: Browser;
  let page: Page;
  const errors: string[] = [];
  const dialogs: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "rstmem-html-"));

  beforeAll(async () => {
    expect(executable, "CI is set but no chromium is installed (.ci/run installs it)").not.toBeNull();
    const file = join(dir, "report.html");
    writeFileSync(file, report());
    browser = await chromium.launch({ executablePath: executable!, headless: true, args: ["--no-sandbox"] });
    page = await browser.newPage({ viewport: { width: 1000, height: 900 } });
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-ready='1']", { timeout: 15_000 });
  }, 60_000);

  afterAll(async () => {
    if (page) await page.screenshot({ path: join(dir, "report.png"), fullPage: true });
    await browser?.close();
  });

  it("loads with no console error or warning", () => {
    expect(errors).toEqual([]);
  });

  it("draws every chart: the memory lines, the latency CDF, the bars, the map", async () => {
    // Memory over time: one chart per policy, free memory's line drawn in each.
    const memory = await page.$$(".memory-chart canvas");
    expect(memory).toHaveLength(2);
    for (let i = 0; i < 2; i++)
      expect(await pixelsOf(page, ".memory-chart canvas", i, "#2e7d32")).toBeGreaterThan(100);
    // The lent line rises above the axis under both policies.
    for (let i = 0; i < 2; i++)
      expect(await pixelsOf(page, ".memory-chart canvas", i, "#c62828")).toBeGreaterThan(50);
    // The CDF: each policy's colour.
    expect(await pixelsOf(page, ".cdf-chart canvas", 0, "#1565c0")).toBeGreaterThan(50);
    expect(await pixelsOf(page, ".cdf-chart canvas", 0, "#c62828")).toBeGreaterThan(50);
    // Bars: every metric with a value above zero has its bars filled.
    const bars = await page.$$eval(".bar-chart", (boxes) =>
      boxes.map((b) =>
        [...b.querySelectorAll(".values span")].some((s) => !/: 0(\.0+)?( |$)/.test(s.textContent!)),
      ),
    );
    expect(bars.length).toBeGreaterThanOrEqual(5);
    expect(bars.filter(Boolean).length).toBeGreaterThanOrEqual(3);
    for (const [i, nonzero] of bars.entries())
      if (nonzero)
        expect(await pixelsOf(page, ".bar-chart canvas", i, "#1565c0"), `bar chart ${i}`).toBeGreaterThan(
          100,
        );
    // The map: free memory's colour fills most of it at t = 0.
    expect(await pixelsOf(page, ".map-canvas", 0, "#e8f5e9")).toBeGreaterThan(10_000);
  });

  it("moving the slider redraws the map at that sample: the lent chunk appears", async () => {
    const before = await page.$eval(".map-canvas", (c) => (c as unknown as Canvas).toDataURL());
    const label = await page.textContent(".map-time");
    expect(await pixelsOf(page, ".map-canvas", 0, "#d32f2f")).toBe(0);
    // A sample a third of the way in: the first session plays, its chunk lent and still mapped (upstream).
    await page.$eval(".map-slider", (s) => {
      const input = s as unknown as RangeInput;
      input.value = String(Math.floor(Number(input.max) / 3));
      input.dispatchEvent(new Event("input"));
    });
    const after = await page.$eval(".map-canvas", (c) => (c as unknown as Canvas).toDataURL());
    expect(after).not.toBe(before);
    expect(await page.textContent(".map-time")).not.toBe(label);
    expect(await pixelsOf(page, ".map-canvas", 0, "#d32f2f")).toBeGreaterThan(100);
  });

  it("a scenario named <script>alert(1)</script> shows as text and runs nothing", async () => {
    expect(await page.textContent("h1")).toBe(HOSTILE);
    expect(await page.title()).toBe(`${HOSTILE} — rstmem report`);
    expect(await page.$$eval(".runs tbody tr", (rows) => rows.map((r) => r.children[1].textContent))).toEqual(
      [HOSTILE, HOSTILE],
    );
    // Only the report's own three scripts: the data, uPlot, the page.
    expect(await page.$$eval("script", (s) => s.length)).toBe(3);
    expect(dialogs).toEqual([]);
  });

  it("lists each finding with its time and the command that replays it", async () => {
    const rows = await page.$$eval(".findings", (boxes) =>
      boxes.map((b) =>
        [...b.querySelectorAll("tbody tr")].map((r) => [...r.children].map((c) => c.textContent ?? "")),
      ),
    );
    expect(rows[0].length).toBeGreaterThan(0);
    for (const [time, id, , what, replay] of rows[0]) {
      expect(time).toMatch(/\d (ns|µs|ms|s)$/);
      expect(id).toMatch(/^[a-z-]+$/);
      expect(what.length).toBeGreaterThan(0);
      expect(replay).toBe("rstmem run hostile.yaml --seed 1 --policy upstream");
    }
  });

  it("a replayed run's story: a table of its events, the boot folded, a filter that keeps matching rows", async () => {
    const sc = loadScenarioText(
      `
name: story
platform: tzc400-board
policy: upstream
steps:
  - proc: player
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - proc: player
    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
`,
      "story.yaml",
    );
    const boot: StoryEvent[] = [];
    const run: StoryEvent[] = [];
    let into = boot;
    const system = bootScenario(sc, 1, { listener: (e) => into.push(storyEvent(e)), perAccess: true });
    into = run;
    // As `rstmem replay --html` makes it: sampled where memory changed too.
    const result = runOnSystem(sc, system, { seed: 1, timeline: { changes: true } });
    const file = join(dir, "story.html");
    writeFileSync(
      file,
      htmlReport({
        title: "story",
        runs: [{ result, label: "upstream", replay: "rstmem replay r.json", story: { boot, run } }],
      }),
    );
    // (The earlier tests' pixel reads warn about readbacks: only what this page says counts.)
    const before = errors.length;
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-ready='1']", { timeout: 15_000 });
    expect(errors.slice(before)).toEqual([]);
    const tables = await page.$$eval(".story-table", (ts) =>
      ts.map((t) => t.querySelectorAll("tbody tr").length),
    );
    expect(tables).toEqual([boot.length, run.length]);
    // The boot is folded: its rows are not shown; the run's are, in order, as replay prints them.
    expect(await page.$eval(".story-boot", (d) => (d as unknown as { open: boolean }).open)).toBe(false);
    expect(await page.isVisible(".story-boot .story-table")).toBe(false);
    const calls = await page.$$eval(".story > .story-table tbody tr", (rows) =>
      rows.map((r) => r.children[3].textContent),
    );
    expect(calls).toEqual(run.map((e) => e.call));
    // The filter keeps the rows whose line holds the text.
    await page.fill(".story-filter", "cma_alloc_start");
    const shown = await page.$$eval(
      ".story > .story-table tbody tr",
      (rows) =>
        rows.filter((r) => (r as unknown as { style: { display: string } }).style.display !== "none").length,
    );
    expect(shown).toBe(
      run.filter((e) => e.call.includes("cma_alloc_start") || e.what.includes("cma_alloc_start")).length,
    );
    expect(shown).toBeGreaterThan(0);
    // The run is over in milliseconds: its memory chart's time is in ms (the legend says so; uPlot
    // draws the axis on the canvas), and the chunk it lends is drawn.
    expect(result.simTimeNs).toBeLessThan(1e9);
    expect(await page.textContent(".memory-chart .u-legend")).toContain("t (ms)");
    expect(await pixelsOf(page, ".memory-chart canvas", 0, "#c62828")).toBeGreaterThan(50);
    // No workload: no first-frame latency to show, rather than a bar of 0.
    expect(await page.textContent(".bars")).toContain("no run measured it");
  });

  it("a long story's parts: the first events, the events around the finding, the last, each after what was skipped", async () => {
    const ev = (call: string): StoryEvent => ({ t: 0, task: "t", layer: "kernel", call, what: "" });
    const first = [ev("a0"), ev("a1")];
    const focus = [ev("f0"), ev("finding"), ev("f2")];
    const last = [ev("z0")];
    const sc = loadScenarioText(
      `name: parts\nplatform: tzc400-board\nsteps:\n  - sleep: 1ms\n`,
      "parts.yaml",
    );
    const result = runOnSystem(sc, bootScenario(sc, 1), { seed: 1 });
    const file = join(dir, "parts.html");
    writeFileSync(
      file,
      htmlReport({
        title: "parts",
        runs: [
          {
            result,
            label: "upstream",
            replay: "rstmem replay r.json",
            story: {
              boot: [],
              run: first,
              runTotal: 1000,
              more: [
                { skipped: 500, heading: "the 3 events around the first kernel-warn finding", events: focus },
                { skipped: 494, heading: "the last 1 events:", events: last },
              ],
            },
          },
        ],
      }),
    );
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector("body[data-ready='1']", { timeout: 15_000 });
    const calls = await page.$$eval(".story > .story-table", (ts) =>
      ts.map((t) =>
        Array.from(
          t.querySelectorAll("tbody tr"),
          (r) => (r as unknown as { children: { textContent: string | null }[] }).children[3].textContent,
        ),
      ),
    );
    expect(calls).toEqual([["a0", "a1"], ["f0", "finding", "f2"], ["z0"]]);
    const text = await page.textContent(".story");
    expect(text).toContain("… 500 events not shown …");
    expect(text).toContain("the 3 events around the first kernel-warn finding");
    expect(text).toContain("… 494 events not shown …");
    expect(text).not.toContain("The first 2 of 1000 events are shown");
  });
});
