/**
 * A kmalloc ledger and what kmemleak makes of it — mm/slab_common.c (kmalloc(), kzalloc(), kcalloc(),
 * kfree(), the kmalloc size classes), mm/slub.c slab_post_alloc_hook() (kmemleak_alloc_recursive(p,
 * s->object_size, …): kmemleak records the object at its cache's size), mm/kmemleak.c
 * (print_unreferenced(): "unreferenced object 0x%08lx (size %zu):", then the allocation backtrace).
 *
 * The ledger holds no bytes and takes no pages: an object is its address, its kmalloc cache's object
 * size, the function that allocated it (the backtrace's first kernel frame past kmalloc) and which
 * other ledger objects hold a pointer to it (kmemleakLink(): `holder->field = obj`). kmemleak's scan
 * finds an object unreferenced when nothing reachable holds its address; the model reports the case
 * this ledger can know: an object that lived in a field of another ledger object, whose holder was
 * kfree()d while it stayed allocated and nothing else refers to it — its last reference went away
 * with its owner (protmem.c's pool_op_dyn_destroy_pool(): kfree(rp) without kfree(rp->mem_attrs)).
 * An object never linked into another is taken as held by something outside the ledger (a global, a
 * structure the model does not allocate here) and is never reported.
 *
 * MODEL CHOICES:
 * - kmalloc size classes are 8, 16, 32, 64, 96, 128, 192, 256, 512, 1k, 2k, 4k, 8k
 *   (kmalloc_info[]); the smallest is 8 (ARCH_KMALLOC_MINALIGN on arm64, as with
 *   CONFIG_DMA_BOUNCE_UNALIGNED_KMALLOC and swiotlb; without them the minimum is the cache line, 64).
 *   Above KMALLOC_MAX_CACHE_SIZE (two pages) kmalloc_large() is used and kmemleak records the
 *   requested size; its pages are not taken from the model's buddy.
 * - Addresses are linear-map-looking (0xffff0000c…), deterministic, one range per cache; they are not
 *   the address of any page of the model's DRAM.
 * - kmemleak's scan itself (periodic, every 600 s, objects older than 5 s, a checksum unchanged over
 *   two scans) is not modelled: the report is what a scan after the run settles would print.
 */
import { fail } from "../../sim/assert.ts";
import type { Mm } from "./mm.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";
import { SideTable } from "../../sim/side_table.ts";

/** kmalloc_info[] sizes up to KMALLOC_MAX_CACHE_SIZE (2 × PAGE_SIZE). */
const KMALLOC_SIZES = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192] as const;
const KMALLOC_MAX_CACHE_SIZE = 8192;
/** SIZE_MAX for size_t on arm64, for kcalloc()'s overflow check. */
const SIZE_MAX = 2n ** 64n - 1n;
const ADDR_BASE = 0xffff_0000_c000_0000n;

/** One object of the ledger. */
export interface KmallocObject {
  readonly addr: bigint;
  /** The size kmemleak records: the kmalloc cache's object size (the request above the caches). */
  readonly size: number;
  /** The size the caller asked for. */
  readonly requested: number;
  /** The allocating function (kmemleak's backtrace: the caller of kmalloc()). */
  readonly site: string;
  /** Ledger objects whose fields hold this object's address. */
  readonly heldBy: Set<bigint>;
  /** A holder was kfree()d while this object lived. */
  lostHolder: boolean;
}

/** The kmalloc caches' objects of one kernel. */
export class Slab implements Snapshottable {
  readonly live = new Map<bigint, KmallocObject>();
  /** Objects handed out per cache (address arithmetic only). */
  readonly #perCache = new Map<number, number>();
  /** kmalloc() calls and kfree() calls, for reports. */
  allocs = 0;
  frees = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { perCache: this.#perCache };
  }

  /** kmalloc(size, GFP_KERNEL) from `site`; the model never fails it. 0n (ZERO_SIZE_PTR aside) for size 0. */
  kmalloc(size: number, site: string): bigint {
    if (!(Number.isSafeInteger(size) && size >= 0)) fail(`kmalloc(${size})`);
    if (size === 0) return 0x10n; // ZERO_SIZE_PTR: nothing is allocated
    const cache = KMALLOC_SIZES.findIndex((s) => s >= size);
    const objSize = size > KMALLOC_MAX_CACHE_SIZE ? size : KMALLOC_SIZES[cache];
    const key = size > KMALLOC_MAX_CACHE_SIZE ? KMALLOC_SIZES.length : cache;
    const n = this.#perCache.get(key) ?? 0;
    this.#perCache.set(key, n + 1);
    const stride = key === KMALLOC_SIZES.length ? Math.ceil(size / 4096) * 4096 : objSize;
    const addr = ADDR_BASE + (BigInt(key) << 28n) + BigInt(n) * BigInt(stride);
    this.live.set(addr, { addr, size: objSize, requested: size, site, heldBy: new Set(), lostHolder: false });
    this.allocs++;
    return addr;
  }

  /** kfree(): NULL and ZERO_SIZE_PTR are no-ops; the holders' links from this object go with it. */
  kfree(addr: bigint): void {
    if (addr === 0n || addr === 0x10n) return;
    const obj = this.live.get(addr);
    if (!obj) fail(`kfree(0x${addr.toString(16)}) of an object the ledger does not hold`);
    this.live.delete(addr);
    this.frees++;
    for (const o of this.live.values()) {
      if (o.heldBy.delete(addr)) o.lostHolder = true;
    }
  }

  /** `holder->field = target`: the ledger object `holder` now holds `target`'s address. */
  link(holder: bigint, target: bigint): void {
    const t = this.live.get(target);
    if (!t) return; // NULL or ZERO_SIZE_PTR
    if (!this.live.has(holder)) fail(`a pointer stored into 0x${holder.toString(16)}, which is not live`);
    t.heldBy.add(holder);
  }

  /** What a kmemleak scan would report now (see the header), in allocation-address order. */
  unreferenced(): KmallocObject[] {
    return [...this.live.values()]
      .filter((o) => o.lostHolder && o.heldBy.size === 0)
      .sort((a, b) => (a.addr < b.addr ? -1 : 1));
  }
}

const slabs = new SideTable<Mm, Slab>();

/** The kernel's kmalloc caches (one ledger per Mm). */
export function slabOf(mm: Mm): Slab {
  let s = slabs.get(mm);
  if (!s) {
    s = new Slab();
    slabs.set(mm, s);
  }
  return s;
}

/** kmalloc(size, GFP_KERNEL) */
export function kmalloc(mm: Mm, size: number, site: string): bigint {
  return slabOf(mm).kmalloc(size, site);
}

/** kzalloc(): kmalloc() with __GFP_ZERO (the ledger holds no bytes to zero). */
export function kzalloc(mm: Mm, size: number, site: string): bigint {
  return slabOf(mm).kmalloc(size, site);
}

/** kcalloc(n, size): NULL (0n) when n * size overflows size_t (check_mul_overflow()). */
export function kcalloc(mm: Mm, n: number, size: number, site: string): bigint {
  if (BigInt(n) * BigInt(size) > SIZE_MAX) return 0n;
  return slabOf(mm).kmalloc(n * size, site);
}

/** kfree() */
export function kfree(mm: Mm, addr: bigint): void {
  slabOf(mm).kfree(addr);
}

/** `holder->field = target` (see Slab.link()). */
export function kmemleakLink(mm: Mm, holder: bigint, target: bigint): void {
  slabOf(mm).link(holder, target);
}

/** The report lines (one per unreferenced object): what quiesce-clean reports at the end of a run. */
export function kmemleakReport(mm: Mm): string[] {
  return slabOf(mm)
    .unreferenced()
    .map(
      (o) =>
        `kmemleak: unreferenced object 0x${o.addr.toString(16)} (size ${o.size}): allocated by ${o.site}()`,
    );
}
