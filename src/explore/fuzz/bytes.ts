/**
 * Byte arrays for the fuzzer's descriptors, carved from shared buffers. A case copies a descriptor or
 * two (a template to fill, a copy to mutate, a copy with a handle patched in), and a Uint8Array of more
 * than 64 bytes gets its own off-heap backing store in V8, whose allocation and collection cost more
 * than the rest of the case's generation: so they are views, packed into 64 KiB buffers as Node's
 * Buffer pool does. Each view is its own bytes (none overlaps another) and starts zeroed; read them
 * through byteOffset (a DataView over `.buffer` alone would see the whole buffer). A case's arrays
 * live only while it runs (a corpus keeps their hex), so a buffer is collected once its cases are.
 */
const SLAB_BYTES = 64 * 1024;
/** Larger arrays get their own buffer (a FRAG_TX of a few hundred constituents, a cut-off TX page). */
const OWN_ABOVE = 16 * 1024;

let slab = new ArrayBuffer(SLAB_BYTES);
let next = 0;

/** A zeroed byte array of `n` bytes. */
export function newBytes(n: number): Uint8Array {
  if (n > OWN_ABOVE) return new Uint8Array(n);
  if (next + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    next = 0;
  }
  const b = new Uint8Array(slab, next, n);
  // 8-byte aligned, as an allocator's would be.
  next += (n + 7) & ~7;
  return b;
}

/** A copy of `src`. */
export function copyBytes(src: Uint8Array): Uint8Array {
  const b = newBytes(src.length);
  b.set(src);
  return b;
}
