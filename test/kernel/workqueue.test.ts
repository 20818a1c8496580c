import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DelayedWork } from "../../src/kernel/workqueue.ts";
import { randomChooser, sleep, type Sleeps } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";
import { Snapshot } from "../../src/sim/snapshot.ts";

/** A delayed work whose function logs when it starts and ends, and takes `takesNs`. */
function logged(sim: Sim, takesNs = 0) {
  const log: string[] = [];
  const work = new DelayedWork(sim, "kworker/test", function* (): Sleeps {
    log.push(`start @${sim.now}`);
    if (takesNs > 0) yield sleep(takesNs);
    log.push(`end @${sim.now}`);
  });
  return { work, log };
}

/** The kworker tasks the run spawned. */
const kworkers = (sim: Sim) => sim.sched.tasks.filter((t) => t.name === "kworker/test");

describe("delayed work (kernel/workqueue.c)", () => {
  it("runs once, a delay after it was queued; its kworker does not run before the timer fires", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim);
    sim.sched.spawn("caller", function* () {
      yield sleep(10);
      expect(work.mod(1_000)).toBe(false);
      expect(work.busy).toBe(true);
    });
    expect(sim.sched.run()).toBe("done");
    expect(log).toEqual(["start @1010", "end @1010"]);
    expect(work.busy).toBe(false);
    expect(kworkers(sim).map((t) => t.runs)).toEqual([1]);
  });

  it("mod_delayed_work() of a pending item moves its timer: a burst of queueings runs it once, after the last", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim);
    sim.sched.spawn("caller", function* () {
      for (let i = 0; i < 5; i++) {
        expect(work.mod(1_000)).toBe(i > 0);
        yield sleep(300);
      }
    });
    expect(sim.sched.run()).toBe("done");
    // Queued last at 1,200: runs at 2,200, in one kworker that ran once.
    expect(log).toEqual(["start @2200", "end @2200"]);
    expect(kworkers(sim).map((t) => t.runs)).toEqual([1]);
  });

  it("a timer moved earlier fires earlier; schedule_delayed_work() of a pending item changes nothing", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim);
    sim.sched.spawn("caller", function* () {
      work.mod(5_000);
      yield sleep(100);
      expect(work.schedule(10)).toBe(false);
      work.mod(400);
    });
    expect(sim.sched.run()).toBe("done");
    expect(log).toEqual(["start @500", "end @500"]);
  });

  it("an item queued while its function runs runs once more after it, never beside itself", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim, 1_000);
    sim.sched.spawn("caller", function* () {
      work.mod(100);
      yield sleep(600); // the function runs from 100 to 1,100
      expect(work.busy).toBe(true);
      expect(work.mod(200)).toBe(false); // running, not pending
      expect(work.schedule(50)).toBe(false); // pending again now
    });
    expect(sim.sched.run()).toBe("done");
    expect(log).toEqual(["start @100", "end @1100", "start @1100", "end @2100"]);
    expect(kworkers(sim)).toHaveLength(1);
  });

  it("queued again after it went idle, it runs in a new kworker", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim);
    sim.sched.spawn("caller", function* () {
      work.mod(100);
      yield sleep(500);
      expect(work.busy).toBe(false);
      expect(work.schedule(100)).toBe(true);
    });
    expect(sim.sched.run()).toBe("done");
    expect(log).toEqual(["start @100", "end @100", "start @600", "end @600"]);
    expect(kworkers(sim)).toHaveLength(2);
  });

  it("under any schedule and any queueing times, it runs once per quiet delay and never beside itself", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000 }),
        fc.array(
          fc.record({ gap: fc.integer({ min: 0, max: 3_000 }), delay: fc.integer({ min: 0, max: 2_000 }) }),
          {
            minLength: 1,
            maxLength: 12,
          },
        ),
        fc.integer({ min: 0, max: 1_500 }),
        (seed, queueings, takesNs) => {
          const sim = new Sim(seed);
          const rng = sim.prng.stream("chooser");
          sim.sched.setChooser(randomChooser((n) => rng.int(0, n - 1), 200));
          let inside = 0;
          const runs: { start: number; end: number }[] = [];
          const work = new DelayedWork(sim, "kworker/test", function* (): Sleeps {
            expect(inside).toBe(0);
            inside++;
            const start = sim.now;
            if (takesNs > 0) yield sleep(takesNs);
            inside--;
            runs.push({ start, end: sim.now });
          });
          const due: number[] = [];
          sim.sched.spawn("caller", function* () {
            for (const q of queueings) {
              yield sleep(q.gap);
              work.mod(q.delay);
              due.push(sim.now + q.delay);
            }
          });
          expect(sim.sched.run()).toBe("done");
          expect(work.busy).toBe(false);
          // The last queueing is always served: a run starts at or after it falls due.
          const last = due[due.length - 1];
          expect(runs.some((r) => r.start >= last)).toBe(true);
          // No run starts before some queueing fell due.
          for (const r of runs) expect(due.some((d) => d <= r.start)).toBe(true);
          expect(runs.length).toBeLessThanOrEqual(queueings.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a snapshot taken with the item idle restores it idle, whatever ran after", () => {
    const sim = new Sim(1);
    const { work, log } = logged(sim, 300);
    const snap = Snapshot.take(work);
    sim.sched.spawn("caller", function* () {
      work.mod(100);
      yield sleep(200);
    });
    sim.sched.run({ untilNs: 250 });
    expect(work.busy).toBe(true);
    snap.restore();
    expect(work.busy).toBe(false);
    expect(log).toEqual(["start @100"]);
  });
});
