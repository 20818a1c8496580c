/**
 * Protection and ownership changes of the machine, and the hazards each one creates (ARCHITECTURE.md
 * §3, §8): programming a TZC region (bus-side: pages still cacheable-mapped or dirty in the normal
 * world are findings), RME granule transitions (the transition cleans the caches), and the SPMC's
 * record of which world owns a page (protected-when-lent, scrub-before-return).
 */
import { isSecret, OWNER_NORMAL, OWNER_SECURE } from "./frames.ts";
import { GPT_GPI_NS, GPT_GPI_SECURE } from "./gpt.ts";
import type { Machine } from "./machine.ts";
import { hex, PAGE_SIZE, type MasterDesc } from "./platform.ts";
import { TZC_ALLOWED, type TzcRegionConfig } from "./tzc400.ts";

/** Programs TZC region n; on success checks the pages the normal world just lost. 0 or −22. */
export function tzcConfigureRegion(machine: Machine, n: number, cfg: TzcRegionConfig): number {
  if (!machine.tzc) return -22;
  const rc = machine.tzc.configureRegion(n, cfg);
  if (rc === 0) checkNewlyProtected(machine, cfg.base, cfg.top + 1 - cfg.base);
  return rc;
}

/**
 * RME: moves [pa, pa + length) between NS and Secure one granule at a time (as Hafnium's PLAT_PROTECT_MEM
 * loop does). The transition cleans the caches for each granule. Returns 0 or the first error, with the
 * granules before it already moved (partial progress is possible, hardware.md §2.6).
 */
export function gptTransition(
  machine: Machine,
  pa: number,
  length: number,
  toSecure: boolean,
): { rc: number; done: number } {
  if (!machine.gpt) return { rc: -95, done: 0 };
  let done = 0;
  for (let a = pa; a < pa + length; a += PAGE_SIZE) {
    const rc = machine.gpt.transition(a, toSecure ? GPT_GPI_SECURE : GPT_GPI_NS, "s");
    if (rc !== 0) return { rc, done };
    const i = machine.frames.indexOf(a);
    if (i >= 0) machine.caches.clean(i);
    done++;
  }
  return { rc: 0, done };
}

/**
 * A bus-side firewall sees what the core already issued: pages it now denies to the normal-world CPU
 * that are still cacheable-mapped (no-speculation-hazard) or may hold dirty lines (no-dirty-lend). Of
 * the cacheable ones, those the linear map no longer maps but the TLB may still translate — invalidated
 * without a flush — are no-stale-tlb as well: the missing flush is the bug. A host stage-2 that took a
 * page stops speculation inside the core (MMU-side), like RME: no hazard for it.
 */
function checkNewlyProtected(machine: Machine, base: number, size: number): void {
  const cpu = machine.masterIndex("cpu-ns");
  if (cpu < 0 || !machine.tzc) return;
  const m = machine.masters[cpu];
  const start = Math.max(base, machine.dramBase);
  const end = Math.min(base + size, machine.dramEnd);
  if (start >= end) return;
  const f = machine.frames;
  const dm = machine.directMap;
  let mapped = 0;
  let firstMapped = -1;
  let stale = 0;
  let firstStale = -1;
  let dirty = 0;
  const dirtyOf = machine.caches.dirty;
  // The pages the CPU is now denied, in ascending order: a page's verdict is constant between region
  // boundaries (4 KiB aligned), so the firewall is asked once per segment, not once per page.
  const denied = machine.tzc.deniedSegments(m.world, m.nsaid, false, start, end);
  for (let s = 0; s < denied.length; s += 2) {
    const i0 = f.indexOf(denied[s]);
    const i1 = i0 + (denied[s + 1] - denied[s]) / PAGE_SIZE;
    // Nothing of the segment cacheable (no user mapping anywhere, none in the linear map or the TLB):
    // only its dirty pages to count, without the walk.
    if (machine.caches.extraMappedFrames === 0 && dm.cacheablePages(denied[s], denied[s + 1]) === 0) {
      dirty += machine.caches.dirtyIn(i0, i1 - i0);
      continue;
    }
    for (let i = i0; i < i1; i++) {
      if (machine.cacheableInNormalWorld(i)) {
        mapped++;
        if (firstMapped < 0) firstMapped = i;
        if (
          dm.staleRanges.length > 0 &&
          machine.caches.extraMaps[i] === 0 &&
          !dm.mappedCacheable(f.paOf(i))
        ) {
          stale++;
          if (firstStale < 0) firstStale = i;
        }
      }
      dirty += dirtyOf[i];
    }
  }
  if (stale > 0) {
    machine.sim.findings.report(
      "no-stale-tlb",
      `${stale} pages from ${hex(f.paOf(firstStale))} protected by the TZC while the TLB may still translate them (linear map changed without a TLB flush)`,
      { pages: stale, address: hex(f.paOf(firstStale)) },
    );
  }
  if (mapped > 0) {
    machine.sim.findings.report(
      "no-speculation-hazard",
      `${mapped} pages from ${hex(f.paOf(firstMapped))} protected by the TZC while mapped cacheable in the normal world`,
      { pages: mapped, address: hex(f.paOf(firstMapped)) },
    );
  }
  if (dirty > 0) {
    machine.sim.findings.report(
      "no-dirty-lend",
      `${dirty} pages protected while normal-world caches may hold dirty lines`,
      {
        pages: dirty,
        address: hex(start),
      },
    );
  }
}

/** The first normal-world device outside the use case's allowed ones that the firewall lets read the range, or null. */
function openToOtherDevice(machine: Machine, pa: number, length: number, useCase: number): string | null {
  for (let m = 0; m < machine.masters.length; m++) {
    const d = machine.masters[m];
    if (d.kind !== "device" || d.world !== "ns" || machine.allowedIn(m, useCase)) continue;
    if (machine.wouldPermit(d.world, d.nsaid, pa, length, false) === TZC_ALLOWED) return d.name;
  }
  return null;
}

/**
 * Marks [pa, pa + length) as restricted memory of the secure world for a use case (lend, donate), or
 * back to the normal world (reclaim). Reports protected-when-lent when the normal-world CPU could
 * still reach lent pages, and scrub-before-return when pages come back holding secret data.
 */
export function setOwner(
  machine: Machine,
  pa: number,
  length: number,
  owner: typeof OWNER_NORMAL | typeof OWNER_SECURE,
  useCase = 0,
): void {
  const f = machine.frames;
  const i0 = f.indexOf(pa);
  const n = Math.ceil(length / PAGE_SIZE);
  if (i0 < 0 || i0 + n > f.count) throw new Error(`setOwner outside DRAM: ${hex(pa)}+${hex(length)}`);
  const sim = machine.sim;
  if (owner === OWNER_SECURE) {
    f.setOwner(i0, n, OWNER_SECURE, useCase);
    const cpu = machine.masterIndex("cpu-ns");
    if (cpu >= 0) {
      const m = machine.masters[cpu];
      // The CPU's view: the firewall, and under a hypervisor the host stage-2 (a page it took is out of reach).
      const hidden = machine.stage2 !== null && machine.stage2.hidesAll(pa, PAGE_SIZE * n);
      const open =
        !hidden &&
        (machine.wouldPermit(m.world, m.nsaid, pa, PAGE_SIZE * n, false) === TZC_ALLOWED ||
          anyPageOpen(machine, m, i0, n));
      // A stage 2 hides pages from the CPU only: a normal-world device the use case does not allow
      // still reaches them through the firewall (no SMMU is modelled).
      const device = hidden ? openToOtherDevice(machine, pa, PAGE_SIZE * n, useCase) : null;
      if (device !== null) {
        sim.findings.report(
          "protected-when-lent",
          `lent ${n} pages at ${hex(pa)}: the host stage 2 hides them from the CPU, but ${device} can still read them`,
          { address: hex(pa), pages: n },
        );
      }
      if (open) {
        const why =
          machine.platform.firewall.kind === "none" ? "no memory firewall" : "firewall not programmed";
        sim.findings.report(
          "protected-when-lent",
          `lent ${n} pages at ${hex(pa)}, but the normal world can still read them (${why})`,
          {
            address: hex(pa),
            pages: n,
          },
        );
      }
    }
  } else {
    let secret = 0;
    for (let i = i0; i < i0 + n; i++) if (isSecret(f.taint[i])) secret++;
    f.setOwner(i0, n, OWNER_NORMAL, 0);
    if (secret > 0) {
      sim.findings.report(
        "scrub-before-return",
        `${secret} pages returned to the normal world holding secret data`,
        {
          address: hex(pa),
          pages: secret,
        },
      );
    }
  }
  if (sim.trace.listening) sim.trace.emit("hw", "owner", { pa: hex(pa), pages: n, owner, useCase });
}

/** Whether any single page of the range is readable by master m (a range check denies if any part is denied). */
function anyPageOpen(machine: Machine, m: MasterDesc, i0: number, n: number): boolean {
  if (!machine.tzc && !machine.gpt) return true;
  if (n <= 0) return false;
  if (machine.tzc) {
    // As the per-page loop below, per segment of constant verdict (tzc400.ts deniedSegments()): some
    // page is open unless the denied segments (merged when adjacent) cover the whole range.
    const lo = machine.frames.paOf(i0);
    const hi = lo + n * PAGE_SIZE;
    const denied = machine.tzc.deniedSegments(m.world, m.nsaid, false, lo, hi);
    return !(denied.length === 2 && denied[0] === lo && denied[1] === hi);
  }
  for (let i = i0; i < i0 + n; i++) {
    if (machine.wouldPermit(m.world, m.nsaid, machine.frames.paOf(i), PAGE_SIZE, false) === TZC_ALLOWED)
      return true;
  }
  return false;
}
