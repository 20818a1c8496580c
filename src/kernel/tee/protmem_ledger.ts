/**
 * Invariant `pool-consistency` (check/invariants.ts): "pool refcounts equal live buffers; no buffer
 * outlives its chunk". Not kernel code: the bookkeeping a debug option would keep beside a protected-
 * memory pool (as kmemleak or KASAN keep theirs), so the model can say where a pool's own accounting
 * stops matching what is really alive.
 *
 * Two sides, kept apart so one can check the other:
 * - Buffers, from the dma-heap (tee_heap.ts): a buffer is live from the moment the pool's alloc hands
 *   it out until its dma-buf's release starts (the last reference gone). That is the truth a pool's
 *   refcount or per-chunk count must agree with.
 * - Chunks, from the pools (protmem.ts, protmem_growable.ts, protmem_per_buffer.ts, protmem_carveout.ts,
 *   tee_protmem_static.ts): lent memory that buffers are carved from, announced when it joins the pool
 *   and again just before it is reclaimed (RELEASE_PROTMEM + FFA_MEM_RECLAIM) and just before its pages
 *   go back to the page allocator.
 *
 * What is reported, each where it happens:
 * - a chunk is reclaimed, or its pages freed to Linux, while a buffer still lives in it (the buffer
 *   would outlive its chunk: a device keeps DMAing into memory the normal world has again);
 * - a buffer is handed out from memory that is in no chunk the pool holds;
 * - at a quiescent point — no allocation or free of this pool in flight, and at the end of the run —
 *   the pool's own count of live buffers (protmem.c's refcount, the growable pool's per-chunk counts,
 *   the per-buffer pool's table) differs from the buffers alive. The static and carveout pools keep no
 *   count of buffers: their record is their gen_pool, so their own count is the bytes it has handed out
 *   (gen_pool_size() − gen_pool_avail()), compared with the live buffers' bytes (page-rounded, as
 *   genalloc hands out whole granules) — a sub-allocation freed twice or never shows there. Reported when it starts to differ,
 *   not again until it has agreed once more.
 * Cost: per buffer and per chunk (a short list of chunks, a map by base), never per page.
 */
import { REFCOUNT_SATURATED } from "../../sim/refcount.ts";
import type { Sim } from "../../sim/sim.ts";
import type { Sg } from "./tee_heap.ts";

/** The invariant's id (check/invariants.ts). */
export const POOL_CONSISTENCY = "pool-consistency";

/** One chunk the pool holds. */
export interface LedgerChunk {
  readonly base: number;
  readonly size: number;
  /** Live buffers with an sg entry in this chunk (a buffer with two entries here counts twice). */
  buffers: number;
  /** FFA_MEM_RECLAIM has been asked for it: buffers must not live in it any more. */
  reclaimed: boolean;
}

const hex = (n: number): string => `0x${n.toString(16)}`;
/** Bytes of whole 4 KiB pages covering `length`. */
const pageRounded = (length: number): number => Math.ceil(length / 4096) * 4096;

export class ProtmemLedger {
  /** Chunks by base address (a pool holds a few; the per-buffer pool one per buffer). */
  readonly chunks = new Map<number, LedgerChunk>();
  /** Live buffers (dma-bufs whose memory came from this pool). */
  buffers = 0;
  /** Their bytes, each sg entry rounded up to whole pages. */
  bytes = 0;
  /** Allocations and frees of this pool in flight (between entering the pool's op and leaving it). */
  busy = 0;
  /** The pool's own count disagreed with `buffers` at the last quiescent point (reported once). */
  disagrees = false;

  constructor(
    readonly sim: Sim,
    /** Names the pool in findings: `dynamic pool (protmem.c), use case 1`. */
    readonly name: string,
    /** What the pool's own count of live buffers is (TeeProtmemPoolOps.ownCount), for findings. */
    readonly countName = "its count of live buffers",
    /** What the own count counts: live buffers, or (a gen_pool's record) the bytes handed out. */
    readonly unit: "buffers" | "bytes" = "buffers",
  ) {}

  #report(message: string, data: Record<string, unknown>): void {
    this.sim.findings.report(POOL_CONSISTENCY, `${this.name}: ${message}`, data);
  }

  /** The chunk holding [pa, pa + length), or undefined. */
  chunkOf(pa: number, length: number): LedgerChunk | undefined {
    const exact = this.chunks.get(pa);
    if (exact) return exact;
    for (const c of this.chunks.values()) if (pa >= c.base && pa + length <= c.base + c.size) return c;
    return undefined;
  }

  // ---- Chunks: the pools say when one joins and leaves ----

  /** A chunk joined the pool: lent, and buffers may be carved from it. */
  chunkAdded(base: number, size: number): void {
    this.chunks.set(base, { base, size, buffers: 0, reclaimed: false });
  }

  /** The chunk at `base` is about to be reclaimed: no buffer may still live in it. */
  chunkReclaiming(base: number): void {
    const c = this.chunks.get(base);
    if (!c) return;
    if (c.buffers > 0)
      this.#report(
        `chunk ${hex(base)} (+${hex(c.size)}) is reclaimed while ${c.buffers} buffer(s) still live in it`,
        { chunk: hex(base), buffers: c.buffers },
      );
    c.reclaimed = true;
  }

  /** The chunk at `base` is about to go back to the page allocator, and leaves the ledger. */
  chunkFreeing(base: number): void {
    const c = this.chunks.get(base);
    if (!c) return;
    if (c.buffers > 0)
      this.#report(
        `chunk ${hex(base)} (+${hex(c.size)}) is freed to the page allocator while ${c.buffers} buffer(s) still live in it`,
        { chunk: hex(base), buffers: c.buffers },
      );
    this.chunks.delete(base);
  }

  /** The chunk at `base` leaves the pool without being freed (its reclaim was refused: it stays lent). */
  chunkAbandoned(base: number): void {
    this.chunks.delete(base);
  }

  // ---- Buffers: the dma-heap says when one is handed out and when its release starts ----

  /** An allocation or free of this pool starts. */
  enter(): void {
    this.busy++;
  }

  /** The pool handed out a buffer made of `sgl`. */
  bufferLive(sgl: readonly Sg[]): void {
    this.buffers++;
    for (const sg of sgl) {
      this.bytes += pageRounded(sg.length);
      const c = this.chunkOf(sg.pa, sg.length);
      if (!c || c.reclaimed)
        this.#report(
          `a buffer at ${hex(sg.pa)} (+${hex(sg.length)}) is handed out from ${c ? `chunk ${hex(c.base)}, already reclaimed` : "memory in no chunk of the pool"}`,
          { address: hex(sg.pa) },
        );
      if (c) c.buffers++;
    }
  }

  /** The buffer made of `sgl` is released (its last reference went): it lives no more. */
  bufferDead(sgl: readonly Sg[]): void {
    this.buffers--;
    for (const sg of sgl) {
      this.bytes -= pageRounded(sg.length);
      const c = this.chunkOf(sg.pa, sg.length);
      if (c && c.buffers > 0) c.buffers--;
    }
  }

  /**
   * The allocation or free that entered has returned; when none is left in flight, the pool is
   * quiescent and its own count (`count`, null when it keeps none) must equal the live buffers.
   */
  leave(count: number | null): void {
    this.busy--;
    if (this.busy === 0) this.checkCount(count);
  }

  /**
   * Compares the pool's own count with the live buffers. Called at quiescent points: when no
   * allocation or free is in flight, and at the end of the run, once every process has exited (an
   * operation a killed or forever-blocked task left unfinished never ends: what it holds then, it holds
   * for good, as in the real kernel).
   */
  checkCount(count: number | null): void {
    if (count === null) return;
    const live = this.unit === "bytes" ? this.bytes : this.buffers;
    if (count === live) {
      this.disagrees = false;
      return;
    }
    if (this.disagrees) return;
    this.disagrees = true;
    const shown = count === REFCOUNT_SATURATED ? `saturated (${count})` : String(count);
    const alive =
      this.unit === "bytes"
        ? `${this.bytes} bytes in ${this.buffers} live buffer(s)`
        : `${this.buffers} live buffer(s)`;
    this.#report(`${this.countName} is ${shown} with ${alive}`, {
      count,
      buffers: this.buffers,
      bytes: this.bytes,
    });
  }
}
