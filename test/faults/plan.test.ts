/**
 * The fault plan (sim/faults.ts): a listed fault strikes at the n-th time its point is reached and
 * nowhere else; a chooser strikes at most `budget` times; what struck, given back as the list, strikes
 * at the same points (the property replay rests on); nothing counts before arm().
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FaultPlan, faultSpecOf, faultSpecPoint, type FaultChooser } from "../../src/sim/faults.ts";

const KINDS = ["ffa", "optee", "cma", "kill", "rx_busy"] as const;

describe("FaultPlan", () => {
  it("a listed fault strikes at its n-th point only", () => {
    const plan = new FaultPlan();
    plan.configure([{ ffa: { call: "MEM_LEND", error: "DENIED", nth: 2 } }]);
    plan.arm();
    const got = [1, 2, 3].map(() => plan.at("ffa", "MEM_LEND", ["NO_MEMORY", "DENIED"]));
    expect(got).toEqual([null, "DENIED", null]);
    expect(plan.at("ffa", "MEM_RECLAIM", ["DENIED"])).toBeNull();
    expect(plan.record()).toEqual([{ ffa: { call: "MEM_LEND", error: "DENIED", nth: 2 } }]);
  });

  it("nothing strikes or counts before arm()", () => {
    const plan = new FaultPlan();
    plan.configure([{ rx_busy: { nth: 1 } }]);
    expect(plan.at("rx_busy", "rx", ["BUSY"])).toBeNull();
    plan.arm();
    expect(plan.at("rx_busy", "rx", ["BUSY"])).toBe("BUSY");
  });

  it("a chooser strikes at most `budget` times", () => {
    const always: FaultChooser = { pick: () => 0 };
    const plan = new FaultPlan();
    plan.configure([], always, 2);
    plan.arm();
    const got = Array.from({ length: 5 }, () => plan.at("cma", "cma_alloc", ["1", "all"]));
    expect(got).toEqual(["1", "1", null, null, null]);
  });

  it("spec ↔ point round-trips for every kind", () => {
    for (const kind of KINDS) {
      const point = { kind, key: kind === "rx_busy" ? "rx" : kind === "cma" ? "cma_alloc" : "K", nth: 4 };
      const value = kind === "cma" ? "all" : kind === "kill" ? "SIGKILL" : kind === "rx_busy" ? "BUSY" : "E";
      expect(faultSpecPoint(faultSpecOf(point, value))).toEqual({ point, value });
    }
  });

  it("what a chooser struck, given back as the list, strikes at the same points (property)", () => {
    const point = fc.record({
      kind: fc.constantFrom(...KINDS),
      key: fc.constantFrom("A", "B"),
    });
    fc.assert(
      fc.property(
        fc.array(point, { maxLength: 40 }),
        fc.array(fc.boolean(), { maxLength: 40 }),
        (seq, coin) => {
          const keyOf = (p: { kind: (typeof KINDS)[number]; key: string }) =>
            p.kind === "rx_busy" ? "rx" : p.kind === "cma" ? "cma_alloc" : p.key;
          let i = 0;
          const chooser: FaultChooser = { pick: () => (coin[i++ % Math.max(1, coin.length)] ? 0 : -1) };
          const first = new FaultPlan();
          first.configure([], chooser, 5);
          first.arm();
          const options = (kind: string) =>
            kind === "cma"
              ? ["1", "all"]
              : kind === "kill"
                ? ["SIGKILL"]
                : kind === "rx_busy"
                  ? ["BUSY"]
                  : ["X"];
          const a = seq.map((p) => first.at(p.kind, keyOf(p), options(p.kind)));
          const again = new FaultPlan();
          again.configure(first.record());
          again.arm();
          const b = seq.map((p) => again.at(p.kind, keyOf(p), ["X"]));
          const norm = (v: string | null, p: { kind: string }) =>
            v === null ? null : p.kind === "kill" ? "SIGKILL" : p.kind === "rx_busy" ? "BUSY" : v;
          expect(b).toEqual(a.map((v, k) => norm(v, seq[k])));
          expect(again.record()).toEqual(first.record());
        },
      ),
    );
  });

  it("a kept slot counts as at() does: the same n-th points strike, and the counts agree", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ key: fc.constantFrom("a", "b", "c"), kept: fc.boolean() }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 6 }),
        (seq, nth) => {
          // The same points, through at() only, and through atSlot() where `kept`.
          const list = [{ kill: { proc: "b", at: nth } }];
          const plain = new FaultPlan();
          const slotted = new FaultPlan();
          for (const plan of [plain, slotted]) {
            plan.configure(list);
            plan.arm();
          }
          const slots = new Map<string, number>();
          const a = seq.map(({ key }) => plain.at("kill", key, ["SIGKILL"]));
          const b = seq.map(({ key, kept }) => {
            if (!kept) return slotted.at("kill", key, ["SIGKILL"]);
            if (!slots.has(key)) slots.set(key, slotted.slot("kill", key));
            return slotted.atSlot(slots.get(key)!, "kill", key, ["SIGKILL"]);
          });
          expect(b).toEqual(a);
          for (const key of ["a", "b", "c"])
            expect(slotted.count("kill", key)).toBe(plain.count("kill", key));
          expect(slotted.record()).toEqual(plain.record());
        },
      ),
    );
  });

  it("boot's counts end with endBoot(): a run's points count from 1 again, a slot kept or not", () => {
    const plan = new FaultPlan();
    plan.configureBoot([{ ffa: { call: "VERSION", error: "NOT_SUPPORTED", nth: 2, boot: true } }]);
    plan.armBoot();
    const slot = plan.slot("ffa", "VERSION");
    expect(plan.atSlot(slot, "ffa", "VERSION", [])).toBeNull();
    expect(plan.atSlot(slot, "ffa", "VERSION", [])).toBe("NOT_SUPPORTED");
    expect(plan.count("ffa", "VERSION")).toBe(2);
    plan.endBoot();
    expect(plan.count("ffa", "VERSION")).toBe(0);
    plan.configure([{ ffa: { call: "VERSION", error: "NOT_SUPPORTED", nth: 1 } }]);
    plan.arm();
    expect(plan.atSlot(slot, "ffa", "VERSION", [])).toBe("NOT_SUPPORTED");
    expect(plan.count("ffa", "VERSION")).toBe(1);
  });
});
