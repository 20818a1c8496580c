/**
 * The share-state table: one entry per memory transaction between FFA_MEM_SHARE/LEND/DONATE and
 * FFA_MEM_RECLAIM (or, for a donate, the last borrower's retrieve).
 *
 * `struct ffa_memory_share_state` and `share_states[MAX_MEM_SHARES]` — Hafnium src/ffa_memory.c,
 * inc/hf/ffa_memory_internal.h (reference/ffa.md §5.2). The handle is the slot index with the
 * allocator bit of the world that allocated it (bit 63 clear for the SPMC): allocate_share_state(),
 * get_share_state(). A full table answers FFA_NO_MEMORY.
 */
import { ffaMemoryHandleMake } from "../../abi/ffa/index.ts";
import type { FfaVersion } from "../../abi/ffa/index.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

export type ShareFunc = "share" | "lend" | "donate";

/** One constituent, as kept by the SPMC (address as a number: DRAM is below 2^53). */
export interface StoredConstituent {
  readonly address: number;
  readonly pageCount: number;
  /**
   * The address as the descriptor gave it, when it is beyond 2^53 (a number cannot hold it exactly;
   * `address` is then +Infinity): never DRAM, but its alignment and overlaps are checked on it, in 64 bits.
   */
  readonly big?: bigint;
}

/** A receiver of the transaction and how far it got. */
export interface ShareReceiver {
  readonly id: number;
  /** The permissions the sender gave (NX forced for a secure receiver of a share). */
  permissions: number;
  readonly flags: number;
  readonly impdef: readonly [bigint, bigint] | null;
  /** retrieved_fragment_count[i]: 0 before retrieve and after relinquish. */
  retrievedFragments: number;
  /** The receiver's mode on the pages once retrieved (MM_MODE_*), 0 when unmapped. */
  mode: number;
  /** The retrieve response being delivered, split in fragments (null outside a retrieve). */
  response: Uint8Array[] | null;
}

export interface ShareState {
  readonly slot: number;
  readonly handle: bigint;
  readonly func: ShareFunc;
  /** The function ID it came with (32 or 64-bit). */
  readonly fid: number;
  readonly sender: number;
  /** The sender's descriptor layout. */
  readonly senderLayout: FfaVersion;
  readonly attributes: number;
  /** The sender's flags with the transaction type set in bits[4:3] (ffa_memory_send()). */
  readonly flags: number;
  readonly tag: bigint;
  /** memory_access_desc_size of the stored region (16 or 32). */
  readonly emadSize: number;
  readonly receivers: ShareReceiver[];
  /** Composite `page_count` and `constituent_count`. */
  readonly totalPageCount: number;
  readonly constituentCount: number;
  /** Constituents per fragment received (fragments[i], fragment_constituent_counts[i]). */
  readonly fragments: StoredConstituent[][];
  /** Every constituent in order, once sending is complete (a cache of `fragments`). */
  all: StoredConstituent[] | null;
  /** Bytes of the descriptor received so far (in the sender's layout), for FRAG_RX offsets. */
  bytesReceived: number;
  readonly totalLength: number;
  sendingComplete: boolean;
  /** The sender's mode before the send (sender_orig_mode). */
  senderOrigMode: number;
  /** The pages were moved to the secure PAS at send (memory_protected). */
  memoryProtected: boolean;
  hypervisorFragmentCount: number;
  hypervisorResponse: Uint8Array[] | null;
}

export class ShareStateTable implements Snapshottable {
  readonly #slots: (ShareState | null)[];

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { slots: this.#slots };
  }

  /** The handle allocate() gives each slot (ffa_memory_handle_make(index)), made once. */
  readonly #slotHandles: bigint[];
  /** The table's size as a bigint, to compare handle indexes with. */
  readonly #slotCount: bigint;

  constructor(readonly maxShares: number) {
    this.#slots = new Array<ShareState | null>(maxShares).fill(null);
    this.#slotHandles = [];
    this.#slotCount = BigInt(maxShares);
    for (let i = 0; i < maxShares; i++) this.#slotHandles.push(ffaMemoryHandleMake(i, "spmc"));
  }

  /**
   * Whether every live state holds the handle allocate() made for its slot — then no two live handles
   * are equal (a cheap proof of uniqueness; when it fails, the caller checks the handles one by one).
   */
  handlesMatchSlots(): boolean {
    for (let i = 0; i < this.#slots.length; i++) {
      const s = this.#slots[i];
      if (s !== null && s.handle !== this.#slotHandles[i]) return false;
    }
    return true;
  }

  /** allocate_share_state(): the first free slot, or null when the table is full. */
  allocate(make: (slot: number, handle: bigint) => ShareState): ShareState | null {
    for (let i = 0; i < this.#slots.length; i++) {
      if (this.#slots[i] === null) {
        const s = make(i, ffaMemoryHandleMake(i, "spmc"));
        this.#slots[i] = s;
        return s;
      }
    }
    return null;
  }

  /** get_share_state(): by index for our own handles, else a scan. */
  get(handle: bigint): ShareState | undefined {
    // An SPMC handle's index is the handle itself (allocator bit 63 clear): one compare, no bigint made
    // (ffaMemoryHandleIndex() of such a handle is the handle; a set bit 63 puts it past the table).
    if (handle >= 0n && handle < this.#slotCount) {
      const s = this.#slots[Number(handle)];
      if (s) return s;
    }
    for (const s of this.#slots) if (s && s.handle === handle) return s;
    return undefined;
  }

  /** share_state_free(). */
  free(s: ShareState): void {
    if (this.#slots[s.slot] === s) this.#slots[s.slot] = null;
  }

  /** The state in slot `i`, or null (a plain read for hot loops: no generator). */
  at(i: number): ShareState | null {
    return this.#slots[i] ?? null;
  }

  /** Live share states, slot order. */
  *live(): Generator<ShareState> {
    for (const s of this.#slots) if (s) yield s;
  }

  /**
   * A copy of the table for the FF-A fuzzer's snapshot (explore/fuzz): every live state cloned, so
   * later calls on the table do not change it. Fragments and responses are shared: once built the
   * model never changes one, it only appends or replaces them. With `into` (an earlier snapshot no
   * longer needed) and `unchanged`, a saved state equal to the live one is kept, not cloned again.
   */
  snapshot(
    into?: (ShareState | null)[],
    unchanged?: (live: ShareState, saved: ShareState) => boolean,
  ): (ShareState | null)[] {
    const out = into ?? new Array<ShareState | null>(this.#slots.length);
    for (let i = 0; i < out.length; i++) {
      const s = this.#slots[i];
      const old = into?.[i];
      out[i] = s === null ? null : old && unchanged?.(s, old) ? old : cloneShareState(s);
    }
    return out;
  }

  /**
   * Puts a snapshot() back (cloned again, so the snapshot can be restored many times). `unchanged(live,
   * saved)` may say a live state already equals its saved one: it is kept instead of cloned.
   */
  restore(
    slots: readonly (ShareState | null)[],
    unchanged?: (live: ShareState, saved: ShareState) => boolean,
  ): void {
    if (slots.length !== this.#slots.length) throw new Error("share-state snapshot of another table size");
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      const live = this.#slots[i];
      if (s === null) this.#slots[i] = null;
      else if (!(live && live !== s && unchanged?.(live, s))) this.#slots[i] = cloneShareState(s);
    }
  }

  /**
   * Makes these exact objects the table's states (no clone): for a snapshot user that keeps its own
   * copies (explore/fuzz/state.ts) and must never hand over the saved objects themselves.
   */
  install(slots: readonly (ShareState | null)[]): void {
    if (slots.length !== this.#slots.length) throw new Error("share-state snapshot of another table size");
    for (let i = 0; i < slots.length; i++) this.#slots[i] = slots[i];
  }

  get used(): number {
    let n = 0;
    for (const s of this.#slots) if (s) n++;
    return n;
  }
}

/**
 * A share state whose mutable parts (receivers, fragment list) are its own. Field by field rather than
 * a spread (cheaper, and every clone has the shape of a state allocate() made); every field is
 * required, so one added to ShareState or ShareReceiver and not copied here fails to compile.
 */
export function cloneShareState(s: ShareState): ShareState {
  const receivers: ShareReceiver[] = [];
  for (const r of s.receivers) {
    const c: ShareReceiver = {
      id: r.id,
      permissions: r.permissions,
      flags: r.flags,
      impdef: r.impdef,
      retrievedFragments: r.retrievedFragments,
      mode: r.mode,
      response: r.response,
    };
    receivers.push(c);
  }
  const out: ShareState = {
    slot: s.slot,
    handle: s.handle,
    func: s.func,
    fid: s.fid,
    sender: s.sender,
    senderLayout: s.senderLayout,
    attributes: s.attributes,
    flags: s.flags,
    tag: s.tag,
    emadSize: s.emadSize,
    receivers,
    totalPageCount: s.totalPageCount,
    constituentCount: s.constituentCount,
    fragments: s.fragments.slice(),
    all: s.all,
    bytesReceived: s.bytesReceived,
    totalLength: s.totalLength,
    sendingComplete: s.sendingComplete,
    senderOrigMode: s.senderOrigMode,
    memoryProtected: s.memoryProtected,
    hypervisorFragmentCount: s.hypervisorFragmentCount,
    hypervisorResponse: s.hypervisorResponse,
  };
  return out;
}
