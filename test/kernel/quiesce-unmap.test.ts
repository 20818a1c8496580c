/**
 * quiesce-clean sees what an unmap strategy leaves behind: a linear alias still typed Device, or a hole
 * still in the host stage 2, compared with boot.
 */
import { describe, expect, it } from "vitest";
import { quiesceProblems, takeBootSnapshot } from "../../src/check/quiesce.ts";
import { remapAfterReclaim, unmapForLend } from "../../src/kernel/mm/unmap.ts";
import { runTask, makeMm } from "./mm-fixture.ts";
import { CMA_BASE, MiB, unmapPlatform } from "./unmap-fixture.ts";

describe("quiesce-clean and the unmap strategies", () => {
  it("a device-remap never undone leaves Device-typed linear map: reported; undone: clean", () => {
    const { sim, machine, mm } = makeMm(unmapPlatform());
    const boot = takeBootSnapshot(machine, mm);
    expect(runTask(sim, () => unmapForLend(mm, "device-remap", CMA_BASE, 4 * MiB))).toBe(0);
    expect(quiesceProblems(boot, machine, mm)).toContain(
      `${4 * MiB} bytes of the linear map are typed Device, at boot 0`,
    );
    expect(runTask(sim, () => remapAfterReclaim(mm, "device-remap", CMA_BASE, 4 * MiB))).toBe(0);
    expect(quiesceProblems(boot, machine, mm)).toEqual([]);
  });

  it("a stage-2 hole never closed is reported; closed: clean", () => {
    const { sim, machine, mm } = makeMm(unmapPlatform({ hypervisor: "pkvm" }));
    const boot = takeBootSnapshot(machine, mm);
    expect(runTask(sim, () => unmapForLend(mm, "hypervisor", CMA_BASE, 4 * MiB))).toBe(0);
    expect(quiesceProblems(boot, machine, mm)).toContain("the host stage 2 has 1 holes, at boot 0");
    expect(runTask(sim, () => remapAfterReclaim(mm, "hypervisor", CMA_BASE, 4 * MiB))).toBe(0);
    expect(quiesceProblems(boot, machine, mm)).toEqual([]);
  });
});
