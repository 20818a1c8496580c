/**
 * The last fragment of a send: ffa_memory_send_complete() → ffa_send_check_update() →
 * ffa_send_check_transition() and ffa_region_group_identity_map() — Hafnium src/ffa_memory.c
 * (reference/ffa.md §5.1, §5.3). Checks the constituents and the sender's page state, protects the
 * pages through RME for a lend or donate from the normal world to partitions (MAP_ACTION_CHECK_PROTECT),
 * changes the sender's mode, clears the memory if asked, and records the new owner in the machine.
 * On any failure the share state is freed and nothing else changed. When the last FFA_MEM_FRAG_TX
 * completes the send, the fault point `ffa: {call: MEM_FRAG_TX, in: ffa_memory_send_complete}`
 * (firmware/spmc/faults.ts) is where vm_identity_prepare() runs out of page tables: NO_MEMORY.
 */
import {
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_NOT_SUPPORTED,
  unpackMemAttributes,
} from "../../abi/ffa/index.ts";
import { hafniumOverlaps } from "../../abi/ffa/validate_call_hafnium_region.ts";
import { OWNER_SECURE } from "../../hw/frames.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import {
  MM_MODE_D,
  MM_MODE_NS,
  MM_MODE_INVALID,
  MM_MODE_SHARED,
  MM_MODE_STATE_MASK,
  MM_MODE_UNOWNED,
  MM_MODE_W,
} from "../spmc/page_state.ts";
import { injectedAtSite } from "../spmc/faults.ts";
import { CallCtx, ffaMemSuccess, hex } from "../spmc/regs.ts";
import type { ShareState, StoredConstituent } from "../spmc/share_state.ts";
import { clearMemoryGpf, ffaClearMemoryConstituents } from "./clear_memory.ts";
import type { HafniumSpmc } from "./hafnium.ts";
import { archMemoryProtect, archMemoryUnprotect } from "./memory_protect.ts";
import { permissionsToMode } from "./modes.ts";

/** 4 KiB (hw PAGE_SIZE, local for the hot loops). */
const PAGE_SIZE = 4096;

/** The fault site of the last fragment's stage-2 prepare (firmware/spmc/faults.ts FFA_FAULT_SITES). */
const SEND_COMPLETE_SITE = "ffa_memory_send_complete";

// Module-level copies: imported bindings cost a getter per read under some loaders (hot loops).
const INVAL = FFA_INVALID_PARAMETERS;
const DENIED = FFA_DENIED;

/**
 * ffa_memory_send_complete(): FFA_SUCCESS with the handle, or the error (share state freed).
 * `byFragTx`: the last FFA_MEM_FRAG_TX completes the send (ffa_memory_send_continue()), not the send
 * call itself — where the fault point `in: ffa_memory_send_complete` is.
 */
export function sendComplete(
  hf: HafniumSpmc,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  byFragTx = false,
): SmcRegs {
  const err = sendCheckUpdate(hf, ctx, ep, state, byFragTx);
  if (err) {
    // share_state_free(): the slot and the fragments' pages go back; the handle is unknown from now on.
    hf.shares.free(state);
    return err;
  }
  state.sendingComplete = true;
  state.all = allConstituents(state);
  hf.audit(state);
  return ffaMemSuccess(state.handle);
}

/** Every constituent of the transaction, in order. */
export function allConstituents(state: ShareState): StoredConstituent[] {
  if (state.all) return state.all;
  if (state.fragments.length === 1) return state.fragments[0];
  const out: StoredConstituent[] = [];
  for (const f of state.fragments) for (let i = 0; i < f.length; i++) out.push(f[i]);
  return out;
}

/** The use case a lent page carries in the machine: the tag (Linux sets tag = use case). */
export function useCaseOf(state: ShareState): number {
  return state.tag < 128n ? Number(state.tag) : 0;
}

function sendCheckUpdate(
  hf: HafniumSpmc,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  byFragTx: boolean,
): SmcRegs | null {
  const cs = allConstituents(state);
  // ffa_send_check_update(): ffa_memory_check_overlap() over every fragment, and the page counts' sum
  // (a uint32_t: it wraps). A constituent of no pages passes both; constituents_get_mode() denies it.
  let sum = 0;
  for (let i = 0; i < cs.length; i++) sum = (sum + cs[i].pageCount) >>> 0;
  const overlap = findOverlap(cs);
  if (overlap) return ctx.reject(INVAL, "constituents-overlap", overlap);
  if (sum !== state.totalPageCount)
    return ctx.reject(
      INVAL,
      "total-page-count",
      () => `composite page count ${state.totalPageCount}, constituents sum to ${sum}`,
    );

  // ffa_send_check_transition() → constituents_get_mode()
  if (cs.length === 0 || state.fragments[0].length === 0)
    return ctx.reject(INVAL, "no-constituents", "no constituents in the first fragment");
  const pages = hf.pages;
  let orig = -1;
  /** The constituent whose mode is `orig`. */
  let origAt = 0;
  // constituents_get_mode() compares modes only from the second fragment on: `if (i == 0) *orig_mode =
  // current_mode; else if (current_mode != *orig_mode)`, i the fragment. Within the first fragment
  // the last constituent's mode is the one the send goes on with, whatever the others' (Hafnium v2.15
  // and main; the fuzzer's known finding hafnium-first-fragment-modes, explore/fuzz/known.ts).
  // Pages the normal world has no entry for (another endpoint's, or no one's) read as absent,
  // MM_MODE_ABSENT (mm_ptable_get_attrs_level(), arch_vm_mem_get_mode()): such a constituent too passes
  // when it is not the first fragment's last, and the send maps it into the normal world's page tables
  // (PageState.nwdView). Not modelled: a partition's view of pages it does not own (pages it borrowed),
  // and pages past DRAM inside the address space; both are refused here (sender-mode).
  const inFirst = state.fragments[0].length;
  // A plain array: a typed array's allocation costs more than the few constituents a send holds.
  const firsts: number[] = [];
  for (let k = 0; k < cs.length; k++) {
    const c = cs[k];
    if (c.big !== undefined ? c.big % BIG_PAGE !== 0n : c.address % PAGE_SIZE !== 0)
      return ctx.reject(INVAL, "constituent-aligned", () => `address ${addressHex(c)} is not page aligned`);
    // mm_vm_get_mode() of an empty range (no pages) finds no mode; nor beyond DRAM (pages.first()).
    const first = c.pageCount === 0 ? -1 : pages.first(c.address, c.pageCount);
    firsts.push(first);
    const mode = first >= 0 ? pages.senderMode(ep.id, first, first + c.pageCount) : null;
    if (mode === null)
      return ctx.reject(
        FFA_DENIED,
        "sender-mode",
        () => `${c.pageCount} pages at ${addressHex(c)} are not mapped to ${hex(ep.id)} with one mode`,
      );
    if (k < inFirst) {
      orig = mode;
      origAt = k;
    } else if (mode !== orig)
      return ctx.reject(
        FFA_DENIED,
        "sender-mode-uniform",
        () => `pages at ${hex(c.address)} have mode ${hex(mode)}, expected ${hex(orig)}`,
      );
  }
  // ffa_send_check_transition()'s order: memory type precedence, device memory to one borrower, then
  // owned and exclusive. The normal world's memory is never device memory here; a range it has no
  // entry for reads as such (MM_MODE_ABSENT has D).
  if ((orig & MM_MODE_D) !== 0) {
    if (unpackMemAttributes(state.attributes).type === "normal")
      return ctx.reject(
        FFA_DENIED,
        "device-as-normal",
        "sending device memory as Normal memory is not allowed",
      );
    if (!(state.func === "lend" && state.receivers.length === 1))
      return ctx.reject(
        FFA_DENIED,
        "device-single-borrower",
        () => `device memory can only be lent to a single borrower (mode ${hex(orig)})`,
      );
  }
  if ((orig & MM_MODE_STATE_MASK) !== 0) {
    const at = cs[origAt].address;
    const holder = pages.holder[pages.first(at, 1)];
    const by = holder ? hf.shares.get(BigInt(holder - 1)) : undefined;
    return ctx.reject(
      FFA_DENIED,
      "sender-not-exclusive-owner",
      () =>
        `page ${hex(at)} is not owned exclusively by ${hex(ep.id)}` +
        (by ? ` (${by.func} ${hex(by.handle)})` : ""),
    );
  }
  const clear = (state.flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0;
  if (clear && (orig & MM_MODE_W) === 0)
    return ctx.reject(FFA_DENIED, "clear-without-write", "cannot zero memory the sender can't write");
  for (const r of state.receivers) {
    const required = permissionsToMode(r.permissions, orig);
    if ((orig & required) !== required)
      return ctx.reject(
        FFA_DENIED,
        "permissions-exceed-sender",
        () => `${hex(r.id)} would get mode ${hex(required)}, sender has ${hex(orig)}`,
      );
  }
  const protect =
    state.func !== "share" && state.receivers.every((r) => isSecureId(r.id)) && !isSecureId(ep.id);
  let from = orig & ~MM_MODE_STATE_MASK;
  from |=
    state.func === "donate"
      ? MM_MODE_INVALID | MM_MODE_UNOWNED
      : state.func === "lend"
        ? MM_MODE_INVALID
        : MM_MODE_SHARED;

  // ffa_region_group_identity_map(MAP_ACTION_CHECK[_PROTECT]) → ffa_region_group_check_actions():
  // vm_identity_prepare() reserves the sender's page tables before anything is protected or committed.
  // Its failure (NO_MEMORY: the mpool is empty) is a fault point when the last fragment completes the
  // send; it strikes at the first constituent, so no arch_memory_protect() ran and nothing changed.
  if (byFragTx) {
    const fault = injectedAtSite(hf.sim, ctx, SEND_COMPLETE_SITE);
    if (fault !== null) return fault;
  }
  // MAP_ACTION_CHECK_PROTECT, one constituent at a time: ffa_region_group_identity_map() →
  // ffa_region_group_check_actions(). As Hafnium v2.15 (and main) make it:
  // - each constituent's outcome replaces the last (`ret`, and `*memory_protected`): only the last one
  //   processed decides the send, and whether the memory counts as protected;
  // - DENIED: the granules this constituent moved are moved back, then every constituent before it
  //   (ffa_region_group_fragments_revert_protect(), CHECKed: one that was never protected panics), and
  //   the loop over this fragment's constituents stops — a later fragment's still run;
  // - NOT_SUPPORTED (no RME): the update goes through unprotected;
  // - INVALID_PARAMETERS: nothing is moved back, and the next constituent goes on.
  if (protect) {
    let code = 0;
    let protectedNow = false;
    let at = cs[0];
    const frags = state.fragments;
    for (let i = 0; i < frags.length; i++) {
      const f = frags[i];
      for (let j = 0; j < f.length; j++) {
        const c = f[j];
        const out = archMemoryProtect(hf.machine, ctx, c.address, c.pageCount * PAGE_SIZE);
        code = out.code;
        protectedNow = code === 0;
        at = c;
        if (code === DENIED && out.lastProtected !== 0) {
          const size = out.lastProtected + PAGE_SIZE - c.address;
          if (!archMemoryUnprotect(hf.machine, ctx, c.address, size))
            return hf.panic(unprotectCheckFailed(c.address, size));
        } else if (code === FFA_NOT_SUPPORTED) code = 0;
        if (code === DENIED) {
          for (let r = 0; r <= i; r++)
            for (const d of frags[r]) {
              if (d === c) break;
              if (!archMemoryUnprotect(hf.machine, ctx, d.address, d.pageCount * PAGE_SIZE))
                return hf.panic(unprotectCheckFailed(d.address, d.pageCount * PAGE_SIZE));
            }
          break;
        }
      }
    }
    if (code === DENIED)
      return ctx.reject(
        FFA_DENIED,
        "protect-denied",
        () => `the monitor refused to move ${hex(at.address)} to the secure PAS`,
      );
    if (code !== 0)
      return ctx.reject(INVAL, "protect-invalid", () => `the monitor refused ${hex(at.address)} as invalid`);
    state.memoryProtected = protectedNow;
  }
  // MAP_ACTION_COMMIT, then clear_memory().
  const slot = state.slot + 1;
  for (let k = 0; k < cs.length; k++) {
    const first = firsts[k];
    pages.setSenderMode(ep.id, first, first + cs[k].pageCount, from);
    pages.setHolder(first, first + cs[k].pageCount, slot);
  }
  // clean_mode: the sender's mode, NS masked once the range is in the Secure PAS (clear_memory.ts).
  if (clear) {
    const cleanMode = state.memoryProtected ? orig & ~MM_MODE_NS : orig;
    const gpf = ffaClearMemoryConstituents(hf, ctx, cs, cleanMode);
    if (gpf !== null) return hf.panic(clearMemoryGpf(gpf, cleanMode));
  }
  if (protect) {
    const uc = useCaseOf(state);
    for (const c of cs) hf.machine.setOwner(c.address, c.pageCount * PAGE_SIZE, OWNER_SECURE, uc);
  }
  state.senderOrigMode = orig;
  return null;
}

/** Two constituents sharing a page, described, or null. Sorts a copy (the fragments keep their order). */
function findOverlap(cs: readonly StoredConstituent[]): string | null {
  if (cs.length < 2) return null;
  // The sweep below answers as Hafnium's pairwise check does for page-aligned ranges of some pages held
  // exactly in a number: anything else is checked Hafnium's way (findOverlap64()).
  for (const c of cs)
    if (
      c.pageCount === 0 ||
      c.address % PAGE_SIZE !== 0 ||
      c.address + c.pageCount * PAGE_SIZE > Number.MAX_SAFE_INTEGER
    )
      return findOverlap64(cs);
  const order = cs.map((_, i) => i).sort((a, b) => cs[a].address - cs[b].address || a - b);
  let prevEnd = cs[order[0]].address + cs[order[0]].pageCount * PAGE_SIZE;
  let prev = order[0];
  for (let k = 1; k < order.length; k++) {
    const i = order[k];
    if (cs[i].address < prevEnd)
      return `constituent ${i} at ${hex(cs[i].address)} overlaps constituent ${prev}`;
    const end = cs[i].address + cs[i].pageCount * PAGE_SIZE;
    if (end > prevEnd) {
      prevEnd = end;
      prev = i;
    }
  }
  return null;
}

const BIG_PAGE = BigInt(PAGE_SIZE);

/** The constituent's address in hex, as the descriptor gave it. */
function addressHex(c: StoredConstituent): string {
  return c.big !== undefined ? `0x${c.big.toString(16)}` : hex(c.address);
}

/** ffa_memory_check_overlap() as Hafnium makes it, in 64 bits (abi/ffa: hafniumOverlaps()): the first overlap. */
function findOverlap64(cs: readonly StoredConstituent[]): string | null {
  const overlaps = hafniumOverlaps(
    cs.length,
    (k) => cs[k].big ?? BigInt(cs[k].address),
    (k) => cs[k].pageCount,
  );
  for (const { i, j } of overlaps)
    return `constituent ${j} at ${addressHex(cs[j])} overlaps constituent ${i}`;
  return null;
}

/** The panic of a CHECK(arch_memory_unprotect()) that failed: the range was not in the Secure PAS. */
export function unprotectCheckFailed(pa: number, size: number): string {
  return `CHECK failed: arch_memory_unprotect(${hex(pa)}, ${hex(pa + size)}) (the range is not in the Secure PAS)`;
}
