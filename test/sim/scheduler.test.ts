import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeSchedule,
  encodeSchedule,
  preempt,
  randomChooser,
  replayChooser,
  ScheduleDivergence,
  sleep,
  type Sleeps,
} from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";
import type { TraceEvent } from "../../src/sim/trace.ts";

/** Three tasks that interleave at preemption points and sleeps, logging what they do. */
function workload(sim: Sim, log: string[]): void {
  for (const name of ["a", "b", "c"]) {
    sim.sched.spawn(name, function* (): Sleeps {
      for (let i = 0; i < 5; i++) {
        log.push(`${name}${i}@${sim.now}`);
        sim.trace.emit("sim", "step", { i });
        if (i % 2 === 0) yield preempt();
        else yield sleep(name === "b" ? 10 : 5);
      }
    });
  }
}

function runLogged(seed: number, chooserSeed: number | null, schedule?: string) {
  const sim = new Sim(seed, schedule !== undefined ? replayChooser(schedule) : undefined);
  if (chooserSeed !== null) {
    const rng = sim.prng.stream(`chooser-${chooserSeed}`);
    sim.sched.setChooser(randomChooser((n) => rng.int(0, n - 1), 20));
  }
  const log: string[] = [];
  const events: TraceEvent[] = [];
  sim.trace.subscribe((e) => events.push(e));
  workload(sim, log);
  const end = sim.sched.run();
  return { log, trace: JSON.stringify(events), schedule: sim.sched.schedule(), end, now: sim.now };
}

describe("scheduler", () => {
  it("runs tasks by earliest virtual time, then FIFO", () => {
    const { log } = runLogged(1, null);
    expect(log.slice(0, 6)).toEqual(["a0@0", "b0@0", "c0@0", "a1@0", "b1@0", "c1@0"]);
    expect(log).toContain("a2@5");
    expect(log.indexOf("a2@5")).toBeLessThan(log.indexOf("b2@10"));
  });

  it("the same seed gives byte-identical traces", () => {
    const one = runLogged(42, 7);
    const two = runLogged(42, 7);
    expect(two.trace).toBe(one.trace);
    expect(two.schedule).toBe(one.schedule);
  });

  it("a recorded schedule replays exactly", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (chooserSeed) => {
        const recorded = runLogged(3, chooserSeed);
        const replayed = runLogged(3, null, recorded.schedule);
        expect(replayed.log).toEqual(recorded.log);
        expect(replayed.trace).toBe(recorded.trace);
        expect(replayed.schedule).toBe(recorded.schedule);
      }),
      { numRuns: 50 },
    );
  });

  it("different random choosers explore different interleavings", () => {
    const logs = new Set<string>();
    for (let s = 0; s < 20; s++) logs.add(runLogged(1, s).log.join(" "));
    expect(logs.size).toBeGreaterThan(1);
  });

  it("a schedule that does not fit the run is reported as a divergence", () => {
    expect(() => runLogged(1, null, "9,9,9")).toThrow(ScheduleDivergence);
  });

  it("schedules encode runs compactly and decode to the same choices", () => {
    expect(encodeSchedule([0, 0, 0, 0, 1, 2, 2, 40])).toBe("0*4,1,2,2,14");
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 100 }), { maxLength: 200 }), (choices) => {
        expect(decodeSchedule(encodeSchedule(choices))).toEqual(choices);
      }),
    );
  });

  it("a schedule of more choices than MAX_SCHEDULE_CHOICES is refused before it is expanded", () => {
    // A hand-edited replay.json's `0*999999999` made a 4 GB array and crashed V8.
    expect(() => decodeSchedule("1,0*999999999")).toThrow(/more than 50000000 choices \(at "0\*999999999"\)/);
    expect(decodeSchedule("0*3,1")).toEqual([0, 0, 0, 1]);
  });

  it("a schedule's text is its runs in base 36, runs of three or more as v*n, shorter ones written out", () => {
    // The format replay.json files hold: the encoder may be rewritten for speed, never this text.
    const spelled = (choices: number[]): string => {
      const parts: string[] = [];
      for (let i = 0; i < choices.length;) {
        let j = i;
        while (j < choices.length && choices[j] === choices[i]) j++;
        const v = choices[i].toString(36);
        parts.push(
          j - i >= 3
            ? `${v}*${j - i}`
            : Array<string>(j - i)
                .fill(v)
                .join(","),
        );
        i = j;
      }
      return parts.join(",");
    };
    expect(encodeSchedule([])).toBe("");
    expect(encodeSchedule([35, 35, 36, 36, 36, 1295])).toBe("z,z,10*3,zz");
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 5 })), {
          maxLength: 60,
        }),
        (runs) => {
          // Runs of 1–5 of a value, some adjacent runs of the same value (they merge).
          const choices = runs.flatMap(([v, n]) => Array<number>(n).fill(v % 7 === 0 ? v % 3 : v));
          expect(encodeSchedule(choices)).toBe(spelled(choices));
        },
      ),
    );
  });

  it("stops at the until time and reports deadlock when every task is blocked", () => {
    const sim = new Sim(1);
    sim.sched.spawn("sleeper", function* () {
      yield sleep(1_000_000);
    });
    expect(sim.sched.run({ untilNs: 500 })).toBe("until");
    expect(sim.now).toBe(500);
    expect(sim.sched.run()).toBe("done");
    expect(sim.now).toBe(1_000_000);

    const sim2 = new Sim(1);
    const never = sim2.sched.spawn("waits-forever", function* () {
      yield* sim2.sched.join(never);
    });
    expect(sim2.sched.run()).toBe("deadlock");
  });

  it("daemon tasks do not keep a run alive", () => {
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
    sim.sched.spawn("main", function* () {
      yield sleep(100);
    });
    expect(sim.sched.run()).toBe("done");
    expect(ticks).toBeGreaterThan(5);
  });

  it("join returns the joined task's result", () => {
    const sim = new Sim(1);
    let got: unknown;
    const child = sim.sched.spawn("child", function* () {
      yield sleep(5);
      return 42;
    });
    sim.sched.spawn("parent", function* () {
      got = yield* sim.sched.join(child);
    });
    sim.sched.run();
    expect(got).toBe(42);
  });

  it("a model bug inside a task names the task", () => {
    const sim = new Sim(1);
    sim.sched.spawn("broken", function* () {
      yield preempt();
      throw new Error("boom");
    });
    expect(() => sim.sched.run()).toThrow(/in task broken: boom/);
  });
});

describe("prng streams", () => {
  it("streams are independent of each other and of the order they are created in", () => {
    const a = new Sim(5);
    const x1 = [a.prng.stream("x").int(0, 1e9), a.prng.stream("x").int(0, 1e9)];
    const b = new Sim(5);
    b.prng.stream("y").int(0, 1e9);
    b.prng.stream("new-consumer").int(0, 1e9);
    const x2 = [b.prng.stream("x").int(0, 1e9), b.prng.stream("x").int(0, 1e9)];
    expect(x2).toEqual(x1);
    expect(new Sim(6).prng.stream("x").int(0, 1e9)).not.toBe(x1[0]);
  });

  it("rejects seeds that are not non-negative integers", () => {
    expect(() => new Sim(-1)).toThrow(/seed/);
    expect(() => new Sim(1.5)).toThrow(/seed/);
  });
});

describe("kill", () => {
  it("a killed task never runs again and a mutex it waited on still reaches the next waiter", async () => {
    const { Mutex } = await import("../../src/sim/mutex.ts");
    const sim = new Sim(1);
    const m = new Mutex(sim, "m");
    const log: string[] = [];
    sim.sched.spawn("holder", function* () {
      yield* m.lock();
      yield sleep(100);
      m.unlock();
    });
    const victim = sim.sched.spawn("victim", function* () {
      yield* m.lock();
      log.push("victim ran");
      m.unlock();
    });
    sim.sched.spawn("next", function* () {
      yield sleep(1);
      yield* m.lock();
      log.push(`next locked @${sim.now}`);
      m.unlock();
    });
    expect(sim.sched.run({ untilNs: 50 })).toBe("until");
    sim.sched.kill(victim);
    expect(sim.sched.run()).toBe("done");
    expect(log).toEqual(["next locked @100"]);
  });
});
