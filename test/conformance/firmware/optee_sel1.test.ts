import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FFA_DENIED, FFA_ERROR_32, FFA_MEM_LEND_32, FFA_SUCCESS_32 } from "../../../src/abi/ffa/index.ts";
import { OWNER_NORMAL } from "../../../src/hw/frames.ts";
import { smcRegs } from "../../../src/hw/smc.ts";
import { DefaultProtmem, TzcProtmem } from "../../../src/secure/optee/plat_protmem.ts";
import { boot, call, handleOf, lend, lendDescriptor, reclaim, run, w } from "./testing.ts";
import { OpteeSel1Spmc } from "../../../src/firmware/optee_sel1/optee_sel1.ts";

const PAGE = 0x9000_0000;

function op(sys: ReturnType<typeof boot>): OpteeSel1Spmc {
  expect(sys.spmc).toBeInstanceOf(OpteeSel1Spmc);
  return sys.spmc as OpteeSel1Spmc;
}

describe("OP-TEE as its own SPMC", () => {
  it("RECLAIM is DENIED while OP-TEE uses the object, and again until it is released", () => {
    const sys = boot("tzc400-board");
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 16 }]))));
    const spmc = op(sys);
    const m = spmc.mobjs.getByCookie(h)!;
    expect(m.list).toBe("active");
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        2,
      ) | 0,
    ).toBe(FFA_DENIED);
    spmc.mobjs.put(m);
    // Still registered by cookie (inactive_refs): the normal world must release it first.
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        2,
      ) | 0,
    ).toBe(FFA_DENIED);
    expect(spmc.mobjs.unregisterByCookie(h)).toBe(0);
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect(sys.machine.tzc!.regions.slice(1).filter((r) => r.enabled).length).toBe(1);
  });

  it("the upstream default hook warns once and protects nothing", () => {
    const sys = boot("qemu-virt");
    const spmc = op(sys);
    expect(spmc.hook).toBeInstanceOf(DefaultProtmem);
    run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 1 }])));
    run(sys, () => lend(sys, lendDescriptor([{ address: PAGE + 0x10000, pages: 1 }])));
    expect((spmc.hook as DefaultProtmem).warnings).toBe(1);
    expect(sys.sim.findings.count("protected-when-lent")).toBe(2);
  });

  it("a TZC-400 board gets the region-programming hook; a lend uses one region, the reclaim frees it", () => {
    const sys = boot("tzc400-board");
    const spmc = op(sys);
    expect(spmc.hook).toBeInstanceOf(TzcProtmem);
    const h = handleOf(run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 4 }]))));
    expect((spmc.hook as TzcProtmem).regionsInUse).toBe(1);
    run(sys, () => reclaim(sys, h));
    expect((spmc.hook as TzcProtmem).regionsInUse).toBe(0);
  });

  it("a rejected lend changes no state (random corruptions of a good lend)", () => {
    const sys = boot("tzc400-board");
    const spmc = op(sys);
    const good = lendDescriptor([
      { address: PAGE, pages: 2 },
      { address: PAGE + 0x2000, pages: 1 },
    ]);
    const i0 = sys.machine.frames.indexOf(PAGE);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (edits) => {
          const bytes = good.slice();
          for (const [off, v] of edits) bytes[off] = v;
          const out = run(sys, () =>
            call(sys, "normal", smcRegs(FFA_MEM_LEND_32, bytes.length, bytes.length), bytes),
          );
          if (w(out, 0) !== FFA_ERROR_32) {
            run(sys, () => reclaim(sys, handleOf(out)));
            return;
          }
          expect(spmc.mobjs.cookiesInUse).toBe(0);
          expect([...spmc.mobjs.live()].length).toBe(0);
          expect((spmc.hook as TzcProtmem).regionsInUse).toBe(0);
          for (let i = i0; i < i0 + 3; i++) expect(sys.machine.frames.owner[i]).toBe(OWNER_NORMAL);
        },
      ),
      { numRuns: 150 },
    );
  });
});
