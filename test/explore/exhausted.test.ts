/**
 * A random or PCT search whose first run meets no scheduling choice stops there, exhausted: neither
 * chooser is ever asked, so every run would be that run again — unless a fault budget varies the runs.
 * A scenario with concurrency searches its whole budget as before, one thread or two.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { explore, type ExploreOptions } from "../../src/explore/explore.ts";
import { exploreParallel } from "../../src/explore/explore_parallel.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

/** One process allocates and frees on the protected heap: one task, nothing to choose between. */
const ONE_TASK = `
name: one-task
platform: ${SMALL_BOARD}
policy: safe
steps:
  - proc: a
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - repeat: 2
    steps:
      - proc: a
        ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
        save: buf
        expect: [ok, ENOMEM, EACCES, ECANCELED, EBUSY, EINVAL, EBADF, killed]
      - proc: a
        close: $buf
        expect: [ok, EBADF, killed]
expect:
  findings: { kernel-warn: 0, quiesce-clean: 0, conservation: 0 }
`;

const POOL_RACE = join(import.meta.dirname, "..", "..", "scenarios", "pool-race.yaml");

const opts = (o: Partial<ExploreOptions> = {}): ExploreOptions => ({
  strategy: "random",
  runs: 40,
  seed: 1,
  windowNs: 100_000,
  ...o,
});

describe("a search whose first run meets no scheduling choice", () => {
  const sc = loadScenarioText(ONE_TASK, "one-task.yaml");

  it("stops after it, exhausted, under random and PCT", () => {
    for (const strategy of ["random", "pct"] as const) {
      const r = explore(sc, opts({ strategy }));
      expect(r.explored).toBe(1);
      expect(r.distinct).toBe(1);
      expect(r.ended).toBe("exhausted");
      expect(r.violation).toBeNull();
    }
  });

  it("makes its whole budget when a fault budget varies the runs", () => {
    const r = explore(sc, opts({ faults: 1 }));
    expect(r.ended === "runs" || r.ended === "violation").toBe(true);
    if (r.ended === "runs") expect(r.explored).toBe(40);
    expect(r.faulted).toBeGreaterThan(0);
  });

  it("stops exhausted with --jobs 2 too, before any worker starts", async () => {
    const r = await exploreParallel(sc, {
      ...opts({ runs: 200 }),
      jobs: 2,
      chunkRuns: 8,
      eagerWorkers: true,
    });
    expect(r.explored).toBe(1);
    expect(r.ended).toBe("exhausted");
  });

  it("says so on the command line, and exits 0", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-exhausted-"));
    const file = join(dir, "one-task.yaml");
    writeFileSync(file, ONE_TASK);
    const r = await rstmem("explore", file, "--runs", "50", "--out", dir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^explored {3}1 schedules, 1 distinct/m);
    expect(r.out).toMatch(
      /^exhausted {2}run 1 met no scheduling choice, and no --faults budget varies the runs: every run of the 50 would be that run$/m,
    );
    expect(r.out).toMatch(/^clean {6}no violation in 1 schedules$/m);
  });
});

describe("a search with scheduling choices", () => {
  it("makes its whole budget, one thread or two, run for run the same", async () => {
    const sc = loadScenarioFile(POOL_RACE, "pool-race");
    const one = explore(sc, opts({ runs: 40 }));
    expect(one.ended).toBe("runs");
    expect(one.explored).toBe(40);
    const two = await exploreParallel(sc, {
      ...opts({ runs: 40 }),
      jobs: 2,
      chunkRuns: 8,
      eagerWorkers: true,
    });
    expect(two.explored).toBe(40);
    expect(two.distinct).toBe(one.distinct);
    expect(two.states).toBe(one.states);
  });
});
