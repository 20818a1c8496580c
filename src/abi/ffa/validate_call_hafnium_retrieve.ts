/**
 * Hafnium's rules for FFA_MEM_RETRIEVE_REQ — TF-Hafnium/hafnium 21bfbdc1: src/api.c
 * api_ffa_mem_retrieve_req(), api_ffa_memory_hypervisor_retrieve_request_validate(); src/ffa_memory.c
 * ffa_memory_region_sanity_check(), ffa_memory_retrieve_validate(),
 * ffa_memory_retrieve_validate_memory_access_list(), ffa_memory_retrieve_is_memory_access_valid()
 * (reference/ffa.md §5.4).
 *
 * A retrieve request is checked against the sender's descriptor, which a decode does not have: the
 * rules here are the ones the request alone decides. Its transaction type (flags bits[4:3]) must match
 * the sender's, so when it is given the share-only and lend/donate-only rules apply as for that type.
 */

import { FFA_MEMORY_TYPE_MASK, unpackMemAccessPermissions } from "./attributes.ts";
import { FFA_DENIED, FFA_INVALID_PARAMETERS } from "./error.ts";
import {
  FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK,
  FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID,
  FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK,
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH,
  unpackMemRegionFlags,
  type FfaTransactionType,
} from "./flags.ts";
import {
  EMAD_PERMISSIONS,
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_SENDER_ID,
  MTD_TAG,
} from "./layout.ts";
import { emadOffsetOf } from "./mem_region.ts";
import { hex } from "./problem.ts";
import type { CallCheck } from "./validate_call.ts";
import {
  LENGTH_FIELD,
  checkAttributesValid,
  checkHandleAllocator,
  hafniumSanityCheck,
  securityBits,
} from "./validate_call_hafnium_region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

/** FFA_MEM_RETRIEVE_REQ at Hafnium's SPMC. */
export function hafniumRetrieveReq(c: CallCheck, max: number): void {
  if (c.desc.emad_count === 0) {
    hypervisorRetrieveRequest(c);
    return;
  }
  const whole = hafniumSanityCheck(c, false, max);
  checkHandleAllocator(c, "api_ffa_mem_retrieve_req()", INVAL);
  retrieveValidate(c);
  if (whole) accessList(c);
}

/**
 * api_ffa_memory_hypervisor_retrieve_request_validate(): a request without EMADs is the hypervisor's
 * (is_ffa_hypervisor_retrieve_request()); every field but the handle MBZ — sender, the attribute
 * bitfields (bits[7:0]), flags, tag and, from v1.1, the EMAD size and offset. Reserved fields and
 * attribute bits[15:8] are not read. The EMAD size/offset checks of the sanity check are skipped.
 */
function hypervisorRetrieveRequest(c: CallCheck): void {
  const d = c.desc;
  const src = "api_ffa_memory_hypervisor_retrieve_request_validate()";
  const rule = "hypervisor-retrieve-zero";
  const tail = "MBZ in a hypervisor retrieve request (EMAD count 0)";
  if (d.sender_id !== 0)
    c.fail(INVAL, src, rule, "sender_id", MTD_SENDER_ID, `sender_id ${hex(d.sender_id)} ${tail}`);
  if ((d.attributes & 0xff) !== 0)
    c.fail(INVAL, src, rule, "attributes", MTD_ATTRIBUTES, `attributes ${hex(d.attributes)} ${tail}`);
  if (d.flags !== 0) c.fail(INVAL, src, rule, "flags", MTD_FLAGS, `flags ${hex(d.flags >>> 0)} ${tail}`);
  if (d.tag !== 0n) c.fail(INVAL, src, rule, "tag", MTD_TAG, `tag ${hex(d.tag)} ${tail}`);
  if (c.version !== "1.0") {
    if (d.emad_size !== 0)
      c.fail(
        INVAL,
        src,
        rule,
        "emad_size",
        MTD_EMAD_SIZE,
        `memory access descriptor size ${d.emad_size} ${tail}`,
      );
    if (d.emad_offset !== 0)
      c.fail(INVAL, src, rule, "emad_offset", MTD_EMAD_OFFSET, `receivers offset ${d.emad_offset} ${tail}`);
  }
  checkHandleAllocator(c, src, INVAL);
  c.note(
    "EMAD count 0: a hypervisor retrieve request (tf-a-tests ffa_hypervisor_retrieve_request_init()); Hafnium " +
      "answers it only for the hypervisor, with the whole transaction and every borrower (ffa_hypervisor_retrieve_request())",
  );
}

/** The request's flags: what ffa_memory_retrieve_validate() checks without the sender's descriptor. */
function retrieveValidate(c: CallCheck): void {
  const d = c.desc;
  const src = "ffa_memory_retrieve_validate()";
  const flags = d.flags >>> 0;
  if (c.version !== "1.0") {
    // v1.0 requests are converted first, which gives them exactly this length.
    const want = d.emad_offset + d.emad_count * d.emad_size;
    if (d.length !== want) {
      c.fail(
        INVAL,
        src,
        "retrieve-length",
        LENGTH_FIELD,
        0,
        `length ${d.length}, but the header and ${d.emad_count} EMADs take ${want}`,
      );
    }
  }
  if ((flags & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_VALID) !== 0) {
    c.fail(
      INVAL,
      src,
      "address-hint-valid",
      "flags",
      MTD_FLAGS,
      "address-range alignment hint (bit 9) is not supported",
    );
  }
  if ((flags & FFA_MEMORY_REGION_ADDRESS_RANGE_HINT_MASK) !== 0) {
    c.fail(
      INVAL,
      src,
      "address-hint-mbz",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: bits[8:5] MBZ (alignment hint not supported)`,
    );
  }
  if ((flags & ~0x7ff) !== 0) {
    c.fail(INVAL, src, "retrieve-flags-mbz", "flags", MTD_FLAGS, `flags ${hex(flags)}: bits[31:11] MBZ`);
  }
  const clears = (flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  const type = unpackMemRegionFlags(flags).transactionType;
  if (type === "share" && clears) {
    c.fail(
      INVAL,
      src,
      "clear-on-share",
      "flags",
      MTD_FLAGS,
      "zero-memory flag (bit 0 or 2) in a retrieve of a share",
    );
  }
  if (type === "unspecified") {
    c.note(
      "transaction type not given (flags bits[4:3] = 0): the rules that depend on share, lend or donate are left to the SPMC's record",
    );
  }
  if (securityBits(d.attributes) !== 0) {
    c.fail(
      INVAL,
      src,
      "ns-bit",
      "attributes",
      MTD_ATTRIBUTES,
      `attributes ${hex(d.attributes)}: security bits[7:6] MBZ in a retrieve request`,
    );
  }
  if ((d.attributes & FFA_MEMORY_TYPE_MASK) !== 0) checkAttributesValid(c);
}

/**
 * ffa_memory_retrieve_validate_memory_access_list() and ffa_memory_retrieve_is_memory_access_valid(),
 * the parts the request decides. Several borrowers: the request lists them all (count > 1) or uses
 * the v1.2 bypass flag, which needs a multi-borrower transaction.
 */
function accessList(c: CallCheck): void {
  const d = c.desc;
  const src = "ffa_memory_retrieve_validate_memory_access_list()";
  const flags = d.flags >>> 0;
  const bypass = (flags & FFA_MEMORY_REGION_FLAG_BYPASS_BORROWERS_CHECK) !== 0;
  const type: FfaTransactionType = unpackMemRegionFlags(flags).transactionType;
  if (bypass && d.emad_count !== 1) {
    c.fail(
      INVAL,
      src,
      "bypass-single-borrower",
      "emad_count",
      MTD_EMAD_COUNT,
      `with the bypass flag (bit 10) the list holds only the caller, not ${d.emad_count} EMADs`,
    );
  }
  if (type === "donate" && bypass) {
    c.fail(
      INVAL,
      src,
      "bypass-single-borrower",
      "flags",
      MTD_FLAGS,
      "bypass flag (bit 10) in a retrieve of a donate, which has a single borrower",
    );
  } else if (type === "donate" && d.emad_count > 1) {
    c.fail(
      INVAL,
      src,
      "retrieve-borrower-list",
      "emad_count",
      MTD_EMAD_COUNT,
      `${d.emad_count} borrowers listed for a donate, which has one`,
    );
  }
  const multiple = d.emad_count > 1 || bypass;
  const clears = (flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  const access = "ffa_memory_retrieve_is_memory_access_valid()";
  for (let i = 0; i < d.emads.length; i++) {
    const raw = d.emads[i].permissions;
    const perm = unpackMemAccessPermissions(raw);
    const field = `emads[${i}].permissions`;
    const off = emadOffsetOf(d, i) + EMAD_PERMISSIONS;
    const p = `permissions ${hex(raw)}`;
    if (perm.data === "reserved") {
      c.fail(
        FFA_DENIED,
        access,
        "data-access-exceeds",
        field,
        off,
        `${p}: data access 0b11 is never within what the sender gave`,
      );
    }
    if (type === "share" && perm.instruction !== "not-specified") {
      c.fail(
        INVAL,
        access,
        "share-instruction-access",
        field,
        off,
        `${p}: instruction access must not be given in a retrieve of a share`,
      );
    } else if (type === "lend" && multiple && perm.instruction !== "not-specified") {
      c.fail(
        INVAL,
        access,
        "multi-borrower-instruction-access",
        field,
        off,
        `${p}: instruction access must not be given with several borrowers`,
      );
    } else if ((type === "lend" || type === "donate") && !multiple && perm.instruction === "not-specified") {
      c.fail(
        INVAL,
        access,
        "borrower-instruction-access",
        field,
        off,
        `${p}: the single borrower of a ${type} must ask for NX or X`,
      );
    } else if (perm.instruction === "reserved") {
      const code = type === "unspecified" && multiple ? INVAL : FFA_DENIED;
      const share =
        type === "unspecified" && !multiple ? " (FFA_INVALID_PARAMETERS if the transaction is a share)" : "";
      c.fail(
        code,
        access,
        "instruction-access-exceeds",
        field,
        off,
        `${p}: instruction access 0b11 is never granted${share}`,
      );
    }
    if (d.emad_count === 1 && perm.data === "ro" && clears) {
      c.fail(
        FFA_DENIED,
        src,
        "clear-with-ro",
        field,
        off,
        `${p}: a borrower asking for RO can't ask for the memory to be cleared`,
      );
    }
  }
}
