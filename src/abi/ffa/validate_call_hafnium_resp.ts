/**
 * FFA_MEM_RETRIEVE_RESP as Hafnium produces it — TF-Hafnium/hafnium 21bfbdc1 src/ffa_memory.c
 * ffa_partition_retrieve_response_init(), ffa_hypervisor_retrieve_response_init(),
 * ffa_retrieve_resp_composite_init_and_lengths_multi(), ffa_memory_send() (the flags it stores);
 * vmlib/ffa.c ffa_memory_region_init_header(), ffa_memory_access_init(); inc/vmapi/hf/ffa.h
 * ffa_memory_region_init_get_composite_offset() (reference/ffa.md §5.4). A problem here has no error
 * code: it is a response Hafnium never writes.
 */

import { unpackMemAccessPermissions } from "./attributes.ts";
import {
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK,
  unpackMemRegionFlags,
} from "./flags.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_RESERVED,
  COMPOSITE_SIZE,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_PERMISSIONS,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_HEADER_SIZE_V1_1,
  MTD_TAG,
  emadSize,
  mtdReservedLayout,
} from "./layout.ts";
import { emadOffsetOf } from "./mem_region.ts";
import { hex } from "./problem.ts";
import type { CallCheck } from "./validate_call.ts";
import {
  checkConstituentsAligned,
  checkHandleAllocator,
  checkOverlap,
  checkPageSum,
} from "./validate_call_hafnium_region.ts";

/**
 * FFA_MEM_RETRIEVE_RESP as Hafnium builds it (ffa_partition_retrieve_response_init(),
 * ffa_hypervisor_retrieve_response_init()): the header from ffa_memory_region_init_header() — the
 * sender's attributes (with the NS bit the SPMC sets) and flags (with the transaction type it added at
 * send), tag 0, the caller's EMAD size, receivers at 48; one EMAD for a partition (every borrower for
 * the hypervisor), each pointing at the composite right after the EMADs; then the whole composite.
 */
export function hafniumRetrieveResp(c: CallCheck, max: number): void {
  const d = c.desc;
  const src = "ffa_memory_region_init_header()";
  const layout = mtdReservedLayout(c.version);
  for (let i = 0; i < layout.length; i++) {
    const value = d.reserved[i] ?? 0;
    if (value !== 0) {
      const name = c.version === "1.0" ? `reserved_${i}` : `reserved[${i}]`;
      c.fail(
        null,
        src,
        "reserved-mbz",
        name,
        layout[i].offset,
        `${name} is ${hex(value)}; Hafnium zeroes it`,
      );
    }
  }
  let whole = true;
  if (c.version !== "1.0") {
    const size = emadSize(c.version);
    if (d.emad_size !== size) {
      const why =
        `memory access descriptor size ${d.emad_size}: Hafnium answers a v${c.version} caller ` +
        `with ${size}-byte EMADs (ffa_get_version_memory_access_desc_size())`;
      c.fail(null, src, "resp-emad-size", "emad_size", MTD_EMAD_SIZE, why);
      whole = false;
    }
    if (d.emad_offset !== MTD_HEADER_SIZE_V1_1) {
      c.fail(
        null,
        src,
        "resp-receivers-offset",
        "emad_offset",
        MTD_EMAD_OFFSET,
        `receivers offset ${d.emad_offset}: Hafnium puts the EMADs at ${MTD_HEADER_SIZE_V1_1}`,
      );
      whole = false;
    }
  }
  if (d.emad_count < 1 || d.emad_count > max) {
    const why = `${d.emad_count} EMADs: a response holds the caller's (1), or every borrower's for the hypervisor (at most ${max})`;
    c.fail(null, src, "receiver-count", "emad_count", MTD_EMAD_COUNT, why);
    whole = false;
  }
  if (d.tag !== 0n)
    c.fail(null, src, "resp-tag-zero", "tag", MTD_TAG, `tag ${hex(d.tag)}: Hafnium's response carries tag 0`);
  checkResponseFlags(c);
  checkHandleAllocator(c, "ffa_memory_retrieve()", null);
  if (d.emad_count === 1)
    c.note(
      "one EMAD: a partition's response (the granted permissions: data RO or RW, instruction NX or X) " +
        "or the hypervisor's for a single borrower (the sender's permissions); permissions are not checked",
    );
  if (whole) checkResponseBody(c);
}

/** The stored flags: CLEAR as the sender gave it (nothing else passes send), plus the transaction type. */
function checkResponseFlags(c: CallCheck): void {
  const flags = c.desc.flags >>> 0;
  const src = "ffa_memory_send() (flags kept from the send)";
  if ((flags & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK) === 0) {
    c.fail(
      null,
      src,
      "resp-transaction-type",
      "flags",
      MTD_FLAGS,
      "transaction type (bits[4:3]) is 0: Hafnium records share, lend or donate at send",
    );
  }
  const other = (flags & ~(FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK)) >>> 0;
  if (other !== 0) {
    c.fail(
      null,
      src,
      "resp-flags",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: bits ${hex(other)} set; a send keeps only zero-memory (bit 0)`,
    );
  }
  if (
    unpackMemRegionFlags(flags).transactionType === "share" &&
    (flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0
  ) {
    c.fail(
      null,
      src,
      "clear-on-share",
      "flags",
      MTD_FLAGS,
      "zero-memory flag on a share: no share is accepted with it",
    );
  }
}

/** EMADs and composite of a response whose header is as Hafnium writes it. */
function checkResponseBody(c: CallCheck): void {
  const d = c.desc;
  const want = d.emad_offset + d.emad_count * d.emad_size; // v1.0: 32 + 16n, from v1.1: 48 + size × n
  for (let i = 0; i < d.emads.length; i++) {
    const e = d.emads[i];
    const base = emadOffsetOf(d, i);
    if (e.reserved !== 0n) {
      c.fail(
        null,
        "ffa_memory_access_init()",
        "reserved-mbz",
        `emads[${i}].reserved`,
        base + (d.emad_size >= 32 ? 24 : 8),
        `EMAD[${i}] reserved is ${hex(e.reserved)}; Hafnium zeroes it`,
      );
    }
    const perm = unpackMemAccessPermissions(e.permissions);
    if (perm.data === "reserved" || perm.instruction === "reserved") {
      c.fail(
        null,
        "ffa_memory_access_init()",
        "access-reserved",
        `emads[${i}].permissions`,
        base + EMAD_PERMISSIONS,
        `permissions ${hex(e.permissions)}: a reserved access is never granted or sent`,
      );
    }
    if (e.composite_offset !== want) {
      const why = `composite offset ${e.composite_offset}: Hafnium puts the composite right after the EMADs, at ${want}`;
      c.fail(
        null,
        "ffa_memory_region_init_get_composite_offset()",
        "resp-composite-offset",
        `emads[${i}].composite_offset`,
        base + EMAD_COMPOSITE_OFFSET,
        why,
      );
    }
  }
  const comp = d.composite;
  if (comp === null) return; // every EMAD pointing at 0 already fired resp-composite-offset
  const src = "ffa_retrieve_resp_composite_init_and_lengths_multi()";
  if (comp.reserved !== 0n) {
    c.fail(
      null,
      src,
      "reserved-mbz",
      "composite.reserved",
      comp.offset + COMPOSITE_RESERVED,
      `composite reserved is ${hex(comp.reserved)}; Hafnium zeroes it`,
    );
  }
  const room = (d.length - comp.offset - COMPOSITE_SIZE) / CONSTITUENT_SIZE;
  if (room !== comp.address_range_count) {
    const why = `address_range_count ${comp.address_range_count}, but the ${d.length}-byte response (all fragments) has room for ${room}`;
    c.fail(
      null,
      src,
      "constituent-count-length",
      "composite.address_range_count",
      comp.offset + COMPOSITE_ADDRESS_RANGE_COUNT,
      why,
    );
  }
  checkPageSum(c, null, "ffa_send_check_update() (checked at send)");
  checkConstituentsAligned(c, null, "constituents_get_mode() (checked at send)");
  checkOverlap(c, null, "ffa_memory_check_overlap() (checked at send)");
}
