/**
 * End to end: user space → dma-heap → tee_heap → protmem → arm_ffa → SPMC → OP-TEE → firewall, and
 * back, through scenario files (test/scenarios/e2e-*.yaml) run by the scenario runner, plus two
 * players sharing the heap under random schedules.
 */
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { quiesceProblems } from "../../src/check/quiesce.ts";
import { loadScenarioFile } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";
import { sysClose, sysOpen } from "../../src/user/syscalls.ts";
import { FRAME, heapAlloc, run, SECURE_VIDEO, teeSystem } from "../kernel/tee-fixture.ts";

const DIR = join(import.meta.dirname, "../scenarios");
const FILES = readdirSync(DIR).filter((f) => f.startsWith("e2e-") && f.endsWith(".yaml"));

describe("e2e scenarios", () => {
  it("there is one for each platform", () => {
    expect(FILES.length).toBeGreaterThanOrEqual(3);
  });

  for (const f of FILES) {
    it(`${f} passes its expectations`, () => {
      const r = runScenario(loadScenarioFile(join(DIR, f), f));
      expect(r.failure).toBeNull();
      expect(r.passed).toBe(true);
      expect(r.findings["quiesce-clean"]).toBe(0);
      expect(r.findings["kernel-warn"]).toBe(0);
    });
  }

  it("24 frames on tzc400-board: lent once, every frame written and shown, a CPU read faults", () => {
    const r = runScenario(loadScenarioFile(join(DIR, "e2e-playback-tzc400-board.yaml")));
    const devices = r.steps.filter((s) => s.kind === "device");
    expect(devices.length).toBe(49);
    expect(devices.filter((s) => s.got === "ok").length).toBe(48);
    expect(devices.at(-1)!.got).toBe("fault");
    expect(r.findings["ns-no-access"]).toBe(0);
  });

  it("the upstream policy reports, per platform, the invariants it breaks (ARCHITECTURE.md §8)", () => {
    const run = (p: string) => runScenario(loadScenarioFile(join(DIR, `e2e-playback-${p}.yaml`))).findings;
    const qemu = run("qemu-virt");
    const tzc = run("tzc400-board");
    const rme = run("fvp-rme");
    // QEMU has no firewall: the lent chunk stays readable.
    expect(qemu["protected-when-lent"]).toBeGreaterThan(0);
    // A bus-side firewall sees what the core already issued: the chunk is still in the cacheable linear
    // map, and dma_alloc_pages()'s memset left dirty lines for it.
    expect(tzc["protected-when-lent"]).toBe(0);
    expect(tzc["no-speculation-hazard"]).toBeGreaterThan(0);
    expect(tzc["no-dirty-lend"]).toBeGreaterThan(0);
    // Granule protection stops speculation in the core and the transition cleans the caches.
    expect(rme["protected-when-lent"]).toBe(0);
    expect(rme["no-speculation-hazard"]).toBe(0);
    expect(rme["no-dirty-lend"]).toBe(0);
    // Upstream OP-TEE does not scrub: decoded frames come back to Linux.
    expect(tzc["scrub-before-return"]).toBeGreaterThan(0);
    expect(rme["scrub-before-return"]).toBeGreaterThan(0);
    for (const f of [qemu, tzc, rme]) expect(f["ns-no-access"]).toBe(0);
  });

  it("a run is deterministic: same scenario, same seed, same result", () => {
    const sc = loadScenarioFile(join(DIR, "e2e-playback-fvp-rme.yaml"));
    const a = runScenario(sc);
    const b = runScenario(sc);
    expect(JSON.stringify({ ...a, steps: a.steps })).toBe(JSON.stringify({ ...b, steps: b.steps }));
  });
});

describe("two players on one heap", () => {
  it("allocating and freeing concurrently under many schedules leaves nothing behind, or shows the get/put race", () => {
    let clean = 0;
    let raced = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const sys = teeSystem("tzc400-board", { seed, random: true });
      const players = [sys.procs.spawn("a"), sys.procs.spawn("b")];
      const fds: number[][] = [[], []];
      const tasks = players.map((p, i) =>
        sys.sim.sched.spawn(`player-${p.name}`, function* () {
          const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
          for (let k = 0; k < 4; k++) fds[i].push(yield* heapAlloc(p, heap, FRAME));
          for (const fd of fds[i]) yield* sysClose(p, fd);
          const again = yield* heapAlloc(p, heap, FRAME);
          fds[i].push(again);
          yield* sysClose(p, again);
        }),
      );
      while (sys.sim.sched.run({ maxSteps: 1 << 20 }) === "paused");
      if (sys.sim.findings.count("kernel-warn") === 0) {
        clean++;
        expect(tasks.every((t) => t.killedBy === null)).toBe(true);
        expect(fds.flat().every((fd) => fd > 0)).toBe(true);
        run(sys.sim, () => sys.procs.exitAll());
        expect(sys.kernel.dmaBufs.live.size).toBe(0);
        expect(sys.pool.genPool).toBeNull();
        expect(sys.pool.lends).toBe(sys.pool.reclaims);
        expect(quiesceProblems(sys.boot, sys.machine, sys.kernel.mm)).toEqual([]);
      } else {
        // Upstream's window between put_dyn_protmem()'s decrement and its mutex
        // (test/kernel/protmem-race.test.ts): a refcount from 0, then an oops kills a player.
        raced++;
        const warns = sys.sim.findings.details().map((d) => d.message);
        expect(warns).toContain("WARN: refcount_t: addition on 0; use-after-free.");
        expect(tasks.some((t) => t.killedBy !== null)).toBe(true);
      }
    }
    expect(clean).toBeGreaterThan(0);
    expect(clean + raced).toBe(12);
  });
});
