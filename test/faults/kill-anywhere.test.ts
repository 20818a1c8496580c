/**
 * `kill: {anywhere: true}`: SIGKILL at a scheduling point of the process outside a system call (in a
 * sleep, holding a dma-buf). The process exits at once, its fds close, the buffer goes back to its
 * pool; the same point counted without `anywhere` is never reached (no system call is in flight there).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadScenarioFile, loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const FILE = join(import.meta.dirname, "..", "..", "scenarios", "faults", "kill-holding-buffer.yaml");

describe("a kill at any scheduling point of a process", () => {
  it("in a sleep, holding a dma-buf: exit closes its fds and the pool gets the buffer back", () => {
    const r = runScenario(loadScenarioFile(FILE, "kill-holding-buffer"));
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.got)).toEqual(["ok", "ok", "ok", "EBADF"]);
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
});
