import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BootedScenario } from "../../src/explore/explore.ts";
import { stateHash, stringHash } from "../../src/explore/state_hash.ts";
import { loadScenarioFile } from "../../src/scenario/loader.ts";
import { sleep } from "../../src/sim/scheduler.ts";

function booted(): BootedScenario {
  const sc = loadScenarioFile(new URL("../../scenarios/pool-race.yaml", import.meta.url).pathname);
  return new BootedScenario({ ...sc, schedule: null });
}

describe("state hash", () => {
  it("a string's hash is a 53-bit integer, the same for the same text, apart for different texts", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (s, t) => {
        const h = stringHash(s);
        expect(Number.isSafeInteger(h) && h >= 0).toBe(true);
        expect(stringHash(String(s))).toBe(h);
        if (s !== t) expect(stringHash(t)).not.toBe(h);
      }),
    );
  });

  it("covers each task's steps and delay, the candidates' order, and the counters; equal states hash alike", () => {
    const b = booted();
    const { sched } = b.system.sim;
    const body = function* () {
      yield sleep(1);
    };
    const x = sched.spawn("x", body);
    const y = sched.spawn("y", body);
    const base = stateHash(b.system, [x, y]);
    expect(stateHash(b.system, [x, y])).toBe(base);
    expect(stateHash(b.system, [y, x])).not.toBe(base);
    x.runs++;
    expect(stateHash(b.system, [x, y])).not.toBe(base);
    x.runs--;
    expect(stateHash(b.system, [x, y])).toBe(base);
    // A delay past 2^32 ns is two words: its high word counts too.
    const readyAt = x.readyAt;
    x.readyAt = sched.now + 2 ** 32 + 5;
    const far = stateHash(b.system, [x, y]);
    x.readyAt = sched.now + 2 * 2 ** 32 + 5;
    expect(stateHash(b.system, [x, y])).not.toBe(far);
    x.readyAt = readyAt;
    b.system.spmc.callsDigest ^= 1;
    expect(stateHash(b.system, [x, y])).not.toBe(base);
    b.system.spmc.callsDigest ^= 1;
    expect(stateHash(b.system, [x, y])).toBe(base);
  });

  it("takes any number of tasks (its word buffer grows)", () => {
    const b = booted();
    const { sched } = b.system.sim;
    const before = stateHash(b.system, []);
    const many = Array.from({ length: 600 }, (_, i) =>
      sched.spawn(`extra${i}`, function* () {
        yield sleep(1);
      }),
    );
    const h = stateHash(b.system, many);
    expect(stateHash(b.system, many)).toBe(h);
    expect(h).not.toBe(before);
    many[599].runs++;
    expect(stateHash(b.system, many)).not.toBe(h);
  });
});
