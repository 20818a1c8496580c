/**
 * scenarios/upstream/: one scenario per upstream issue the model reproduces. Each holds its own
 * `expect:` (so it exits 0 today); this runs them all, checks the stories they tell, and that they
 * replay byte for byte.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenarioFile } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const DIR = join(import.meta.dirname, "../../scenarios/upstream");
const FILES = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));
const load = (f: string) => loadScenarioFile(join(DIR, f), f);

describe("scenarios/upstream", () => {
  for (const f of FILES) {
    it(`${f} holds its expectations`, () => {
      const r = runScenario(load(f));
      expect(r.failure).toBeNull();
      expect(r.exitCode).toBe(0);
    });
  }

  it("protmem-race-bug: the putter dies holding the pool mutex, the chunk leaks, a later allocation fails, a waiter hangs", () => {
    const r = runScenario(load("protmem-race-bug.yaml"));
    expect(r.killed.find((k) => k.task === "putter")?.what).toMatch(
      /gen_pool_destroy\(\): BUG_ON\(bit < end_bit\)/,
    );
    expect(r.blocked).toEqual([
      { task: "getter2", on: "mutex:optee_protmem_dyn_pool:1", sinceNs: expect.any(Number) },
    ]);
    expect(r.steps.find((s) => s.task === "later" && s.kind === "proc")?.got).toBe("ENOMEM");
    expect(r.ffaCalls["FFA_MEM_LEND_64"]).toBe(1);
    const hung = r.findingDetails.filter((d) => d.id === "hung-task");
    expect(hung).toHaveLength(1);
    expect(hung[0].t - r.blocked[0].sinceNs).toBeGreaterThanOrEqual(120e9);
    expect(
      r.findingDetails.some((d) => d.id === "quiesce-clean" && /not owned by the world/.test(d.message)),
    ).toBe(true);
  });

  it("protmem-race-null-pool: the getter and every later allocation oops; nothing leaks", () => {
    const r = runScenario(load("protmem-race-null-pool.yaml"));
    expect(r.killed.map((k) => k.task).sort()).toEqual(["getter1", "getter2", "later"]);
    for (const k of r.killed)
      expect(k.what).toMatch(/NULL pointer dereference at virtual address 0000000000000020/);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("optee-retrieve-refused: Hafnium's instruction-access rule refuses OP-TEE's retrieve, once per allocation", () => {
    const r = runScenario(load("optee-retrieve-refused.yaml"));
    expect(r.ffaRejections["FFA_MEM_RETRIEVE_REQ_32: retrieve-instruction-access-not-specified"]).toBe(2);
    expect(r.errnos).toEqual({ EINVAL: 2 });
  });

  it("ffa-init-rxtx-not-unmapped: ffa_init() cleans up its notifications but never unmaps the RX/TX pages it frees", () => {
    const r = runScenario(load("ffa-init-rxtx-not-unmapped.yaml"));
    expect(r.ffaCalls["FFA_NOTIFICATION_BITMAP_DESTROY_32"]).toBe(1);
    expect(r.ffaCalls).not.toHaveProperty("FFA_RXTX_UNMAP_32");
    expect(r.findingDetails.filter((d) => d.id === "quiesce-clean").map((d) => d.message)).toEqual([
      expect.stringMatching(
        /^the SPMC still maps 2 pages freed by the kernel as the normal world's RX\/TX buffers/,
      ),
    ]);
  });

  it("stale-tx-emad-bytes: Hafnium refuses the lend for its EMAD's reserved bytes", () => {
    const r = runScenario(load("stale-tx-emad-bytes.yaml"));
    expect(r.ffaRejections["FFA_MEM_LEND_64: reserved-mbz"]).toBe(1);
  });

  it("cma-too-small: the page allocator's WARN_ON_ONCE_GFP, once", () => {
    const r = runScenario(load("cma-too-small.yaml"));
    const warns = r.findingDetails.filter((d) => d.id === "kernel-warn");
    expect(warns.map((w) => w.message)).toEqual([
      expect.stringMatching(/WARN_ON_ONCE_GFP\(order > MAX_PAGE_ORDER\): order 17 > 10/),
    ]);
  });

  it("a scenario replays byte for byte", () => {
    const a = runScenario(load("protmem-race-bug.yaml"));
    const b = runScenario(load("protmem-race-bug.yaml"));
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});
