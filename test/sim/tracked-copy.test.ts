/**
 * A snapshot's copy of a tracked array (sim/tracked_copy.ts): kept block by block, a block of one
 * repeated word as the word. Writing back the blocks written since must give back the array exactly,
 * whatever its element type and elements per frame, and the copy must not be DRAM-sized when the
 * array is mostly one value.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { FrameArray } from "../../src/sim/dirty.ts";
import { TrackedCopy } from "../../src/sim/tracked_copy.ts";

const BLOCK_SHIFT = 9;

const TYPES = [Uint8Array, Int8Array, Uint16Array, Int32Array] as const;

function make(type: number, frames: number, shift: number): FrameArray {
  return new TYPES[type](Math.ceil(frames / 2 ** shift));
}

describe("TrackedCopy", () => {
  it("gives back exactly the array it copied, from the blocks written since or whole", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 1, max: 20_000 }),
        fc.array(fc.record({ at: fc.nat(), n: fc.integer({ min: 1, max: 3000 }), v: fc.integer() }), {
          maxLength: 8,
        }),
        fc.array(fc.record({ at: fc.nat(), v: fc.integer() }), { maxLength: 30 }),
        (type, shift, frames, fills, pokes) => {
          const arr = make(type, frames, shift);
          // A booted state: runs of one value (words repeated), and single elements that break them.
          for (const f of fills) arr.fill(f.v, f.at % arr.length, (f.at % arr.length) + f.n);
          for (const p of pokes) arr[p.at % arr.length] = p.v;
          const before = arr.slice();
          const copy = new TrackedCopy(arr, shift, BLOCK_SHIFT);
          expect([...copy.saved()]).toEqual([...new Uint8Array(before.buffer)]);
          // A run writes some elements; the blocks they stand for are the dirty ones.
          const dirty = new Set<number>();
          for (const p of pokes) {
            const e = (p.at * 7) % arr.length;
            arr[e] = p.v ^ 0x55;
            dirty.add((e * 2 ** shift) >> BLOCK_SHIFT);
          }
          copy.restoreBlocks(Int32Array.from([...dirty].sort((a, b) => a - b)));
          expect([...arr]).toEqual([...before]);
          arr.fill(3);
          copy.restoreAll();
          expect([...arr]).toEqual([...before]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps a block of one repeated word as the word: a mostly uniform array costs a word a block", () => {
    const frames = 1 << 20; // 4 GiB of 4 KiB pages
    const arr = new Uint8Array(frames).fill(2);
    // A buddy-like head marker every 4 MiB: those blocks are copied, the rest are words.
    for (let i = 0; i < frames; i += 1024) arr[i] = 10;
    const copy = new TrackedCopy(arr, 0, BLOCK_SHIFT);
    const blocks = frames >> BLOCK_SHIFT;
    expect(copy.bytes).toBe((blocks / 2) * 512 + 8 * blocks);
    const ints = new Int32Array(frames >> 4).fill(-1);
    expect(new TrackedCopy(ints, 4, BLOCK_SHIFT).bytes).toBe(8 * blocks);
  });
});
