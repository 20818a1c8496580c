import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Mutex } from "../../src/sim/mutex.ts";
import {
  drainSync,
  elapse,
  preempt,
  randomChooser,
  sleep,
  type Chooser,
  type RunEnd,
  type Sleeps,
} from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";

/** What a task of a generated program does at each of its points. */
type Action =
  | { readonly kind: "sleep"; readonly ns: number }
  | { readonly kind: "preempt" }
  | { readonly kind: "locked"; readonly mutex: number; readonly ns: number }
  | { readonly kind: "spawn"; readonly ns: number };

interface Program {
  readonly tasks: readonly (readonly Action[])[];
  /** A daemon's period (0: none). */
  readonly daemonNs: number;
  readonly window: number | null;
  readonly seed: number;
  readonly untilNs: number | null;
  readonly maxSteps: number | null;
  /** A fault hook (onSchedPoint) that logs each point it is shown. */
  readonly hook: boolean;
}

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant("sleep" as const), ns: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ kind: fc.constant("preempt" as const) }),
  fc.record({
    kind: fc.constant("locked" as const),
    mutex: fc.integer({ min: 0, max: 1 }),
    ns: fc.integer({ min: 0, max: 300 }),
  }),
  fc.record({ kind: fc.constant("spawn" as const), ns: fc.integer({ min: 0, max: 300 }) }),
);

const program: fc.Arbitrary<Program> = fc.record({
  tasks: fc.array(fc.array(action, { maxLength: 8 }), { minLength: 1, maxLength: 4 }),
  daemonNs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
  window: fc.oneof(fc.constant(null), fc.constantFrom(0, 50, 100_000)),
  seed: fc.integer({ min: 0, max: 1000 }),
  untilNs: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 2000 })),
  maxSteps: fc.oneof(fc.constant(null), fc.integer({ min: 1, max: 5 })),
  hook: fc.boolean(),
});

/** A point as a model writes it: inline when elapse() may take it (`inline`), else a yield. */
function* pause(ns: number, inline: boolean): Sleeps {
  if (inline && elapse(ns)) return;
  yield ns === 0 ? preempt() : sleep(ns);
}

/**
 * Runs `p` and returns everything the scheduler lets anyone see: each action's task and time, the
 * chooser's calls (candidates and time), the schedule, switches, each task's step count, the end.
 * `yieldAlways`: with Scheduler.inlinePoints off, every point yields (the reference).
 */
function observe(p: Program, yieldAlways: boolean) {
  const sim = new Sim(1);
  const log: string[] = [];
  const rng = sim.prng.stream(`elapse-${p.seed}`);
  if (p.window !== null) {
    const inner = randomChooser((n) => rng.int(0, n - 1), p.window);
    const chooser: Chooser = {
      name: "logged",
      windowNs: inner.windowNs,
      choose(candidates, now) {
        log.push(`choose ${candidates.map((t) => t.name).join(",")} @${now}`);
        return inner.choose(candidates, now);
      },
    };
    sim.sched.setChooser(chooser);
  }
  sim.sched.inlinePoints = !yieldAlways;
  if (p.hook)
    sim.sched.onSchedPoint = (t) =>
      log.push(`point ${t.name} @${sim.now} current ${sim.sched.current?.name}`);
  const mutexes = [new Mutex(sim, "m0"), new Mutex(sim, "m1")];
  const inline = !yieldAlways;
  const body = (name: string, actions: readonly Action[]) =>
    function* (): Sleeps {
      for (const [i, a] of actions.entries()) {
        log.push(`${name}.${i} ${a.kind} @${sim.now}`);
        if (a.kind === "sleep") yield* pause(a.ns, inline);
        else if (a.kind === "preempt") yield* pause(0, inline);
        else if (a.kind === "locked") {
          const m = mutexes[a.mutex];
          yield* m.lock();
          yield* pause(a.ns, inline);
          yield* m.unlockPreempt();
        } else {
          const child = `${name}/${i}`;
          sim.sched.spawn(child, function* () {
            log.push(`${child} @${sim.now}`);
            yield* pause(a.ns, inline);
            log.push(`${child} end @${sim.now}`);
          });
        }
      }
    };
  p.tasks.forEach((actions, k) => sim.sched.spawn(`t${k}`, body(`t${k}`, actions)));
  if (p.daemonNs > 0) {
    sim.sched.spawn(
      "daemon",
      function* () {
        for (;;) {
          log.push(`daemon @${sim.now}`);
          yield* pause(p.daemonNs, inline);
        }
      },
      { daemon: true },
    );
  }
  const ends: RunEnd[] = [];
  for (let calls = 0; calls < 1000; calls++) {
    const end = sim.sched.run({ untilNs: p.untilNs ?? undefined, maxSteps: p.maxSteps ?? undefined });
    ends.push(end);
    if (end !== "paused") break;
  }
  return {
    log,
    ends,
    now: sim.now,
    switches: sim.sched.switches,
    schedule: sim.sched.schedule(),
    runs: sim.sched.tasks.map((t) => `${t.name}:${t.runs}:${t.state}`),
  };
}

describe("elapse(): a scheduling point taken without a switch", () => {
  it("is invisible: every run is the same as when every point yields", () => {
    fc.assert(
      fc.property(program, (p) => {
        expect(observe(p, false)).toEqual(observe(p, true));
      }),
      { numRuns: 400 },
    );
  });

  it("takes the point inline when no other task could run or be chosen, and not otherwise", () => {
    const sim = new Sim(1);
    const seen: string[] = [];
    const alone = sim.sched.spawn("alone", function* () {
      yield sleep(1);
      // The other task sleeps until 50: time passes without leaving this one.
      seen.push(`inline ${elapse(10)} @${sim.now}`);
      yield sleep(100);
      // The other task is ready at 120, before 111 + 10: it runs first.
      seen.push(`inline ${elapse(10)} @${sim.now}`);
    });
    sim.sched.spawn("other", function* () {
      yield sleep(50);
      yield sleep(70);
    });
    expect(sim.sched.run()).toBe("done");
    expect(seen).toEqual(["inline true @11", "inline false @111"]);
    // Started, woke at 1, took one point inline, woke at 111: four steps, as if it had yielded.
    expect(alone.runs).toBe(4);
  });

  it("takes nothing outside a run, nor inside a drain of boot-time calls", () => {
    const sim = new Sim(1);
    expect(elapse(10)).toBe(false);
    let inDrain: boolean | null = null;
    sim.sched.spawn("caller", function* () {
      inDrain = drainSync(
        (function* (): Sleeps<boolean> {
          const taken = elapse(10);
          if (!taken) yield sleep(10);
          return taken;
        })(),
        "a test call",
      );
      yield sleep(1);
    });
    sim.sched.run();
    expect(inDrain).toBe(false);
    expect(sim.now).toBe(1);
  });
});
