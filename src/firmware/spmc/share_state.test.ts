import { describe, expect, it } from "vitest";
import { Sim } from "../../sim/sim.ts";
import { checkHandlesUnique } from "./consistency.ts";
import { ShareStateTable, type ShareState } from "./share_state.ts";

/** A share state with only what the table reads (slot and handle). */
const state = (slot: number, handle: bigint) => ({ slot, handle }) as unknown as ShareState;

describe("ShareStateTable handle uniqueness", () => {
  it("states allocated by the table hold their slot's handle, so the cheap check proves them unique", () => {
    const t = new ShareStateTable(4);
    const a = t.allocate(state)!;
    const b = t.allocate(state)!;
    expect([a.handle, b.handle]).toEqual([0n, 1n]);
    expect(t.handlesMatchSlots()).toBe(true);
    t.free(a);
    expect(t.handlesMatchSlots()).toBe(true);
  });

  it("a state holding another slot's handle fails the cheap check, and the full check reports the duplicate", () => {
    const t = new ShareStateTable(4);
    t.allocate(state);
    t.allocate((slot) => state(slot, 0n));
    expect(t.handlesMatchSlots()).toBe(false);
    const sim = new Sim(1);
    expect(
      checkHandlesUnique(
        sim,
        [...t.live()].map((s) => s.handle),
      ),
    ).toBe(false);
    expect(sim.findings.count("ffa-consistency")).toBe(1);
  });
});
