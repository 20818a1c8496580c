/**
 * The fuzzer's calls as data: an FF-A call from a named endpoint (x0..x7 and the bytes its driver puts
 * in its TX page first), with an optional reference to a handle an earlier call returned — patched in
 * when the case runs, because each flavor hands out its own handle values (Hafnium: the share-state
 * index, ffa_memory_handle_make(); OP-TEE: a cookie with FFA_MEMORY_HANDLE_NON_SECURE_BIT). And the
 * descriptor field maps the structure-aware mutations pick from (reference/ffa.md §3).
 */
import type { FfaVersion } from "../../abi/ffa/index.ts";
import {
  COMPOSITE_SIZE,
  CONSTITUENT_SIZE,
  emadArrayOffset,
  emadSize,
  mtdHeaderSize,
} from "../../abi/ffa/layout.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { FuzzCaller } from "./rig.ts";

/**
 * Where a referenced handle is written: w1/w2 (FRAG_TX, FRAG_RX, RECLAIM), w4/w5 (the cookie of
 * OP-TEE's UNREGISTER_SHM, RELEASE_PROTMEM and YIELDING_CALL_WITH_ARG: optee_ffa.h), a descriptor's
 * offset 8 or 0.
 */
export type HandleAt = "w1" | "w4" | "tx8" | "tx0";

/**
 * Where each HandleAt puts the 64-bit handle: two registers from `reg` (its low word, then its high
 * word), or the TX bytes from offset `tx` (8 of them, when the TX holds them). patchHandle(), the runner,
 * the corpus and the mutations' words all read it here.
 */
export const HANDLE_SLOT: Readonly<Record<HandleAt, { readonly reg: number } | { readonly tx: number }>> = {
  w1: { reg: 1 },
  w4: { reg: 4 },
  tx8: { tx: 8 },
  tx0: { tx: 0 },
};

/** The register a call's `offsetFrom` fills: x3 = w2 (the fragment length) of the retrieve response. */
export const OFFSET_REG = 3;

export interface HandleRef {
  /** Index, in the whole sequence (setup calls first), of the call whose reply carried the handle. */
  readonly from: number;
  /** XORed into it (stale/foreign/neighbour handles); 0 for the handle itself. */
  readonly xor: bigint;
  readonly at: HandleAt;
}

export interface FuzzCall {
  readonly by: FuzzCaller;
  /** x0..x7. */
  readonly x: readonly bigint[];
  readonly tx: Uint8Array | null;
  readonly handle: HandleRef | null;
  /**
   * FFA_MEM_FRAG_RX's offset: x3 is set to w2 (the fragment length) of this earlier call's
   * FFA_MEM_RETRIEVE_RESP — the bytes of the response received so far.
   */
  readonly offsetFrom?: number;
  /** A setup call only one flavor makes (the other flavor skips it). */
  readonly only?: SpmcFlavorName;
  /**
   * Not an FF-A call but an event of OP-TEE's core on the object whose cookie `handle` names
   * (gen.ts opteeEvent()): mobj_ffa_get_by_cookie(), mobj_put() or mobj_ffa_unregister_by_cookie().
   */
  readonly internal?: "mobj-get" | "mobj-put" | "mobj-unregister";
  /**
   * An optee_msg_arg the normal world's driver writes into memory it shares with OP-TEE before the call
   * (a YIELDING_CALL_WITH_ARG's message, Linux optee_ffa_do_call_with_arg()): `bytes` at physical
   * address `pa`, with the handle of call `cookie.from` (XOR `cookie.xor`) as the u64 at byte `cookie.off`
   * (ASSIGN_PROTMEM's params[0].u.value.a).
   */
  readonly shm?: {
    readonly pa: number;
    readonly bytes: Uint8Array;
    readonly cookie: { readonly from: number; readonly xor: bigint; readonly off: number } | null;
  };
}

/** A named field of a descriptor: offset and width in bytes. */
export interface Field {
  readonly name: string;
  readonly off: number;
  readonly size: 1 | 2 | 4 | 8;
  /** What kind of value it holds: picks the interesting values to try. */
  readonly kind:
    "id" | "count" | "offset" | "flags" | "address" | "pages" | "handle" | "reserved" | "perm" | "tag";
}

const fieldMaps = new Map<string, readonly Field[]>();

/**
 * The fields of a memory transaction descriptor of `emads` EMADs and `constituents` constituents
 * (the first 16 constituents: enough to aim at, few enough to draw from quickly). Memoized.
 */
export function mtdFields(version: FfaVersion, emads: number, constituents: number | null): readonly Field[] {
  const key = `${version}/${emads}/${constituents}`;
  let f = fieldMaps.get(key);
  if (!f)
    fieldMaps.set(
      key,
      (f = buildMtdFields(version, emads, constituents === null ? null : Math.min(16, constituents))),
    );
  return f;
}

function buildMtdFields(version: FfaVersion, emads: number, constituents: number | null): Field[] {
  const v10 = version === "1.0";
  const f: Field[] = [
    { name: "sender_id", off: 0, size: 2, kind: "id" },
    v10
      ? { name: "attributes", off: 2, size: 1, kind: "flags" }
      : { name: "attributes", off: 2, size: 2, kind: "flags" },
    { name: "flags", off: 4, size: 4, kind: "flags" },
    { name: "handle", off: 8, size: 8, kind: "handle" },
    { name: "tag", off: 16, size: 8, kind: "tag" },
    { name: "emad_count", off: 28, size: 4, kind: "count" },
  ];
  if (v10) {
    f.push({ name: "reserved_0", off: 3, size: 1, kind: "reserved" });
    f.push({ name: "reserved_1", off: 24, size: 4, kind: "reserved" });
  } else {
    f.push({ name: "emad_size", off: 24, size: 4, kind: "count" });
    f.push({ name: "emad_offset", off: 32, size: 4, kind: "offset" });
    for (let i = 0; i < 3; i++)
      f.push({ name: `reserved[${i}]`, off: 36 + 4 * i, size: 4, kind: "reserved" });
  }
  const eo = emadArrayOffset(version);
  const es = emadSize(version);
  for (let i = 0; i < emads; i++) {
    const b = eo + i * es;
    f.push({ name: `emad[${i}].receiver_id`, off: b, size: 2, kind: "id" });
    f.push({ name: `emad[${i}].permissions`, off: b + 2, size: 1, kind: "perm" });
    f.push({ name: `emad[${i}].flags`, off: b + 3, size: 1, kind: "flags" });
    f.push({ name: `emad[${i}].composite_offset`, off: b + 4, size: 4, kind: "offset" });
    if (version === "1.2") {
      f.push({ name: `emad[${i}].impdef[0]`, off: b + 8, size: 8, kind: "reserved" });
      f.push({ name: `emad[${i}].reserved`, off: b + 24, size: 8, kind: "reserved" });
    } else f.push({ name: `emad[${i}].reserved`, off: b + 8, size: 8, kind: "reserved" });
  }
  if (constituents !== null) {
    const c = mtdHeaderSize(version) + emads * es;
    f.push({ name: "composite.total_page_count", off: c, size: 4, kind: "pages" });
    f.push({ name: "composite.address_range_count", off: c + 4, size: 4, kind: "count" });
    f.push({ name: "composite.reserved", off: c + 8, size: 8, kind: "reserved" });
    for (let j = 0; j < constituents; j++) {
      const b = c + COMPOSITE_SIZE + j * CONSTITUENT_SIZE;
      f.push({ name: `constituent[${j}].address`, off: b, size: 8, kind: "address" });
      f.push({ name: `constituent[${j}].page_count`, off: b + 8, size: 4, kind: "pages" });
      f.push({ name: `constituent[${j}].reserved`, off: b + 12, size: 4, kind: "reserved" });
    }
  }
  return f;
}

/** The fields of a run of constituents on their own (a FRAG_TX fragment), the first 16 of them. Memoized. */
export function constituentFields(count: number): readonly Field[] {
  const n = Math.min(16, count);
  let f = fragmentMaps.get(n);
  if (!f) fragmentMaps.set(n, (f = buildConstituentFields(n)));
  return f;
}

const fragmentMaps = new Map<number, readonly Field[]>();

function buildConstituentFields(count: number, prefix = 0): Field[] {
  const f: Field[] = [];
  for (let j = 0; j < count; j++) {
    const b = j * CONSTITUENT_SIZE;
    f.push({ name: `constituent[${prefix + j}].address`, off: b, size: 8, kind: "address" });
    f.push({ name: `constituent[${prefix + j}].page_count`, off: b + 8, size: 4, kind: "pages" });
    f.push({ name: `constituent[${prefix + j}].reserved`, off: b + 12, size: 4, kind: "reserved" });
  }
  return f;
}

/** The fields of a relinquish descriptor (reference/ffa.md §3.6). */
export const RELINQUISH_FIELDS: readonly Field[] = [
  { name: "handle", off: 0, size: 8, kind: "handle" },
  { name: "flags", off: 8, size: 4, kind: "flags" },
  { name: "endpoint_count", off: 12, size: 4, kind: "count" },
  { name: "endpoints[0]", off: 16, size: 2, kind: "id" },
];

/** Reads a field's value. */
export function readField(bytes: Uint8Array, f: Field): bigint {
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (f.off + f.size > bytes.length) return 0n;
  if (f.size === 1) return BigInt(d.getUint8(f.off));
  if (f.size === 2) return BigInt(d.getUint16(f.off, true));
  if (f.size === 4) return BigInt(d.getUint32(f.off, true));
  return d.getBigUint64(f.off, true);
}

/** Writes a field's value (truncated to its width); nothing when the field lies past the end. */
export function writeField(bytes: Uint8Array, f: Field, v: bigint): void {
  if (f.off + f.size > bytes.length) return;
  const d = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const x = BigInt.asUintN(f.size * 8, v);
  if (f.size === 1) d.setUint8(f.off, Number(x));
  else if (f.size === 2) d.setUint16(f.off, Number(x), true);
  else if (f.size === 4) d.setUint32(f.off, Number(x), true);
  else d.setBigUint64(f.off, x, true);
}

/** x0..x7 from numbers. */
export function regs(...v: (number | bigint)[]): bigint[] {
  const x = new Array<bigint>(8).fill(0n);
  for (let i = 0; i < v.length; i++) x[i] = BigInt.asUintN(64, BigInt(v[i]));
  return x;
}
