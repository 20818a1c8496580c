/**
 * The FFA_MEM_RETRIEVE_RESP descriptor and its fragments — Hafnium src/ffa_memory.c
 * ffa_retrieved_memory_region_init() and ffa_memory_fragment_init() (reference/ffa.md §5.4): the
 * sender's header (tag 0), the EMADs given (one, the caller's, for a partition; all for the
 * hypervisor) in the retriever's layout, one composite, then the constituents. The first fragment
 * carries the constituents of the sender's first fragment, each later fragment those of the next
 * sender fragment, as Hafnium replays them. Encoded with the codec (abi/ffa).
 *
 * Our addition: a fragment larger than the retriever's RX buffer is split (Hafnium CHECK-fails there,
 * which only happens when the retriever's layout is bigger than the sender's).
 */
import { encodeMemRegion, type EmadInput, type FfaVersion } from "../../abi/ffa/index.ts";
import {
  COMPOSITE_SIZE,
  CONSTITUENT_SIZE,
  EMAD_SIZE_V1_2,
  compositeOffsetFor,
} from "../../abi/ffa/layout.ts";
import type { ShareState } from "../spmc/share_state.ts";

export interface ResponseHeader {
  readonly attributes: number;
  readonly emads: readonly EmadInput[];
}

/** The response split in fragments, each at most `rxSize` bytes. */
export function buildRetrieveResponse(
  state: ShareState,
  header: ResponseHeader,
  retrieverLayout: FfaVersion,
  emadSize: number,
  rxSize: number,
): Uint8Array[] {
  // The layout to encode: v1.0, or the v1.1+ header with 16- or 32-byte EMADs.
  const layout: FfaVersion = retrieverLayout === "1.0" ? "1.0" : emadSize >= EMAD_SIZE_V1_2 ? "1.2" : "1.1";
  // The header, EMADs and composite header through the codec; the constituents written directly.
  const head = encodeMemRegion(
    {
      sender_id: state.sender,
      attributes: layout === "1.0" ? header.attributes & 0xff : header.attributes,
      flags: state.flags,
      handle: state.handle,
      tag: 0n,
      emads: header.emads,
      constituents: [],
    },
    layout,
    { total_page_count: state.totalPageCount, address_range_count: state.constituentCount },
  );
  const constituentsStart = compositeOffsetFor(layout, header.emads.length) + COMPOSITE_SIZE;
  // The constituents held, which for a send still in progress may be more than the composite's count:
  // ffa_memory_send_continue() appends every whole fragment and completes only when the counts are
  // equal (share_state_sending_complete()), and ffa_hypervisor_retrieve_request() does not require a
  // complete send. (Found by `rstmem ffa fuzz`: the buffer was sized by the count and overflowed.)
  let held = 0;
  for (const f of state.fragments) held += f.length;
  const bytes = new Uint8Array(constituentsStart + Math.max(held, state.constituentCount) * CONSTITUENT_SIZE);
  bytes.set(head);
  const d = new DataView(bytes.buffer);
  let off = constituentsStart;
  for (const f of state.fragments) {
    for (const c of f) {
      d.setUint32(off, c.address % 0x1_0000_0000, true);
      d.setUint32(off + 4, Math.floor(c.address / 0x1_0000_0000), true);
      d.setUint32(off + 8, c.pageCount, true);
      off += 16;
    }
  }
  const cuts: number[] = [];
  let end = constituentsStart;
  for (const f of state.fragments) {
    end += f.length * CONSTITUENT_SIZE;
    cuts.push(end);
  }
  const out: Uint8Array[] = [];
  let start = 0;
  const maxChunk = Math.max(CONSTITUENT_SIZE, rxSize - (rxSize % CONSTITUENT_SIZE));
  for (const cut of cuts) {
    while (cut - start > rxSize) {
      // Split on a constituent boundary inside the RX buffer (the first chunk keeps the header).
      const room =
        start === 0
          ? constituentsStart + Math.floor((rxSize - constituentsStart) / CONSTITUENT_SIZE) * CONSTITUENT_SIZE
          : maxChunk;
      out.push(bytes.subarray(start, start + room));
      start += room;
    }
    out.push(bytes.subarray(start, cut));
    start = cut;
  }
  return out;
}

/** Bytes of the response delivered before fragment `index` (the offset FFA_MEM_FRAG_RX must give). */
export function responseOffset(fragments: readonly Uint8Array[], index: number): number {
  let n = 0;
  for (let i = 0; i < index; i++) n += fragments[i].length;
  return n;
}
