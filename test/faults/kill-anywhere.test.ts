/**
 * `kill: {anywhere: true}`: SIGKILL at a scheduling point of the process outside a system call (in a
 * sleep, holding a dma-buf). The process exits at once, its fds close, the buffer goes back to its
 * pool; the same point counted without `anywhere` is never reached (no system call is in flight there).
 * The explorer's fault chooser (`--faults`) strikes there too, and records the kill so it replays.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario, type RunResult } from "../../src/scenario/runner.ts";
import { KILL_ANYWHERE, type FaultPoint } from "../../src/sim/faults.ts";
import { BootedScenario } from "../../src/explore/booted.ts";
import { violation } from "../../src/explore/explore.ts";
import { StateSet } from "../../src/explore/state_set.ts";
import { walkRun } from "../../src/explore/walk.ts";

const FILE = join(import.meta.dirname, "..", "..", "scenarios", "faults", "kill-holding-buffer.yaml");
const POOL_RACE = join(import.meta.dirname, "..", "..", "scenarios", "pool-race.yaml");

describe("a kill at any scheduling point of a process", () => {
  it("in a sleep, holding a dma-buf: exit closes its fds and the pool gets the buffer back", () => {
    const r = runScenario(loadScenarioFile(FILE, "kill-holding-buffer"));
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.got)).toEqual(["ok", "ok", "ok", "EBADF"]);
    // The scenario's own fault: recorded without `injected`.
    expect(r.faults).toEqual([{ kill: { proc: "player", at: 29, anywhere: true } }]);
    expect(r.protmem).toMatchObject({ lentBytes: 0 });
    expect(r.findings["pool-consistency"]).toBe(0);
    expect(r.findings["quiesce-clean"]).toBe(0);
  });

  it("without `anywhere` only points inside system calls count: the same number strikes later, in the close", () => {
    const sc = loadScenarioFile(FILE, "kill-holding-buffer");
    const inSyscall = runScenario({ ...sc, faults: [{ kill: { proc: "player", at: 29 } }] });
    expect(inSyscall.steps.map((s) => s.got)).not.toEqual(["ok", "ok", "ok", "EBADF"]);
  });

  it("`anywhere` must be true when given", () => {
    expect(() =>
      loadScenarioText(
        "name: x\nplatform: tzc400-board\nfaults:\n  - kill: { proc: p, at: 1, anywhere: false }\n",
        "f.yaml",
      ),
    ).toThrow(/f\.yaml:4:\d+: /);
  });

  it("the fault chooser is offered the user-space points only (the 29th, in the sleep); its kill is recorded with `anywhere` and replays", () => {
    const sc = { ...loadScenarioFile(FILE, "kill-holding-buffer"), faults: [] };
    const offered: FaultPoint[] = [];
    const r = runScenario(sc, {
      faults: {
        chooser: {
          pick(point) {
            if (point.kind !== "kill") return -1;
            offered.push(point);
            return point.key.endsWith(KILL_ANYWHERE) ? 0 : -1;
          },
        },
        budget: 1,
      },
    });
    const anywhere = offered.filter((p) => p.key.endsWith(KILL_ANYWHERE));
    expect(anywhere.map((p) => p.nth)).toEqual([29]);
    // Inside the system calls before it, the chooser was asked under the plain name (28 points).
    expect(offered.filter((p) => p.key === "player")).toHaveLength(28);
    // Recorded as the chooser's (injected): given back, it strikes and is judged as such again.
    expect(r.faults).toEqual([{ kill: { proc: "player", at: 29, anywhere: true, injected: true } }]);
    expect(r.steps.map((s) => s.got)).toEqual(["ok", "ok", "ok", "EBADF"]);
    expect(r.findings["pool-consistency"]).toBe(0);
    const again = runScenario({ ...sc, faults: r.faults });
    expect(JSON.stringify(again.steps)).toBe(JSON.stringify(r.steps));
  });

  it("the explorer's kills in user space replay from the recorded faults and schedule, byte for byte", () => {
    // pool-race, each process sleeping while it holds its buffer: its user-space points, in the sleep.
    const text = readFileSync(POOL_RACE, "utf8").replace(
      /( {10}save: buf\n {10}expect: \[[^\]]*\]\n)/g,
      "$1        - sleep: 200us\n",
    );
    expect(text.match(/sleep: 200us/g)).toHaveLength(3);
    const sc = loadScenarioText(text, POOL_RACE);
    const booted = new BootedScenario(sc);
    const params = {
      strategy: "random",
      seed: 1,
      windowNs: 100_000,
      depth: 3,
      k: 0,
      faults: 1,
      faultKinds: null,
      keepGoing: false,
    } as const;
    const key = (r: RunResult) =>
      JSON.stringify({ steps: r.steps, faults: r.faults, findings: r.findings, protmem: r.protmem });
    let replayed = 0;
    for (let i = 0; i < 100 && replayed < 2; i++) {
      const r = walkRun(params, i, booted, new StateSet(), true);
      if (!r.faults.some((f) => "kill" in f && f.kill.anywhere)) continue;
      replayed++;
      expect(violation(sc, r)).toBeNull();
      const again = runScenario(sc, { schedule: r.schedule, faults: { list: r.faults } });
      expect(key(again)).toBe(key(r));
    }
    expect(replayed).toBe(2);
  });
});
