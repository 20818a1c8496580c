/**
 * Findings that are the real implementation's own behaviour, faithfully modelled: the fuzzer counts
 * them, keeps one case of each in the corpus and goes on, instead of stopping as for a model bug.
 * Each names the real source that behaves so.
 */
import { FFA_MEM_FRAG_TX_32, FFA_RXTX_UNMAP_32 } from "../../abi/ffa/index.ts";
import { HafniumSpmc } from "../../firmware/hafnium/hafnium.ts";
import { allConstituents } from "../../firmware/hafnium/send_complete.ts";
import type { ShareState } from "../../firmware/spmc/share_state.ts";
import { FFA_NWD_ID, isSecureId } from "../../firmware/spmc/endpoint.ts";
import { MM_MODE_NWD_MEMORY } from "../../firmware/spmc/page_state.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { MEM_SENDS, replyHandle } from "./oracle.ts";
import type { FuzzCaller, FuzzRig } from "./rig.ts";

export interface KnownFinding {
  readonly id: string;
  readonly flavor: SpmcFlavorName;
  readonly what: string;
}

/**
 * Hafnium v2.15 src/ffa_memory.c ffa_memory_send_continue_validate(): the continuation's caller is
 * compared with the descriptor's sender only `if (vm_id_is_current_world(from_vm_id) && …)` — at the
 * SPMC, only for a partition. So the normal world may send FFA_MEM_FRAG_TX for a partition's pending
 * fragmented send; ffa_memory_send_complete() then checks and changes the pages in the caller's (the
 * normal world's) stage 2. The transaction records the partition as its sender while the normal world
 * owns the pages (or, with the partition's own pages in an earlier fragment, the normal world aborts the
 * partition's send with DENIED).
 */
export const HF_NWD_CONTINUES_SP_SEND: KnownFinding = {
  id: "hafnium-nwd-continues-sp-send",
  flavor: "hafnium",
  what:
    "the normal world completed a partition's fragmented send with FFA_MEM_FRAG_TX (Hafnium " +
    "ffa_memory_send_continue_validate() checks the sender only for a current-world caller): the " +
    "transaction's sender is the partition, the pages are the normal world's",
};

/**
 * Hafnium v2.15 (and main) src/ffa_memory.c constituents_get_mode(): `if (i == 0) *orig_mode =
 * current_mode; else if (current_mode != *orig_mode) return ffa_error(FFA_DENIED)`, where i counts
 * fragments, not constituents. Within the first fragment each constituent's mode replaces the last, so
 * only the last one's is checked (ffa_send_check_transition(): owned, exclusive), and
 * ffa_region_group_identity_map() then maps them all with the new mode. So a send passes whose first
 * fragment names, before a constituent of pages the sender owns:
 * - pages already lent (or shared, or donated): they are in two transactions at once. Reclaiming the
 *   first gives them back to the sender, and unprotects them, while the second still lends them;
 * - pages the normal world has no entry for — a partition's own memory, or memory no one owns — which
 *   read as absent (mode INVALID|UNOWNED|SHARED, arch_vm_mem_get_mode()): the normal world's page tables
 *   at the SPMC now hold them as its own lent or shared pages, and a borrower may retrieve them; after
 *   a relinquish and a reclaim the normal world owns them there;
 * - the normal world's own RX/TX buffer pages, which FFA_RXTX_MAP took out of its page tables (they too
 *   read as absent): the send passes, and FFA_RXTX_UNMAP then maps them back R|W|X|NS
 *   (arch_other_world_vm_configure_rxtx_unmap()) while the transaction still lends, shares or donates
 *   them. That is where the inconsistency shows: at the unmap, not at the send.
 */
export const HF_FIRST_FRAGMENT_MODES: KnownFinding = {
  id: "hafnium-first-fragment-modes",
  flavor: "hafnium",
  what:
    "a send whose first fragment put pages the sender may not send (already in a transaction, not its " +
    "own, or its RX/TX buffers) before pages it owns passed (Hafnium constituents_get_mode() compares modes only from " +
    "the second fragment on): the pages are in two transactions, or in the normal world's",
};

export const KNOWN_FINDINGS: readonly KnownFinding[] = [HF_NWD_CONTINUES_SP_SEND, HF_FIRST_FRAGMENT_MODES];

/** The normal world's RX/TX buffers as they were before a call (an FFA_RXTX_UNMAP takes them away). */
export interface Mailbox {
  readonly tx: number;
  readonly rx: number;
  readonly pages: number;
}

/** The normal world's mailbox now, or null when none is mapped (or the SPMC is not Hafnium). */
export function nwdMailbox(rig: FuzzRig): Mailbox | null {
  const ep = rig.spmc instanceof HafniumSpmc ? rig.spmc.endpoint(FFA_NWD_ID) : undefined;
  return ep && ep.tx !== null && ep.rx !== null ? { tx: ep.tx, rx: ep.rx, pages: ep.pageCount } : null;
}

/**
 * The known finding a call's violation is, or null. `reply`: the SPMC's answer to `x`; `mailbox`: for
 * the normal world's FFA_RXTX_UNMAP, its buffers before the call (nwdMailbox()).
 */
export function knownFinding(
  rig: FuzzRig,
  by: FuzzCaller,
  x: SmcRegs,
  reply: SmcRegs,
  mailbox: Mailbox | null = null,
): KnownFinding | null {
  const spmc = rig.spmc;
  if (!(spmc instanceof HafniumSpmc)) return null;
  const fid = Number(x[0] & 0xffff_ffffn);
  let completed: ShareState | undefined;
  if (fid === FFA_MEM_FRAG_TX_32) {
    const handle = (x[1] & 0xffff_ffffn) | ((x[2] & 0xffff_ffffn) << 32n);
    const s = spmc.shares.get(handle);
    if (s && by === "normal" && isSecureId(s.sender)) return HF_NWD_CONTINUES_SP_SEND;
    if (s?.sendingComplete) completed = s;
  } else if (MEM_SENDS.has(fid)) {
    const handle = replyHandle(reply);
    const s = handle === null ? undefined : spmc.shares.get(handle);
    if (s?.sendingComplete) completed = s;
  }
  if (completed && firstFragmentUnchecked(spmc, completed)) return HF_FIRST_FRAGMENT_MODES;
  if (fid === FFA_RXTX_UNMAP_32 && by === "normal" && mailbox !== null && mailboxSentUnchecked(spmc, mailbox))
    return HF_FIRST_FRAGMENT_MODES;
  return null;
}

/**
 * After the normal world's FFA_RXTX_UNMAP of `mailbox`: whether a live transaction it sent holds, through
 * a constituent of the first fragment other than its last, one of those buffer pages, now mapped back
 * as its own memory (MM_MODE_NWD_MEMORY): out of its tables when the send passed, unchecked. Only the
 * pages this unmap mapped back: another page so (a model bug in the unmap) is no such finding.
 */
function mailboxSentUnchecked(hf: HafniumSpmc, mailbox: Mailbox): boolean {
  const inMailbox = (pa: number): boolean =>
    [mailbox.tx, mailbox.rx].some((base) => pa >= base && pa < base + mailbox.pages * PAGE_SIZE);
  for (let slot = 0; slot < hf.limits.maxShares; slot++) {
    const s = hf.shares.at(slot);
    if (s === null || !s.sendingComplete || isSecureId(s.sender)) continue;
    for (const c of s.fragments[0].slice(0, -1)) {
      const first = hf.pages.first(c.address, c.pageCount);
      if (first < 0) continue;
      for (let i = first; i < first + c.pageCount; i++)
        if (
          inMailbox(c.address + (i - first) * PAGE_SIZE) &&
          hf.pages.senderMode(FFA_NWD_ID, i, i + 1) === MM_MODE_NWD_MEMORY
        )
          return true;
    }
  }
  return false;
}

/**
 * Whether a constituent of the first fragment of `s` other than its last — the only ones whose mode
 * constituents_get_mode() does not check — holds a page the sender may not send: one another live
 * transaction holds, or one the sender does not own. A send that did so through any other constituent
 * passed a check Hafnium does make: the model's bug, not this finding.
 */
function firstFragmentUnchecked(hf: HafniumSpmc, s: ShareState): boolean {
  const unchecked = s.fragments[0].slice(0, -1);
  if (unchecked.length === 0) return false;
  // The normal world is one VM to the SPMC (ID 0), whatever VM ID a descriptor names.
  const sender = isSecureId(s.sender) ? s.sender : FFA_NWD_ID;
  for (const c of unchecked) {
    const first = hf.pages.first(c.address, c.pageCount);
    if (first < 0) continue;
    for (let i = first; i < first + c.pageCount; i++) if (hf.pages.owner[i] !== sender) return true;
  }
  for (let slot = 0; slot < hf.limits.maxShares; slot++) {
    const o = hf.shares.at(slot);
    if (o === null || o === s || !o.sendingComplete) continue;
    for (const a of allConstituents(o))
      for (const b of unchecked)
        if (
          a.address < b.address + b.pageCount * PAGE_SIZE &&
          b.address < a.address + a.pageCount * PAGE_SIZE
        )
          return true;
  }
  return false;
}

/** 4 KiB. */
const PAGE_SIZE = 4096;
