import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";
import { sizePolicy, SIZE_GRANULE, type RunAt } from "../../src/report/sizing.ts";
import type { Scenario } from "../../src/scenario/loader.ts";

const MiB = 1024 * 1024;
const ms = 1_000_000;

/** Just what the knobs read of a scenario: DRAM, carveouts and one CMA area of `cmaMiB`. */
function fakeScenario(cmaMiB: number): Scenario {
  return {
    platform: {
      dram: { base: 0x40000000, size: 4096 * MiB },
      reserved: [],
      cma: [{ name: "reserved", base: 0x80000000, size: cmaMiB * MiB }],
    },
  } as unknown as Scenario;
}

/** A pool that works from `needMiB` and takes `msPerMiB` per MiB of chunk to the first frame. */
function poolModel(
  needMiB: number,
  msPerMiB: number,
  broken: (size: number) => boolean = () => false,
): {
  runAt: RunAt;
  calls: number[];
} {
  const calls: number[] = [];
  const runAt: RunAt = (_policy, sizes) => {
    const size = sizes.protmem ?? sizes.chunk ?? 0;
    calls.push(size);
    const fails = size < needMiB * MiB || broken(size);
    return Promise.resolve({
      firstFrameP99Ns: fails ? 0 : (size / MiB) * msPerMiB * ms,
      failures: fails ? 1 : 0,
      why: fails ? "ENOMEM: heap protected,secure-video could not allocate" : null,
      broken: false,
    });
  };
  return { runAt, calls };
}

describe("the size search", () => {
  it("finds the smallest working pool in log2(range) runs, bounded by the largest failing size", async () => {
    const { runAt, calls } = poolModel(101, 0.1);
    const r = await sizePolicy(fakeScenario(1024), "upstream", "dynamic", 100 * ms, runAt);
    const pool = r.knobs[0];
    expect(pool.knob.path).toBe("platform.protmem.secure-video");
    expect(pool.answer).toBe(104 * MiB);
    expect(pool.failing?.size).toBe(100 * MiB);
    expect(pool.failing?.failures).toBe(1);
    expect(pool.passing?.size).toBe(104 * MiB);
    expect(pool.notMonotone).toBeNull();
    // hi, lo, ~8 halvings of 256 granules, two checks above the answer: never a linear scan.
    expect(calls.length).toBeLessThanOrEqual(2 * 16 + 8);
    expect(r.answer).toEqual({ protmem: 104 * MiB, cma: expect.any(Number) });
  });

  it("says no size meets the target when the smallest working pool is already too slow", async () => {
    const { runAt } = poolModel(200, 1); // 200 MiB → 200 ms to the first frame
    const r = await sizePolicy(fakeScenario(1024), "upstream", "dynamic", 100 * ms, runAt);
    expect(r.answer).toBeNull();
    expect(r.knobs).toHaveLength(1);
    expect(r.knobs[0].answer).toBeNull();
    expect(r.knobs[0].none).toMatch(
      /the smallest size that works, 200 MiB, takes 200\.000 ms .* over the 100\.000 ms target/,
    );
  });

  it("reports a size above the answer that fails as not monotone, with its run", async () => {
    // Works from 64 MiB, except at 688 MiB and above (a third of the way up from 64 MiB to 1 GiB is 384 MiB;
    // two thirds is 704 MiB).
    const { runAt } = poolModel(64, 0.01, (size) => size >= 688 * MiB && size < 1024 * MiB);
    const r = await sizePolicy(fakeScenario(1024), "safe", "growable", 100 * ms, runAt);
    const chunk = r.knobs[0];
    expect(chunk.knob.path).toBe("policy.chunk");
    expect(chunk.answer).toBe(64 * MiB);
    expect(chunk.notMonotone).toMatch(/^704 MiB fails though 64 MiB passes/);
  });

  it("sizes are multiples of the 4 MiB CMA granule", async () => {
    const { runAt, calls } = poolModel(37, 0.1);
    await sizePolicy(fakeScenario(512), "carveout", "static", 100 * ms, runAt);
    expect(calls.every((s) => s % SIZE_GRANULE === 0)).toBe(true);
  });
});

describe("rstmem size", () => {
  const dir = mkdtempSync(join(tmpdir(), "rstmem-size-"));
  // A 1080p player with 2 frames (3,110,400 bytes each) and one 1 MiB bitstream buffer: 7,269,376 bytes
  // in pages. The 16 MiB CMA area bounds the search.
  const file = join(dir, "small.yaml");
  writeFileSync(
    file,
    `platform: { preset: tzc400-board, cma: [{ name: reserved, base: 0xc0000000, size: 16MiB }] }
workloads:
  - secure-video: { length: 50ms, resolution: 1920x1080, frames: 2, bitstream: { count: 1, size: 1MiB } }
`,
  );

  it("finds upstream's pool and CMA sizes, with the runs that bound them", async () => {
    const r = await rstmem("size", file, "--policies", "upstream", "--json", "--jobs", "1");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.platform).toBe("tzc400-board");
    expect(j.targetP99Ns).toBe(100 * ms);
    const [up] = j.policies;
    expect(up.policy).toBe("upstream");
    // 7,269,376 bytes need two 4 MiB granules: 4 MiB fails, 8 MiB works.
    expect(up.answer.protmem).toBe(8 * MiB);
    const pool = up.knobs[0];
    expect(pool.failing.size).toBe(4 * MiB);
    expect(pool.failing.failures).toBeGreaterThan(0);
    expect(pool.failing.why).toMatch(/^ENOMEM/);
    expect(pool.passing.size).toBe(8 * MiB);
    expect(pool.passing.failures).toBe(0);
    expect(pool.passing.firstFrameP99Ns).toBeGreaterThan(0);
    expect(up.knobs[1].knob.path).toBe("platform.cma[0].size");
    expect(up.answer.cma).toBeGreaterThanOrEqual(8 * MiB);
  });

  it("rejects an unknown policy and a scenario without workloads (exit 2)", async () => {
    const bad = await rstmem("size", file, "--policies", "upstream,nope");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/unknown policy "nope"/);
    const none = join(dir, "none.yaml");
    writeFileSync(none, "platform: tzc400-board\n");
    const r = await rstmem("size", none);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no workloads/);
  });
});
