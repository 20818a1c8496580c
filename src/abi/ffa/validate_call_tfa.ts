/**
 * The TF-A EL3 SPMC's descriptor rules — TrustedFirmware-A 6a164dda
 * services/std_svc/spm/el3_spmc/spmc_shared_mem.c: spmc_ffa_mem_send(), spmc_ffa_fill_desc(),
 * spmc_validate_mtd_start(), spmc_shmem_check_obj(), spmc_ffa_mem_retrieve_req(); spmc_main.c
 * spmc_smc_handler() (reference/ffa.md §5.8).
 *
 * Where it differs from Hafnium: only FFA_MEM_SHARE and FFA_MEM_LEND from the normal world (DONATE is
 * not routed: NOT_SUPPORTED); the call's own transaction-type bits are accepted in the flags, nothing
 * else (not CLEAR, not time slicing); any 16-byte-multiple EMAD size and offset; no permission,
 * memory-type, reserved-field or receiver-is-sender check; unaligned addresses only warn; constituents
 * of one descriptor are not compared with each other; a retrieve request's composite offset is not read.
 */

import { FFA_MEMORY_SECURITY_NS_BIT } from "./attributes.ts";
import { FFA_DENIED, FFA_INVALID_PARAMETERS, FFA_NOT_SUPPORTED } from "./error.ts";
import {
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
} from "./flags.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_RECEIVER_ID,
  EMAD_SIZE_V1_0,
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_HANDLE,
  MTD_HEADER_SIZE_V1_1,
  MTD_SENDER_ID,
} from "./layout.ts";
import { emadOffsetOf } from "./mem_region.ts";
import { hex } from "./problem.ts";
import type { CallCheck } from "./validate_call.ts";
import { LENGTH_FIELD, isSecureId } from "./validate_call_hafnium_region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

/** spmc_shmem_obj_state.next_handle's first value (spmc_shared_mem.c): handles count up from here. */
export const TFA_FIRST_HANDLE = 0xffff_ffc0n;

/** The type flag spmc_ffa_mem_send() expects (FFA_MTD_FLAG_TYPE_SHARE_MEMORY / _LEND_MEMORY). */
function typeFlag(func: string): number {
  return func === "share"
    ? FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE
    : FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND;
}

/** FFA_MEM_DONATE / LEND / SHARE at the TF-A EL3 SPMC. */
export function tfaSend(c: CallCheck): void {
  const d = c.desc;
  if (c.func === "donate") {
    const why =
      "the EL3 SPMC supports FFA_MEM_SHARE and FFA_MEM_LEND only; FFA_MEM_DONATE falls to the default case";
    c.fail(FFA_NOT_SUPPORTED, "spmc_smc_handler()", "donate-not-supported", "header", 0, why);
    return;
  }
  const src = "spmc_ffa_fill_desc()";
  if (isSecureId(d.sender_id)) {
    c.fail(
      FFA_DENIED,
      src,
      "sender-secure",
      "sender_id",
      MTD_SENDER_ID,
      `sender ${hex(d.sender_id)} is a secure-world ID; only normal-world senders are allowed`,
    );
  }
  if ((d.attributes & FFA_MEMORY_SECURITY_NS_BIT) !== 0) {
    c.fail(
      INVAL,
      src,
      "ns-bit",
      "attributes",
      MTD_ATTRIBUTES,
      `attributes ${hex(d.attributes)}: NS bit (6) MBZ`,
    );
  }
  const flags = d.flags >>> 0;
  const own = typeFlag(c.func);
  if (flags !== 0 && flags !== own) {
    c.fail(
      INVAL,
      src,
      "send-flags",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: only 0 or the call's own transaction type (${hex(own)}) is supported`,
    );
  }
  if (d.handle !== 0n) c.note(`handle ${hex(d.handle)} is ignored: TF-A writes the handle it allocates`);
  if (mtdStart(c, src) && checkObj(c, INVAL, "spmc_shmem_check_obj()")) {
    unalignedNote(c);
  }
}

/**
 * spmc_validate_mtd_start(): at least one EMAD; from v1.1 the EMAD offset is 16-aligned and past the
 * header, the EMAD size at least 16 and 16-aligned (any multiple); the EMADs and a composite header fit.
 * For v1.0 it takes both the offset and the size as 16 (sizeof(struct ffa_emad_v1_0)) in that sum.
 */
function mtdStart(c: CallCheck, source: string, code: number | null = INVAL): boolean {
  const d = c.desc;
  const src = `spmc_validate_mtd_start() via ${source}`;
  let ok = true;
  if (d.emad_count === 0) {
    c.fail(code, src, "receiver-count", "emad_count", MTD_EMAD_COUNT, "EMAD count 0");
    return false;
  }
  let offset = EMAD_SIZE_V1_0;
  let size = EMAD_SIZE_V1_0;
  if (c.version !== "1.0") {
    if (d.emad_offset % 16 !== 0 || d.emad_offset < MTD_HEADER_SIZE_V1_1) {
      c.fail(
        code,
        src,
        "receivers-offset",
        "emad_offset",
        MTD_EMAD_OFFSET,
        `EMAD offset ${d.emad_offset}: must be 16-aligned and at least ${MTD_HEADER_SIZE_V1_1}`,
      );
      ok = false;
    }
    if (d.emad_size < 16 || d.emad_size % 16 !== 0) {
      c.fail(
        code,
        src,
        "emad-size",
        "emad_size",
        MTD_EMAD_SIZE,
        `EMAD size ${d.emad_size}: must be a multiple of 16, at least 16`,
      );
      ok = false;
    }
    offset = d.emad_offset;
    size = d.emad_size;
  }
  const end = d.emad_count * size + COMPOSITE_SIZE + offset;
  if (end > d.length) {
    c.fail(
      code,
      src,
      "composite-in-bounds",
      LENGTH_FIELD,
      0,
      `the EMADs and a composite header end at ${end}, past the ${d.length}-byte descriptor`,
    );
    ok = false;
  }
  return ok;
}

/**
 * spmc_shmem_check_obj() on the whole descriptor: equal composite offsets, no repeated endpoint, the
 * composite after the EMADs, 16-aligned and in bounds, the constituents exactly filling the rest, the
 * page-count sum (64-bit). Returns true when it passes.
 */
function checkObj(c: CallCheck, code: number | null, src: string): boolean {
  const d = c.desc;
  const before = c.problems.length;
  const comp0 = d.emads[0].composite_offset;
  for (let i = 0; i < d.emads.length; i++) {
    const base = emadOffsetOf(d, i);
    if (d.emads[i].composite_offset !== comp0) {
      c.fail(
        code,
        src,
        "composite-offset-same",
        `emads[${i}].composite_offset`,
        base + EMAD_COMPOSITE_OFFSET,
        `composite offset ${d.emads[i].composite_offset} differs from EMAD[0]'s ${comp0}`,
      );
    }
    for (let j = 0; j < i; j++) {
      if (d.emads[j].receiver_id === d.emads[i].receiver_id) {
        c.fail(
          code,
          src,
          "receiver-duplicate",
          `emads[${i}].receiver_id`,
          base + EMAD_RECEIVER_ID,
          `endpoint ${hex(d.emads[i].receiver_id)} repeats EMAD[${j}]`,
        );
        break;
      }
    }
  }
  const headerEmads = d.emad_offset + d.emad_count * d.emad_size;
  const field = "emads[0].composite_offset";
  const off = emadOffsetOf(d, 0) + EMAD_COMPOSITE_OFFSET;
  if (comp0 < headerEmads || comp0 % 16 !== 0 || comp0 > d.length || d.length - comp0 < COMPOSITE_SIZE) {
    const why =
      `composite offset ${comp0}: must be 16-aligned, at or after the end of the EMADs (${headerEmads}), ` +
      `with its header inside the ${d.length}-byte descriptor`;
    c.fail(code, src, "composite-offset", field, off, why);
    return false;
  }
  const comp = d.composite;
  if (comp === null) return false; // comp0 ≥ headerEmads > 0, so the decoder read it
  const count = Math.floor((d.length - comp0 - COMPOSITE_SIZE) / CONSTITUENT_SIZE);
  if (comp.address_range_count !== count) {
    const why = `address_range_count ${comp.address_range_count}, but the descriptor has room for ${count}`;
    c.fail(
      code,
      src,
      "constituent-count-length",
      "composite.address_range_count",
      comp0 + COMPOSITE_ADDRESS_RANGE_COUNT,
      why,
    );
  } else if (comp0 + COMPOSITE_SIZE + count * CONSTITUENT_SIZE !== d.length) {
    c.fail(
      code,
      src,
      "length-aligned",
      LENGTH_FIELD,
      0,
      `length ${d.length} is not the composite plus whole 16-byte constituents`,
    );
  }
  let sum = 0n;
  for (const k of comp.constituents) sum += BigInt(k.page_count);
  if (sum !== BigInt(comp.total_page_count)) {
    const why = `total_page_count ${comp.total_page_count}, but the constituents sum to ${sum} pages`;
    c.fail(
      code,
      src,
      "total-page-count-sum",
      "composite.total_page_count",
      comp0 + COMPOSITE_TOTAL_PAGE_COUNT,
      why,
    );
  }
  return c.problems.length === before;
}

/** spmc_shmem_check_obj() only WARNs on an unaligned constituent address. */
function unalignedNote(c: CallCheck): void {
  const cs = c.desc.composite?.constituents ?? [];
  const bad = cs.findIndex((k) => BigInt.asUintN(12, k.address) !== 0n);
  if (bad >= 0) c.note(`constituent ${bad} at ${hex(cs[bad].address)} is not 4K-aligned: TF-A only warns`);
}

/** A handle TF-A has handed out: counting up from 0xffffffc0, it never gives a smaller one. */
function checkTfaHandle(c: CallCheck, code: number | null, source: string): void {
  const h = c.desc.handle;
  if (h < TFA_FIRST_HANDLE) {
    const why = `handle ${hex(h)} is below 0xffffffc0, where TF-A's handles start (spmc_shmem_obj_state.next_handle): no transaction has it`;
    c.fail(code, source, "handle-never-allocated", "handle", MTD_HANDLE, why);
  }
}

/** FFA_MEM_RETRIEVE_REQ at the TF-A EL3 SPMC. */
export function tfaRetrieveReq(c: CallCheck): void {
  const d = c.desc;
  const src = "spmc_ffa_mem_retrieve_req()";
  c.note(
    d.emad_count === 0
      ? "EMAD count 0: accepted only from the normal world (the hypervisor); TF-A then checks only the handle, NS bit and flags"
      : "EMAD count > 0: accepted only from an SP",
  );
  checkTfaHandle(c, INVAL, `spmc_shmem_obj_lookup() via ${src}`);
  if ((d.attributes & FFA_MEMORY_SECURITY_NS_BIT) !== 0) {
    c.fail(
      INVAL,
      src,
      "ns-bit",
      "attributes",
      MTD_ATTRIBUTES,
      `attributes ${hex(d.attributes)}: NS bit (6) MBZ in a retrieve request`,
    );
  }
  const flags = d.flags >>> 0;
  if (
    flags !== 0 &&
    flags !== FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE &&
    flags !== FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND
  ) {
    c.fail(
      INVAL,
      src,
      "retrieve-flags",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: only 0 or the transaction type share (0x8) or lend (0x10) is supported`,
    );
  }
}

/**
 * FFA_MEM_RETRIEVE_RESP as TF-A builds it: for an SP, the stored descriptor copied whole (every EMAD,
 * the sender's tag and EMAD size, flags = the call's type); for the hypervisor, one zeroed EMAD and
 * the composite, flags 0 (spmc_populate_ffa_hyp_descriptor()).
 */
export function tfaRetrieveResp(c: CallCheck): void {
  const d = c.desc;
  const src = "spmc_ffa_fill_desc() (the stored descriptor)";
  const flags = d.flags >>> 0;
  if (
    flags !== 0 &&
    flags !== FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE &&
    flags !== FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND
  ) {
    c.fail(
      null,
      src,
      "resp-flags",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: TF-A's responses carry 0x8 (share), 0x10 (lend) or 0 (to the hypervisor)`,
    );
  }
  checkTfaHandle(c, null, "spmc_ffa_fill_desc()");
  if (mtdStart(c, src, null)) checkObj(c, null, "spmc_shmem_check_obj() (at send)");
}
