/**
 * What a BUG, a WARN and a hang do (linux-kernel.md §4.9): an oops kills its task in place, holding
 * what it holds; panic_on_oops stops the machine; khungtaskd reports a task stuck in D state.
 */
import { describe, expect, it } from "vitest";
import { HungTaskDetector, startKhungtaskd } from "../../src/kernel/hung_task.ts";
import { Mutex } from "../../src/sim/mutex.ts";
import { sleep } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";

const S = 1_000_000_000;

describe("an oops", () => {
  it("kills its task in place: the mutex it holds stays held, the code after the BUG never runs", () => {
    const sim = new Sim(1);
    const m = new Mutex(sim, "pool");
    let after = false;
    const dying = sim.sched.spawn("dying", function* () {
      yield* m.lock();
      sim.bug("gen_pool_destroy", "kernel BUG at lib/genalloc.c!");
      after = true;
      m.unlock();
    });
    let waiterGotIt = false;
    sim.sched.spawn("waiter", function* () {
      yield sleep(10);
      yield* m.lock();
      waiterGotIt = true;
    });
    const dead: string[] = [];
    sim.onOops((t) => dead.push(t.name));
    expect(sim.sched.run()).toBe("deadlock");
    expect(after).toBe(false);
    expect(waiterGotIt).toBe(false);
    expect(dying.state).toBe("done");
    expect(dying.killedBy).toBe("kernel BUG at lib/genalloc.c! in gen_pool_destroy()");
    expect(m.owner).toBe(dying);
    expect(dead).toEqual(["dying"]);
    expect(sim.findings.details().map((f) => f.message)).toEqual(["BUG: kernel BUG at lib/genalloc.c!"]);
    expect(sim.findings.details()[0].data).toEqual({ function: "gen_pool_destroy" });
  });

  it("with panic_on_oops stops the machine: nothing runs after it", () => {
    const sim = new Sim(1);
    sim.panicOnOops = true;
    let other = 0;
    sim.sched.spawn("dying", function* () {
      yield sleep(5);
      sim.oops("protmem_pool_op_dyn_alloc", "Unable to handle kernel NULL pointer dereference");
    });
    sim.sched.spawn("other", function* () {
      for (;;) {
        other++;
        yield sleep(1);
      }
    });
    expect(sim.sched.run()).toBe("stopped");
    expect(sim.panicked).toMatch(/^Kernel panic - not syncing: Fatal exception/);
    expect(other).toBeLessThanOrEqual(6);
    expect(sim.now).toBe(5);
  });

  it("a WARN_ONCE site reports once per boot", () => {
    const sim = new Sim(1);
    sim.warnOnce("site-a", "first");
    sim.warnOnce("site-a", "again");
    sim.warnOnce("site-b", "other");
    expect(sim.findings.details().map((f) => f.message)).toEqual(["WARN: first", "WARN: other"]);
  });
});

describe("the scheduler with daemons", () => {
  it("ends in deadlock when only daemons could run, instead of spinning them", () => {
    const sim = new Sim(1);
    let ticks = 0;
    sim.sched.spawn(
      "daemon",
      function* () {
        for (;;) {
          ticks++;
          yield sleep(10);
        }
      },
      { daemon: true },
    );
    const m = new Mutex(sim, "m");
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      sim.bug("f", "BUG");
    });
    sim.sched.spawn("waiter", function* () {
      yield sleep(100);
      yield* m.lock();
    });
    expect(sim.sched.run()).toBe("deadlock");
    expect(sim.now).toBe(100);
    expect(ticks).toBeLessThan(20);
  });
});

describe("khungtaskd", () => {
  it("reports a task asleep in D state for the timeout at its second check, while others run", () => {
    const sim = new Sim(1);
    const d = startKhungtaskd(sim, 120)!;
    const m = new Mutex(sim, "stuck");
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      sim.bug("f", "BUG");
    });
    sim.sched.spawn("victim", function* () {
      yield sleep(1000);
      yield* m.lock();
    });
    sim.sched.spawn("busy", function* () {
      yield sleep(300 * S);
    });
    sim.sched.run();
    expect(d.warnings).toBeLessThan(10);
    const hung = sim.findings.details().filter((f) => f.id === "hung-task");
    // The first check (120 s) records it, the second (240 s) reports it; the run ends with busy at 300 s.
    expect(hung.map((f) => f.t)).toEqual([240 * S]);
    expect(hung[0].message).toBe("INFO: task victim:2 blocked for more than 120 seconds.");
    expect(hung[0].data).toMatchObject({ waitingOn: "mutex:stuck" });
  });

  it("does not report a sleep shorter than the timeout, nor an interruptible wait", () => {
    const sim = new Sim(1);
    startKhungtaskd(sim, 120);
    const m = new Mutex(sim, "brief");
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      yield sleep(150 * S);
      m.unlock();
    });
    sim.sched.spawn("waiter", function* () {
      yield sleep(1);
      yield* m.lock();
      m.unlock();
    });
    const child = sim.sched.spawn("child", function* () {
      yield sleep(400 * S);
    });
    sim.sched.spawn("parent", function* () {
      yield* sim.sched.join(child); // waitpid(): TASK_INTERRUPTIBLE
    });
    expect(sim.sched.run()).toBe("done");
    expect(sim.findings.count("hung-task")).toBe(0);
  });

  it("keeps checking while the machine idles after every task blocked", () => {
    const sim = new Sim(1);
    const d = new HungTaskDetector(sim, 120);
    const m = new Mutex(sim, "m");
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      sim.bug("f", "BUG");
    });
    sim.sched.spawn("victim", function* () {
      yield sleep(10);
      yield* m.lock();
    });
    expect(sim.sched.run()).toBe("deadlock");
    expect(d.idleChecks(100 * S)).toBe(0); // the run's `until` comes first
    expect(sim.findings.count("hung-task")).toBe(0);
    expect(d.idleChecks()).toBe(2);
    expect(sim.findings.count("hung-task")).toBe(1);
    expect(sim.now).toBe(240 * S);
  });
});
