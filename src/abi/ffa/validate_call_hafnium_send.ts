/**
 * Hafnium's descriptor rules for FFA_MEM_DONATE / LEND / SHARE, as its SPMC build applies them —
 * TF-Hafnium/hafnium 21bfbdc1: src/api.c api_ffa_mem_send(), api_memory_region_check_flags(),
 * api_ffa_memory_transaction_descriptor_v1_1_from_v1_0(); src/ffa_memory.c
 * ffa_memory_region_sanity_check(), ffa_memory_send_validate(), ffa_memory_attributes_validate(),
 * ffa_send_check_update(), ffa_memory_check_overlap(), constituents_get_mode(); src/ffa/spmc/ffa_memory.c
 * ffa_memory_is_send_valid() (reference/ffa.md §5.3).
 *
 * Hafnium returns at its first failure; these list every rule that fires, but stop where Hafnium would
 * read the rest of the descriptor through a size, offset or count it has just refused.
 */

import { FFA_MEMORY_TYPE_MASK, unpackMemAccessPermissions } from "./attributes.ts";
import { FFA_DENIED, FFA_INVALID_PARAMETERS, FFA_NOT_SUPPORTED } from "./error.ts";
import { FFA_MEMORY_REGION_FLAG_CLEAR, FFA_MEMORY_REGION_FLAG_TIME_SLICE } from "./flags.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_SIZE,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_PERMISSIONS,
  EMAD_RECEIVER_ID,
  EMAD_SIZE_V1_0,
  FFA_PAGE_SIZE,
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_FLAGS,
  MTD_HEADER_SIZE_V1_1,
} from "./layout.ts";
import { emadOffsetOf, type MemRegion } from "./mem_region.ts";
import { hex } from "./problem.ts";
import type { CallCheck } from "./validate_call.ts";
import {
  HF_MM_PPOOL_ENTRY_SIZE,
  LENGTH_FIELD,
  checkAttributesValid,
  checkConstituentsAligned,
  checkOverlap,
  checkPageSum,
  hafniumSanityCheck,
  isSecureId,
  securityBits,
} from "./validate_call_hafnium_region.ts";

const INVAL = FFA_INVALID_PARAMETERS;

/** The descriptor as ffa_memory_send_validate() sees it: a v1.0 one after its conversion to v1.1. */
interface SendGeometry {
  readonly receiversOffset: number;
  readonly emadSize: number;
  readonly compositeOffset: number;
  readonly length: number;
}

/**
 * api_ffa_memory_transaction_descriptor_v1_1_from_v1_0(): the v1.1 header is 16 bytes longer, the
 * EMADs keep 16 bytes, the composite moves right after them and the constituents follow.
 */
function sendGeometry(d: MemRegion, v10: boolean): SendGeometry {
  const comp0 = d.emads[0].composite_offset;
  if (!v10)
    return {
      receiversOffset: d.emad_offset,
      emadSize: d.emad_size,
      compositeOffset: comp0,
      length: d.length,
    };
  const receiversEnd = MTD_HEADER_SIZE_V1_1 + d.emad_count * EMAD_SIZE_V1_0;
  return {
    receiversOffset: MTD_HEADER_SIZE_V1_1,
    emadSize: EMAD_SIZE_V1_0,
    compositeOffset: receiversEnd,
    length: receiversEnd + (d.length - comp0),
  };
}

/** FFA_MEM_DONATE / LEND / SHARE at Hafnium's SPMC. */
export function hafniumSend(c: CallCheck, max: number): void {
  const d = c.desc;
  const func = c.func;
  if (d.handle !== 0n)
    c.note(
      `handle ${hex(d.handle)} is ignored: Hafnium writes the handle it allocates (share_state_allocate())`,
    );
  if (!hafniumSanityCheck(c, true, max)) return;
  const v10 = c.version === "1.0";
  const g = sendGeometry(d, v10);
  if (v10 && d.length <= FFA_PAGE_SIZE && g.length > HF_MM_PPOOL_ENTRY_SIZE) {
    const why = `the v1.0 descriptor converts to ${g.length} bytes, more than one ${HF_MM_PPOOL_ENTRY_SIZE}-byte pool entry`;
    c.fail(
      FFA_NOT_SUPPORTED,
      "api_ffa_memory_transaction_descriptor_v1_1_from_v1_0()",
      "v1_0-conversion-too-big",
      LENGTH_FIELD,
      0,
      why,
    );
  }
  checkSendFlags(c);
  if (func === "donate" && d.emad_count !== 1) {
    c.fail(
      INVAL,
      "api_ffa_mem_send()",
      "donate-single-receiver",
      "emad_count",
      MTD_EMAD_COUNT,
      `FFA_MEM_DONATE supports one recipient, not ${d.emad_count}`,
    );
  }
  checkSendPolicy(c);
  sendValidate(c, g);
  sendCheckUpdate(c);
}

/** api_memory_region_check_flags(), then ffa_memory_send_validate()'s "no other flags" (only CLEAR). */
function checkSendFlags(c: CallCheck): void {
  const flags = c.desc.flags >>> 0;
  const src = "api_memory_region_check_flags()";
  if (c.func === "share" && (flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0) {
    c.fail(
      INVAL,
      src,
      "clear-on-share",
      "flags",
      MTD_FLAGS,
      "zero-memory flag on FFA_MEM_SHARE: the sender keeps access",
    );
  }
  const mbz = (flags & ~(FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_TIME_SLICE)) >>> 0;
  if (mbz !== 0) {
    const type =
      (mbz & 0x18) !== 0
        ? "; bits[4:3] are the transaction type, which Hafnium sets itself (ffa_memory_send())"
        : "";
    c.fail(
      INVAL,
      src,
      "flags-mbz",
      "flags",
      MTD_FLAGS,
      `flags ${hex(flags)}: bits ${hex(mbz)} set, bits[31:2] MBZ${type}`,
    );
  }
  if ((flags & FFA_MEMORY_REGION_FLAG_TIME_SLICE) !== 0) {
    c.fail(
      INVAL,
      "ffa_memory_send_validate()",
      "send-flags",
      "flags",
      MTD_FLAGS,
      "time slicing (bit 1) is not supported: only zero-memory may be set",
    );
  }
}

/**
 * ffa_memory_is_send_valid() (SPMC build): lend and donate only to SPs; share SP to SP, a VM to one
 * SP, or a VM to several borrowers of either world. Decided by the IDs alone.
 */
function checkSendPolicy(c: CallCheck): void {
  const d = c.desc;
  const senderSp = isSecureId(d.sender_id);
  const multiple = d.emad_count > 1;
  for (let i = 0; i < d.emads.length; i++) {
    const r = d.emads[i].receiver_id;
    const ok =
      c.func !== "share"
        ? isSecureId(r)
        : (senderSp && isSecureId(r)) || (!senderSp && !multiple && isSecureId(r)) || (!senderSp && multiple);
    if (!ok) {
      const who = `${senderSp ? "SP" : "VM"} ${hex(d.sender_id)} to ${isSecureId(r) ? "SP" : "VM"} ${hex(r)}`;
      const why = `the SPMC does not ${c.func} from ${who}${multiple ? " (several borrowers)" : ""}`;
      c.fail(
        FFA_DENIED,
        "ffa_memory_is_send_valid()",
        "send-policy",
        `emads[${i}].receiver_id`,
        emadOffsetOf(d, i) + EMAD_RECEIVER_ID,
        why,
      );
    }
  }
}

/** ffa_memory_send_validate(), on the (converted) geometry; the flags part is in checkSendFlags(). */
function sendValidate(c: CallCheck, g: SendGeometry): void {
  const d = c.desc;
  const src = "ffa_memory_send_validate()";
  const conv = c.version === "1.0" ? ` (${g.length} after the v1.0 to v1.1 conversion)` : "";
  if (g.length < g.receiversOffset + g.emadSize + COMPOSITE_SIZE) {
    c.fail(
      INVAL,
      src,
      "fragment-too-short",
      LENGTH_FIELD,
      0,
      `length ${d.length}${conv} cannot hold the header, an EMAD and the composite`,
    );
  }
  if (g.length % 16 !== 0) {
    c.fail(
      INVAL,
      src,
      "length-aligned",
      LENGTH_FIELD,
      0,
      `length ${d.length}${conv} is not a multiple of 16`,
    );
  }
  const receiversEnd = g.receiversOffset + g.emadSize * d.emad_count;
  if (receiversEnd + COMPOSITE_SIZE + CONSTITUENT_SIZE > g.length) {
    c.fail(
      INVAL,
      src,
      "total-too-short",
      LENGTH_FIELD,
      0,
      `length ${d.length}${conv} has no room for one constituent after the EMADs and the composite`,
    );
  }
  const comp = g.compositeOffset;
  const compOk = comp >= receiversEnd && comp % 16 === 0 && comp <= g.length - COMPOSITE_SIZE;
  if (!compOk && !c.fired("composite-offset")) {
    const why = `composite offset ${comp}: must be 16-aligned, after the EMADs (${receiversEnd}) and leave room for the composite`;
    c.fail(
      INVAL,
      src,
      "composite-offset",
      "emads[0].composite_offset",
      emadOffsetOf(d, 0) + EMAD_COMPOSITE_OFFSET,
      why,
    );
  }
  const composite = d.composite;
  if (compOk && composite !== null) {
    const bytes = g.length - (comp + COMPOSITE_SIZE);
    const n = composite.address_range_count;
    if (bytes % CONSTITUENT_SIZE !== 0 || bytes / CONSTITUENT_SIZE !== n) {
      const why = `address_range_count ${n}, but ${bytes} bytes follow the composite (16 per constituent)`;
      c.fail(
        INVAL,
        src,
        "constituent-count-length",
        "composite.address_range_count",
        composite.offset + COMPOSITE_ADDRESS_RANGE_COUNT,
        why,
      );
    }
  }
  checkSendReceivers(c);
  if (securityBits(d.attributes) !== 0) {
    c.fail(
      INVAL,
      src,
      "ns-bit",
      "attributes",
      MTD_ATTRIBUTES,
      `attributes ${hex(d.attributes)}: security bits[7:6] MBZ in ${c.func}`,
    );
  }
  const type = (d.attributes & FFA_MEMORY_TYPE_MASK) >> 4;
  if (c.func === "donate" || (c.func === "lend" && d.emad_count === 1)) {
    if (type !== 0) {
      const who = c.func === "donate" ? "a donate" : "a lend to a single borrower";
      c.fail(
        INVAL,
        src,
        "memory-type-given",
        "attributes",
        MTD_ATTRIBUTES,
        `attributes ${hex(d.attributes)}: the sender of ${who} must not give the memory type`,
      );
    }
  } else checkAttributesValid(c);
}

/** ffa_memory_send_validate()'s loop over the receivers: identity and permissions. */
function checkSendReceivers(c: CallCheck): void {
  const d = c.desc;
  const src = "ffa_memory_send_validate()";
  for (let i = 0; i < d.emads.length; i++) {
    const e = d.emads[i];
    const base = emadOffsetOf(d, i);
    if (e.receiver_id === d.sender_id) {
      c.fail(
        INVAL,
        src,
        "receiver-is-sender",
        `emads[${i}].receiver_id`,
        base + EMAD_RECEIVER_ID,
        `receiver ${hex(e.receiver_id)} is the sender: can't share memory with itself`,
      );
    }
    for (let j = 0; j < i; j++) {
      if (d.emads[j].receiver_id === e.receiver_id) {
        c.fail(
          INVAL,
          src,
          "receiver-duplicate",
          `emads[${i}].receiver_id`,
          base + EMAD_RECEIVER_ID,
          `receiver ${hex(e.receiver_id)} repeats EMAD[${j}]`,
        );
        break;
      }
    }
    const perm = unpackMemAccessPermissions(e.permissions);
    const field = `emads[${i}].permissions`;
    const off = base + EMAD_PERMISSIONS;
    const p = `permissions ${hex(e.permissions)}`;
    if (perm.data === "reserved" || perm.instruction === "reserved") {
      c.fail(INVAL, src, "access-reserved", field, off, `${p}: reserved data or instruction access (0b11)`);
      continue;
    }
    if (perm.instruction !== "not-specified") {
      c.fail(
        INVAL,
        src,
        "send-instruction-access",
        field,
        off,
        `${p}: instruction access ${perm.instruction} given; the sender must leave it unspecified`,
      );
    }
    if (c.func === "share" && perm.data === "not-specified") {
      c.fail(INVAL, src, "share-data-access", field, off, `${p}: a share must give the data access`);
    } else if (c.func === "lend" && perm.data === "not-specified") {
      c.fail(INVAL, src, "lend-data-access", field, off, `${p}: a lend must give the data access`);
    } else if (c.func === "donate" && perm.data !== "not-specified") {
      c.fail(
        INVAL,
        src,
        "donate-data-access",
        field,
        off,
        `${p}: data access ${perm.data} given; a donate must leave it unspecified`,
      );
    }
  }
}

/**
 * ffa_send_check_update() and constituents_get_mode(), the parts the bytes decide: no overlap
 * (ffa_memory_check_overlap()), the page-count sum (a uint32_t in Hafnium, so it wraps), page-aligned
 * addresses.
 */
function sendCheckUpdate(c: CallCheck): void {
  const comp = c.desc.composite;
  // Hafnium reads the constituents only through a composite it has accepted.
  const broken = ["composite-offset", "constituent-count-length", "total-too-short", "length-aligned"];
  if (comp === null || broken.some((r) => c.fired(r))) return;
  checkOverlap(c, INVAL, "ffa_memory_check_overlap()");
  checkPageSum(c, INVAL, "ffa_send_check_update()");
  checkConstituentsAligned(c, INVAL, "constituents_get_mode()");
}
