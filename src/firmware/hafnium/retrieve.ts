/**
 * FFA_MEM_RETRIEVE_REQ and its FFA_MEM_FRAG_RX continuation at Hafnium — src/api.c
 * api_ffa_mem_retrieve_req(), api_ffa_mem_frag_rx(); src/ffa_memory.c ffa_memory_retrieve(),
 * ffa_partition_retrieve_request(), ffa_hypervisor_retrieve_request(), ffa_memory_retrieve_validate(),
 * ffa_memory_retrieve_continue() (v2.14.0 / v2.15.0; reference/ffa.md §5.4). The order a partition's
 * request meets the rules in: the API checks (registers, length, TX, copy, RX busy, sanity, handle's
 * world), the handle, sending complete, then ffa_memory_retrieve_validate() (length, sender DENIED,
 * transaction type, tag, caller a borrower, flags, NS bit, attributes), then the access list
 * (retrieve_access.ts), then device-as-Normal (DENIED) and the retriever's current mode (DENIED).
 * A LEND retrieved with the transaction type SHARE is therefore refused as "transaction-type" before
 * any permission is looked at; a LEND retrieved as LEND with instruction access NOT_SPECIFIED (OP-TEE
 * 4.9's request) passes validate and is refused by the access list.
 */
import {
  FFA_ABORTED,
  FFA_BUSY,
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK,
  FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK,
  FFA_MEMORY_SECURITY_NS_BIT,
  FFA_NOT_SUPPORTED,
  unpackMemAttributes,
} from "../../abi/ffa/index.ts";
import { MTD_EMAD_COUNT } from "../../abi/ffa/layout.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { MM_MODE_D, MM_MODE_SHARED, MM_MODE_UNOWNED } from "../spmc/page_state.ts";
import { CallCtx, ffaMemFragTx, ffaMemRetrieveResp, hex, w } from "../spmc/regs.ts";
import type { ShareState } from "../spmc/share_state.ts";
import { MM_PPOOL_ENTRY_SIZE } from "../spmc/spmc.ts";
import { attributesValidate, memorySecurity } from "./attributes.ts";
import type { HafniumSpmc } from "./hafnium.ts";
import { permissionsToMode } from "./modes.ts";
import { poolCopy, readRegion, sanityCheck, type HfRegion } from "./region.ts";
import { rmeSupported } from "./memory_protect.ts";
import { validateAccessList } from "./retrieve_access.ts";
import { buildRetrieveResponse, responseOffset } from "./retrieve_resp.ts";
import { retrieveComplete } from "./release.ts";

const INVAL = FFA_INVALID_PARAMETERS;

/** api_ffa_mem_retrieve_req(). */
export function retrieveReq(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const length = w(regs, 1);
  const fragmentLength = w(regs, 2);
  if (regs[3] !== 0n || w(regs, 4) !== 0)
    return ctx.reject(INVAL, "tx-buffer-only", "w3/w4 MBZ: only the TX buffer is supported");
  if (fragmentLength !== length)
    return ctx.reject(INVAL, "retrieve-fragmented", "fragmented retrieve requests are not supported");
  if (length > hf.mailboxSize || length > MM_PPOOL_ENTRY_SIZE)
    return ctx.reject(INVAL, "retrieve-too-long", () => `retrieve request of ${length} bytes is too long`);
  if (ep.tx === null) return ctx.reject(INVAL, "tx-not-mapped", "TX buffer not set up");
  const bytes = hf.readTx(ctx, ep, 0, length);
  if (bytes === null) return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the retrieve request faulted");
  if (ep.rxFull) return ctx.reject(FFA_BUSY, "rx-busy", () => `RX buffer of ${hex(ep.id)} is still full`);
  const buf = poolCopy(bytes);
  const count = new DataView(buf.buffer, buf.byteOffset).getUint32(MTD_EMAD_COUNT, true);
  let req: HfRegion | null = null;
  if (count !== 0) {
    const sane = sanityCheck(buf, ep.layout, length, false, hf.limits.maxRecipients);
    if (sane) return ctx.reject(INVAL, sane.rule, sane.why);
    const r = readRegion(buf, ep.layout, length, length, false);
    if (r === "not-supported")
      return ctx.reject(FFA_NOT_SUPPORTED, "v1_0-conversion-too-big", "v1.0 retrieve too big");
    req = r;
  } else {
    const bad = hypervisorRequestInvalid(buf, ep);
    if (bad) return ctx.reject(INVAL, "hypervisor-retrieve-zero", bad);
  }
  const handle = new DataView(buf.buffer, buf.byteOffset).getBigUint64(8, true);
  if (handle >> 63n !== 0n)
    return ctx.reject(INVAL, "handle-other-world", () => `handle ${hex(handle)} not allocated by the SPMC`);
  const state = hf.shares.get(handle);
  if (!state)
    return ctx.reject(
      INVAL,
      "unknown-handle",
      () => `invalid handle ${hex(handle)} for FFA_MEM_RETRIEVE_REQ`,
    );
  const out =
    req === null ? hypervisorRetrieve(hf, ctx, ep, state) : partitionRetrieve(hf, ctx, ep, state, req);
  return out;
}

/** api_ffa_memory_hypervisor_retrieve_request_validate(): every field but the handle MBZ. */
function hypervisorRequestInvalid(buf: Uint8Array, ep: SpmcEndpoint): string | null {
  if (ep.secure) return "a retrieve request without receivers is only for the hypervisor";
  const d = new DataView(buf.buffer, buf.byteOffset);
  const v10 = ep.layout === "1.0";
  const nonzero =
    d.getUint16(0, true) !== 0 ||
    (v10 ? d.getUint8(2) & 0x7f : d.getUint16(2, true) & 0x7f) !== 0 ||
    d.getUint32(4, true) !== 0 ||
    d.getBigUint64(16, true) !== 0n ||
    (!v10 && (d.getUint32(24, true) !== 0 || d.getUint32(32, true) !== 0));
  return nonzero ? "all fields except the handle MBZ in a hypervisor retrieve request" : null;
}

/** ffa_hypervisor_retrieve_request(): the whole descriptor, every receiver, no state change but the count. */
function hypervisorRetrieve(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint, state: ShareState): SmcRegs {
  if (state.hypervisorFragmentCount !== 0)
    return ctx.reject(
      FFA_DENIED,
      "hypervisor-already-retrieving",
      () => `${hex(state.handle)} already retrieved by the hypervisor`,
    );
  const emadSize = ep.layout === "1.2" ? 32 : 16;
  const frags = buildRetrieveResponse(
    state,
    {
      attributes: responseAttributes(state, ep),
      emads: state.receivers.map((r) => ({
        receiver_id: r.id,
        permissions: r.permissions,
        flags: r.flags,
        impdef: r.impdef ?? undefined,
      })),
    },
    ep.layout,
    emadSize,
    ep.bufferBytes,
  );
  if (!hf.writeRx(ctx, ep, frags[0]))
    return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the response to RX faulted");
  state.hypervisorFragmentCount = 1;
  state.hypervisorResponse = frags;
  if (frags.length === 1) state.hypervisorFragmentCount = 0;
  ep.rxFull = true;
  return ffaMemRetrieveResp(totalOf(frags), frags[0].length);
}

function totalOf(frags: readonly Uint8Array[]): number {
  return responseOffset(frags, frags.length);
}

/** The response attributes: the NS bit set for normal-world memory the SPMC did not protect. */
function responseAttributes(state: ShareState, ep: SpmcEndpoint): number {
  const ns = !isSecureId(state.sender) && !state.memoryProtected && ep.layout !== "1.0";
  return (state.attributes & ~FFA_MEMORY_SECURITY_NS_BIT) | (ns ? FFA_MEMORY_SECURITY_NS_BIT : 0);
}

/** ffa_partition_retrieve_request(). */
function partitionRetrieve(
  hf: HafniumSpmc,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  req: HfRegion,
): SmcRegs {
  if (!state.sendingComplete)
    return ctx.reject(
      INVAL,
      "sending-not-complete",
      () => `memory with handle ${hex(state.handle)} not fully sent`,
    );
  const v = retrieveValidate(ctx, ep, state, req);
  if (typeof v !== "number") return v;
  const access = validateAccessList(ctx, ep, state, req, rmeSupported(hf.machine));
  if ("error" in access) return access.error;
  const receiver = access.receiver;
  let mode = permissionsToMode(access.permissions, state.senderOrigMode);
  // Memory type precedence: device memory (or a device-typed send) can't be retrieved as Normal.
  if (
    unpackMemAttributes(req.attributes).type === "normal" &&
    ((state.senderOrigMode & MM_MODE_D) !== 0 || unpackMemAttributes(state.attributes).type === "device")
  )
    return ctx.reject(
      FFA_DENIED,
      "retrieve-device-as-normal",
      "retrieving device memory as Normal memory is not allowed",
    );
  // ffa_retrieve_check_transition(): an SP must not have the memory mapped already.
  if (ep.secure && receiver.mode !== 0)
    return ctx.reject(
      FFA_DENIED,
      "retriever-mode",
      () => `${hex(ep.id)} has already retrieved ${hex(state.handle)}`,
    );
  mode |=
    state.func === "lend" ? MM_MODE_UNOWNED : state.func === "share" ? MM_MODE_UNOWNED | MM_MODE_SHARED : 0;
  const frags = buildRetrieveResponse(
    state,
    {
      attributes: responseAttributes(state, ep),
      emads: [
        {
          receiver_id: receiver.id,
          permissions: access.permissions,
          flags: receiver.flags,
          impdef: receiver.impdef ?? undefined,
        },
      ],
    },
    ep.layout,
    req.emadSize,
    ep.bufferBytes,
  );
  if (!hf.writeRx(ctx, ep, frags[0]))
    return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the response to RX faulted");
  receiver.mode = ep.secure ? mode : 0;
  receiver.retrievedFragments = 1;
  receiver.response = frags;
  ep.rxFull = true;
  if (frags.length === 1) retrieveComplete(hf, state, receiver);
  hf.audit(state);
  return ffaMemRetrieveResp(totalOf(frags), frags[0].length);
}

/** ffa_memory_retrieve_validate(): the caller's receiver ID, or the error. */
function retrieveValidate(
  ctx: CallCtx,
  ep: SpmcEndpoint,
  state: ShareState,
  req: HfRegion,
): number | SmcRegs {
  // receivers_offset + (uint32_t)(receiver_count × memory_access_desc_size), in u32.
  const expected = (req.receiversOffset + (Math.imul(req.receiverCount, req.emadSize) >>> 0)) >>> 0;
  if (req.fragmentLength !== expected)
    return ctx.reject(
      INVAL,
      "retrieve-length",
      () => `retrieve request length ${req.fragmentLength} is not header + EMADs`,
    );
  if (req.sender !== state.sender)
    return ctx.reject(
      FFA_DENIED,
      "retrieve-sender",
      () => `request sender ${hex(req.sender)} is not ${hex(state.sender)}`,
    );
  let toId = ep.id;
  if (!ep.secure) {
    // The SPMC cannot tell which VM called: it takes the one normal-world borrower listed.
    let others = 0;
    for (let i = 0; i < Math.min(state.receivers.length, req.emads.length); i++) {
      const id = req.emads[i].receiver_id;
      if (!isSecureId(id)) {
        others++;
        toId = id;
      }
    }
    if (others > 1)
      return ctx.reject(
        FFA_NOT_SUPPORTED,
        "retrieve-nwd-borrowers",
        "only one borrower from the other world is supported",
      );
  }
  const type = req.flags & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK;
  if (type !== 0 && type !== (state.flags & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK))
    return ctx.reject(INVAL, "transaction-type", () => `transaction type ${type >> 3} is not the sender's`);
  if (req.tag !== state.tag)
    return ctx.reject(INVAL, "tag-mismatch", () => `tag ${req.tag} is not the sender's ${state.tag}`);
  if (!state.receivers.some((r) => r.id === toId))
    return ctx.reject(
      INVAL,
      "caller-not-receiver",
      () => `${hex(toId)} is not a borrower of ${hex(state.handle)}`,
    );
  if ((req.flags & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID) !== 0)
    return ctx.reject(INVAL, "address-hint-valid", "address range alignment hint not supported");
  if ((req.flags & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK) !== 0)
    return ctx.reject(INVAL, "address-hint-mbz", "bits[8:5] must be zero");
  if ((req.flags & ~0x7ff) !== 0)
    return ctx.reject(INVAL, "retrieve-flags-mbz", () => `flags ${hex(req.flags >>> 0)}: bits[31:11] MBZ`);
  const clears = (req.flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  if (state.func === "share" && clears)
    return ctx.reject(INVAL, "clear-on-share", "a share can't be cleared");
  if ((req.flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0 && (state.flags & FFA_MEMORY_REGION_FLAG_CLEAR) === 0)
    return ctx.reject(
      FFA_DENIED,
      "clear-not-set-by-sender",
      "the borrower asks for clearing the sender did not request",
    );
  // `attributes.security` (bits [7:6]) must be FFA_MEMORY_SECURITY_UNSPECIFIED: bit 7 too.
  const security = memorySecurity(req.attributes);
  if (security !== 0)
    return ctx.reject(
      INVAL,
      "ns-bit",
      () => `security state ${security} (attributes bits[7:6]) in a retrieve request MBZ`,
    );
  if (unpackMemAttributes(req.attributes).type !== "not-specified") {
    const bad = attributesValidate(req.attributes);
    if (bad) return ctx.reject(FFA_DENIED, "attributes", bad);
  }
  return toId;
}

/** api_ffa_mem_frag_rx() + ffa_memory_retrieve_continue(). */
export function fragRx(hf: HafniumSpmc, ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
  const handle = BigInt(w(regs, 1)) | (BigInt(w(regs, 2)) << 32n);
  const offset = w(regs, 3);
  const senderId = (w(regs, 4) >>> 16) & 0xffff;
  if (ep.secure && senderId !== 0)
    return ctx.reject(INVAL, "frag-sender-mbz", "sender ID in w4 MBZ at the virtual instance");
  if (ep.rxFull) return ctx.reject(FFA_BUSY, "rx-busy", () => `RX buffer of ${hex(ep.id)} is not ready`);
  const state = hf.shares.get(handle);
  if (!state)
    return ctx.reject(INVAL, "unknown-handle", () => `invalid handle ${hex(handle)} for FFA_MEM_FRAG_RX`);
  if (!state.sendingComplete)
    return ctx.reject(INVAL, "sending-not-complete", () => `${hex(handle)} not fully sent`);
  const hyp = !ep.secure && state.hypervisorFragmentCount !== 0 && !isSecureId(senderId);
  let frags: Uint8Array[];
  let index: number;
  const receiver = state.receivers.find((r) => r.id === ep.id);
  if (!hyp) {
    if (!receiver)
      return ctx.reject(
        INVAL,
        "caller-not-receiver",
        () => `${hex(ep.id)} is not a borrower of ${hex(handle)}`,
      );
    frags = receiver.response ?? [];
    index = receiver.retrievedFragments;
    if (index === 0 || index >= frags.length)
      return ctx.reject(
        INVAL,
        "retrieve-not-in-progress",
        () => `retrieval of ${hex(handle)} not started or already complete`,
      );
  } else {
    frags = state.hypervisorResponse ?? [];
    index = state.hypervisorFragmentCount;
    if (index >= frags.length)
      return ctx.reject(INVAL, "retrieve-not-in-progress", "hypervisor retrieve not in progress");
    if (state.sender !== senderId)
      return ctx.reject(INVAL, "frag-sender", () => `sender ${hex(senderId)} is not ${hex(state.sender)}`);
  }
  const expected = responseOffset(frags, index);
  if (offset !== expected)
    return ctx.reject(INVAL, "fragment-offset", () => `fragment offset ${offset}, expected ${expected}`);
  if (!hf.writeRx(ctx, ep, frags[index]))
    return ctx.reject(FFA_ABORTED, "copy-faulted", "copying the fragment to RX faulted");
  ep.rxFull = true;
  if (!hyp && receiver) {
    receiver.retrievedFragments++;
    if (receiver.retrievedFragments === frags.length) retrieveComplete(hf, state, receiver);
  } else {
    state.hypervisorFragmentCount++;
    if (state.hypervisorFragmentCount === frags.length) state.hypervisorFragmentCount = 0;
  }
  return ffaMemFragTx(handle, frags[index].length);
}
