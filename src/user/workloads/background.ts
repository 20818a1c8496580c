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
 *
 * Once the working set is full and nothing disturbs it, a churn tick evicts pages that the next faults
 * get straight back from the per-cpu list: the tick is then one range operation (SteadyChurn), whose
 * cost does not grow with the rate.
 */
import { PAGE_SIZE, type MasterDesc } from "../../hw/platform.ts";
import {
  GFP_HIGHUSER_MOVABLE,
  GFP_KERNEL,
  MIGRATE_CMA,
  MIGRATE_MOVABLE,
  PS_FREE,
  PS_MOVABLE,
} from "../../kernel/mm/gfp.ts";
import { PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER } from "../../kernel/mm/page_alloc.ts";
import {
  allocKernelPages,
  allocUserPage,
  freeKernelPages,
  freeUserPage,
  pinLongterm,
  pinPage,
  unpinPage,
} from "../../kernel/mm/page_users.ts";
import { OWNER_NORMAL, TAINT_NS_DATA } from "../../hw/frames.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
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
  if (spec.startNs > sim.now && !elapse(spec.startNs - sim.now)) yield sleep(spec.startNs - sim.now);
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
      pinPage(mm, i);
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
  const steady = new SteadyChurn(env, ring, inRing);
  const done = () =>
    env.stopping() || (spec.lengthNs !== null ? sim.now - t0 >= spec.lengthNs : othersDone());
  while (!done()) {
    if (!elapse(TICK_NS)) yield sleep(TICK_NS);
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    if (steady.holds(head, n, n > 0 && cap > 0 && len === cap && owed === 0)) {
      // Nothing else touched the allocator or the protections since the ring was checked: every
      // eviction hands its page straight back to the next fault. Done as one range operation.
      steady.churn(head, n, m);
      head = (head + n) % ring.length;
      continue;
    }
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
    steady.ticked(false);
  }

  // The end: pins dropped, every movable page freed, unmovable returned. Pages CMA migrated away are
  // not in the ring: then one pass over the frames finds them.
  for (const i of pinned) unpinPage(mm, i);
  for (const i of pinned) if (inRing[i] === 0 && isMine(i)) freeUserPage(mm, i);
  let stale = false;
  for (let k = 0; k < len; k++) {
    const i = ring[(head + k) % ring.length];
    if (inRing[i] === 0) continue;
    if (inRing[i] !== 1 || !isMine(i)) stale = true;
    else freeUserPage(mm, i);
    inRing[i] = 0;
  }
  if (owed > 0 || stale)
    for (let i = 0; i < f.count; i++) if (f.state[i] === PS_MOVABLE && f.pins[i] === 0) freeUserPage(mm, i);
  for (const [i, order] of blocks) freeKernelPages(mm, i, order);
  if (sim.trace.listening) sim.trace.emit("user", "background load", { ...m.extra }, "E");
}

/**
 * The churn's steady state. When the ring is full and nothing is owed, evicting the oldest page and
 * faulting a new one in at once gives back the very page evicted: free_unref_page() puts it on the
 * per-cpu list and rmqueue_pcplist() takes it off again (LIFO, buddy.order0RecycleZone()). A tick then
 * changes nothing but counters, the ring's head and which pages the CPU's writes left dirty.
 * Simplification: the page is handed back whatever its zone. The per-cpu lists are per zone, as in
 * Linux; so page by page, a DMA-zone page freed while the Normal zone is above its watermark would go
 * on the DMA zone's list and the fault take a Normal page instead, and a working set straddling the
 * zones would drift between them. Here its footprint stays where it was faulted in until something
 * else allocates — the pages CMA must migrate are the same either way.
 * Whether that holds for every page of the ring is checked once (O(working set)), and stays true until
 * a page is pinned or migrated or a protection changes (the buddy's and the machine's epochs tell); a
 * pageblock type change only has the ring's pageblocks looked at again. A failed check is tried again
 * a second later; a tick done page by page (the ring changed) has the ring checked again.
 */
class SteadyChurn {
  /** The epochs after this workload's own last tick (pageblocks, pins, migrations, protection). */
  readonly #seen = [-1, -1, -1, -1];
  /** Every ring page passed the check, and nothing that could change that happened since. */
  #verified = false;
  /** The pageblocks must be looked at again (their types changed since the check). */
  #pageblocksStale = false;
  #retryAt = 0;
  /** Per ring slot k: CMA pages among slots [0, k). */
  #cmaBefore: Int32Array | null = null;
  /** Per frame of the ring: its slot. */
  #slotOf: Int32Array | null = null;
  /** The pageblocks the ring's pages lie in. */
  #pageblocks: Int32Array | null = null;

  constructor(
    private readonly env: WorkloadEnv,
    private readonly ring: Int32Array,
    private readonly inRing: Uint16Array,
  ) {}

  /**
   * Whether `n` evict + fault pairs from ring slot `head` may be done as one range operation; `ready`:
   * the ring is full and nothing is owed. Called at every tick, so it sees every change by others.
   */
  holds(head: number, n: number, ready: boolean): boolean {
    const mm = this.env.kernel.mm;
    const machine = mm.machine;
    const e = mm.buddy.epochs;
    const seen = this.#seen;
    // A pin or a migration may concern any ring page: the whole check again.
    if (e.pins !== seen[1] || e.migrations !== seen[2]) this.#verified = false;
    // A protection change (a lend, a reclaim): whether any ring page is now in a protected range.
    else if (machine.protectionEpoch !== seen[3] && this.#verified && !this.#outsideProtections())
      this.#verified = false;
    // A pageblock's type (isolation for a contiguous allocation, a fallback's steal): the pageblocks only.
    else if (e.pageblocks !== seen[0]) this.#pageblocksStale = true;
    if (!ready || n > this.ring.length) return false;
    if (!this.#verified) {
      if (mm.sim.now < this.#retryAt) return false;
      this.#verified = this.#check();
      this.#pageblocksStale = false;
      if (!this.#verified) {
        this.#retryAt = mm.sim.now + 1e9;
        return false;
      }
    }
    if (this.#pageblocksStale) {
      if (!this.#pageblocksRecycle()) return false;
      this.#pageblocksStale = false;
    }
    if (mm.buddy.order0RecycleZone(GFP_HIGHUSER_MOVABLE) < 0) return false;
    // The write must find every page clean (it is, unless the caches were busy: then page by page).
    machine.speculation.sync();
    const slotOf = this.#slotOf!;
    const len = this.ring.length;
    for (const d of machine.caches.dirtyList()) {
      if (this.inRing[d] > 0 && (slotOf[d] - head + len) % len < n) return false;
    }
    return true;
  }

  /** The ring's pages in ascending order (built by the check). */
  #sorted: Int32Array | null = null;

  /**
   * No ring page lies in a range the CPU may not write (firewall), that is restricted, or that the host
   * stage 2 took: O(ranges × log working set). Granule protection is asked page by page: false.
   */
  #outsideProtections(): boolean {
    const machine = this.env.kernel.mm.machine;
    const f = machine.frames;
    const sorted = this.#sorted;
    if (sorted === null || machine.gpt !== null) return false;
    const meets = (a: number, b: number): boolean => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid] < a) lo = mid + 1;
        else hi = mid;
      }
      return lo < sorted.length && sorted[lo] < b;
    };
    const cpu = machine.masters[machine.masterIndex("cpu-ns")];
    const denied = machine.tzc
      ? machine.tzc.deniedSegments(cpu.world, cpu.nsaid, true, machine.dramBase, machine.dramEnd)
      : [];
    for (let k = 0; k < denied.length; k += 2)
      if (meets(f.indexOf(denied[k]), f.indexOf(denied[k + 1] - PAGE_SIZE) + 1)) return false;
    const runs = f.restrictedRuns;
    for (let k = 0; k < runs.length; k += 4) if (meets(runs[k], runs[k + 1])) return false;
    const holes = machine.stage2?.holes ?? [];
    for (let k = 0; k < holes.length; k += 2)
      if (meets(f.indexOf(holes[k]), f.indexOf(holes[k + 1] - PAGE_SIZE) + 1)) return false;
    return true;
  }

  /** Every ring page would be handed back, and its write succeed. O(working set). */
  /**
   * The ring slot the last check failed at, or −1. A failed check is retried every second, and what
   * made it fail (a ring page migrated, pinned, lent) usually still holds: looking at that slot first
   * answers in O(1) what the whole walk would (any failing slot fails the check), instead of walking
   * the working set again — in cma-pressure, 3.5 GiB of it, once a second.
   */
  #failedAt = -1;

  /** Whether ring slot k's page may be recycled as one of a range (the check's per-page conditions). */
  #slotOk(k: number, denied: readonly number[], cpu: MasterDesc): boolean {
    const machine = this.env.kernel.mm.machine;
    const f = machine.frames;
    const i = this.ring[k];
    if (this.inRing[i] !== 1 || f.state[i] !== PS_MOVABLE || f.pins[i] !== 0) return false;
    if (f.owner[i] !== OWNER_NORMAL || f.taint[i] !== TAINT_NS_DATA) return false;
    const pa = f.paOf(i);
    for (let d = 0; d < denied.length; d += 2) if (pa >= denied[d] && pa < denied[d + 1]) return false;
    if (machine.gpt !== null && !machine.gpt.permits(cpu.world, pa, PAGE_SIZE)) return false;
    if (machine.stage2 !== null && machine.stage2.firstUntranslated(pa, PAGE_SIZE) >= 0) return false;
    return true;
  }

  #check(): boolean {
    const mm = this.env.kernel.mm;
    const machine = mm.machine;
    const f = machine.frames;
    const cpu = machine.masters[machine.masterIndex("cpu-ns")];
    const cma = mm.defaultCma;
    const cmaStart = cma ? cma.base : 0;
    const cmaEnd = cma ? cma.base + cma.count : 0;
    const denied = machine.tzc
      ? machine.tzc.deniedSegments(cpu.world, cpu.nsaid, true, machine.dramBase, machine.dramEnd)
      : [];
    const ring = this.ring;
    const k0 = this.#failedAt;
    if (k0 >= 0 && k0 < ring.length && !this.#slotOk(k0, denied, cpu)) return false;
    this.#failedAt = -1;
    const cmaBefore = new Int32Array(ring.length + 1);
    const slotOf = this.#slotOf ?? new Int32Array(f.count);
    // The ring's pageblocks, each once.
    const seen = new Uint8Array(Math.ceil(f.count / (1 << PAGEBLOCK_ORDER)));
    const blocks: number[] = [];
    for (let k = 0; k < ring.length; k++) {
      const i = ring[k];
      if (!this.#slotOk(k, denied, cpu)) {
        this.#failedAt = k;
        return false;
      }
      cmaBefore[k + 1] = cmaBefore[k] + (i >= cmaStart && i < cmaEnd ? 1 : 0);
      slotOf[i] = k;
      const pb = i >> PAGEBLOCK_ORDER;
      if (seen[pb] === 0) {
        seen[pb] = 1;
        blocks.push(pb);
      }
    }
    this.#cmaBefore = cmaBefore;
    this.#slotOf = slotOf;
    this.#pageblocks = Int32Array.from(blocks);
    this.#sorted = Int32Array.from(ring).sort();
    return this.#pageblocksRecycle();
  }

  /** Every pageblock of the ring is MOVABLE or CMA: a freed page goes to the movable per-cpu list. */
  #pageblocksRecycle(): boolean {
    const mt = this.env.kernel.mm.buddy.pageblockMt;
    for (const pb of this.#pageblocks!)
      if (mt[pb] !== MIGRATE_MOVABLE && mt[pb] !== MIGRATE_CMA) return false;
    return true;
  }

  /** `n` pairs from ring slot `head`: the allocator's and the machine's counters, and the CPU's writes. */
  churn(head: number, n: number, m: WorkloadMetrics): void {
    const mm = this.env.kernel.mm;
    const machine = mm.machine;
    const len = this.ring.length;
    mm.buddy.countRecycles(n);
    m.count("movablePagesAllocated", n);
    const cmaBefore = this.#cmaBefore!;
    const end = head + n;
    const inCma =
      end <= len ? cmaBefore[end] - cmaBefore[head] : cmaBefore[len] - cmaBefore[head] + cmaBefore[end - len];
    if (inCma > 0) m.count("movablePagesInCma", inCma);
    // Each fault's write (allocUserPage()): the pages are the workload's already, tainted as its data.
    const wb = machine.caches.markWrittenInOrder(this.ring, head, n);
    machine.accessStats.accesses += n + wb;
    machine.accessStats.writebacks += wb;
    this.ticked(true);
  }

  /** After a tick of this workload: the epochs it leaves; a tick done page by page changed the ring. */
  ticked(steady: boolean): void {
    const mm = this.env.kernel.mm;
    const e = mm.buddy.epochs;
    if (!steady) this.#verified = false;
    this.#seen[0] = e.pageblocks;
    this.#seen[1] = e.pins;
    this.#seen[2] = e.migrations;
    this.#seen[3] = mm.machine.protectionEpoch;
  }
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
    m.frames.dirty.touch(i);
    m.access(m.masterIndex("cpu-ns"), m.frames.paOf(i), PAGE_SIZE, "write", { taint: TAINT_NS_DATA });
    return i;
  }
  return -1;
}
