/**
 * Byte contents of DRAM, only where someone wrote bytes: a sparse page map, copy-on-write from one
 * shared zero page. RX/TX buffers, descriptors and test data live here; bulk data is tracked by taint.
 */
import { PAGE_SIZE } from "./platform.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

const ZERO_PAGE = new Uint8Array(PAGE_SIZE);

export class PageStore implements Snapshottable {
  readonly #pages = new Map<number, Uint8Array>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { pages: this.#pages };
  }

  /** Pages that hold bytes of their own. */
  get materialized(): number {
    return this.#pages.size;
  }

  #page(pfn: number, forWrite: boolean): Uint8Array {
    let p = this.#pages.get(pfn);
    if (!p) {
      if (!forWrite) return ZERO_PAGE;
      p = new Uint8Array(PAGE_SIZE);
      this.#pages.set(pfn, p);
    }
    return p;
  }

  read(pa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const a = pa + done;
      const pfn = Math.floor(a / PAGE_SIZE);
      const off = a - pfn * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, length - done);
      const p = this.#pages.get(pfn);
      if (p) out.set(p.subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  write(pa: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const a = pa + done;
      const pfn = Math.floor(a / PAGE_SIZE);
      const off = a - pfn * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      this.#page(pfn, true).set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  /** Zeroes whole pages [pfn, pfn + count): they go back to the shared zero page. */
  zeroPages(pfn: number, count: number): void {
    if (this.#pages.size === 0) return;
    if (count < this.#pages.size) {
      for (let i = 0; i < count; i++) this.#pages.delete(pfn + i);
    } else {
      for (const k of [...this.#pages.keys()]) if (k >= pfn && k < pfn + count) this.#pages.delete(k);
    }
  }

  /** Copies a whole page's bytes (migration); a zero source leaves a zero destination. */
  copyPage(srcPfn: number, dstPfn: number): void {
    const src = this.#pages.get(srcPfn);
    if (src) this.#pages.set(dstPfn, src.slice());
    else this.#pages.delete(dstPfn);
  }
}
