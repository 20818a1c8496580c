import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { anyInputArb, cleanInputArb, versionArb } from "./arbitraries.ts";
import { FFA_MEM_RETRIEVE_REQ_32, FFA_MEM_SHARE_64 } from "./func.ts";
import { describeDescriptor } from "./json.ts";
import { decodeMemRegion, encodeMemRegion } from "./mem_region.ts";
import type { Decoded, FfaProblem } from "./problem.ts";
import { decodeRelinquish, validateRelinquish } from "./relinquish.ts";
import { validateMemRegion } from "./validate.ts";
import type { FfaVersion } from "./version.ts";

/**
 * Decode must return, never throw (a throw fails the property), and an error must name a field and
 * point inside the buffer (or at 0 for an empty one). Plain checks, not expect(): this runs per byte.
 */
function checkTotal<T>(bytes: Uint8Array, decode: () => Decoded<T>): Decoded<T> {
  const d = decode();
  if (!d.ok) {
    const e = d.error;
    const inside = e.offset >= 0 && e.offset <= Math.max(0, bytes.length - 1);
    if (e.field === "" || e.why === "" || e.rule === "" || !inside)
      throw new Error(`bad decode error ${JSON.stringify(e)}`);
  }
  return d;
}

/** Every problem points inside the buffer and names its rule. */
function checkProblems(problems: FfaProblem[], length: number): void {
  for (const p of problems) {
    if (p.offset < 0 || p.offset >= length || p.rule === "" || p.field === "") {
      throw new Error(`bad problem ${JSON.stringify(p)} for a ${length}-byte buffer`);
    }
  }
}

function decodeAndValidate(bytes: Uint8Array, version: FfaVersion): void {
  const d = checkTotal(bytes, () => decodeMemRegion(bytes, version));
  if (d.ok) {
    for (const func of [undefined, FFA_MEM_SHARE_64, FFA_MEM_RETRIEVE_REQ_32]) {
      checkProblems(validateMemRegion(d.value, version, { func }), bytes.length);
    }
  }
}

/** Byte mutations of a valid encoding: random bytes overwritten, and a random u32 planted anywhere. */
const mutatedArb = fc
  .tuple(versionArb, cleanInputArb)
  .chain(([version, input]) => {
    const bytes = encodeMemRegion(input, version);
    return fc.tuple(
      fc.constant(version),
      fc.constant(bytes),
      fc.array(fc.tuple(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 0, max: 255 })), {
        maxLength: 8,
      }),
      fc.option(fc.tuple(fc.nat({ max: bytes.length - 4 }), fc.integer({ min: 0, max: 0xffff_ffff }))),
    );
  })
  .map(([version, bytes, edits, plant]) => {
    const b = bytes.slice();
    for (const [i, x] of edits) b[i] = x;
    if (plant !== null) new DataView(b.buffer).setUint32(plant[0], plant[1], true);
    return [version, b] as const;
  });

describe("decoding untrusted bytes never throws", () => {
  it("random byte strings, in every version", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), versionArb, (bytes, version) => {
        decodeAndValidate(bytes, version);
      }),
      { numRuns: 2000 },
    );
  });

  it("valid descriptors with bytes overwritten or a u32 planted at any offset", () => {
    fc.assert(
      fc.property(mutatedArb, ([version, bytes]) => {
        decodeAndValidate(bytes, version);
      }),
      { numRuns: 2000 },
    );
  });

  it("every truncation of a descriptor, and every version applied to another version's bytes", () => {
    fc.assert(
      fc.property(versionArb, anyInputArb("1.1"), (version, input) => {
        const bytes = encodeMemRegion(input, "1.1");
        for (let len = 0; len <= bytes.length; len++) decodeAndValidate(bytes.subarray(0, len), version);
      }),
      { numRuns: 100 },
    );
  });

  it("describeDescriptor gives JSON that survives stringify → parse, whatever the bytes", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          mutatedArb.map(([, b]) => b),
        ),
        versionArb,
        (bytes, version) => {
          const out = describeDescriptor(bytes, version);
          expect(JSON.parse(JSON.stringify(out))).toEqual(out);
          expect(Array.isArray(out.problems)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("relinquish descriptors: random bytes and truncations", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        for (let len = 0; len <= bytes.length; len++) {
          const b = bytes.subarray(0, len);
          const d = checkTotal(b, () => decodeRelinquish(b));
          if (d.ok) checkProblems(validateRelinquish(d.value), Math.max(b.length, 16));
        }
      }),
      { numRuns: 300 },
    );
  });
});
