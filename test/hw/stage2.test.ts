import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { OWNER_SECURE } from "../../src/hw/frames.ts";
import { ACCESS_OK, FAULT_DENIED, Machine } from "../../src/hw/machine.ts";
import { PAGE_SIZE, type PlatformDesc } from "../../src/hw/platform.ts";
import { HostStage2 } from "../../src/hw/stage2.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { Sim } from "../../src/sim/sim.ts";

const BASE = 0x8000_0000;
const PAGES = 256;

describe("the host stage-2's ranges", () => {
  it("agree with a page-by-page reference after any sequence of unmaps and maps", () => {
    const op = fc.record({
      unmap: fc.boolean(),
      first: fc.integer({ min: 0, max: PAGES - 1 }),
      n: fc.integer({ min: 1, max: 64 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const s2 = new HostStage2();
        const ref = new Uint8Array(PAGES);
        for (const { unmap, first, n } of ops) {
          const last = Math.min(PAGES, first + n);
          const s = BASE + first * PAGE_SIZE;
          const e = BASE + last * PAGE_SIZE;
          let changed = 0;
          for (let p = first; p < last; p++) if (ref[p] !== (unmap ? 1 : 0)) changed++;
          ref.fill(unmap ? 1 : 0, first, last);
          expect(unmap ? s2.unmap(s, e) : s2.map(s, e)).toBe(changed);
          // Sorted, disjoint, never touching.
          const h = s2.holes;
          for (let k = 0; k + 1 < h.length; k += 2) {
            expect(h[k]).toBeLessThan(h[k + 1]);
            if (k + 2 < h.length) expect(h[k + 1]).toBeLessThan(h[k + 2]);
          }
        }
        for (let p = 0; p < PAGES; p++) expect(s2.translates(BASE + p * PAGE_SIZE)).toBe(ref[p] === 0);
        const firstHidden = ref.indexOf(1);
        expect(s2.firstUntranslated(BASE, PAGES * PAGE_SIZE)).toBe(
          firstHidden < 0 ? -1 : BASE + firstHidden * PAGE_SIZE,
        );
        expect(s2.holeCount === 0).toBe(firstHidden < 0);
      }),
      { numRuns: 300, seed: 3 },
    );
  });

  it("hidesAll() is true only when one hole covers the whole range", () => {
    const s2 = new HostStage2();
    s2.unmap(BASE, BASE + 8 * PAGE_SIZE);
    expect(s2.hidesAll(BASE + PAGE_SIZE, 4 * PAGE_SIZE)).toBe(true);
    expect(s2.hidesAll(BASE + PAGE_SIZE, 8 * PAGE_SIZE)).toBe(false);
    s2.map(BASE + 2 * PAGE_SIZE, BASE + 3 * PAGE_SIZE);
    expect(s2.hidesAll(BASE, 8 * PAGE_SIZE)).toBe(false);
  });
});

describe("the checkpoint under a hypervisor", () => {
  const pkvm: PlatformDesc = { ...PRESETS["tzc400-board"], hypervisor: "pkvm" };
  const LENT = 0xc000_0000;

  it("only platforms with a hypervisor have a host stage-2", () => {
    expect(new Machine(new Sim(1), PRESETS["tzc400-board"]).stage2).toBeNull();
    expect(new Machine(new Sim(1), PRESETS["tzc400-board"]).hostStage2Unmap(LENT, PAGE_SIZE)).toBe(-95);
    expect(new Machine(new Sim(1), pkvm).stage2).not.toBeNull();
  });

  it("a normal-world CPU access to a page the host lost faults at the first such page; the secure CPU and devices pass", () => {
    const m = new Machine(new Sim(1), pkvm);
    const cpu = m.masterIndex("cpu-ns");
    expect(m.hostStage2Unmap(LENT + PAGE_SIZE, 2 * PAGE_SIZE)).toBe(2);
    expect(m.access(cpu, LENT, PAGE_SIZE, "read")).toBe(ACCESS_OK);
    expect(m.access(cpu, LENT, 2 * PAGE_SIZE, "write")).toBe(FAULT_DENIED);
    expect(m.lastFault).toMatchObject({ address: LENT + PAGE_SIZE, master: "cpu-ns" });
    expect(m.access(m.masterIndex("cpu-s"), LENT + PAGE_SIZE, 64, "read")).toBe(ACCESS_OK);
    expect(m.access(m.masterIndex("video-decoder"), LENT + PAGE_SIZE, 64, "read")).toBe(ACCESS_OK);
    expect(m.hostStage2Map(LENT, 4 * PAGE_SIZE)).toBe(2);
    expect(m.access(cpu, LENT, 2 * PAGE_SIZE, "write")).toBe(ACCESS_OK);
  });

  it("a lent page the host stage-2 hides is out of the CPU's reach, not out of a device's: without a firewall protected-when-lent names the device", () => {
    const qemu: PlatformDesc = { ...PRESETS["qemu-virt"], hypervisor: "pkvm" };
    const sim = new Sim(1);
    const m = new Machine(sim, qemu);
    m.setUseCaseMasters(1, ["video-decoder", "display"]);
    const pa = 0xf000_0000;
    m.hostStage2Unmap(pa, 16 * PAGE_SIZE);
    m.setOwner(pa, 16 * PAGE_SIZE, OWNER_SECURE, 1);
    expect(sim.findings.details().map((d) => d.message)).toEqual([
      "lent 16 pages at 0xf0000000: the host stage 2 hides them from the CPU, but gpu can still read them",
    ]);
    m.setOwner(pa + 16 * PAGE_SIZE, PAGE_SIZE, OWNER_SECURE, 1);
    expect(sim.findings.details()[1].message).toMatch(
      /the normal world can still read them \(no memory firewall\)/,
    );
  });

  it("dirty lines still leave the cache: a write-back the firewall denies is a finding whatever stage 2 says", () => {
    const sim = new Sim(1);
    const m = new Machine(sim, pkvm);
    const cpu = m.masterIndex("cpu-ns");
    expect(m.access(cpu, LENT, 64, "write", { kernel: true })).toBe(ACCESS_OK);
    m.hostStage2Unmap(LENT, PAGE_SIZE);
    m.tzcConfigureRegion(m.tzc!.freeRegion(), {
      base: LENT,
      top: LENT + PAGE_SIZE - 1,
      secAttr: 3,
      nsDeviceAccess: 0,
    });
    // No speculation hazard (stage 2 stops fills), but the dirty line is a no-dirty-lend.
    expect(sim.findings.count("no-speculation-hazard")).toBe(0);
    expect(sim.findings.count("no-dirty-lend")).toBe(1);
    expect(m.access(cpu, LENT, 64, "writeback")).not.toBe(ACCESS_OK);
    expect(sim.findings.count("no-speculation-hazard")).toBe(1);
  });
});
