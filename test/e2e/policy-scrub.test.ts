/**
 * `scrub:` end to end: who zeroes protected memory before Linux gets it back. Under
 * `secure-on-release` OP-TEE zeroes a protected range as it leaves protection (tzc400-board: the
 * platform hook's restore at FFA_MEM_RECLAIM; fvp-rme: before FFA_MEM_RELINQUISH), so no page comes back
 * holding the decoder's frames; under `none` (upstream) the frames come back as they were left.
 * Checked twice: by the run's scrub-before-return finding, and on the pages themselves.
 */
import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { isSecret, OWNER_NORMAL } from "../../src/hw/frames.ts";
import { PAGE_SIZE } from "../../src/hw/platform.ts";
import type { LendStats } from "../../src/kernel/optee/protmem_lend.ts";
import type { DmaBuf } from "../../src/kernel/dma-buf/dma_buf.ts";
import type { TeeHeapBuffer } from "../../src/kernel/tee/tee_heap.ts";
import { sessionScenario } from "../../src/report/policy_table.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { resolvePolicy, type PolicyInput } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { stepDef } from "../../src/scenario/steps/index.ts";
import type { Process } from "../../src/user/process.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { FRAME, heapAlloc, run, SECURE_VIDEO, teeSystem, type TeeSystem } from "../kernel/tee-fixture.ts";

const PLATFORMS = ["tzc400-board", "fvp-rme"] as const;
type Scrub = "secure-on-release" | "none";
/** The pools that give memory back: growable (after idle_release) and per-buffer (at each free). */
const POOLS = ["growable", "per-buffer"] as const;

/** `safe` (its retrieve Hafnium accepts on fvp-rme) with the pool and scrub under test. */
function policyInput(pool: (typeof POOLS)[number], scrub: Scrub): PolicyInput {
  return { preset: "safe", pool, scrub, optee_retrieve: "fixed" };
}

/**
 * The policy table's secure-video session under that policy, with 4 frames rather than 8: per-buffer
 * on tzc400-board holds one TZC-400 region per live frame, and has 7 (protmem-per-buffer.test.ts).
 */
function session(platform: string, pool: (typeof POOLS)[number], scrub: Scrub) {
  const text = sessionScenario(platform, "safe")
    .replace(
      /^policy: safe$/m,
      `policy: { preset: safe, pool: ${pool}, scrub: ${scrub}, optee_retrieve: fixed }`,
    )
    .replace(/^ {2}- repeat: 8$/m, "  - repeat: 4");
  expect(text).toContain(`scrub: ${scrub}`);
  expect(text).toContain("repeat: 4");
  return runScenario(loadScenarioText(text, `scrub-${scrub}-${pool}-on-${platform}.yaml`));
}

/** Normal-world pages (of all DRAM, or of the ranges given) holding secret data. */
function secretNormalPages(sys: TeeSystem, ranges?: readonly { pa: number; bytes: number }[]): number {
  const f = sys.machine.frames;
  const spans = ranges
    ? ranges.map((r) => ({ i0: f.indexOf(r.pa), n: Math.ceil(r.bytes / PAGE_SIZE) }))
    : [{ i0: 0, n: f.count }];
  let n = 0;
  for (const { i0, n: count } of spans)
    for (let i = i0; i < i0 + count; i++) if (f.owner[i] === OWNER_NORMAL && isSecret(f.taint[i])) n++;
  return n;
}

function secretPages(sys: TeeSystem, ranges: readonly { pa: number; bytes: number }[]): number {
  const f = sys.machine.frames;
  return ranges.reduce(
    (a, r) => a + f.countWhere(f.taint, f.indexOf(r.pa), Math.ceil(r.bytes / PAGE_SIZE), isSecret),
    0,
  );
}

function bufferOf(p: Process, fd: number): TeeHeapBuffer {
  const f = p.task.files.lookup(fd) as { privateData: DmaBuf };
  return f.privateData.priv as TeeHeapBuffer;
}

/**
 * Two frames decoded and shown, then the player exits and the pool gives everything back. Returns the
 * buffers' ranges and how many of their pages held secret data before the player exited.
 */
function decodeAndExit(sys: TeeSystem): { ranges: { pa: number; bytes: number }[]; secretBefore: number } {
  const p = sys.procs.spawn("player");
  const ranges = run(sys.sim, function* () {
    const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
    const out: { pa: number; bytes: number }[] = [];
    for (let i = 0; i < 2; i++) {
      const fd = yield* heapAlloc(p, heap, FRAME);
      expect(fd).toBeGreaterThan(0);
      const ctx = { system: sys, vars: new Map<string, bigint>(), file: "policy-scrub.test" };
      for (const [by, op] of [
        ["video-decoder", "write"],
        ["display", "read"],
      ] as const) {
        const o = yield* stepDef("device").run(ctx, { device: { by, buffer: { proc: p.name, fd }, op } });
        expect(o.got).toBe("ok");
      }
      out.push({ pa: bufferOf(p, fd).table.sgl[0].pa, bytes: FRAME });
    }
    return out;
  });
  const secretBefore = secretPages(sys, ranges);
  // The player exits; the run goes on until the pool has reclaimed and freed what it lent.
  run(sys.sim, () => sys.procs.exitAll());
  expect((sys.kernel.optee!.protmemPool as unknown as { stats: LendStats }).stats.lentBytes).toBe(0);
  return { ranges, secretBefore };
}

describe("scrub: secure-on-release gives no secret back to Linux; none does", () => {
  for (const platform of PLATFORMS) {
    for (const pool of POOLS) {
      it(`secure-on-release: a secure-video session ends with scrub-before-return 0 (${pool} on ${platform})`, () => {
        const r = session(platform, pool, "secure-on-release");
        expect(r.failure).toBeNull();
        expect(r.protmem!.reclaims).toBeGreaterThan(0);
        expect(r.protmem!.lentBytes).toBe(0);
        expect(r.findings["scrub-before-return"]).toBe(0);
        expect(r.findings["quiesce-clean"]).toBe(0);
      });

      it(`none: the same session returns the decoded frames to Linux, scrub-before-return > 0 (${pool} on ${platform})`, () => {
        const r = session(platform, pool, "none");
        expect(r.failure).toBeNull();
        expect(r.protmem!.reclaims).toBeGreaterThan(0);
        expect(r.findings["scrub-before-return"]).toBeGreaterThan(0);
      });

      it(`secure-on-release: every page of the decoded buffers is back with Linux and clean (${pool} on ${platform})`, () => {
        const sys = teeSystem(platform, {
          policy: resolvePolicy(policyInput(pool, "secure-on-release"), PRESETS[platform]),
        });
        const { ranges, secretBefore } = decodeAndExit(sys);
        // The decoder did write secrets there while the buffers were protected.
        expect(secretBefore).toBe(2 * Math.ceil(FRAME / PAGE_SIZE));
        expect(secretPages(sys, ranges)).toBe(0);
        expect(secretNormalPages(sys)).toBe(0);
        expect(sys.sim.findings.count("scrub-before-return")).toBe(0);
      });

      it(`none: the decoded buffers come back to Linux still holding the frames (${pool} on ${platform})`, () => {
        const sys = teeSystem(platform, {
          policy: resolvePolicy(policyInput(pool, "none"), PRESETS[platform]),
        });
        const { ranges, secretBefore } = decodeAndExit(sys);
        expect(secretBefore).toBe(2 * Math.ceil(FRAME / PAGE_SIZE));
        expect(secretNormalPages(sys, ranges)).toBe(secretBefore);
        expect(sys.sim.findings.count("scrub-before-return")).toBeGreaterThan(0);
      });
    }
  }
});
