/**
 * Giving memory back at Hafnium: FFA_MEM_RELINQUISH (a borrower unmaps it), FFA_MEM_RECLAIM (the owner
 * takes it back and the share state goes), and the end of a donate's retrieve — src/api.c
 * api_ffa_mem_relinquish(), api_ffa_mem_reclaim(); src/ffa_memory.c ffa_memory_relinquish(),
 * ffa_memory_reclaim(), ffa_memory_retrieve_complete() (reference/ffa.md §5.5, §5.6).
 */
import {
  FFA_ABORTED,
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_RECLAIM_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  RELINQUISH_HEADER_SIZE,
  unpackMemAccessPermissions,
} from "../../abi/ffa/index.ts";
import { OWNER_NORMAL } from "../../hw/frames.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { MM_MODE_NS, MM_MODE_UNMAPPED_MASK, MM_MODE_W } from "../spmc/page_state.ts";
import { CallCtx, ffaSuccess, hex, w } from "../spmc/regs.ts";
import type { ShareReceiver, ShareState } from "../spmc/share_state.ts";
import { clearMemoryGpf, ffaClearMemoryConstituents } from "./clear_memory.ts";
import type { HafniumSpmc } from "./hafnium.ts";
import { archMemoryUnprotect } from "./memory_protect.ts";
import { allConstituents, unprotectCheckFailed } from "./send_complete.ts";

/** 4 KiB (hw PAGE_SIZE, local for the hot loops). */
const PAGE_SIZE = 4096;

const INVAL = FFA_INVALID_PARAMETERS;
const NORMAL = OWNER_NORMAL;

/** ffa_memory_retrieve_complete(): a donate is over once its borrower has it all — the borrower owns it. */
export function retrieveComplete(hf: HafniumSpmc, state: ShareState, receiver: ShareReceiver): void {
  if (state.func !== "donate") return;
  for (const c of allConstituents(state)) {
    const r = hf.pages.range(c.address, c.pageCount)!;
    hf.pages.setOwner(r.first, r.end, receiver.id, receiver.mode & ~MM_MODE_UNMAPPED_MASK);
    hf.pages.setHolder(r.first, r.end, 0);
  }
  hf.shares.free(state);
}

/** api_ffa_mem_relinquish() + ffa_memory_relinquish(). */
export function relinquish(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint): SmcRegs {
  if (ep.tx === null) return ctx.reject(INVAL, "tx-not-mapped", "TX buffer not set up");
  const head = hf.readTx(ctx, ep, 0, RELINQUISH_HEADER_SIZE);
  if (head === null)
    return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the relinquish descriptor faulted");
  const d = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const handle = d.getBigUint64(0, true);
  const flags = d.getUint32(8, true);
  const count = d.getUint32(12, true);
  if (count !== 1)
    return ctx.reject(
      INVAL,
      "relinquish-one-endpoint",
      () => `relinquish descriptor must have 1 endpoint, has ${count}`,
    );
  if (RELINQUISH_HEADER_SIZE + 2 * count > hf.mailboxSize)
    return ctx.reject(INVAL, "relinquish-too-long", "relinquish message too long");
  const eps = hf.readTx(ctx, ep, RELINQUISH_HEADER_SIZE, 2);
  if (eps === null) return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the endpoint list faulted");
  const endpoint = eps[0] | (eps[1] << 8);
  if (ep.secure && endpoint !== ep.id)
    return ctx.reject(
      INVAL,
      "relinquish-endpoint-caller",
      () => `endpoint ${hex(endpoint)} is not the caller ${hex(ep.id)}`,
    );
  const state = hf.shares.get(handle);
  if (!state)
    return ctx.reject(INVAL, "unknown-handle", () => `invalid handle ${hex(handle)} for FFA_MEM_RELINQUISH`);
  if (!state.sendingComplete)
    return ctx.reject(INVAL, "sending-not-complete", () => `${hex(handle)} not fully sent`);
  const receiver = state.receivers.find((r) => r.id === endpoint);
  if (!receiver)
    return ctx.reject(INVAL, "not-a-borrower", () => `${hex(endpoint)} is not a borrower of ${hex(handle)}`);
  const fragments = receiver.response?.length ?? 0;
  if (receiver.retrievedFragments === 0 || receiver.retrievedFragments !== fragments)
    return ctx.reject(
      INVAL,
      "not-retrieved",
      () => `${hex(handle)} not yet fully retrieved by ${hex(endpoint)}`,
    );
  const othersDone = state.receivers.every((r) => r === receiver || r.retrievedFragments === 0);
  const clear = othersDone && (flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0;
  if (clear && state.func === "share")
    return ctx.reject(INVAL, "clear-on-share", "memory which was shared can't be cleared");
  if (clear && unpackMemAccessPermissions(receiver.permissions).data === "ro")
    return ctx.reject(FFA_DENIED, "clear-with-ro", "RO memory can't use the clear memory flag");
  // ffa_relinquish_check_transition(): an SP must hold the memory mapped and not own it.
  if (ep.secure && receiver.mode === 0)
    return ctx.reject(FFA_DENIED, "relinquish-mode", () => `${hex(ep.id)} does not have it mapped`);
  receiver.mode = 0;
  // ffa_relinquish_check_update(): cleared through the borrower's mapping, NS masked if it was protected.
  if (clear) {
    const mode = state.memoryProtected ? state.senderOrigMode & ~MM_MODE_NS : state.senderOrigMode;
    const gpf = ffaClearMemoryConstituents(hf, ctx, allConstituents(state), mode);
    if (gpf !== null) return hf.panic(clearMemoryGpf(gpf, mode));
  }
  receiver.retrievedFragments = 0;
  receiver.response = null;
  return ffaSuccess();
}

/** api_ffa_mem_reclaim() + ffa_memory_reclaim(). */
export function reclaim(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const handle = BigInt(w(regs, 1)) | (BigInt(w(regs, 2)) << 32n);
  const flags = w(regs, 3);
  if (handle >> 63n !== 0n)
    return ctx.reject(INVAL, "handle-other-world", () => `invalid handle ${hex(handle)} for FFA_MEM_RECLAIM`);
  const state = hf.shares.get(handle);
  if (!state)
    return ctx.reject(INVAL, "unknown-handle", () => `invalid handle ${hex(handle)} for FFA_MEM_RECLAIM`);
  if (ep.secure && ep.id !== state.sender)
    return ctx.reject(
      INVAL,
      "reclaim-not-sender",
      () => `${hex(ep.id)} tried to reclaim ${hex(handle)} sent by ${hex(state.sender)}`,
    );
  if (!state.sendingComplete)
    return ctx.reject(INVAL, "sending-not-complete", () => `${hex(handle)} not fully sent`);
  const holding = state.receivers.find((r) => r.retrievedFragments !== 0);
  if (holding)
    return ctx.reject(
      FFA_DENIED,
      "borrower-holds",
      () => `${hex(handle)} has not been relinquished by ${hex(holding.id)}`,
    );
  const clear = (flags & FFA_MEM_RECLAIM_CLEAR) !== 0;
  if (clear && (state.senderOrigMode & MM_MODE_W) === 0)
    return ctx.reject(FFA_DENIED, "clear-without-write", "cannot zero memory the sender can't write");
  const cs = allConstituents(state);
  const pages = hf.pages;
  // ffa_retrieve_check_transition() for the owner → constituents_get_mode(): each constituent mapped
  // with one mode in its page tables, and from the second fragment on the mode of the first fragment's
  // last (send_complete.ts). The normal world reads its own view of pages it does not own
  // (PageState.senderMode()) for a transaction it sent; reclaiming a partition's transaction (Hafnium
  // compares the reclaimer with the sender only for a partition) it is refused wherever it does not
  // own the pages — the view that transaction would write is not modelled.
  const ownView = !ep.secure && !isSecureId(state.sender);
  let orig = -1;
  for (let f = 0; f < state.fragments.length; f++)
    for (const c of state.fragments[f]) {
      const first = pages.first(c.address, c.pageCount);
      const end = first + c.pageCount;
      const mode =
        first < 0 ? null : ownView ? pages.senderMode(ep.id, first, end) : pages.ownerMode(ep.id, first, end);
      if (mode === null)
        return ctx.reject(
          FFA_DENIED,
          "reclaimer-mode",
          () => `pages at ${hex(c.address)} are not ${hex(ep.id)}'s`,
        );
      if (f === 0) orig = mode;
      else if (mode !== orig)
        return ctx.reject(
          FFA_DENIED,
          "reclaimer-mode-uniform",
          () => `pages at ${hex(c.address)} have mode ${hex(mode)}, expected ${hex(orig)}`,
        );
    }
  // ffa_retrieve_check_update(): the clear runs before MAP_ACTION_COMMIT_UNPROTECT, through
  // sender_orig_mode's alias — NS for normal-world memory, which RME still holds Secure (clear_memory.ts).
  if (clear) {
    const gpf = ffaClearMemoryConstituents(hf, ctx, cs, state.senderOrigMode);
    if (gpf !== null) return hf.panic(clearMemoryGpf(gpf, state.senderOrigMode));
  }
  const toNormal = !isSecureId(state.sender) && state.func !== "share";
  for (const c of cs) {
    const size = c.pageCount * PAGE_SIZE;
    // MAP_ACTION_COMMIT_UNPROTECT: CHECK(arch_memory_unprotect()) — a range the send left unprotected
    // while it counted as protected (send_complete.ts: the last constituent's outcome decides) panics.
    if (state.memoryProtected && !archMemoryUnprotect(hf.machine, ctx, c.address, size))
      return hf.panic(unprotectCheckFailed(c.address, size));
    const first = pages.first(c.address, c.pageCount);
    pages.setSenderMode(ep.id, first, first + c.pageCount, state.senderOrigMode);
    pages.setHolder(first, first + c.pageCount, 0);
    if (toNormal) hf.machine.setOwner(c.address, size, NORMAL);
  }
  hf.shares.free(state);
  hf.auditFreed(state);
  return ffaSuccess();
}
