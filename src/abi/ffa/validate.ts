/**
 * validateMemRegion(): every rule a decoded transaction descriptor breaks, each with the field, its
 * byte offset and why — so a test or a trace can point at the byte.
 *
 * The rules are the descriptor-level checks of Hafnium src/ffa_memory.c
 * (ffa_memory_region_sanity_check(), ffa_memory_send_validate(), ffa_send_check_update(),
 * ffa_memory_retrieve_validate()) and TF-A services/std_svc/spm/el3_spmc/spmc_shared_mem.c
 * (spmc_ffa_fill_desc()), as listed in reference/ffa.md §5.3, §5.4 and §5.8. Header rules live
 * here; EMAD rules in validate_emads.ts, composite rules in validate_composite.ts.
 *
 * Not here: checks that need SPMC state or policy — page ownership, partition kinds, the
 * per-operation permission and attribute rules answered with DENIED, MAX_MEM_SHARE_RECIPIENTS.
 */

import {
  FFA_MEMORY_ATTRIBUTES_MBZ_MASK,
  FFA_MEMORY_ATTRIBUTES_MBZ_MASK_V1_0,
  FFA_MEMORY_CACHEABILITY_MASK,
  FFA_MEMORY_SECURITY_NS_BIT,
  FFA_MEMORY_SHAREABILITY_MASK,
  FFA_MEMORY_TYPE_MASK,
} from "./attributes.ts";
import {
  FFA_MEMORY_REGION_FLAG_CLEAR,
  FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_MEM_RETRIEVE_RESP_FLAGS_MASK,
  FFA_MEM_SEND_FLAGS_MASK,
  ffaMemRegionFlagsMask,
} from "./flags.ts";
import { ffaMemFunc, type FfaMemFunc } from "./func.ts";
import {
  MTD_ATTRIBUTES,
  MTD_EMAD_COUNT,
  MTD_EMAD_OFFSET,
  MTD_EMAD_SIZE,
  MTD_FLAGS,
  MTD_SENDER_ID,
  MTD_TAG,
  emadSize,
  mtdHeaderSize,
  mtdReservedLayout,
} from "./layout.ts";
import type { MemRegion } from "./mem_region.ts";
import { addProblem, hex, type FfaProblem } from "./problem.ts";
import { validateComposite } from "./validate_composite.ts";
import { validateEmads } from "./validate_emads.ts";
import type { FfaVersion } from "./version.ts";

/** What validateMemRegion() knows about the call carrying the descriptor. */
export interface ValidateOptions {
  /**
   * The function ID the descriptor travels with (FFA_MEM_SHARE_64, FFA_MEM_RETRIEVE_REQ_32, …). It
   * turns on that call's rules: allowed flags, NS bit, CLEAR on SHARE, DONATE's single receiver,
   * composite required (send, response) or absent (retrieve request), the hypervisor retrieve
   * request. Without it only the rules that hold for every call apply.
   */
  readonly func?: number;
}

/**
 * Lists every problem of a decoded descriptor, for a caller at `version` (the version it was
 * decoded with); empty means none. The descriptor must be whole (all fragments joined):
 * `desc.length` is taken as its total length.
 */
export function validateMemRegion(
  desc: MemRegion,
  version: FfaVersion,
  options: ValidateOptions = {},
): FfaProblem[] {
  const problems: FfaProblem[] = [];
  const func = options.func === undefined ? undefined : ffaMemFunc(options.func);
  validateReserved(problems, desc, version);
  validateAttributes(problems, desc, version, func);
  validateFlags(problems, desc, version, func);
  validateEmadArray(problems, desc, version, func);
  validateEmads(problems, desc, func);
  validateComposite(problems, desc, func);
  return problems;
}

function isSend(func: FfaMemFunc | undefined): boolean {
  return func === "donate" || func === "lend" || func === "share";
}

/** v1.0 reserved_0 / reserved_1, v1.1+ reserved[3]: MBZ (ffa_memory_region_sanity_check()). */
function validateReserved(problems: FfaProblem[], desc: MemRegion, version: FfaVersion): void {
  const layout = mtdReservedLayout(version);
  for (let i = 0; i < layout.length; i++) {
    const value = desc.reserved[i] ?? 0;
    if (value !== 0) {
      const name = version === "1.0" ? (i === 0 ? "reserved_0" : "reserved_1") : `reserved[${i}]`;
      addProblem(problems, name, layout[i].offset, "reserved-mbz", `${name} is ${hex(value)}`);
    }
  }
}

function attr(problems: FfaProblem[], rule: string, why: string): void {
  addProblem(problems, "attributes", MTD_ATTRIBUTES, rule, why);
}

/** Reserved attribute bits and encodings (reference/ffa.md §3.7); the NS bit on send and retrieve request. */
function validateAttributes(
  problems: FfaProblem[],
  desc: MemRegion,
  version: FfaVersion,
  func: FfaMemFunc | undefined,
): void {
  const attrs = desc.attributes;
  const mbz = version === "1.0" ? FFA_MEMORY_ATTRIBUTES_MBZ_MASK_V1_0 : FFA_MEMORY_ATTRIBUTES_MBZ_MASK;
  if ((attrs & mbz) !== 0) {
    attr(problems, "attributes-mbz", `attributes ${hex(attrs)} set reserved bits ${hex(attrs & mbz)}`);
  }
  const type = (attrs & FFA_MEMORY_TYPE_MASK) >> 4;
  if (type === 3) {
    attr(problems, "attributes-encoding", `attributes ${hex(attrs)}: memory type 0b11 is reserved`);
  }
  if ((attrs & FFA_MEMORY_SHAREABILITY_MASK) === 1) {
    attr(problems, "attributes-encoding", `attributes ${hex(attrs)}: shareability 0b01 is reserved`);
  }
  const cache = (attrs & FFA_MEMORY_CACHEABILITY_MASK) >> 2;
  if (type === 2 && (cache === 0 || cache === 2)) {
    attr(
      problems,
      "attributes-encoding",
      `attributes ${hex(attrs)}: Normal-memory cacheability ${cache} is reserved`,
    );
  }
  if ((isSend(func) || func === "retrieve_req") && (attrs & FFA_MEMORY_SECURITY_NS_BIT) !== 0) {
    attr(
      problems,
      "ns-bit-mbz",
      `attributes ${hex(attrs)}: the NS bit MBZ in ${func}; only the SPMC sets it`,
    );
  }
}

/**
 * Flags outside the call's mask (arm-ffa MEM_SHARE_MASK / MEM_RETRIEVE_REQ_MASK /
 * MEM_RETRIEVE_RESP_MASK; Hafnium rejects `flags & ~0x7FF` on retrieve); CLEAR on a share
 * (api_memory_region_check_flags(), ffa_memory_retrieve_validate()).
 */
function validateFlags(
  problems: FfaProblem[],
  desc: MemRegion,
  version: FfaVersion,
  func: FfaMemFunc | undefined,
): void {
  const flags = desc.flags;
  const mask = isSend(func)
    ? FFA_MEM_SEND_FLAGS_MASK
    : func === "retrieve_resp"
      ? FFA_MEM_RETRIEVE_RESP_FLAGS_MASK
      : ffaMemRegionFlagsMask(version);
  if ((flags & ~mask) !== 0) {
    const where = func === undefined ? `v${version}` : func;
    const why = `flags ${hex(flags >>> 0)} set bits ${hex((flags & ~mask) >>> 0)} outside ${hex(mask)} (${where})`;
    addProblem(problems, "flags", MTD_FLAGS, "flags-mbz", why);
  }
  if (func === "share" && (flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0) {
    addProblem(problems, "flags", MTD_FLAGS, "clear-on-share", "zero-memory flag on FFA_MEM_SHARE");
  }
  const clears = (flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  const typeShare =
    (flags & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK) === FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE;
  if (func === "retrieve_req" && clears && typeShare) {
    addProblem(problems, "flags", MTD_FLAGS, "clear-on-share", "zero-memory flag in a retrieve of a share");
  }
}

/** EMAD size for the version, EMAD array offset ≥ 48 and 16-aligned, receiver count (sanity check; TF-A). */
function validateEmadArray(
  problems: FfaProblem[],
  desc: MemRegion,
  version: FfaVersion,
  func: FfaMemFunc | undefined,
): void {
  if (version !== "1.0") {
    const want = emadSize(version);
    if (desc.emad_size !== want) {
      const why = `EMAD size ${desc.emad_size} is not the v${version} size ${want}`;
      addProblem(problems, "emad_size", MTD_EMAD_SIZE, "emad-size-for-version", why);
    }
    const header = mtdHeaderSize(version);
    if (desc.emad_offset < header) {
      const why = `EMAD array offset ${desc.emad_offset} is inside the ${header}-byte header`;
      addProblem(problems, "emad_offset", MTD_EMAD_OFFSET, "emad-offset-after-header", why);
    }
    if (desc.emad_offset % 16 !== 0) {
      const why = `EMAD array offset ${desc.emad_offset} is not 16-byte aligned`;
      addProblem(problems, "emad_offset", MTD_EMAD_OFFSET, "emad-offset-aligned", why);
    }
  }
  const count = desc.emad_count;
  if (count === 0 && func === "retrieve_req") {
    validateHypervisorRetrieve(problems, desc);
  } else if (count === 0) {
    addProblem(
      problems,
      "emad_count",
      MTD_EMAD_COUNT,
      "emad-count-nonzero",
      "no receivers: the EMAD count is 0",
    );
  }
  if (func === "donate" && count > 1) {
    const why = `FFA_MEM_DONATE has ${count} receivers; donate allows exactly 1`;
    addProblem(problems, "emad_count", MTD_EMAD_COUNT, "donate-single-receiver", why);
  }
}

/** A retrieve request without receivers is the hypervisor's: every field but the handle MBZ (§5.4). */
function validateHypervisorRetrieve(problems: FfaProblem[], desc: MemRegion): void {
  const rule = "hypervisor-retrieve-zero";
  const tail = "in a hypervisor retrieve request (no receivers) MBZ";
  if (desc.sender_id !== 0) {
    addProblem(problems, "sender_id", MTD_SENDER_ID, rule, `sender_id ${hex(desc.sender_id)} ${tail}`);
  }
  if (desc.attributes !== 0) {
    addProblem(problems, "attributes", MTD_ATTRIBUTES, rule, `attributes ${hex(desc.attributes)} ${tail}`);
  }
  if (desc.flags !== 0)
    addProblem(problems, "flags", MTD_FLAGS, rule, `flags ${hex(desc.flags >>> 0)} ${tail}`);
  if (desc.tag !== 0n) addProblem(problems, "tag", MTD_TAG, rule, `tag ${hex(desc.tag)} ${tail}`);
}
