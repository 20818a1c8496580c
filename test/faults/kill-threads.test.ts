/**
 * SIGKILL of a process two scenario tasks use at once — two threads of one program, each in its own
 * system call. Every thread in a call finishes it and dies on its way back to user space (its step is
 * `killed`: its result went nowhere); the last one out releases what they share, so the dma-buf a call
 * exported just before the end is closed with the rest and nothing leaks. (The model used to release
 * the files when the first thread left, and the second's buffer was installed into the dead fd table
 * and never released: a false leak under `safe`, found by a user-journey review.)
 */
import { describe, expect, it } from "vitest";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const twoThreads = (at: number) =>
  loadScenarioText(
    `
name: two
platform:
  preset: tzc400-board
  dram_size: 1GiB
  cma: [{ name: reserved, base: 0x70000000, size: 64MiB }]
  protmem: { secure-video: 4MiB }
  spec_fills_per_ms: 0
policy: safe
faults: [{ kill: { proc: a, at: ${at} } }]
steps:
  - proc: a
    open: /dev/dma_heap/protected,secure-video
    save: heap
tasks:
  x:
    - sleep: 1ms
    - repeat: 2
      steps:
        - proc: a
          ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
          save: buf
          expect: [ok, killed, EBADF]
        - proc: a
          close: $buf
          expect: [ok, killed, EBADF]
  y:
    - sleep: 1ms
    - repeat: 2
      steps:
        - proc: a
          ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
          save: buf
          expect: [ok, killed, EBADF]
        - proc: a
          close: $buf
          expect: [ok, killed, EBADF]
`,
    "two.yaml",
  );

describe("SIGKILL of a process with two threads in the kernel", () => {
  it("at every in-call kill point: nothing leaks, no pool is left holding memory", () => {
    for (let at = 1; at <= 24; at++) {
      const r = runScenario(twoThreads(at));
      expect(r.faults, `at ${at}`).toEqual([{ kill: { proc: "a", at } }]);
      expect(r.findings["quiesce-clean"], `at ${at}`).toBe(0);
      expect(r.findings["pool-consistency"], `at ${at}`).toBe(0);
      expect(r.protmem?.lentBytes, `at ${at}`).toBe(0);
      expect(r.passed, `at ${at}`).toBe(true);
    }
  });

  it("both calls in flight finish and both threads die: each step is killed, with what its call returned", () => {
    // Kill point 3: both tasks are inside their allocations.
    const r = runScenario(twoThreads(3));
    const allocs = r.steps.filter((s) => s.got === "killed");
    expect(allocs.map((s) => [s.task, s.got]).sort()).toEqual([
      ["x", "killed"],
      ["y", "killed"],
    ]);
    for (const s of allocs) expect(s.detail).toBe("SIGKILL; the call returned 0");
    // The tasks' later steps run in a new process of the name, without the fds.
    expect(r.steps.filter((s) => s.got === "EBADF").length).toBeGreaterThan(0);
  });
});
