import { describe, expect, it } from "vitest";
import { quiesceProblems, takeBootSnapshot } from "../../src/check/quiesce.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../src/hw/frames.ts";
import { cmaAlloc, cmaRelease } from "../../src/kernel/mm/cma.ts";
import { makeMm, runTask } from "./mm-fixture.ts";

describe("quiesce-clean", () => {
  it("holds when everything taken since boot was given back", () => {
    const { sim, machine, mm } = makeMm();
    const boot = takeBootSnapshot(machine);
    const cma = mm.cmaAreas[0];
    const f = runTask(sim, () => cmaAlloc(mm, cma, 512, 9));
    machine.setOwner(machine.frames.paOf(f), 512 * 4096, OWNER_SECURE, 1);
    machine.setOwner(machine.frames.paOf(f), 512 * 4096, OWNER_NORMAL);
    cmaRelease(mm, cma, f, 512);
    expect(quiesceProblems(boot, machine, mm)).toEqual([]);
  });

  it("names what is left: pages still lent, still allocated, still unmapped", () => {
    const { sim, machine, mm } = makeMm();
    const boot = takeBootSnapshot(machine);
    const f = runTask(sim, () => cmaAlloc(mm, mm.cmaAreas[0], 512, 9));
    const pa = machine.frames.paOf(f);
    machine.setOwner(pa, 512 * 4096, OWNER_SECURE, 1);
    machine.directMap.invalidate(pa, pa + 4096);
    expect(quiesceProblems(boot, machine, mm)).toEqual([
      "512 pages are not owned by the world that owned them at boot",
      `free pages: ${boot.stateCounts[1] - 512}, at boot ${boot.stateCounts[1]}`,
      "contig pages: 512, at boot 0",
      `the linear map maps ${boot.linearMapPages - 1} pages, at boot ${boot.linearMapPages}`,
    ]);
  });
});

describe("quiesce-clean sees CMA state", () => {
  it("names a CMA window still taken and pageblocks left isolated", async () => {
    const { startIsolatePageRange } = await import("../../src/kernel/mm/page_isolation.ts");
    const { sim, machine, mm } = makeMm();
    const boot = takeBootSnapshot(machine, mm);
    const cma = mm.cmaAreas[0];
    const f = runTask(sim, () => cmaAlloc(mm, cma, 512, 9));
    startIsolatePageRange(mm.buddy, cma.base + 4096, cma.base + 4096 + 512);
    const problems = quiesceProblems(boot, machine, mm);
    expect(problems).toContain("1 pageblocks are left isolated");
    expect(problems).toContain(`CMA area reserved: ${cma.count - 512} pages available, at boot ${cma.count}`);
    void f;
  });
});
