/**
 * The set of state hashes an exploration has met (state_hash.ts: 53-bit numbers). A JS Set of such
 * numbers boxes each one and rehashes as it grows, and a search meets hundreds of thousands: this is
 * an open-addressing table over two 32-bit lanes in typed arrays (linear probing, doubled at half
 * full), so adding a state allocates nothing but the occasional doubling.
 */
export class StateSet {
  #hi = new Uint32Array(1 << 12);
  #lo = new Uint32Array(1 << 12);
  /** Slot taken (lanes may be 0). */
  #used = new Uint8Array(1 << 12);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(h: number): boolean {
    return this.#find(h) >= 0;
  }

  /** Adds `h`; whether it was new. */
  add(h: number): boolean {
    const i = this.#find(h);
    if (i >= 0) return false;
    this.#put(-i - 1, h);
    if (++this.#size * 2 > this.#used.length) this.#grow();
    return true;
  }

  /** The slot holding h (≥ 0), or −(the free slot it would go in) − 1. */
  #find(h: number): number {
    const hi = Math.floor(h / 0x100000000) >>> 0;
    const lo = h >>> 0;
    const mask = this.#used.length - 1;
    let i = (Math.imul(lo ^ hi, 0x9e3779b1) >>> 0) & mask;
    for (;;) {
      if (this.#used[i] === 0) return -i - 1;
      if (this.#lo[i] === lo && this.#hi[i] === hi) return i;
      i = (i + 1) & mask;
    }
  }

  #put(i: number, h: number): void {
    this.#used[i] = 1;
    this.#hi[i] = Math.floor(h / 0x100000000) >>> 0;
    this.#lo[i] = h >>> 0;
  }

  /** Every hash in the set, in slot order (to send to another thread). */
  values(): Float64Array {
    const out = new Float64Array(this.#size);
    let n = 0;
    for (let i = 0; i < this.#used.length; i++)
      if (this.#used[i] !== 0) out[n++] = this.#hi[i] * 0x100000000 + this.#lo[i];
    return out;
  }

  /** Adds every hash of `hs`. */
  addAll(hs: Float64Array): void {
    for (let i = 0; i < hs.length; i++) this.add(hs[i]);
  }

  #grow(): void {
    const { length } = this.#used;
    const hi = this.#hi;
    const lo = this.#lo;
    const used = this.#used;
    this.#hi = new Uint32Array(length * 2);
    this.#lo = new Uint32Array(length * 2);
    this.#used = new Uint8Array(length * 2);
    for (let i = 0; i < length; i++) {
      if (used[i] === 0) continue;
      const h = hi[i] * 0x100000000 + lo[i];
      this.#put(-this.#find(h) - 1, h);
    }
  }
}
