/**
 * FFA_MEM_SHARE / LEND / DONATE and FFA_MEM_FRAG_TX at Hafnium — src/api.c api_ffa_mem_send(),
 * api_ffa_mem_frag_tx(); src/ffa_memory.c ffa_memory_send_validate(), ffa_memory_send(),
 * ffa_memory_send_continue(), ffa_memory_send_complete(); src/ffa/spmc/ffa_memory.c
 * ffa_memory_is_send_valid(). Every check in Hafnium's order, with its code (reference/ffa.md §5.3).
 */
import {
  FFA_ABORTED,
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_DONATE_32,
  FFA_MEM_DONATE_64,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_TIME_SLICE,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_NO_MEMORY,
  FFA_NOT_SUPPORTED,
  unpackMemAccessPermissions,
  unpackMemAttributes,
  type FfaVersion,
} from "../../abi/ffa/index.ts";
import { COMPOSITE_SIZE, CONSTITUENT_SIZE } from "../../abi/ffa/layout.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { CallCtx, ffaMemFragRx, hex, w } from "../spmc/regs.ts";
import type { ShareFunc, ShareState } from "../spmc/share_state.ts";
import { MM_PPOOL_ENTRY_SIZE } from "../spmc/spmc.ts";
import { attributesValidate, memorySecurity } from "./attributes.ts";
import { sendComplete } from "./send_complete.ts";
import type { HafniumSpmc } from "./hafnium.ts";
import { poolCopy, readConstituents, readRegion, sanityCheck, type HfRegion } from "./region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

export function shareFuncOf(fid: number): ShareFunc {
  if (fid === FFA_MEM_DONATE_32 || fid === FFA_MEM_DONATE_64) return "donate";
  if (fid === FFA_MEM_LEND_32 || fid === FFA_MEM_LEND_64) return "lend";
  return "share";
}

/** api_ffa_mem_send(). */
export function memSend(
  hf: HafniumSpmc,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  fid: number,
  regs: SmcRegs,
): SmcRegs {
  const func = shareFuncOf(fid);
  const length = w(regs, 1);
  const fragmentLength = w(regs, 2);
  if (regs[3] !== 0n || w(regs, 4) !== 0)
    return ctx.reject(
      INVAL,
      "tx-buffer-only",
      "Hafnium only supports passing the descriptor in the TX mailbox (w3/w4 MBZ)",
    );
  if (fragmentLength > length)
    return ctx.reject(
      INVAL,
      "fragment-gt-total",
      () => `fragment length ${fragmentLength} greater than total length ${length}`,
    );
  if (fragmentLength > hf.mailboxSize || fragmentLength > MM_PPOOL_ENTRY_SIZE)
    return ctx.reject(
      INVAL,
      "fragment-gt-mailbox",
      () => `fragment length ${fragmentLength} larger than the mailbox`,
    );
  if (ep.tx === null)
    return ctx.reject(INVAL, "tx-not-mapped", () => `TX buffer of ${hex(ep.id)} not set up`);
  const bytes = hf.readTx(ctx, ep, 0, fragmentLength);
  if (bytes === null)
    return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the descriptor from the TX buffer faulted");
  const buf = poolCopy(bytes);
  const layout: FfaVersion = ep.layout;
  const sane = sanityCheck(buf, layout, fragmentLength, true, hf.limits.maxRecipients);
  if (sane) return ctx.reject(INVAL, sane.rule, sane.why);
  const region = readRegion(buf, layout, fragmentLength, length, true);
  if (region === "not-supported")
    return ctx.reject(
      FFA_NOT_SUPPORTED,
      "v1_0-conversion-too-big",
      "translation of FF-A v1.0 descriptors over one page is unsupported",
    );
  const clear = (region.flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0;
  // api_memory_region_check_flags()
  if (func === "share" && clear)
    return ctx.reject(INVAL, "clear-on-share", "zero-memory flag on FFA_MEM_SHARE");
  if ((region.flags & ~(FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_TIME_SLICE)) !== 0)
    return ctx.reject(INVAL, "flags-mbz", () => `flags ${hex(region.flags >>> 0)}: bits[31:2] MBZ`);
  if (func === "donate" && region.receiverCount !== 1)
    return ctx.reject(
      INVAL,
      "donate-single-receiver",
      () => `FFA_MEM_DONATE supports one recipient, got ${region.receiverCount}`,
    );
  for (const e of region.emads) {
    const id = e.receiver_id;
    if ((isSecureId(id) && !hf.endpoint(id)) || id === ep.id)
      return ctx.reject(
        INVAL,
        "receiver-invalid",
        () => `receiver ${hex(id)} does not exist or is the caller`,
      );
    if (!sendPolicy(id, ep.id, func, region.receiverCount > 1))
      return ctx.reject(
        FFA_DENIED,
        "send-policy",
        () => `the SPMC does not let ${hex(ep.id)} ${func} memory to ${hex(id)}`,
      );
  }
  const invalid = sendValidate(ctx, ep, region, func);
  if (invalid) return invalid;
  const typeFlag =
    func === "share"
      ? FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE
      : func === "lend"
        ? FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND
        : FFA_MEMORY_REGION_TRANSACTION_TYPE_DONATE;
  const state = hf.shares.allocate((slot, handle): ShareState => ({
    slot,
    handle,
    func,
    fid,
    sender: region.sender,
    senderLayout: layout,
    attributes: region.attributes,
    flags: (region.flags | typeFlag) >>> 0,
    tag: region.tag,
    emadSize: region.emadSize,
    receivers: region.emads.map((e) => ({
      id: e.receiver_id,
      permissions: storedPermissions(func, e.permissions, e.receiver_id),
      flags: e.flags,
      impdef: e.impdef,
      retrievedFragments: 0,
      mode: 0,
      response: null,
    })),
    totalPageCount: region.compositePageCount,
    constituentCount: region.compositeConstituentCount,
    fragments: [region.constituents],
    all: null,
    bytesReceived: fragmentLength,
    totalLength: region.totalLength,
    sendingComplete: false,
    senderOrigMode: 0,
    memoryProtected: false,
    hypervisorFragmentCount: 0,
    hypervisorResponse: null,
  }));
  if (!state)
    return ctx.reject(
      FFA_NO_MEMORY,
      "share-states-full",
      () => `all ${hf.limits.maxShares} share states are in use`,
    );
  if (region.fragmentLength === region.totalLength) return sendComplete(hf, ctx, ep, state);
  // ffa_memory_send(): w1/w2 handle, w3 fragment offset, w4 = sender_to_ret << 16 (as in FRAG_TX).
  return ffaMemFragRx(state.handle, fragmentLength, ep.secure ? 0 : region.sender);
}

/** ffa_memory_is_send_valid() — SPMC: lend/donate only to SPs; share SP→SP, VM→SP, or VM to several borrowers. */
function sendPolicy(receiver: number, sender: number, func: ShareFunc, multiple: boolean): boolean {
  const rSp = isSecureId(receiver);
  const sSp = isSecureId(sender);
  if (func !== "share") return rSp;
  return (sSp && rSp) || (!sSp && !multiple && rSp) || (!sSp && multiple);
}

/** For a share to a secure receiver Hafnium stores NX (required, but not given by the sender). */
function storedPermissions(func: ShareFunc, permissions: number, receiver: number): number {
  if (func === "share" && isSecureId(receiver)) return (permissions & ~0xc) | (1 << 2);
  return permissions;
}

/** ffa_memory_send_validate(): the error to return, or null. */
function sendValidate(ctx: CallCtx, ep: SpmcEndpoint, r: HfRegion, func: ShareFunc): SmcRegs | null {
  const frag = r.fragmentLength;
  const total = r.totalLength;
  // minimum_first_fragment_length: receivers_offset + memory_access_desc_size in u32, then + 16.
  if (frag < ((r.receiversOffset + r.emadSize) >>> 0) + COMPOSITE_SIZE)
    return ctx.reject(
      INVAL,
      "fragment-too-short",
      () => `fragment length ${frag} too short for the header, EMAD and composite`,
    );
  if (frag % 16 !== 0 || total % 16 !== 0)
    return ctx.reject(
      INVAL,
      "length-aligned",
      () => `fragment length ${frag} or total length ${total} is not 16-byte aligned`,
    );
  if (frag > total)
    return ctx.reject(
      INVAL,
      "fragment-gt-total",
      () => `fragment length ${frag} greater than total ${total}`,
    );
  // The sender must match the caller: an SP must name itself; a VM cannot claim an SP's ID.
  if ((!ep.secure && isSecureId(r.sender)) || (ep.secure && r.sender !== ep.id))
    return ctx.reject(
      FFA_DENIED,
      "sender-is-caller",
      () => `descriptor sender ${hex(r.sender)} is not the caller ${hex(ep.id)}`,
    );
  const receiversEnd = r.emadSize * r.receiverCount + r.receiversOffset;
  if (receiversEnd + COMPOSITE_SIZE + CONSTITUENT_SIZE > total)
    return ctx.reject(
      INVAL,
      "total-too-short",
      () => `total length ${total} shorter than one constituent needs`,
    );
  const c = r.compositeOffset;
  if (c < receiversEnd || c % 16 !== 0 || c > frag - COMPOSITE_SIZE)
    return ctx.reject(INVAL, "composite-offset", () => `invalid composite offset ${c}`);
  const constituentsLength = total - (c + COMPOSITE_SIZE);
  if (
    constituentsLength % CONSTITUENT_SIZE !== 0 ||
    constituentsLength / CONSTITUENT_SIZE !== r.compositeConstituentCount
  )
    return ctx.reject(
      INVAL,
      "constituent-count-length",
      () => `${r.compositeConstituentCount} constituents do not fill the ${total}-byte descriptor`,
    );
  const clear = (r.flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0;
  if (clear && func === "share")
    return ctx.reject(INVAL, "clear-on-share", "memory can't be cleared while being shared");
  if ((r.flags & ~FFA_MEMORY_REGION_FLAG_CLEAR) !== 0)
    return ctx.reject(
      INVAL,
      "send-flags",
      () => `invalid flags ${hex(r.flags >>> 0)} (only zero-memory is supported)`,
    );
  for (let i = 0; i < r.emads.length; i++) {
    const e = r.emads[i];
    if (e.receiver_id === r.sender)
      return ctx.reject(INVAL, "receiver-is-sender", "can't share memory with itself");
    for (let j = i + 1; j < r.emads.length; j++) {
      if (r.emads[j].receiver_id === e.receiver_id)
        return ctx.reject(INVAL, "receiver-duplicate", () => `repeated receiver ${hex(e.receiver_id)}`);
    }
    const perm = unpackMemAccessPermissions(e.permissions);
    if (perm.data === "reserved" || perm.instruction === "reserved")
      return ctx.reject(INVAL, "access-reserved", () => `reserved permissions ${hex(e.permissions)}`);
    if (perm.instruction !== "not-specified")
      return ctx.reject(
        INVAL,
        "send-instruction-access",
        () => `instruction access ${perm.instruction} given by the sender`,
      );
    if (func === "share" && perm.data === "not-specified")
      return ctx.reject(INVAL, "share-data-access", "data access not specified for a share");
    if (func === "lend" && perm.data === "not-specified")
      return ctx.reject(INVAL, "lend-data-access", "data access not specified for a lend");
    if (func === "donate" && perm.data !== "not-specified")
      return ctx.reject(INVAL, "donate-data-access", () => `data access ${perm.data} specified for a donate`);
  }
  // "Memory region attributes NS-Bit MBZ": `attributes.security` is the 2-bit field [7:6], compared
  // with FFA_MEMORY_SECURITY_UNSPECIFIED (0), so bit 7 (reserved) is refused as well as NS (bit 6).
  const security = memorySecurity(r.attributes);
  if (security !== 0)
    return ctx.reject(
      INVAL,
      "ns-bit",
      () => `security state ${security} (attributes bits[7:6]) in a send MBZ`,
    );
  if (func === "donate" || (func === "lend" && r.receiverCount === 1)) {
    if (unpackMemAttributes(r.attributes).type !== "not-specified")
      return ctx.reject(
        INVAL,
        "memory-type-given",
        "the sender of a donate or single-borrower lend must not give the memory type",
      );
  } else {
    const bad = attributesValidate(r.attributes);
    if (bad) return ctx.reject(FFA_DENIED, "attributes", bad);
  }
  return null;
}

/**
 * api_ffa_mem_frag_tx() + ffa_memory_send_continue(): the answer is FFA_SUCCESS once the last
 * fragment is in, else FFA_MEM_FRAG_RX {w1/w2 handle, w3 next offset, w4 sender << 16}.
 */
export function fragTx(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const handle = BigInt(w(regs, 1)) | (BigInt(w(regs, 2)) << 32n);
  const fragmentLength = w(regs, 3);
  const senderId = (w(regs, 4) >>> 16) & 0xffff;
  if (ep.secure && senderId !== 0)
    return ctx.reject(INVAL, "frag-sender-mbz", "sender ID in w4 MBZ at the virtual instance");
  if (ep.tx === null) return ctx.reject(INVAL, "tx-not-mapped", () => `mailbox of ${hex(ep.id)} is not set`);
  if (fragmentLength > hf.mailboxSize || fragmentLength > MM_PPOOL_ENTRY_SIZE)
    return ctx.reject(
      INVAL,
      "fragment-gt-mailbox",
      () => `fragment length ${fragmentLength} larger than the mailbox`,
    );
  if (fragmentLength < CONSTITUENT_SIZE || fragmentLength % CONSTITUENT_SIZE !== 0)
    return ctx.reject(INVAL, "fragment-length", () => `invalid fragment length ${fragmentLength}`);
  const bytes = hf.readTx(ctx, ep, 0, fragmentLength);
  if (bytes === null) return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the fragment faulted");
  if (handle >> 63n !== 0n)
    return ctx.reject(
      INVAL,
      "handle-other-world",
      () => `handle ${hex(handle)} was not allocated by the SPMC`,
    );
  const state = hf.shares.get(handle);
  if (!state)
    return ctx.reject(
      INVAL,
      "unknown-handle",
      () => `invalid handle ${hex(handle)} for memory send continuation`,
    );
  if (ep.secure && state.sender !== ep.id)
    return ctx.reject(INVAL, "frag-sender", () => `${hex(ep.id)} is not the sender ${hex(state.sender)}`);
  if (state.sendingComplete)
    return ctx.reject(INVAL, "sending-complete", () => `sending of ${hex(handle)} is already complete`);
  if (state.fragments.length === hf.limits.maxFragments) {
    hf.shares.free(state);
    return ctx.reject(
      FFA_NO_MEMORY,
      "too-many-fragments",
      () => `only ${hf.limits.maxFragments} fragments supported; share state freed`,
    );
  }
  if (state.receivers.some((r) => !isSecureId(r.id)))
    return ctx.reject(
      INVAL,
      "receivers-other-world",
      "hypervisor-allocated handle expected for a send to the other world",
    );
  state.fragments.push(readConstituents(bytes));
  state.bytesReceived += fragmentLength;
  let received = 0;
  for (const f of state.fragments) received += f.length;
  if (received === state.constituentCount) return sendComplete(hf, ctx, ep, state, true);
  // ffa_memory_send_continue(): "sender_to_ret" is the descriptor's sender when the caller is the other
  // world (HF_OTHER_WORLD_ID: the normal world at the SPMC), 0 at the virtual instance; w4 = it << 16.
  return ffaMemFragRx(handle, state.bytesReceived, ep.secure ? 0 : state.sender);
}
