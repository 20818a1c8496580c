import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ffaMemoryHandleAllocator, ffaMemoryHandleIndex } from "../../abi/ffa/index.ts";
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

describe("ShareStateTable.get (get_share_state())", () => {
  it("finds a state by its handle's index for SPMC handles and by a scan otherwise, whatever the handle", () => {
    const t = new ShareStateTable(8);
    const live = [t.allocate(state)!, t.allocate(state)!, t.allocate((slot) => state(slot, 1n << 63n))!];
    t.free(live[1]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: 12n }),
          fc.bigInt({ min: 1n << 63n, max: (1n << 63n) + 12n }),
          fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
        ),
        (h) => {
          // The reference: ffa_memory_handle_allocator(), then the index, then a scan.
          const byIndex =
            ffaMemoryHandleAllocator(h) === "spmc" && ffaMemoryHandleIndex(h) < 8n
              ? (t.at(Number(ffaMemoryHandleIndex(h))) ?? undefined)
              : undefined;
          const want = byIndex ?? [...t.live()].find((s) => s.handle === h);
          expect(t.get(h)).toBe(want);
        },
      ),
    );
    for (const h of [0n, 1n, 2n, 7n, 8n, 1n << 63n, (1n << 63n) | 2n, 0xffff_ffff_ffff_ffffn])
      expect(t.get(h)).toBe(h === 0n ? live[0] : h === 2n || h === 1n << 63n ? live[2] : undefined);
  });
});
