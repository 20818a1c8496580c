/**
 * Fault injection end to end: each scenario under scenarios/faults/ gets the errno the real stack
 * returns and ends clean (or with upstream's leak, as its `expect` says); a scenario's `faults:` is
 * checked at load time with file:line:column; faults a chooser picked are recorded in the scenario
 * syntax, and that record, given back as the run's faults, replays the run byte for byte.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { summaryJson } from "../../src/report/summary.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import { Prng } from "../../src/sim/prng.ts";
import { randomFaultChooser } from "../../src/sim/faults.ts";

const DIR = join(import.meta.dirname, "..", "..", "scenarios", "faults");
const runs = new Map<string, RunResult>();
/** Each scenario runs once per file (a run boots the platform). */
const run = (name: string): RunResult => {
  let r = runs.get(name);
  if (!r) {
    r = runScenario(loadScenarioFile(join(DIR, `${name}.yaml`), name));
    runs.set(name, r);
  }
  return r;
};
const got = (r: RunResult): string[] => r.steps.map((s) => s.got);

describe("scenarios/faults: user space gets the real errno, and the end is clean or upstream's leak", () => {
  it.each(readdirSync(DIR).filter((f) => f.endsWith(".yaml")))("%s passes its own expectations", (file) => {
    const r = run(file.replace(/\.yaml$/, ""));
    expect(r.failure).toBeNull();
    expect(r.faults.length).toBeGreaterThan(0);
  });

  it("FFA_MEM_LEND answering NO_MEMORY, DENIED, ABORTED gives ENOMEM, EACCES, ECANCELED and leaks nothing", () => {
    const r = run("ffa-lend-errors");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "ENOMEM", "EACCES", "ECANCELED", "ok", "ok"]);
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.ffaRejections["FFA_MEM_LEND_64: fault"]).toBe(3);
  });

  /** The next allocation's memset oopses in init_dyn_protmem(): killed holding rp->mutex, the next one hangs. */
  const oopsedHoldingTheMutex = (r: RunResult): void => {
    expect(r.steps.filter((s) => s.task === "steps").map((s) => s.got)).toEqual(["ok", "ok", "ok", "killed"]);
    expect(r.killed).toEqual([
      {
        task: "steps",
        line: expect.any(Number),
        what: expect.stringContaining("in dma_alloc_pages() memset"),
      },
    ]);
    expect(r.blocked).toEqual([
      { task: "later", on: "mutex:optee_protmem_dyn_pool:1", sinceNs: expect.any(Number) },
    ]);
    expect(r.findings["hung-task"]).toBe(1);
    expect(r.findings["kernel-no-touch"]).toBe(1);
  };

  it("a refused FFA_MEM_RECLAIM: upstream frees the still-lent chunk, the next memset oopses holding rp->mutex, 320 MiB stay lent", () => {
    const r = run("ffa-reclaim-denied-upstream");
    expect(r.failure).toBeNull();
    oopsedHoldingTheMutex(r);
    expect(r.findingDetails.some((f) => f.id === "quiesce-clean" && f.message.includes("81920 pages"))).toBe(
      true,
    );
  });

  it("a refused FFA_MEM_RECLAIM under safe: the chunk stays lent and unmapped, never touched, and the retry gets it back", () => {
    const r = run("ffa-reclaim-denied-safe");
    expect(r.failure).toBeNull();
    expect(r.findings["kernel-no-touch"]).toBe(0);
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RECLAIM_32: fault": 1 });
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("ASSIGN_PROTMEM failing in OP-TEE is EINVAL, the lend is undone", () => {
    const r = run("optee-assign-fails");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "EINVAL", "EINVAL", "EINVAL", "ok", "ok"]);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("RELEASE_PROTMEM BUSY (a TA holds the buffer) makes the SPMC refuse the reclaim, and upstream frees anyway", () => {
    const r = run("optee-release-busy-upstream");
    expect(r.failure).toBeNull();
    expect(r.ffaRejections["FFA_MEM_RECLAIM_32: cookie-busy"]).toBe(1);
    oopsedHoldingTheMutex(r);
  });

  it("a pinned page in one CMA window is retried elsewhere; in every window the allocation is ENOMEM", () => {
    const events: string[] = [];
    const sc = loadScenarioFile(join(DIR, "cma-pinned.yaml"), "cma-pinned");
    const r = runScenario(sc, { trace: (e) => events.push(e.name) });
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "ok", "ok", "ENOMEM", "ok", "ok"]);
    expect(events.filter((n) => n === "cma_alloc_busy_retry").length).toBeGreaterThan(1);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("an RX buffer owned by the other world fails OP-TEE's retrieve: EINVAL, nothing leaks", () => {
    const r = run("rx-busy-retrieve");
    expect(r.failure).toBeNull();
    expect(r.ffaRejections["FFA_MEM_RETRIEVE_REQ_32: rx-busy"]).toBe(1);
    expect(got(r)).toEqual(["ok", "EINVAL", "ok", "ok"]);
  });

  it("SIGKILL inside the allocation: the call completes, exit closes every fd, the chunk is reclaimed", () => {
    const r = run("kill-during-alloc");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "killed"]);
    expect(r.protmem?.lends).toBe(1);
    expect(r.protmem?.reclaims).toBe(1);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("SIGKILL during the chunk's CMA migration: -EINTR, dma-direct's order-17 fallback WARNs, nothing is lent or leaks", () => {
    const events: string[] = [];
    const finishes: unknown[] = [];
    const sc = loadScenarioFile(join(DIR, "kill-during-cma-migration.yaml"), "kill-during-cma-migration");
    const r = runScenario(sc, {
      trace: (e) => {
        events.push(e.name);
        if (e.name === "cma_alloc_finish") finishes.push(e.args.errorno);
      },
    });
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "ok", "killed"]);
    expect(r.steps[2].detail).toContain("the call returned ENOMEM");
    expect(r.metrics.cma_migrations).toBeGreaterThan(0);
    // alloc_contig_range()'s -EINTR ends cma_alloc() at its first window: only -EBUSY retries.
    expect(finishes).toEqual([-4]);
    expect(events).not.toContain("cma_alloc_busy_retry");
    const warns = r.findingDetails.filter((f) => f.id === "kernel-warn");
    expect(warns.map((f) => f.message)).toEqual([
      expect.stringContaining("WARN_ON_ONCE_GFP(order > MAX_PAGE_ORDER): order 17 > 10 (GFP_KERNEL)"),
    ]);
    expect(r.protmem).toMatchObject({ lends: 0, stuck: 0, lentBytes: 0 });
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(r.findings.conservation).toBe(0);
    // The same kill before any migration (a board whose CMA is free) completes the call instead.
    const calm = runScenario({ ...sc, workloads: [] });
    expect(calm.findings["kernel-warn"]).toBe(0);
  });

  it("a refused FFA_MEM_RELINQUISH on Hafnium: OP-TEE drops the object, every reclaim is DENIED, the chunk stays lent", () => {
    const r = run("relinquish-aborted-hafnium");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "ok", "ok"]);
    // The first reclaim and its 8 retries, all refused: OP-TEE is still a borrower to Hafnium.
    expect(r.ffaRejections).toEqual({
      "FFA_MEM_RELINQUISH_32: fault": 1,
      "FFA_MEM_RECLAIM_32: borrower-holds": 9,
    });
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 0, stuck: 1, lentBytes: 320 * 2 ** 20 });
    expect(r.findings["kernel-no-touch"]).toBe(0);
    expect(
      r.findingDetails.some(
        (f) => f.id === "quiesce-clean" && f.message.includes("81920 pages are not owned"),
      ),
    ).toBe(true);
    // Without the fault the same run gives the chunk back.
    const sc = loadScenarioFile(join(DIR, "relinquish-aborted-hafnium.yaml"));
    const clean = runScenario({ ...sc, faults: [] });
    expect(clean.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0, lentBytes: 0 });
    expect(clean.findings["quiesce-clean"]).toBe(0);
  });

  it("the same refused relinquish under lend-pool: the chunk is remapped and freed while secure, the next memset oopses", () => {
    const r = run("relinquish-aborted-lend-pool");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "ok", "ok", "killed"]);
    expect(r.ffaRejections).toEqual({
      "FFA_MEM_RELINQUISH_32: fault": 1,
      "FFA_MEM_RECLAIM_32: borrower-holds": 1,
    });
    // The pool counts the chunk reclaimed: tee_shm_release() freed it whatever the reclaim answered.
    expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, stuck: 0 });
    expect(r.findingDetails.map((f) => `${f.id}: ${f.message}`)).toEqual(
      expect.arrayContaining([
        "kernel-no-touch: kernel write of 0xc0000000, which is lent",
        "kernel-warn: Oops: Unable to handle kernel access at 0xc0000000 in dma_alloc_pages() memset",
        "quiesce-clean: 98304 granules are not non-secure, at boot 16384",
      ]),
    );
  });

  it("a BUSY direct request to OP-TEE is EBUSY at user space", () => {
    const r = run("direct-req-busy");
    expect(r.failure).toBeNull();
    expect(got(r)).toEqual(["ok", "EBUSY", "ok", "ok"]);
  });
});

describe("faults: load-time errors name file, line, column", () => {
  const load = (faults: string) => () =>
    loadScenarioText(`name: x\nplatform: tzc400-board\nfaults:\n${faults}\n`, "f.yaml");

  it("an error the real SPMC never gives for that call", () => {
    expect(load("  - ffa: { call: MEM_LEND, error: RETRY }")).toThrow(
      "f.yaml:4:35: faults[0].ffa.error: no real SPMC answers MEM_LEND with RETRY; expected one of NO_MEMORY, DENIED, ABORTED",
    );
  });

  it("an OP-TEE result the command cannot fail with", () => {
    expect(load("  - optee: { cmd: RELEASE_PROTMEM, error: TEE_ERROR_GENERIC }")).toThrow(
      /f\.yaml:4:\d+: .*OP-TEE does not fail RELEASE_PROTMEM with TEE_ERROR_GENERIC; expected one of TEE_ERROR_BUSY/,
    );
  });

  it("an unknown fault kind", () => {
    expect(load("  - smc: { nth: 1 }")).toThrow(
      /f\.yaml:4:5: .*unknown key "smc"; expected one of the keys ffa, optee, cma, kill, rx_busy/,
    );
  });

  it("a kill without its scheduling point", () => {
    expect(load("  - kill: { proc: player }")).toThrow(/f\.yaml:4:\d+: .*missing key "at"/);
  });

  it("a kill of a process the scenario never makes (a typo would strike nothing)", () => {
    const steps = "steps:\n  - proc: player\n    open: /dev/dma_heap/system\n  - proc: admin\n    close: 3\n";
    expect(() =>
      loadScenarioText(`name: x\nfaults:\n  - kill: { proc: playr, at: 3 }\n${steps}`, "f.yaml"),
    ).toThrow(
      'f.yaml:3:19: faults[0].kill.proc: no process "playr" in this scenario; expected one of: player, admin',
    );
    expect(load("  - kill: { proc: player, at: 1 }")).toThrow(
      /no process "player" in this scenario; expected a process a `proc` step or a workload makes \(it has none\)/,
    );
    // A process of a `proc` step inside a task's repeat, and a workload's session process, are known.
    const tasks =
      "tasks:\n  t:\n    - repeat: 2\n      steps:\n        - proc: deep\n          open: /dev/dma_heap/system\n";
    expect(() =>
      loadScenarioText(`name: x\nfaults:\n  - kill: { proc: deep, at: 1 }\n${tasks}`, "f.yaml"),
    ).not.toThrow();
    const video = "workloads:\n  - secure-video: { sessions: 2, frames: 1 }\n";
    expect(() =>
      loadScenarioText(
        `name: x\nplatform: tzc400-board\nfaults:\n  - kill: { proc: secure-video.0.s1, at: 1 }\n${video}`,
        "f.yaml",
      ),
    ).not.toThrow();
    expect(() =>
      loadScenarioText(
        `name: x\nplatform: tzc400-board\nfaults:\n  - kill: { proc: secure-video.1.s0, at: 1 }\n${video}`,
        "f.yaml",
      ),
    ).toThrow(
      /no process "secure-video.1.s0" in this scenario; expected one of: secure-video.0.s0, secure-video.0.s1$/,
    );
    // A session past the workload's sessions never runs.
    expect(() =>
      loadScenarioText(
        `name: x\nplatform: tzc400-board\nfaults:\n  - kill: { proc: secure-video.0.s2, at: 1 }\n${video}`,
        "f.yaml",
      ),
    ).toThrow(/no process "secure-video.0.s2"/);
  });
});

describe("faults a chooser picks are recorded and replay exactly", () => {
  it("the recorded faults and schedule, given back, make a byte-identical run", () => {
    const sc = loadScenarioFile(join(DIR, "ffa-lend-errors.yaml"), "ffa-lend-errors");
    const base = { ...sc, faults: [] };
    const stream = new Prng(7).stream("faults");
    const first = runScenario(base, {
      faults: { chooser: randomFaultChooser((n) => stream.int(0, n - 1), 1 / 2), budget: 3 },
    });
    expect(first.faults.length).toBeGreaterThan(0);
    const again = runScenario(base, { schedule: first.schedule, faults: { list: first.faults } });
    expect(summaryJson(again)).toBe(summaryJson(first));
  });

  it("without a chooser or a list nothing strikes and nothing is recorded", () => {
    const sc = loadScenarioFile(join(DIR, "ffa-lend-errors.yaml"), "ffa-lend-errors");
    const r = runScenario({ ...sc, faults: [] });
    expect(r.faults).toEqual([]);
    expect(got(r)[1]).toBe("ok");
  });
});
