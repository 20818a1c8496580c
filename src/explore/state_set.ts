/**
 * The set of state hashes an exploration has met (state_hash.ts: 53-bit numbers). A JS Set of such
 * numbers boxes each one and rehashes as it grows, and a search meets hundreds of thousands: this is
 * an open-addressing table in one Float64Array (a 53-bit integer is exact in a double; −1 marks a free
 * slot), linear probing, doubled at half full. One array, so a lookup costs one cache line however
 * large the table grows; adding a state allocates nothing but the occasional doubling.
 *
 * That cache line is a miss once the table outgrows the core's cache (a few hundred thousand states),
 * and a search meets millions: `note()` only queues a hash, and the queue goes into the table in one
 * tight loop whose probes do not depend on each other, so the CPU has many misses in flight at once
 * instead of stalling on each between two scheduling points. Every read of the set takes the queue in
 * first: what it answers is the same either way.
 */
const FREE = -1;
/** Hashes queued by note() before they go into the table (8 KiB: stays in L1 while it fills). */
const QUEUE = 1024;

export class StateSet {
  #slots = new Float64Array(1 << 12).fill(FREE);
  #size = 0;
  readonly #queue = new Float64Array(QUEUE);
  #queued = 0;

  get size(): number {
    this.#flush();
    return this.#size;
  }

  has(h: number): boolean {
    this.#flush();
    return this.#slots[this.#find(h)] === h;
  }

  /** Adds `h` (an integer in [0, 2^53)) when the set is next read, or its queue is full. */
  note(h: number): void {
    this.#queue[this.#queued++] = h;
    if (this.#queued === QUEUE) this.#flush();
  }

  #flush(): void {
    const n = this.#queued;
    if (n === 0) return;
    this.#queued = 0;
    const q = this.#queue;
    for (let i = 0; i < n; i++) this.#insert(q[i]);
  }

  /** Adds `h` (an integer in [0, 2^53)); whether it was new. */
  add(h: number): boolean {
    this.#flush();
    return this.#insert(h);
  }

  #insert(h: number): boolean {
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
    this.#flush();
    const out = new Float64Array(this.#size);
    let n = 0;
    for (const s of this.#slots) if (s !== FREE) out[n++] = s;
    return out;
  }

  /** Adds every hash of `hs`. */
  addAll(hs: Float64Array): void {
    this.#flush();
    for (let i = 0; i < hs.length; i++) this.#insert(hs[i]);
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(old.length * 2).fill(FREE);
    for (const s of old) if (s !== FREE) this.#slots[this.#find(s)] = s;
  }
}
