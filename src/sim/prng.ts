/**
 * Seeded pseudo-random numbers: one independent stream per named consumer.
 *
 * Each stream's seed is derived from (run seed, consumer name), so adding a consumer, or drawing more
 * numbers in one, never shifts the numbers another consumer sees. The generator is pure-rand's
 * xoroshiro128+ (the one fast-check uses); nothing in rstmem reads Math.random.
 */
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";
import { hiddenState, type Snapshottable } from "./snapshot.ts";

/** FNV-1a over a string, folded with a 32-bit seed: a stable, well-spread stream seed. */
function streamSeed(seed: number, name: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  h = Math.imul(h, 0x01000193);
  // The high half of a seed above 2^32 matters too.
  h ^= Math.floor(seed / 0x100000000) >>> 0;
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** One consumer's stream of numbers. */
export class RandomStream implements Snapshottable {
  readonly #gen: RandomGenerator;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { gen: this.#gen };
  }
  constructor(seed: number) {
    this.#gen = xoroshiro128plus(seed);
  }

  /** A uniform integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.#gen, from, to);
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    return this.#gen.next() >>> 0;
  }

  /** A uniform float in [0, 1) with 32 bits of resolution. */
  float(): number {
    return (this.#gen.next() >>> 0) / 0x100000000;
  }

  /** An exponentially distributed integer with the given mean (≥ 1): gaps of a Poisson process. */
  exponential(mean: number): number {
    const u = 1 - this.float(); // in (0, 1]
    return Math.max(1, Math.round(-Math.log(u) * mean));
  }

  /** One element, uniformly. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("pick from an empty list");
    return items[this.int(0, items.length - 1)];
  }
}

/** The run's random source: a seed and the streams handed out so far. */
export class Prng implements Snapshottable {
  readonly seed: number;
  readonly #streams = new Map<string, RandomStream>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { streams: this.#streams };
  }
  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0)
      throw new Error(`seed must be a non-negative integer, got ${seed}`);
    this.seed = seed;
  }

  /** The stream of a named consumer ("hw.speculation", "explorer", …); the same name gives the same stream. */
  stream(name: string): RandomStream {
    let s = this.#streams.get(name);
    if (!s) {
      s = new RandomStream(streamSeed(this.seed, name));
      this.#streams.set(name, s);
    }
    return s;
  }
}
