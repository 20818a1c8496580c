/**
 * State one module keeps per model object (the user space of a kernel, the slab caches of an mm), where
 * a WeakMap would hide it from snapshots (sim/snapshot.ts walks objects, and cannot list a WeakMap).
 * The value lives on the key itself, under a symbol of its own: not enumerable, invisible to JSON and
 * to other modules, but reachable from the key, so a snapshot records it, and a restore removes an
 * entry made after the snapshot.
 */
import { noteSymbolKeyAdded } from "./snapshot.ts";

export class SideTable<K extends object, V> {
  readonly #key: symbol;

  constructor(name = "side-table") {
    this.#key = Symbol(name);
  }

  get(k: K): V | undefined {
    return (k as Record<symbol, V | undefined>)[this.#key];
  }

  has(k: K): boolean {
    return Object.prototype.hasOwnProperty.call(k, this.#key);
  }

  set(k: K, v: V): this {
    if (!this.has(k)) noteSymbolKeyAdded(k);
    Object.defineProperty(k, this.#key, { value: v, writable: true, configurable: true, enumerable: false });
    return this;
  }
}
