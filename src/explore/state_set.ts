/**
 * The set of state hashes an exploration has met (state_hash.ts: 53-bit numbers). A JS Set of such
 * numbers boxes each one and rehashes as it grows, and a search meets hundreds of thousands: this is
 * an open-addressing table in one Float64Array (a 53-bit integer is exact in a double; −1 marks a free
 * slot), linear probing, doubled at half full. One array, so a lookup costs one cache line however
 * large the table grows; adding a state allocates nothing but the occasional doubling.
 */
const FREE = -1;

export class StateSet {
  #slots = new Float64Array(1 << 12).fill(FREE);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  has(h: number): boolean {
    return this.#slots[this.#find(h)] === h;
  }

  /** Adds `h` (an integer in [0, 2^53)); whether it was new. */
  add(h: number): boolean {
    const i = this.#find(h);
    if (this.#slots[i] === h) return false;
    this.#slots[i] = h;
    if (++this.#size * 2 > this.#slots.length) this.#grow();
    return true;
  }

  /** The slot holding h, or the free slot where it would go. */
  #find(h: number): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    const hi = Math.floor(h / 0x100000000);
    let i = (Math.imul((h >>> 0) ^ hi, 0x9e3779b1) >>> 0) & mask;
    for (;;) {
      const s = slots[i];
      if (s === h || s === FREE) return i;
      i = (i + 1) & mask;
    }
  }

  /** Every hash in the set, in slot order (to send to another thread). */
  values(): Float64Array {
    const out = new Float64Array(this.#size);
    let n = 0;
    for (const s of this.#slots) if (s !== FREE) out[n++] = s;
    return out;
  }

  /** Adds every hash of `hs`. */
  addAll(hs: Float64Array): void {
    for (let i = 0; i < hs.length; i++) this.add(hs[i]);
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(old.length * 2).fill(FREE);
    for (const s of old) if (s !== FREE) this.#slots[this.#find(s)] = s;
  }
}
