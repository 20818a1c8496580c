/**
 * `rstmem run --html FILE`, `rstmem compare --html FILE` and `report.html` in `--out DIR`: the report holds every run with its
 * timeline and the command that replays it; a path that cannot be written is a usage error.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";

interface Data {
  title: string;
  runs: { label: string; replay: string; timeline: { maps: string[] } | null }[];
}

function dataOf(file: string): Data {
  const html = readFileSync(file, "utf8");
  return JSON.parse(
    /<script type="application\/json" id="rstmem-data">(.*?)<\/script>/s.exec(html)![1],
  ) as Data;
}

const dir = mkdtempSync(join(tmpdir(), "rstmem-html-cli-"));
const scenario = join(dir, "play.yaml");
writeFileSync(
  scenario,
  `name: play
platform: tzc400-board
policy: upstream
workloads:
  - secure-video: { sessions: 1, length: 200ms, frames: 4 }
`,
);

describe("rstmem run --html", () => {
  it("writes one report of the run, with its timeline and the command that replays it", async () => {
    const file = join(dir, "report.html");
    const r = await rstmem("run", scenario, "--policy", "safe", "--seed", "3", "--html", file);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const d = dataOf(file);
    expect(d.title).toBe("play");
    expect(d.runs).toHaveLength(1);
    expect(d.runs[0].label).toBe("safe");
    expect(d.runs[0].replay).toBe(`rstmem run ${scenario} --seed 3 --policy safe`);
    expect(d.runs[0].timeline!.maps.length).toBeGreaterThan(2);
  });

  it("--out DIR always writes report.html beside the summary", async () => {
    const out = join(dir, "out");
    const r = await rstmem("run", scenario, "--out", out);
    expect(r.code).toBe(0);
    const d = dataOf(join(out, "play", "report.html"));
    expect(d.runs[0].label).toBe("upstream");
    expect(d.runs[0].replay).toBe(`rstmem run ${scenario} --seed 1`);
    expect(existsSync(join(out, "play", "summary.json"))).toBe(true);
  });

  it("--json is the same with and without the report: the timeline stays in the report", async () => {
    const plain = await rstmem("run", scenario, "--json");
    const reported = await rstmem("run", scenario, "--json", "--html", join(dir, "j.html"));
    expect(reported.out).toBe(plain.out);
    expect(JSON.parse(plain.out)).not.toHaveProperty("timeline");
  });

  it("a report path that cannot be written exits 2 with the reason", async () => {
    const r = await rstmem("run", scenario, "--html", join(dir, "no-such-dir", "r.html"));
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--html .*r\.html: cannot write \(ENOENT\)/);
  });
});

describe("rstmem compare --html", () => {
  it("writes one report with a run per policy, each with the command that replays it", async () => {
    const file = join(dir, "compare.html");
    const r = await rstmem("compare", scenario, "--policies", "upstream,safe", "--html", file);
    expect(r.err).toBe("");
    const d = dataOf(file);
    expect(d.title).toBe("play");
    expect(d.runs.map((x) => x.label)).toEqual(["upstream", "safe"]);
    expect(d.runs.map((x) => x.replay)).toEqual([
      `rstmem run ${scenario} --seed 1 --policy upstream`,
      `rstmem run ${scenario} --seed 1 --policy safe`,
    ]);
    for (const x of d.runs) expect(x.timeline!.maps.length).toBeGreaterThan(2);
  });
});

describe("rstmem replay --html", () => {
  it("renders the story replay prints: the same events, boot folded, then the run's", async () => {
    const out = mkdtempSync(join(tmpdir(), "rstmem-replay-html-"));
    const found = await rstmem("explore", "pool-race", "--policy", "upstream", "--runs", "4", "--out", out);
    expect(found.code).toBe(1);
    const file = join(out, "replay.html");
    const r = await rstmem("replay", join(out, "replay.json"), "--html", file);
    expect(r.code).toBe(1);
    const story = (dataOf(file).runs[0] as unknown as { story: StoryColumns }).story;
    const boot = Number(/^boot {7}(\d+) events/m.exec(r.out)![1]);
    const told = r.out.split("\n").filter((l) => /^ +\d+\.\d{6} ms {2}/.test(l));
    expect(story.bootOpen).toBe(false);
    expect(story.boot.total).toBe(boot);
    expect(story.boot.t).toHaveLength(boot);
    expect(story.run.total).toBe(told.length);
    // Row for row what replay printed: time, task, layer, call, what.
    story.run.t.forEach((t, i) => {
      const line = told[i];
      expect(line).toContain(`${(t / 1e6).toFixed(6)} ms  ${story.run.task[i].padEnd(14)} `);
      expect(line).toContain(` ${story.run.call[i].padEnd(22)} ${story.run.what[i]}`);
    });
    expect(story.run.call).toContain("cma_alloc_start");
    // --boot opens it in the report too.
    await rstmem("replay", join(out, "replay.json"), "--html", file, "--boot");
    expect((dataOf(file).runs[0] as unknown as { story: StoryColumns }).story.bootOpen).toBe(true);
  });
});

interface StoryColumns {
  bootOpen: boolean;
  boot: { total: number; t: number[] };
  run: { total: number; t: number[]; task: string[]; layer: string[]; call: string[]; what: string[] };
}
