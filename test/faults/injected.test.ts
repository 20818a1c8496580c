/**
 * Faults the scenario did not plan (`injected: true`: what `--faults` strikes, and what replay.json
 * gives back): once one has struck, a step with one expected outcome is not judged — the scenario said
 * what a run without that fault does — and the run is judged on what a fault must not do: its findings
 * (a leak, a stuck pool, a WARN), read as a fault reads them. A list of outcomes is judged as written;
 * so is a step that missed before the fault struck, and a task an oops killed. So `rstmem explore
 * --faults` hunts leaks on any scenario, not only on one written for faults (pool-race).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { explore } from "../../src/explore/explore.ts";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { isInjected } from "../../src/sim/faults.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { summaryLine, summaryText } from "../../src/report/summary.ts";
import { rstmem } from "../helpers/rstmem.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SESSION = join(ROOT, "scenarios", "secure-video-session.yaml");

/** pool-race's small board under safe: one process allocates a buffer and closes it. */
function oneAlloc(o: { fault?: string; allocExpect?: string; before?: string; expect?: string } = {}) {
  const text = `name: one-alloc
platform: ${SMALL_BOARD}
policy: safe
${o.fault ? `faults:\n  - ${o.fault}\n` : ""}steps:
${o.before ?? ""}  - proc: a
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - proc: a
    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
    save: buf${o.allocExpect ? `\n    expect: ${o.allocExpect}` : ""}
  - proc: a
    close: $buf
    expect: ok
expect:
${o.expect ?? "  findings: { quiesce-clean: 0, kernel-warn: 0 }"}
`;
  return runScenario(loadScenarioText(text, "one-alloc.yaml"));
}

const LEND_FAILS = "ffa: { call: MEM_LEND, error: NO_MEMORY, nth: 1 }";
const LEND_FAILS_INJECTED = "ffa: { call: MEM_LEND, error: NO_MEMORY, nth: 1, injected: true }";

describe("a fault the scenario did not plan (injected)", () => {
  it("after it struck, steps expecting one outcome are not judged: the allocation's ENOMEM binds -1, the close's EBADF follows; the run passes on its findings", () => {
    const r = oneAlloc({ fault: LEND_FAILS_INJECTED, allocExpect: "ok" });
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.got)).toEqual(["ok", "ENOMEM", "EBADF"]);
    expect(r.steps.map((s) => s.afterInjectedFault ?? false)).toEqual([false, true, true]);
    expect(r.steps.every((s) => s.ok)).toBe(true);
    // Recorded with its mark: replay.json gives it back as injected.
    expect(r.faults).toEqual([{ ffa: { call: "MEM_LEND", error: "NO_MEMORY", nth: 1, injected: true } }]);
    const text = summaryText(r);
    expect(text).toContain("3/3 run, 0 failed, 2 not judged");
    expect(text).toMatch(/^ {2}~ #1 line \d+ proc: ENOMEM \(expected ok\)/m);
    expect(text).toContain("faults     ffa MEM_LEND NO_MEMORY #1 (injected)");
    expect(summaryLine(r)).toMatch(/^PASS {2}one-alloc\.yaml {2}\(tzc400-board, 3\/3 steps, 2 not judged, /);
  });

  it("the same fault planned by the scenario (no mark) is judged as before: ENOMEM where ok was expected fails the run", () => {
    const r = oneAlloc({ fault: LEND_FAILS, allocExpect: "ok" });
    expect(r.failure).toMatch(/step 1 \(one-alloc\.yaml:\d+, proc\) expected ok, got ENOMEM/);
    expect(r.steps.some((s) => s.afterInjectedFault)).toBe(false);
    expect(r.faults).toEqual([{ ffa: { call: "MEM_LEND", error: "NO_MEMORY", nth: 1 } }]);
  });

  it("a list of outcomes is the scenario's word on what faults may do: judged as written", () => {
    expect(oneAlloc({ fault: LEND_FAILS_INJECTED, allocExpect: "[ok]" }).failure).toMatch(
      /expected ok, got ENOMEM/,
    );
    const listed = oneAlloc({ fault: LEND_FAILS_INJECTED, allocExpect: "[ok, ENOMEM]" });
    expect(listed.failure).toBeNull();
    expect(listed.steps[1].afterInjectedFault).toBeUndefined();
  });

  it("a saving step with no expectation is marked too when its call failed: it reports the failed save, not judged", () => {
    const r = oneAlloc({ fault: LEND_FAILS_INJECTED });
    expect(r.failure).toBeNull();
    expect(r.steps[1]).toMatchObject({ got: "ENOMEM", ok: true, afterInjectedFault: true });
    expect(r.steps[1].detail).toMatch(/cannot save "buf": the call failed with ENOMEM/);
    expect(r.steps[2].got).toBe("EBADF");
  });

  it("an ffa step's save binds FFA_MEMORY_HANDLE_INVALID after it: a reclaim of it is refused as in C", () => {
    const text = `name: lend-reclaim
platform: fvp-rme
faults:
  - ${LEND_FAILS_INJECTED}
steps:
  - ffa: MEM_LEND
    descriptor:
      receivers: [{ id: 0x8001 }]
      constituents: [{ address: 0x90000000, pages: 1 }]
    expect: SUCCESS
    save: h
  - ffa: MEM_RECLAIM
    handle: $h
    expect: [INVALID_PARAMETERS]
`;
    const r = runScenario(loadScenarioText(text, "lend-reclaim.yaml"));
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => [s.got, s.afterInjectedFault ?? false])).toEqual([
      ["NO_MEMORY", true],
      ["INVALID_PARAMETERS", false],
    ]);
    expect(r.steps[1].detail).toContain("0xffffffffffffffff");
  });

  it("a step that missed before the fault struck is judged", () => {
    const before = "  - proc: a\n    close: 99\n    expect: ok\n";
    const r = oneAlloc({ fault: LEND_FAILS_INJECTED, before });
    expect(r.failure).toMatch(/step 0 .* expected ok, got EBADF/);
  });

  it("the findings are read as a fault reads them: N holds up to N, >N holds, a leak past 0 fails", () => {
    // No fault: exactly 1 and >0 fail on a run that warns nowhere.
    expect(oneAlloc({ expect: "  findings: { kernel-warn: 1 }" }).failure).toMatch(
      /expected 1 kernel-warn findings .* got 0/,
    );
    const exact = oneAlloc({ fault: LEND_FAILS_INJECTED, expect: "  findings: { kernel-warn: 1 }" });
    expect(exact.failure).toBeNull();
    expect(exact.expectations[0]).toMatchObject({
      expected: "1",
      actual: 0,
      ok: true,
      afterInjectedFault: true,
    });
    expect(summaryText(exact)).toContain("expect     kernel-warn 1 (after an injected fault: ≤ 1): 0 ok");
    const more = oneAlloc({ fault: LEND_FAILS_INJECTED, expect: '  findings: { kernel-warn: ">0" }' });
    expect(more.failure).toBeNull();
    expect(summaryText(more)).toContain("expect     kernel-warn >0 (after an injected fault: any): 0 ok");
    // A bound of 0 reads the same either way, and carries no mark.
    const zero = oneAlloc({ fault: LEND_FAILS_INJECTED });
    expect(zero.expectations.every((e) => e.afterInjectedFault === undefined)).toBe(true);
  });

  it("metric bounds are not judged after it (a fault changes what a run measures)", () => {
    const bound = "  metrics: { ffa_calls: 1 }";
    expect(oneAlloc({ expect: bound }).failure).toMatch(/expected ffa_calls 1 .* got \d+/);
    const r = oneAlloc({ fault: LEND_FAILS_INJECTED, expect: bound });
    expect(r.failure).toBeNull();
    expect(r.metricExpectations[0]).toMatchObject({ ok: true, afterInjectedFault: true });
  });

  it("a task an oops killed is judged even after it: an oops is what a fault must not cause", () => {
    const text = readFileSync(join(ROOT, "scenarios", "faults", "ffa-reclaim-denied-upstream.yaml"), "utf8")
      .replace(
        "{ call: MEM_RECLAIM, error: DENIED, nth: 1 }",
        "{ call: MEM_RECLAIM, error: DENIED, nth: 1, injected: true }",
      )
      .replace("    expect: killed\n", "    expect: ok\n");
    const r = runScenario(loadScenarioText(text, "reclaim-denied.yaml"));
    expect(r.failure).toMatch(/expected ok, got killed \(.*\)/);
  });

  it("a boot fault cannot be marked injected: refused at its line and column", () => {
    const text =
      "name: x\nplatform: tzc400-board\nfaults:\n  - ffa: { call: RXTX_MAP, error: NO_MEMORY, boot: true, injected: true }\n";
    expect(() => loadScenarioText(text, "boot.yaml")).toThrow(
      /boot\.yaml:4:\d+: .*a boot fault is the scenario's own/,
    );
  });
});

describe("rstmem explore --faults on a scenario not written for faults", () => {
  it("counts the runs its own faults struck in, not the scenario's (which strike in every run)", () => {
    // frag-tx-no-memory lists a fault that strikes in every run; the explorer's strike in few of them.
    const sc = loadScenarioFile(join(ROOT, "scenarios", "faults", "frag-tx-no-memory.yaml"), "frag");
    let injectedRuns = 0;
    let ownOnly = 0;
    const r = explore(sc, {
      strategy: "random",
      runs: 12,
      seed: 3,
      windowNs: 100_000,
      faults: 1,
      onResult: (_, run) => {
        if (run?.faults.some(isInjected)) injectedRuns++;
        else if (run && run.faults.length > 0) ownOnly++;
      },
    });
    expect(r.explored).toBe(12);
    expect(ownOnly).toBeGreaterThan(0);
    expect(r.faulted).toBe(injectedRuns);
  });

  it("secure-video-session under upstream: the leak of a refused RELEASE_PROTMEM, shrunk to that one fault, replayed from replay.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-injected-"));
    const r = await rstmem("explore", SESSION, "--faults", "2", "--runs", "50", "--out", dir);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^VIOLATION {2}run \d+: expected 0 quiesce-clean findings \(.*secure-video-session\.yaml:\d+\), got [1-9]/m,
    );
    expect(r.out).toContain("faults     optee RELEASE_PROTMEM TEE_ERROR_BUSY #1 (injected)");
    const rf = JSON.parse(readFileSync(join(dir, "replay.json"), "utf8"));
    expect(rf.faults).toEqual([
      { optee: { cmd: "RELEASE_PROTMEM", error: "TEE_ERROR_BUSY", nth: 1, injected: true } },
    ]);
    const replayed = await rstmem("replay", join(dir, "replay.json"));
    expect(replayed.code).toBe(1);
    expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);
  });

  it("secure-video-session under carveout: 100 runs with faults, clean (its errnos and kills not judged, nothing leaks)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-injected-"));
    const r = await rstmem(
      "explore",
      SESSION,
      "--policy",
      "carveout",
      "--faults",
      "2",
      "--runs",
      "100",
      "--out",
      dir,
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^faults {5}struck in [1-9]\d* of 100 runs/m);
    expect(r.out).toMatch(/^clean {6}no violation in 100 schedules/m);
  });

  it("rstmem run --faults marks the steps it did not judge", async () => {
    const r = await rstmem("run", SESSION, "--policy", "carveout", "--faults", "3", "--seed", "5");
    expect(r.out).toMatch(/^steps {6}\d+\/\d+ run, 0 failed, [1-9]\d* not judged/m);
    expect(r.out).toMatch(/^ {2}~ #\d+ line \d+ /m);
    expect(r.out).toMatch(/^faults {5}.*\(injected\)/m);
  });
});
