/**
 * Snapshot and restore of a booted system, in place (ARCHITECTURE.md §2: "every explored run starts
 * from a snapshot of the booted platform, not from a fresh boot").
 *
 * take() walks the object graph from a root once and records, for every object it reaches, what it
 * holds: an object's own properties, an array's items, a Map's entries, a Set's members, and the bytes
 * of every ArrayBuffer under a typed array or DataView. restore() writes all of it back into the same
 * objects, so every reference anyone holds — a closure registered at boot, a handler in the SMC
 * conduit, a mutex inside the pool — still points at the right object and sees its boot-time state.
 * Objects created during a run are simply dropped: nothing recorded points at them.
 *
 * What the walk cannot see, a class shows it (the `Snapshottable` interface): private `#fields` are
 * invisible to reflection, so a class with private state that changes at run time returns it from
 * `[hiddenState]()` and takes it back from `[hiddenState](saved)`. Generators cannot be copied: the
 * scheduler's tasks that exist at the snapshot must not have started, and are restarted from their
 * bodies on restore (Scheduler's hiddenState). Functions are leaves: state captured by a closure in a
 * mutable local is not restored, so the model keeps no such state (test/explore/snapshot.test.ts runs
 * restored systems against fresh boots, byte for byte, to hold every component to that).
 *
 * Frame-indexed arrays under a DirtyBlocks tracker (sim/dirty.ts: the page state in hw/frames.ts, the
 * buddy's lists, the cache's dirty lines) are copied back only in the blocks written since take() or
 * the last restore, and kept block by block, a block of one repeated word as that word
 * (sim/tracked_copy.ts): neither take() nor restore() costs what DRAM holds.
 *
 * Cost: restore() is O(objects reached at boot + bytes of untracked typed arrays + blocks the run
 * wrote), independent of DRAM's size otherwise.
 */
import { assert } from "./assert.ts";
import { DirtyBlocks, dirtyTrackerOf } from "./dirty.ts";
import { TrackedCopy } from "./tracked_copy.ts";

/** The symbol a class implements to show its private state to snapshots. */
export const hiddenState: unique symbol = Symbol("rstmem.hiddenState");

/**
 * Objects that were given a non-enumerable symbol key (sim/side_table.ts, the one writer of such
 * keys): a restore lists their own keys to delete what was added. Every other object is tested for an
 * added key by counting its for-in keys, which costs a tenth of listing them (Reflect.ownKeys allocates
 * an array per object per restore: it was most of a restore's cost). Sticky: an object once given such
 * a key is listed on every restore after.
 */
const givenSymbolKeys = new WeakSet<object>();
/**
 * Objects put in givenSymbolKeys so far: a snapshot asks the WeakSet about its objects again only when
 * this moved since it last asked (once warm, never: the same objects get the same keys run after run),
 * instead of once per object per restore.
 */
let symbolKeyObjects = 0;

/** Called by the writer of a new non-enumerable (symbol) key on an object. */
export function noteSymbolKeyAdded(o: object): void {
  if (givenSymbolKeys.has(o)) return;
  givenSymbolKeys.add(o);
  symbolKeyObjects++;
}

/** An object literal's (or Object.create(null)'s), not a class instance's. */
function isPlain(o: object): boolean {
  const proto = Object.getPrototypeOf(o) as object | null;
  return proto === Object.prototype || proto === null;
}

/** Keys a for-in loop visits (own and inherited enumerable string keys). */
function forInCount(o: object): number {
  let n = 0;
  for (const _ in o) n++;
  return n;
}

export interface Snapshottable {
  /**
   * Without an argument: the private state, as a record (containers by reference: the walk records
   * and restores their contents). With one: a record taken earlier, to assign back (primitives and
   * reassigned references; containers are already restored in place when it is called).
   */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown>;
}

/**
 * The stores of a restore, compiled at take() into straight-line code (compileStores()): one function
 * per slice of the recorded objects and arrays, in which every store names its own object and key, so
 * each store's inline cache sees exactly one object, of one shape. A restore assigns every recorded key
 * of every object and every item of every array, once per explored run; a loop shared by the arrays,
 * and an assigner shared by the objects with one key list, saw many shapes each. Measured on
 * pool-race's board, restored 20,000 times in a row: 13.7 µs a restore before, 10.3 µs compiled. In an
 * explored run most of what remains is the memory traffic of touching ~240 objects after the run has
 * moved the caches' contents elsewhere. Symbol keys (SideTable's) are stored by a loop.
 */
type Stores = (
  objects: readonly object[],
  saved: readonly (readonly unknown[])[],
  keys: readonly (readonly PropertyKey[])[],
) => void;

/** Statements per compiled function: well under what V8 optimizes (its bytecode size limit). */
const STORES_PER_FUNCTION = 2000;

/** Arrays longer than this get a loop of their own in the compiled code instead of one store an item. */
const UNROLLED_ITEMS = 16;

/** The compiled stores of `entries`' objects and arrays, as one function to call. */
function compileStores(entries: readonly Entry[]): () => void {
  const objects: object[] = [];
  const saved: (readonly unknown[])[] = [];
  const keys: (readonly PropertyKey[])[] = [];
  const fns: Stores[] = [];
  let body: string[] = [];
  const flush = (): void => {
    if (body.length === 0) return;
    fns.push(new Function("O", "S", "K", `"use strict"; let o, s;\n${body.join("\n")}`) as Stores);
    body = [];
  };
  for (const e of entries) {
    if (e.kind !== "object" && e.kind !== "array") continue;
    const i = objects.length;
    objects.push(e.live);
    saved.push(e.saved);
    keys.push(e.kind === "object" ? e.keys : []);
    body.push(`o = O[${i}]; s = S[${i}];`);
    if (e.kind === "array") {
      const n = e.saved.length;
      // Setting length is a runtime call even when it does not change.
      body.push(`if (o.length !== ${n}) o.length = ${n};`);
      if (n > UNROLLED_ITEMS) body.push(`for (let j = 0; j < ${n}; j++) o[j] = s[j];`);
      else for (let j = 0; j < n; j++) body.push(`o[${j}] = s[${j}];`);
    } else if (e.keys.every((k) => typeof k === "string")) {
      e.keys.forEach((k, j) => body.push(`o[${JSON.stringify(k)}] = s[${j}];`));
    } else {
      body.push(`for (let j = 0; j < s.length; j++) o[K[${i}][j]] = s[j];`);
    }
    if (body.length >= STORES_PER_FUNCTION) flush();
  }
  flush();
  return () => {
    for (const f of fns) f(objects, saved, keys);
  };
}

function isSnapshottable(o: object): o is Snapshottable {
  return typeof (o as Partial<Snapshottable>)[hiddenState] === "function";
}

/** One object's recorded contents. */
type Entry =
  | { readonly kind: "bytes"; readonly live: Uint8Array; readonly saved: Uint8Array }
  | { readonly kind: "array"; readonly live: unknown[]; readonly saved: unknown[] }
  | { readonly kind: "map"; readonly live: Map<unknown, unknown>; readonly saved: unknown[] }
  | { readonly kind: "set"; readonly live: Set<unknown>; readonly saved: unknown[] }
  | {
      readonly kind: "object";
      readonly live: Record<PropertyKey, unknown>;
      readonly keys: readonly PropertyKey[];
      readonly saved: unknown[];
      /** Own keys at take() (writable or not): a restore deletes keys added since. */
      readonly own: readonly PropertyKey[];
      /** Keys a for-in loop saw at take(): a cheap test for a string key added since. */
      readonly enumerable: number;
      /** Not a class instance (its prototype is Object.prototype or null): it may gain string keys. */
      readonly plain: boolean;
      /** In givenSymbolKeys, as of the snapshot's last look (Snapshot.#symbolKeyObjects). */
      symbolKeys: boolean;
    }
  | {
      readonly kind: "tracked";
      readonly tracker: DirtyBlocks;
      /** The tracker's mark at take() (or at the last full restore): blocks written since differ. */
      mark: number;
      readonly stamps: Uint32Array;
      readonly saved: TrackedCopy[];
    };

/** A Snapshottable's private state, as it returned it at take(). */
interface HiddenEntry {
  readonly owner: Snapshottable;
  readonly saved: Record<string, unknown>;
}

export interface SnapshotStats {
  /** Objects, arrays, Maps and Sets recorded. */
  readonly objects: number;
  /** Bytes of typed-array memory copied back on each restore. */
  readonly bytes: number;
}

export class Snapshot {
  readonly #entries: Entry[];
  readonly #hidden: HiddenEntry[];
  /** Stores every recorded key of every object and item of every array back (compileStores()). */
  readonly #stores: () => void;
  readonly stats: SnapshotStats;
  /** symbolKeyObjects when the entries' symbolKeys were last read from givenSymbolKeys. */
  #symbolKeyObjects = -1;

  private constructor(entries: Entry[], hidden: HiddenEntry[], stats: SnapshotStats) {
    this.#entries = entries;
    this.#hidden = hidden;
    this.#stores = compileStores(entries);
    this.stats = stats;
  }

  /**
   * Records everything reachable from `root`. `skip` lists objects that never change after boot (and
   * need no copy): they are neither recorded nor walked.
   */
  static take(root: object, opts: { skip?: readonly object[] } = {}): Snapshot {
    const seen = new Set<object>(opts.skip ?? []);
    const buffers = new Set<ArrayBufferLike>();
    const entries: Entry[] = [];
    const hidden: HiddenEntry[] = [];
    let bytes = 0;
    const stack: unknown[] = [root];
    const push = (v: unknown): void => {
      if (v !== null && (typeof v === "object" || typeof v === "function") && !seen.has(v)) stack.push(v);
    };
    while (stack.length > 0) {
      const o = stack.pop() as object;
      if (seen.has(o)) continue;
      seen.add(o);
      if (typeof o === "function") continue; // a leaf: see the file comment
      if (o instanceof DirtyBlocks) {
        const saved = o.arrays.map((a, k) => {
          buffers.add(a.buffer);
          const copy = new TrackedCopy(a, o.shifts[k], o.blockShift);
          bytes += copy.bytes;
          return copy;
        });
        entries.push({ kind: "tracked", tracker: o, mark: o.snapshotMark(), stamps: o.stamp.slice(), saved });
        continue;
      }
      if (ArrayBuffer.isView(o)) {
        const buf = o.buffer;
        const tracker = dirtyTrackerOf(buf);
        if (tracker !== undefined) {
          push(tracker);
          continue;
        }
        if (!buffers.has(buf)) {
          buffers.add(buf);
          const live = new Uint8Array(buf);
          entries.push({ kind: "bytes", live, saved: live.slice() });
          bytes += live.byteLength;
        }
        continue;
      }
      if (o instanceof ArrayBuffer) {
        if (!buffers.has(o)) {
          buffers.add(o);
          const live = new Uint8Array(o);
          entries.push({ kind: "bytes", live, saved: live.slice() });
          bytes += live.byteLength;
        }
        continue;
      }
      assert(
        !(o instanceof WeakMap || o instanceof WeakSet || o instanceof WeakRef),
        "a WeakMap/WeakSet/WeakRef cannot be snapshotted: use a Map/Set",
      );
      if (Object.prototype.toString.call(o) === "[object Generator]") continue; // the scheduler restarts tasks
      if (Array.isArray(o)) {
        const saved = o.slice();
        entries.push({ kind: "array", live: o, saved });
        for (const v of saved) push(v);
      } else if (o instanceof Map) {
        const saved: unknown[] = [];
        for (const [k, v] of o) {
          saved.push(k, v);
          push(k);
          push(v);
        }
        entries.push({ kind: "map", live: o, saved });
      } else if (o instanceof Set) {
        const saved = [...o];
        entries.push({ kind: "set", live: o, saved });
        for (const v of saved) push(v);
      }
      if (isSnapshottable(o)) {
        const saved = o[hiddenState]();
        hidden.push({ owner: o, saved });
        for (const v of Object.values(saved)) push(v);
      }
      if (Array.isArray(o) || o instanceof Map || o instanceof Set) continue;
      if (Object.isFrozen(o)) {
        for (const k of Reflect.ownKeys(o)) push((o as Record<PropertyKey, unknown>)[k]);
        continue;
      }
      const keys: PropertyKey[] = [];
      const saved: unknown[] = [];
      const own = Reflect.ownKeys(o);
      for (const k of own) {
        const d = Object.getOwnPropertyDescriptor(o, k)!;
        if (!("value" in d)) continue; // an own accessor: state lives behind it, in fields the walk sees
        push(d.value);
        if (!d.writable) continue;
        keys.push(k);
        saved.push(d.value);
      }
      entries.push({
        kind: "object",
        live: o as Record<PropertyKey, unknown>,
        keys,
        saved,
        own,
        enumerable: forInCount(o),
        plain: isPlain(o),
        symbolKeys: false,
      });
    }
    return new Snapshot(entries, hidden, { objects: entries.length, bytes });
  }

  /**
   * Frames of tracked arrays (sim/dirty.ts) that differ from take() in a block no writer touched since:
   * writes a restore would miss. Empty when every writer touches what it writes; for tests, O(DRAM).
   */
  untouchedWrites(): { array: number; frame: number }[] {
    const out: { array: number; frame: number }[] = [];
    for (const e of this.#entries) {
      if (e.kind !== "tracked" || !e.tracker.valid(e.mark)) continue;
      const t = e.tracker;
      e.saved.forEach((c, array) => {
        const live = c.live;
        const saved = c.saved();
        for (let j = 0; j < live.length; j++) {
          const frame = Math.floor(j / c.width) * 2 ** c.shift;
          if (live[j] === saved[j]) continue;
          // An element standing for more than a block is covered by a touch of any of them.
          const last = Math.min(t.frames, frame + 2 ** c.shift) - 1;
          let touched = false;
          for (let b = frame >> t.blockShift; b <= last >> t.blockShift; b++)
            touched ||= t.stamp[b] >= e.mark;
          if (!touched) {
            out.push({ array, frame });
            j = (Math.floor(j / c.width) + 1) * c.width - 1;
          }
        }
      });
    }
    return out;
  }

  /** Puts every recorded object back as it was at take(). */
  restore(): void {
    if (this.#symbolKeyObjects !== symbolKeyObjects) {
      for (const e of this.#entries) if (e.kind === "object") e.symbolKeys = givenSymbolKeys.has(e.live);
      this.#symbolKeyObjects = symbolKeyObjects;
    }
    this.#stores();
    for (const e of this.#entries) {
      switch (e.kind) {
        case "bytes":
          e.live.set(e.saved);
          break;
        case "tracked":
          restoreTracked(e);
          break;
        case "map": {
          const m = e.live;
          const s = e.saved;
          // clear() allocates a new table even for an empty Map: most a run reaches stay empty.
          if (m.size === 0 && s.length === 0) break;
          if (mapUnchanged(m, s)) break;
          if (mapRestoredInPlace(m, s)) break;
          m.clear();
          for (let i = 0; i < s.length; i += 2) m.set(s[i], s[i + 1]);
          break;
        }
        case "set": {
          const st = e.live;
          const s = e.saved;
          if (st.size === 0 && s.length === 0) break; // as for a Map
          if (setUnchanged(st, s)) break;
          st.clear();
          for (const v of s) st.add(v);
          break;
        }
        case "object": {
          // Its keys are stored back (this.#stores()): what is left is to delete keys added since.
          const o = e.live;
          // Only a plain object can have gained a string key: a class instance has every field it
          // declares from its construction on (ES2022 class fields), and TypeScript allows no other.
          if ((e.plain && forInCount(o) !== e.enumerable) || e.symbolKeys) {
            // Added during the run (a SideTable entry, an optional field): gone, as at take().
            const now = Reflect.ownKeys(o);
            if (now.length !== e.own.length) for (const k of now) if (!e.own.includes(k)) delete o[k];
          }
          break;
        }
      }
    }
    for (const h of this.#hidden) h.owner[hiddenState](h.saved);
  }
}

/**
 * Whether a Map holds exactly the saved entries, in order: most Maps a run reaches are not changed by
 * it, and reading one is cheaper than clearing and refilling it (which rehashes).
 */
function mapUnchanged(m: Map<unknown, unknown>, saved: readonly unknown[]): boolean {
  if (m.size * 2 !== saved.length) return false;
  let i = 0;
  for (const [k, v] of m) {
    if (k !== saved[i] || v !== saved[i + 1]) return false;
    i += 2;
  }
  return true;
}

/**
 * Puts a Map back without a new table when its first keys are still the saved ones, in order (a run
 * changed counts and added keys at the end, as most do): the added keys go, the saved values are set
 * in place. Whether it could; the order of the keys is then the saved one, as after clear() and refill.
 */
function mapRestoredInPlace(m: Map<unknown, unknown>, saved: readonly unknown[]): boolean {
  const n = saved.length / 2;
  if (m.size < n) return false;
  let i = 0;
  for (const k of m.keys()) {
    if (i === n) break;
    if (k !== saved[2 * i]) return false;
    i++;
  }
  i = 0;
  // Deleting the entry a Map iterator stands on is allowed: the walk goes on with the next.
  for (const k of m.keys()) if (i++ >= n) m.delete(k);
  for (let j = 0; j < saved.length; j += 2) m.set(saved[j], saved[j + 1]);
  return true;
}

/** Whether a Set holds exactly the saved values, in order (as mapUnchanged()). */
function setUnchanged(st: Set<unknown>, saved: readonly unknown[]): boolean {
  if (st.size !== saved.length) return false;
  let i = 0;
  for (const v of st) if (v !== saved[i++]) return false;
  return true;
}

/** Copies back the blocks written since the entry's mark (all of them if a restore went back past it). */
function restoreTracked(e: Extract<Entry, { kind: "tracked" }>): void {
  const t = e.tracker;
  if (t.valid(e.mark)) {
    const blocks = t.since(e.mark);
    for (let k = 0; k < e.saved.length; k++) e.saved[k].restoreBlocks(blocks);
    t.restoredTo(e.mark, e.stamps);
  } else {
    for (const c of e.saved) c.restoreAll();
    t.restoredTo(e.mark, e.stamps);
    // The content is the snapshot's again: a fresh mark makes the next restore partial.
    e.mark = t.snapshotMark();
  }
}
