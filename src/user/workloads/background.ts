/**
 * `background`: the load that makes CMA slow or fail (user-asks.md §3) — through the kernel's page
 * allocator (kernel/mm/page_users.ts), as the rest of the system would:
 * - movable: page-cache-like pages (GFP_HIGHUSER_MOVABLE, written by the CPU) filling `working_set`,
 *   then churning at `rate` bytes a second — the oldest page is evicted and a new one faulted in. They
 *   land in CMA pageblocks as on Linux (__rmqueue() takes CMA first once CMA is over half the free
 *   memory), so a later cma_alloc() must migrate them.
 * - unmovable: one kernel allocation of `size` at start (blocks of up to MAX_ORDER), held to the end.
 * - pins: `count` user pages pinned for the whole run. `in_cma: true` is a pin without FOLL_LONGTERM
 *   (a driver's long-lived get_user_pages()/pin_user_pages(), the "CMA allocations fail due to pinned
 *   MOVABLE pages" case): the page stays in its CMA pageblock, and alloc_contig_range() over it fails
 *   with −EBUSY. `in_cma: false` is pin_user_pages(FOLL_LONGTERM), which migrates the page out of CMA
 *   first. Where a pinned page sits is the allocator's choice under memory pressure; the model places
 *   the in-CMA pins evenly across the default CMA area (take_page_off_buddy() on a free page there).
 *
 * Churn is the only movable-page user in the model, so a page CMA migrated away (its slot in the ring
 * now stale) is found again by a bounded sweep of SWEEP_FRAMES frames a tick and evicted in its place.
 * At the end every movable page is freed, pins dropped and the unmovable blocks returned.
 */
import { PAGE_SIZE } from "../../hw/platform.ts";
import { GFP_KERNEL, MIGRATE_CMA, PS_FREE, PS_MOVABLE } from "../../kernel/mm/gfp.ts";
import { PAGEBLOCK_NR_PAGES } from "../../kernel/mm/page_alloc.ts";
import {
  allocKernelPages,
  allocUserPage,
  freeKernelPages,
  freeUserPage,
  pinLongterm,
  unpinPage,
} from "../../kernel/mm/page_users.ts";
import { TAINT_NS_DATA } from "../../hw/frames.ts";
import { sleep, type Sleeps } from "../../sim/scheduler.ts";
import type { WorkloadEnv, WorkloadMetrics } from "./env.ts";

export interface BackgroundSpec {
  readonly startNs: number;
  /** How long the load runs; null: until the other workloads and step lists are done (or `until`). */
  readonly lengthNs: number | null;
  readonly movable: { readonly rate: number; readonly workingSet: number };
  readonly unmovable: number;
  readonly pins: { readonly count: number; readonly inCma: boolean };
}

/** Churn period, ns (assumption: page cache turnover observed every 10 ms). */
export const TICK_NS = 10_000_000;
/** Frames the orphan sweep looks at per tick. */
export const SWEEP_FRAMES = 4096;

export function* background(
  env: WorkloadEnv,
  spec: BackgroundSpec,
  m: WorkloadMetrics,
  /** True once the rest of the run (other workloads, step lists) is done. */
  othersDone: () => boolean,
): Sleeps {
  const sim = env.kernel.sim;
  const mm = env.kernel.mm;
  const f = mm.machine.frames;
  if (spec.startNs > sim.now) yield sleep(spec.startNs - sim.now);
  const t0 = sim.now;
  m.sessions++;
  // The load's life as one span on the trace; its page faults are counted there, not traced one by one.
  if (sim.trace.listening)
    sim.trace.emit(
      "user",
      "background load",
      { working_set: spec.movable.workingSet, rate: spec.movable.rate },
      "B",
    );

  // Unmovable: one allocation of `size`, in the largest blocks the buddy has.
  const blocks: [number, number][] = [];
  let left = Math.ceil(spec.unmovable / PAGE_SIZE);
  while (left > 0) {
    let order = mm.buddy.maxOrder;
    while (order > 0 && 1 << order > left) order--;
    const i = allocKernelPages(mm, order, GFP_KERNEL);
    if (i < 0) {
      m.fail("ENOMEM", `unmovable allocation of order ${order} failed (${left} pages left)`);
      break;
    }
    blocks.push([i, order]);
    left -= 1 << order;
    m.count("unmovablePages", 1 << order);
  }

  // Pins.
  const pinned: number[] = [];
  const cma = mm.defaultCma;
  for (let k = 0; k < spec.pins.count; k++) {
    if (spec.pins.inCma && cma) {
      const target = cma.base + Math.floor(((k + 0.5) * cma.count) / spec.pins.count);
      const i = takeFreeNear(env, target, Math.min(cma.base + cma.count, target + PAGEBLOCK_NR_PAGES));
      if (i < 0) {
        m.fail("ENOMEM", `no free page to pin near pfn 0x${(f.basePfn + target).toString(16)}`);
        continue;
      }
      f.pins[i]++;
      pinned.push(i);
      m.count("pinsInCma");
    } else {
      const i = allocUserPage(mm);
      const r = i < 0 ? -1 : pinLongterm(mm, i);
      if (r < 0) {
        if (i >= 0) freeUserPage(mm, i);
        m.fail("ENOMEM", "pin_user_pages(FOLL_LONGTERM) found no page");
        continue;
      }
      pinned.push(r);
      if (cma && r >= cma.base && r < cma.base + cma.count) m.count("pinsInCma");
    }
    m.count("pins");
  }

  // Movable: fill the working set, then churn.
  const cap = Math.floor(spec.movable.workingSet / PAGE_SIZE);
  const ring = new Int32Array(Math.max(1, cap));
  const inRing = new Uint16Array(f.count);
  let len = 0;
  let head = 0;
  let owed = 0;
  let sweep = 0;
  const fault = (): boolean => {
    const i = allocUserPage(mm);
    if (i < 0) {
      m.fail("ENOMEM", "a movable page fault found no free page");
      return false;
    }
    m.count("movablePagesAllocated");
    if (cma && i >= cma.base && i < cma.base + cma.count) m.count("movablePagesInCma");
    ring[(head + len) % ring.length] = i;
    inRing[i]++;
    len++;
    return true;
  };
  const isMine = (i: number) => f.state[i] === PS_MOVABLE && f.pins[i] === 0;
  const evict = (): void => {
    const i = ring[head];
    head = (head + 1) % ring.length;
    len--;
    inRing[i]--;
    if (isMine(i)) freeUserPage(mm, i);
    else owed++; // migrated away: its copy is found by the sweep
  };
  for (let n = 0; n < cap && fault(); n++);
  const perTick = (spec.movable.rate * TICK_NS) / 1e9 / PAGE_SIZE;
  let carry = 0;
  const done = () =>
    env.stopping() || (spec.lengthNs !== null ? sim.now - t0 >= spec.lengthNs : othersDone());
  while (!done()) {
    yield sleep(TICK_NS);
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    for (let k = 0; k < n && cap > 0; k++) {
      if (len === cap) evict();
      if (!fault()) break;
    }
    // The sweep: movable pages no ring slot names are copies CMA migrated; evict them for the stale slots.
    for (let k = 0; k < SWEEP_FRAMES && owed > 0; k++) {
      const i = sweep;
      sweep = (sweep + 1) % f.count;
      if (isMine(i) && inRing[i] === 0) {
        freeUserPage(mm, i);
        owed--;
      }
    }
  }

  // The end: pins dropped, every movable page freed (one pass over the frames, once), unmovable returned.
  for (const i of pinned) unpinPage(mm, i);
  for (let i = 0; i < f.count; i++) if (f.state[i] === PS_MOVABLE && f.pins[i] === 0) freeUserPage(mm, i);
  for (const [i, order] of blocks) freeKernelPages(mm, i, order);
  if (sim.trace.listening) sim.trace.emit("user", "background load", { ...m.extra }, "E");
}

/** take_page_off_buddy() on the first free page in [from, to) that the buddy holds, made a written user page. */
function takeFreeNear(env: WorkloadEnv, from: number, to: number): number {
  const mm = env.kernel.mm;
  const m = mm.machine;
  mm.buddy.drainAllPages();
  for (let i = from; i < to; i++) {
    if (m.frames.state[i] !== PS_FREE || mm.buddy.pageblockMt[(i / PAGEBLOCK_NR_PAGES) | 0] !== MIGRATE_CMA)
      continue;
    if (!mm.buddy.takeOffBuddy(i, i + 1)) continue;
    m.frames.state[i] = PS_MOVABLE;
    m.access(m.masterIndex("cpu-ns"), m.frames.paOf(i), PAGE_SIZE, "write", { taint: TAINT_NS_DATA });
    return i;
  }
  return -1;
}
