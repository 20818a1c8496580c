import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { workerEntry } from "../../src/cli/sweep_pool.ts";
import { workerEntry as threadEntry } from "../../src/explore/threads.ts";
import { workerExecArgv } from "../../src/explore/threads.ts";
import { loadSweepFile, shardPoints } from "../../src/report/sweep_file.ts";
import { parsePath, setPath } from "../../src/report/sweep_path.ts";

const dir = mkdtempSync(join(tmpdir(), "rstmem-sweep-"));
const write = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const read = (...p: string[]) => readFileSync(join(dir, ...p), "utf8");

// A one-session 1080p player on QEMU: upstream's 1 MiB pool fails its allocations, safe's growable
// pool serves them. Four points, short runs.
const BASE = `platform: qemu-virt
policy: upstream
workloads:
  - secure-video: { length: 50ms, resolution: 1920x1080, frames: 2, bitstream: { count: 1, size: 1MiB } }
`;
const SWEEP = `name: tiny
scenario: tiny-base.yaml
grid:
  policy: [upstream, safe]
  workloads[0].secure-video.frames: [1, 2]
`;

describe("rstmem sweep", () => {
  let sweepFile = "";
  let j1: { code: number; out: string; err: string };
  beforeAll(async () => {
    write("tiny-base.yaml", BASE);
    sweepFile = write("tiny.yaml", SWEEP);
    j1 = await rstmem("sweep", sweepFile, "--jobs", "1", "--out", join(dir, "j1"));
  });

  it("writes one row per point, parameters then metrics, ordered by point index", () => {
    expect(j1.err).toBe("");
    expect(j1.code).toBe(0);
    const csv = read("j1", "tiny.csv").trimEnd().split("\n");
    expect(csv[0]).toMatch(
      /^point,policy,workloads\[0\]\.secure-video\.frames,simulated_ns,sessions,first_frame_alloc_p50_ns,first_frame_alloc_p99_ns,.*,alloc_p99_ns,.*,alloc_failures,.*,lent_peak_bytes,lent_idle_bytes,.*,ffa_calls,linear_map_splits,tlb_flushes,.*,findings,passed,findings\.conservation,/,
    );
    expect(csv[0]).toMatch(/,failure$/);
    expect(csv.slice(1).map((l) => l.split(",").slice(0, 3).join(","))).toEqual([
      "0,upstream,1",
      "1,upstream,2",
      "2,safe,1",
      "3,safe,2",
    ]);
    const json = JSON.parse(read("j1", "tiny.json"));
    expect(json.points).toBe(4);
    expect(json.shard).toBeUndefined();
    const [up, , safe] = json.rows;
    // Upstream lends QEMU's 1 MiB: a 1080p frame does not fit. Safe grows its pool.
    expect(up.alloc_failures).toBeGreaterThan(0);
    expect(safe.alloc_failures).toBe(0);
    expect(safe.first_frame_alloc_p99_ns).toBeGreaterThan(0);
    expect(safe.lent_peak_bytes).toBeGreaterThan(0);
    expect(Object.keys(safe.findings_by_invariant)).toContain("scrub-before-return");
    expect(safe.findings).toBe(
      Object.values(safe.findings_by_invariant as Record<string, number>).reduce((a, b) => a + b, 0),
    );
    expect(j1.out).not.toMatch(/\bms\b.*wall/);
  });

  it("--jobs 2 (worker threads) writes the same bytes as --jobs 1", async () => {
    const r = await rstmem("sweep", sweepFile, "--jobs", "2", "--out", join(dir, "j2"));
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toContain("2 jobs");
    expect(read("j2", "tiny.json")).toBe(read("j1", "tiny.json"));
    expect(read("j2", "tiny.csv")).toBe(read("j1", "tiny.csv"));
  });

  it("--jobs 2 under node's own heap or GC options (node --max-old-space-size=… bin/rstmem.js) starts its workers", () => {
    // Node refuses a worker whose execArgv carries a V8 or per-process option: only how modules load goes.
    const bin = join(import.meta.dirname, "..", "..", "bin", "rstmem.js");
    const r = spawnSync(
      process.execPath,
      [
        "--max-old-space-size=1024",
        "--stack-size=2000",
        bin,
        "sweep",
        sweepFile,
        "--jobs",
        "2",
        "--out",
        join(dir, "v8"),
      ],
      { encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(read("v8", "tiny.json")).toBe(read("j1", "tiny.json"));
  });

  it("a worker gets the parent's module-loading options only", () => {
    const tsx = "file:///r/node_modules/tsx/dist/esm/index.mjs";
    expect(
      workerExecArgv([
        "--max-old-space-size=8192",
        "--import",
        tsx,
        "--single-threaded-gc",
        "--cpu-prof",
        "--require=./setup.cjs",
        "--enable-source-maps",
        "--conditions",
        "development",
        "--title=x",
      ]),
    ).toEqual([
      "--import",
      tsx,
      "--require=./setup.cjs",
      "--enable-source-maps",
      "--conditions",
      "development",
    ]);
  });

  it("--shard 1/2 and 2/2 run the even and odd points; merged they give the unsharded run's bytes", async () => {
    const a = await rstmem("sweep", sweepFile, "--jobs", "1", "--shard", "1/2", "--out", join(dir, "s"));
    const b = await rstmem("sweep", sweepFile, "--jobs", "1", "--shard", "2/2", "--out", join(dir, "s"));
    expect([a.code, b.code]).toEqual([0, 0]);
    const s1 = JSON.parse(read("s", "tiny.shard-1-of-2.json"));
    expect(s1.shard).toBe("1/2");
    expect(s1.rows.map((r: { point: number }) => r.point)).toEqual([0, 2]);
    const m = await rstmem(
      "sweep",
      "merge",
      join(dir, "s", "tiny.shard-2-of-2.json"),
      join(dir, "s", "tiny.shard-1-of-2.json"),
      "--out",
      join(dir, "merged"),
    );
    expect(m.err).toBe("");
    expect(m.code).toBe(0);
    expect(read("merged", "tiny.json")).toBe(read("j1", "tiny.json"));
    expect(read("merged", "tiny.csv")).toBe(read("j1", "tiny.csv"));
  });

  it("merge refuses a missing shard, a point twice, and shards of another sweep (exit 2)", async () => {
    const one = join(dir, "s", "tiny.shard-1-of-2.json");
    const missing = await rstmem("sweep", "merge", one, "--out", join(dir, "bad"));
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/2 of 4 points are missing \(first: 1, 3\)/);
    const twice = await rstmem("sweep", "merge", one, one, "--out", join(dir, "bad"));
    expect(twice.code).toBe(2);
    expect(twice.err).toMatch(/point 0 is in another file too/);
    const other = JSON.parse(read("s", "tiny.shard-2-of-2.json"));
    other.fingerprint = "0000000000000000";
    const otherFile = write("other.json", JSON.stringify(other));
    const diff = await rstmem("sweep", "merge", one, otherFile, "--out", join(dir, "bad"));
    expect(diff.code).toBe(2);
    expect(diff.err).toMatch(/shards of different sweeps, or of a changed file/);
  });

  it("a point that misses the sweep's expect fails with the reason, and the sweep exits 1", async () => {
    const f = write(
      "expect.yaml",
      SWEEP.replace("name: tiny", "name: tiny-expect") + "expect:\n  metrics: { alloc_failures: 0 }\n",
    );
    const r = await rstmem("sweep", f, "--jobs", "1", "--shard", "1/2", "--out", join(dir, "e"));
    expect(r.code).toBe(1);
    const rows = JSON.parse(read("e", "tiny-expect.shard-1-of-2.json")).rows;
    expect(rows[0].passed).toBe(false);
    expect(rows[0].failure).toMatch(/^expected alloc_failures = 0, got [1-9]/);
    expect(rows[1].passed).toBe(true);
  });
});

describe("sweep files: positioned errors (exit 2)", () => {
  const bad = async (name: string, text: string) => {
    const r = await rstmem("sweep", write(name, text), "--out", join(dir, "never"));
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    return r.err;
  };

  it("a grid value that makes a bad scenario is reported at that value", async () => {
    const err = await bad(
      "bad-value.yaml",
      "scenario:\n  platform: qemu-virt\ngrid:\n  platform.dram_size: [4GiB,\n    3MiB]\n",
    );
    expect(err).toMatch(
      /bad-value\.yaml:5:5: grid\.platform\.dram_size: point 1 \(platform\.dram_size="3MiB"\): platform\.dram_size: expected a non-zero multiple of 2 MiB/,
    );
  });

  it("an unknown key, a bad path and an empty value list are named at their place", async () => {
    expect(await bad("k.yaml", "scenario: {}\ngrid: {}\nrepeat: 2\n")).toMatch(
      /k\.yaml:3:1: repeat: unknown key "repeat"; expected one of: name, description, scenario, grid, expect/,
    );
    expect(await bad("p.yaml", "scenario: {}\ngrid:\n  policy..pool: [a]\n")).toMatch(
      /p\.yaml:3:3: grid\.policy\.\.pool: .*expected a dotted path into the scenario/,
    );
    expect(await bad("e.yaml", "scenario: {}\ngrid:\n  seed: []\n")).toMatch(
      /e\.yaml:3:9: grid\.seed: expected a list of length ≥ 1/,
    );
  });

  it("a bad base scenario file is reported in that file", async () => {
    write("bad-base.yaml", "platform: qemu-virt\nseed: -1\n");
    expect(await bad("b.yaml", "scenario: bad-base.yaml\ngrid: { seed: [1] }\n")).toMatch(
      /^rstmem: bad-base\.yaml:2:7: seed: /,
    );
  });

  it("a metric bound with the wrong unit is named at its place", async () => {
    expect(
      await bad(
        "u.yaml",
        "scenario: {}\ngrid: { seed: [1] }\nexpect:\n  metrics: { first_frame_alloc_p99_ns: '<12MiB' }\n",
      ),
    ).toMatch(/u\.yaml:4:40: expect\.metrics\.first_frame_alloc_p99_ns: expected a duration or bound/);
  });
});

describe("sweep grids", () => {
  it("the shards of any N partition the points, in index order", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 9 }), (points, n) => {
        const all = Array.from({ length: n }, (_, i) =>
          shardPoints(points, { index: i + 1, count: n }),
        ).flat();
        expect(all.sort((a, b) => a - b)).toEqual(Array.from({ length: points }, (_, i) => i));
      }),
    );
  });

  it("a dotted path sets a field of a named preset, creating mappings on the way", () => {
    const d: Record<string, unknown> = {
      platform: "tzc400-board",
      policy: "safe",
      workloads: [{ "secure-video": null }],
    };
    expect(setPath(d, parsePath("platform.dram_size")!, "8GiB")).toBeNull();
    expect(setPath(d, parsePath("policy.max")!, "1GiB")).toBeNull();
    expect(setPath(d, parsePath("workloads[0].secure-video.sessions")!, 2)).toBeNull();
    expect(setPath(d, parsePath("workloads[1].background.unmovable")!, "64MiB")).toBeNull();
    expect(d).toEqual({
      platform: { preset: "tzc400-board", dram_size: "8GiB" },
      policy: { preset: "safe", max: "1GiB" },
      workloads: [{ "secure-video": { sessions: 2 } }, { background: { unmovable: "64MiB" } }],
    });
    expect(setPath(d, parsePath("workloads[5].trusted-ui")!, {})).toMatch(
      /index 5 is past the end of workloads/,
    );
    expect(parsePath("a.b[2].c-d")).toEqual(["a", "b", 2, "c-d"]);
    expect(parsePath("a..b")).toBeNull();
  });

  it("the 100-point example sweep loads: 100 points, its first and last scenarios valid", () => {
    const sw = loadSweepFile(
      join(import.meta.dirname, "..", "..", "scenarios", "sweeps", "cma-policy-100.yaml"),
    );
    expect(sw.points).toBe(100);
    expect(sw.loadPoint(0).policy.name).toBe("upstream");
    expect(sw.loadPoint(99).platform.name).toBe("tzc400-board");
  });

  it("the worker is the .ts file under tsx (with tsx's loader) and dist/'s .js file when compiled, bundled or not", () => {
    const ts = workerEntry("file:///r/src/cli/sweep_pool.ts");
    expect(ts.filename).toBe("file:///r/src/cli/sweep_worker.ts");
    expect(ts.execArgv.some((a) => a.includes("tsx"))).toBe(true);
    const js = workerEntry("file:///r/dist/cli/sweep_pool.js");
    expect(js.filename).toBe("file:///r/dist/cli/sweep_worker.js");
    // From the command's bundle (scripts/build.mjs: dist/bundle/, split in chunks), dist/'s module.
    expect(workerEntry("file:///r/dist/bundle/chunk-ABC.js").filename).toBe(
      "file:///r/dist/cli/sweep_worker.js",
    );
    expect(threadEntry("explore/explore_worker", "file:///r/dist/bundle/chunk-ABC.js").filename).toBe(
      "file:///r/dist/explore/explore_worker.js",
    );
    expect(threadEntry("explore/explore_worker", "file:///r/src/explore/explore_parallel.ts").filename).toBe(
      "file:///r/src/explore/explore_worker.ts",
    );
    expect(js.execArgv.filter((a) => a.includes("tsx/dist/loader"))).toEqual(
      process.execArgv.filter((a) => a.includes("tsx/dist/loader")),
    );
  });
});
