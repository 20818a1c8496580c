/**
 * A snapshot's copy of one frame-indexed array under a DirtyBlocks tracker (sim/dirty.ts), kept unit by
 * unit: a unit is a dirty block's elements (or one element, when an element stands for more than a
 * block). A unit whose bytes repeat one 32-bit word — most of DRAM at boot: free pages, owned by the
 * normal world, untainted, mapped by blocks — is kept as that word; only the others are copied. A
 * whole copy was DRAM-sized: 33 bytes a page over the tracked arrays, 550 MB for a 64 GiB board and 9 GB
 * for 1 TiB, and it made every page of them resident (a run leaves most of them zero pages, never
 * written). The restore writes back the units of the blocks a run wrote, from the word or the copy.
 */
import { assert } from "./assert.ts";
import type { FrameArray } from "./dirty.ts";

/** Bytes a unit must exceed to be written with set()/fill() rather than a loop (a call costs more). */
const SHORT = 16;

/** Views of the copy over one unit each, kept at most (made when first written back). */
const UNIT_VIEWS = 256;

export class TrackedCopy {
  /** The array's bytes, and its whole words (the bytes past the last whole word are never a word unit). */
  readonly #live8: Uint8Array;
  readonly #live32: Int32Array;
  /** Bytes of a unit, and dirty blocks a unit spans as a power of two (0: a unit a block or less). */
  readonly #unitBytes: number;
  readonly #blocksPerUnitLog: number;
  /** Per unit: the offset of its bytes in #copy, or −1 when it is #word[u] repeated. */
  readonly #offset: Int32Array;
  readonly #word: Int32Array;
  readonly #copy: Uint8Array;
  readonly #views = new Map<number, Uint8Array>();
  /** Bytes this copy keeps (copied units, and a word and an offset a unit). */
  readonly bytes: number;
  /** Bytes per element, and an element per 2^shift frames. */
  readonly width: number;
  readonly shift: number;

  constructor(arr: FrameArray, shift: number, blockShift: number) {
    const width = arr.BYTES_PER_ELEMENT;
    this.width = width;
    this.shift = shift;
    this.#live8 = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    assert(arr.byteOffset % 4 === 0, "a tracked array starts on a word");
    this.#live32 = new Int32Array(arr.buffer, arr.byteOffset, arr.byteLength >> 2);
    const elementsPerUnit = 2 ** Math.max(0, blockShift - shift);
    this.#blocksPerUnitLog = Math.max(0, shift - blockShift);
    const unitBytes = elementsPerUnit * width;
    this.#unitBytes = unitBytes;
    const units = Math.ceil(arr.byteLength / unitBytes);
    this.#offset = new Int32Array(units);
    this.#word = new Int32Array(units);
    const live8 = this.#live8;
    const live32 = this.#live32;
    // A unit can be a word when it is whole words (4 bytes or more, from a word boundary).
    const words = unitBytes >= 4 && unitBytes % 4 === 0;
    let copied = 0;
    for (let u = 0; u < units; u++) {
      const b0 = u * unitBytes;
      const b1 = Math.min(live8.length, b0 + unitBytes);
      if (
        words &&
        b1 - b0 === unitBytes &&
        b1 <= live32.length * 4 &&
        wordRepeated(live32, b0 >> 2, b1 >> 2)
      ) {
        this.#offset[u] = -1;
        this.#word[u] = live32[b0 >> 2];
      } else {
        this.#offset[u] = copied;
        copied += b1 - b0;
      }
    }
    this.#copy = new Uint8Array(copied);
    for (let u = 0; u < units; u++) {
      const off = this.#offset[u];
      if (off < 0) continue;
      const b0 = u * unitBytes;
      const b1 = Math.min(live8.length, b0 + unitBytes);
      this.#copy.set(live8.subarray(b0, b1), off);
    }
    this.bytes = copied + 8 * units;
  }

  /** Writes back the units of dirty blocks `blocks` (ascending). */
  restoreBlocks(blocks: Int32Array): void {
    const log = this.#blocksPerUnitLog;
    let prev = -1;
    for (let k = 0; k < blocks.length; k++) {
      const u = blocks[k] >> log;
      if (u === prev) continue; // a unit spanning several blocks, once
      prev = u;
      this.#restoreUnit(u);
    }
  }

  /** Writes back every unit. */
  restoreAll(): void {
    for (let u = 0; u < this.#offset.length; u++) this.#restoreUnit(u);
  }

  #restoreUnit(u: number): void {
    const b0 = u * this.#unitBytes;
    const off = this.#offset[u];
    if (off < 0) {
      const w0 = b0 >> 2;
      const w1 = w0 + (this.#unitBytes >> 2);
      const live32 = this.#live32;
      const w = this.#word[u];
      if (this.#unitBytes <= SHORT) for (let j = w0; j < w1; j++) live32[j] = w;
      else live32.fill(w, w0, w1);
      return;
    }
    const live8 = this.#live8;
    const b1 = Math.min(live8.length, b0 + this.#unitBytes);
    const copy = this.#copy;
    if (b1 - b0 <= SHORT) {
      for (let j = b0; j < b1; j++) live8[j] = copy[off + j - b0];
      return;
    }
    let v = this.#views.get(u);
    if (v === undefined) {
      v = copy.subarray(off, off + (b1 - b0));
      if (this.#views.size < UNIT_VIEWS) this.#views.set(u, v);
    }
    live8.set(v, b0);
  }

  /** The array's bytes as they were copied, whole (for checks: untouchedWrites(); O(the array)). */
  saved(): Uint8Array {
    const out = new Uint8Array(this.#live8.length);
    const out32 = new Int32Array(out.buffer, 0, out.length >> 2);
    for (let u = 0; u < this.#offset.length; u++) {
      const b0 = u * this.#unitBytes;
      const b1 = Math.min(out.length, b0 + this.#unitBytes);
      const off = this.#offset[u];
      if (off >= 0) out.set(this.#copy.subarray(off, off + (b1 - b0)), b0);
      else out32.fill(this.#word[u], b0 >> 2, b1 >> 2);
    }
    return out;
  }

  /** The live array's bytes (for checks). */
  get live(): Uint8Array {
    return this.#live8;
  }
}

/** Whether words [w0, w1) all equal the first. */
function wordRepeated(a: Int32Array, w0: number, w1: number): boolean {
  const w = a[w0];
  for (let j = w0 + 1; j < w1; j++) if (a[j] !== w) return false;
  return true;
}
