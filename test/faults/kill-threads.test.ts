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
import type { Sleeps } from "../../src/sim/scheduler.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { heapAlloc, MiB, run, SECURE_VIDEO, teeSystem } from "../kernel/tee-fixture.ts";
import { SMALL_BOARD } from "../helpers/small-board.ts";

const twoThreads = (at: number) =>
  loadScenarioText(
    `
name: two
platform: ${SMALL_BOARD}
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

describe("one process's two threads, one of which ends the process", () => {
  it("exit() while another thread is in a call: that thread dies on its way out, the last one out closes the files", () => {
    const sc = loadScenarioText(
      `
name: exit-beside-a-call
platform: ${SMALL_BOARD}
policy: safe
steps:
  - proc: a
    open: /dev/dma_heap/protected,secure-video
    save: heap
tasks:
  x:
    - sleep: 1ms
    - proc: a
      ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
      save: buf
      expect: killed
  y:
    - sleep: 1ms
    - sleep: 5us
    - proc: a
      exit: true
`,
      "exit.yaml",
    );
    const r = runScenario(sc);
    // The allocation's buffer went into a fd table exit() had emptied, and leaked (quiesce-clean 6).
    expect(r.findings["quiesce-clean"]).toBe(0);
    expect(
      r.steps
        .filter((s) => s.task !== "steps" && s.kind === "proc")
        .map((s) => [s.task, s.got])
        .sort(),
    ).toEqual([
      ["x", "killed"],
      ["y", "ok"],
    ]);
    expect(r.passed).toBe(true);
  });

  it("an oops in one thread while another is in a call: no dead thread is left in the kernel, the process exits", () => {
    for (let seed = 1; seed <= 40; seed++) {
      const sys = teeSystem("tzc400-board", { seed, random: true });
      const a = sys.procs.spawn("a");
      const [fd, h2] = run(sys.sim, function* () {
        const h = yield* sysOpen(a, SECURE_VIDEO, O_RDONLY);
        return [yield* heapAlloc(a, h, MiB), yield* sysOpen(a, SECURE_VIDEO, O_RDONLY)];
      });
      // upstream's protmem.c get/put race, both sides threads of process a: some seeds oops one of them.
      const putter = sys.sim.sched.spawn("putter", () => sysClose(a, fd));
      const getter = sys.sim.sched.spawn("getter", function* (): Sleeps {
        yield* heapAlloc(a, h2, MiB);
      });
      while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
      if (putter.killedBy === null && getter.killedBy === null) continue;
      expect(a.inKernel, `seed ${seed}`).toEqual([]);
      expect(a.exited, `seed ${seed}`).toBe(true);
    }
  });
});
