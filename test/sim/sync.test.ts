import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Mutex } from "../../src/sim/mutex.ts";
import { Refcount, REFCOUNT_SATURATED } from "../../src/sim/refcount.ts";
import { preempt, randomChooser, sleep, type Sleeps } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";
import { Completion, WaitQueue } from "../../src/sim/waitqueue.ts";

describe("mutex", () => {
  it("no two tasks are ever inside the critical section, under any random schedule", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 2, max: 5 }), (seed, tasks) => {
        const sim = new Sim(seed);
        const rng = sim.prng.stream("chooser");
        sim.sched.setChooser(randomChooser((n) => rng.int(0, n - 1), 50));
        const m = new Mutex(sim, "m");
        let inside = 0;
        let maxInside = 0;
        let entries = 0;
        for (let t = 0; t < tasks; t++) {
          sim.sched.spawn(`t${t}`, function* (): Sleeps {
            for (let i = 0; i < 3; i++) {
              yield* m.lock();
              inside++;
              entries++;
              maxInside = Math.max(maxInside, inside);
              yield preempt();
              yield sleep(rng.int(0, 20));
              inside--;
              m.unlock();
            }
          });
        }
        expect(sim.sched.run()).toBe("done");
        expect(maxInside).toBe(1);
        expect(entries).toBe(tasks * 3);
        expect(sim.findings.count("kernel-warn")).toBe(0);
      }),
      { numRuns: 60 },
    );
  });

  it("a waiter sleeps until the holder unlocks", () => {
    const sim = new Sim(1);
    const m = new Mutex(sim, "m");
    const log: string[] = [];
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      yield sleep(100);
      log.push(`holder unlocks @${sim.now}`);
      m.unlock();
    });
    sim.sched.spawn("waiter", function* () {
      yield* m.lock();
      log.push(`waiter locked @${sim.now}`);
      m.unlock();
    });
    sim.sched.run();
    expect(log).toEqual(["holder unlocks @100", "waiter locked @100"]);
    expect(m.contended).toBe(1);
  });

  it("unlocking a mutex the task does not hold is a kernel WARN and changes nothing", () => {
    const sim = new Sim(1);
    const m = new Mutex(sim, "protmem");
    sim.sched.spawn("owner", function* () {
      yield* m.lock();
      yield sleep(10);
    });
    sim.sched.spawn("intruder", function* () {
      yield sleep(5);
      m.unlock();
    });
    sim.sched.run();
    expect(sim.findings.count("kernel-warn")).toBe(1);
    expect(sim.findings.details()[0].message).toMatch(/DEBUG_LOCKS_WARN_ON/);
    expect(m.owner?.name).toBe("owner");
  });

  it("trylock fails while the mutex is held", () => {
    const sim = new Sim(1);
    const m = new Mutex(sim, "m");
    const got: boolean[] = [];
    sim.sched.spawn("a", function* () {
      got.push(m.trylock());
      yield sleep(10);
      m.unlock();
    });
    sim.sched.spawn("b", function* () {
      got.push(m.trylock());
      yield sleep(20);
      got.push(m.trylock());
    });
    sim.sched.run();
    expect(got).toEqual([true, false, true]);
  });
});

describe("refcount_t", () => {
  function withSim() {
    const sim = new Sim(1);
    return { sim, r: (n = 1) => new Refcount(sim, "r", n) };
  }

  it("inc_not_zero refuses a zero count and changes nothing", () => {
    const { sim, r } = withSim();
    const c = r(0);
    expect(c.incNotZero()).toBe(false);
    expect(c.read()).toBe(0);
    const d = r(1);
    expect(d.incNotZero()).toBe(true);
    expect(d.read()).toBe(2);
    expect(sim.findings.count("kernel-warn")).toBe(0);
  });

  it("dec_and_test is true exactly when the count reaches zero", () => {
    const { r } = withSim();
    const c = r(2);
    expect(c.decAndTest()).toBe(false);
    expect(c.decAndTest()).toBe(true);
    expect(c.read()).toBe(0);
  });

  it("an increment from zero warns use-after-free and saturates", () => {
    const { sim, r } = withSim();
    const c = r(0);
    c.inc();
    expect(c.read()).toBe(REFCOUNT_SATURATED);
    expect(sim.findings.details()[0].message).toBe("WARN: refcount_t: addition on 0; use-after-free.");
  });

  it("a decrement below one warns underflow (once: WARN_ONCE per site) and saturates, and stays saturated", () => {
    const { sim, r } = withSim();
    const c = r(0);
    expect(c.decAndTest()).toBe(false);
    expect(c.read()).toBe(REFCOUNT_SATURATED);
    expect(sim.findings.details()[0].message).toBe("WARN: refcount_t: underflow; use-after-free.");
    expect(c.decAndTest()).toBe(false);
    expect(c.read()).toBe(REFCOUNT_SATURATED);
    expect(sim.findings.count("kernel-warn")).toBe(1);
    // Another site still warns, once.
    r(0).inc();
    r(0).inc();
    expect(sim.findings.count("kernel-warn")).toBe(2);
  });

  it("refcount_dec of the last reference warns that it leaks", () => {
    const { sim, r } = withSim();
    const c = r(1);
    c.dec();
    expect(c.read()).toBe(REFCOUNT_SATURATED);
    expect(sim.findings.details()[0].message).toBe("WARN: refcount_t: decrement hit 0; leaking memory.");
  });

  it("matches a reference model over random operation sequences", () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom("inc", "incNotZero", "decAndTest", "dec"), { maxLength: 40 }),
        (ops) => {
          const { sim, r } = withSim();
          const c = r(1);
          let model = 1;
          // REFCOUNT_WARN() is WARN_ONCE per message site (lib/refcount.c): count the sites that fired.
          const sites = new Set<string>();
          const SAT_SITE = {
            inc: "ADD_OVF",
            incNotZero: "ADD_NOT_ZERO_OVF",
            decAndTest: "SUB_UAF",
            dec: "SUB_UAF",
          };
          for (const op of ops) {
            if (model === REFCOUNT_SATURATED) {
              // Saturated: every operation keeps it saturated, and hits its site's warning.
              c[op]();
              sites.add(SAT_SITE[op]);
              expect(c.read()).toBe(REFCOUNT_SATURATED);
              continue;
            }
            if (op === "inc") {
              c.inc();
              if (model === 0) {
                model = REFCOUNT_SATURATED;
                sites.add("ADD_UAF");
              } else model++;
            } else if (op === "incNotZero") {
              expect(c.incNotZero()).toBe(model !== 0);
              if (model !== 0) model++;
            } else if (op === "decAndTest") {
              expect(c.decAndTest()).toBe(model === 1);
              if (model === 0) {
                model = REFCOUNT_SATURATED;
                sites.add("SUB_UAF");
              } else model--;
            } else {
              c.dec();
              if (model <= 1) {
                sites.add(model === 1 ? "DEC_LEAK" : "SUB_UAF");
                model = REFCOUNT_SATURATED;
              } else model--;
            }
            expect(c.read()).toBe(model);
          }
          const warns = sites.size;
          expect(sim.findings.count("kernel-warn")).toBe(warns);
        },
      ),
    );
  });
});

describe("wait queue and completion", () => {
  it("wait_event sleeps until the condition holds after a wake-up", () => {
    const sim = new Sim(1);
    const wq = new WaitQueue(sim, "wq");
    let ready = false;
    let wokeAt = -1;
    sim.sched.spawn("waiter", function* () {
      yield* wq.waitEvent(() => ready);
      wokeAt = sim.now;
    });
    sim.sched.spawn("waker", function* () {
      yield sleep(10);
      wq.wakeUpAll(); // condition still false: the waiter must sleep again
      yield sleep(10);
      ready = true;
      wq.wakeUpAll();
    });
    expect(sim.sched.run()).toBe("done");
    expect(wokeAt).toBe(20);
  });

  it("wake_up wakes one exclusive waiter, oldest first", () => {
    const sim = new Sim(1);
    const wq = new WaitQueue(sim, "wq");
    const order: string[] = [];
    let tokens = 0;
    for (const n of ["first", "second"]) {
      sim.sched.spawn(n, function* () {
        yield* wq.waitEvent(() => tokens > 0);
        tokens--;
        order.push(n);
      });
    }
    sim.sched.spawn("waker", function* () {
      yield sleep(5);
      tokens++;
      wq.wakeUpOne();
      yield sleep(5);
      tokens++;
      wq.wakeUpOne();
    });
    sim.sched.run();
    expect(order).toEqual(["first", "second"]);
  });

  it("complete lets one waiter through per call; complete_all lets everyone through", () => {
    const sim = new Sim(1);
    const c = new Completion(sim, "c");
    const through: string[] = [];
    for (const n of ["x", "y", "z"]) {
      sim.sched.spawn(n, function* () {
        yield* c.wait();
        through.push(`${n}@${sim.now}`);
      });
    }
    sim.sched.spawn("completer", function* () {
      yield sleep(10);
      c.complete();
      yield sleep(10);
      c.completeAll();
    });
    sim.sched.run();
    expect(through).toEqual(["x@10", "y@20", "z@20"]);
  });
});
