/**
 * validateMemRegion(): every rule a decoded transaction descriptor breaks, each with the field, its
 * byte offset and why — so a test or a trace can point at the byte.
 *
 * The rules are the descriptor-level checks of Hafnium src/ffa_memory.c
 * (ffa_memory_region_sanity_check(), ffa_memory_send_validate(), ffa_send_check_update(),
 * ffa_memory_retrieve_validate()) and TF-A services/std_svc/spm/el3_spmc/spmc_shared_mem.c
 * (spmc_ffa_fill_desc()), as listed in reference/ffa.md §5.3, §5.4 and §5.8.
 * Policy checks that need SPMC state (who owns the pages, partition kinds, the permission and
 * attribute rules that answer DENIED) belong to the SPMC model, not here.
 */

import {
  FFA_DATA_ACCESS_MASK,
  FFA_EMAD_FLAGS_MBZ_MASK,
  FFA_INSTRUCTION_ACCESS_MASK,
  FFA_MEMORY_ATTRIBUTES_MBZ_MASK,
  FFA_MEMORY_ATTRIBUTES_MBZ_MASK_V1_0,
  FFA_MEMORY_CACHEABILITY_MASK,
  FFA_MEMORY_SECURITY_NS_BIT,
  FFA_MEMORY_SHAREABILITY_MASK,
  FFA_MEMORY_TYPE_MASK,
  FFA_MEM_PERM_MBZ_MASK,
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
import type { Constituent } from "./composite.ts";
import { emadReservedOffset } from "./emad.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_RESERVED,
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_ADDRESS,
  CONSTITUENT_RESERVED,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  EMAD_FLAGS,
  EMAD_PERMISSIONS,
  EMAD_RECEIVER_ID,
  FFA_PAGE_SIZE,
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
import { emadOffsetOf, type MemRegion } from "./mem_region.ts";
import { hex, type FfaProblem } from "./problem.ts";
import type { FfaVersion } from "./version.ts";

/** What validateMemRegion() knows about the call carrying the descriptor. */
export interface ValidateOptions {
  /**
   * The function ID the descriptor travels with (FFA_MEM_SHARE_64, FFA_MEM_RETRIEVE_REQ_32, …). It
   * turns on that call's rules: allowed flags, NS bit, composite present or absent. Without it only
   * the rules that hold for every call apply.
   */
  readonly func?: number;
}

const PAGE_MASK = BigInt(FFA_PAGE_SIZE - 1);
const PAGE_SHIFT = 12n;
const U64_LIMIT = 1n << 64n;

/**
 * Lists every problem of a decoded descriptor, for a caller at `version`. Empty means none found.
 * Checks the whole descriptor (all fragments joined): `desc.length` is taken as the total length.
 */
export function validateMemRegion(desc: MemRegion, version: FfaVersion, options: ValidateOptions = {}): FfaProblem[] {
  const problems: FfaProblem[] = [];
  const add = (field: string, offset: number, rule: string, why: string): void => {
    problems.push({ field, offset, why, rule });
  };
  const func: FfaMemFunc | undefined = options.func === undefined ? undefined : ffaMemFunc(options.func);
  const isSend = func === "donate" || func === "lend" || func === "share";
  const v10 = version === "1.0";

  // ---- header ----
  const layout = mtdReservedLayout(version);
  for (let i = 0; i < layout.length; i++) {
    const value = desc.reserved[i] ?? 0;
    if (value !== 0) {
      const name = v10 ? (i === 0 ? "reserved_0" : "reserved_1") : `reserved[${i}]`;
      add(name, layout[i].offset, "reserved-mbz", `${name} is ${hex(value)}; reserved fields MBZ`);
    }
  }

  const attrs = desc.attributes;
  const attrMbz = v10 ? FFA_MEMORY_ATTRIBUTES_MBZ_MASK_V1_0 : FFA_MEMORY_ATTRIBUTES_MBZ_MASK;
  if ((attrs & attrMbz) !== 0) {
    add("attributes", MTD_ATTRIBUTES, "attributes-mbz", `attributes ${hex(attrs)} set reserved bits ${hex(attrs & attrMbz)} (MBZ mask ${hex(attrMbz)})`);
  }
  const memType = (attrs & FFA_MEMORY_TYPE_MASK) >> 4;
  if (memType === 3) add("attributes", MTD_ATTRIBUTES, "attributes-encoding", `attributes ${hex(attrs)}: memory type 0b11 is reserved`);
  if ((attrs & FFA_MEMORY_SHAREABILITY_MASK) === 1) {
    add("attributes", MTD_ATTRIBUTES, "attributes-encoding", `attributes ${hex(attrs)}: shareability 0b01 is reserved`);
  }
  if (memType === 2) {
    const cache = (attrs & FFA_MEMORY_CACHEABILITY_MASK) >> 2;
    if (cache === 0 || cache === 2) {
      add("attributes", MTD_ATTRIBUTES, "attributes-encoding", `attributes ${hex(attrs)}: Normal-memory cacheability ${cache} is reserved`);
    }
  }
  if ((isSend || func === "retrieve_req") && (attrs & FFA_MEMORY_SECURITY_NS_BIT) !== 0) {
    add("attributes", MTD_ATTRIBUTES, "ns-bit-mbz", `attributes ${hex(attrs)}: the NS bit MBZ in ${func}; only the SPMC sets it, in a retrieve response`);
  }

  const flags = desc.flags;
  const flagsMask = isSend
    ? FFA_MEM_SEND_FLAGS_MASK
    : func === "retrieve_resp"
      ? FFA_MEM_RETRIEVE_RESP_FLAGS_MASK
      : ffaMemRegionFlagsMask(version);
  if ((flags & ~flagsMask) !== 0) {
    add("flags", MTD_FLAGS, "flags-mbz", `flags ${hex(flags >>> 0)} set bits ${hex((flags & ~flagsMask) >>> 0)} outside ${hex(flagsMask)}${func === undefined ? "" : ` allowed in ${func}`}`);
  }
  const clears = (flags & (FFA_MEMORY_REGION_FLAG_CLEAR | FFA_MEMORY_REGION_FLAG_CLEAR_RELINQUISH)) !== 0;
  if (func === "share" && (flags & FFA_MEMORY_REGION_FLAG_CLEAR) !== 0) {
    add("flags", MTD_FLAGS, "clear-on-share", "zero-memory flag set on FFA_MEM_SHARE: shared memory cannot be cleared");
  }
  if (func === "retrieve_req" && clears && (flags & FFA_MEMORY_REGION_TRANSACTION_TYPE_MASK) === FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE) {
    add("flags", MTD_FLAGS, "clear-on-share", "zero-memory flag requested in a retrieve of a share transaction");
  }

  if (!v10) {
    const want = emadSize(version);
    if (desc.emad_size !== want) {
      add("emad_size", MTD_EMAD_SIZE, "emad-size-for-version", `EMAD size ${desc.emad_size} is not the v${version} size ${want}`);
    }
    if (desc.emad_offset < mtdHeaderSize(version)) {
      add("emad_offset", MTD_EMAD_OFFSET, "emad-offset-after-header", `EMAD array offset ${desc.emad_offset} is inside the 48-byte header`);
    }
    if (desc.emad_offset % 16 !== 0) {
      add("emad_offset", MTD_EMAD_OFFSET, "emad-offset-aligned", `EMAD array offset ${desc.emad_offset} is not 16-byte aligned`);
    }
  }

  const count = desc.emad_count;
  if (count === 0) {
    if (func === "retrieve_req") {
      // Hypervisor retrieve request: every field except the handle MBZ (reference/ffa.md §5.4).
      if (desc.sender_id !== 0) add("sender_id", MTD_SENDER_ID, "hypervisor-retrieve-zero", `sender_id ${hex(desc.sender_id)} in a hypervisor retrieve request (no receivers) MBZ`);
      if (attrs !== 0) add("attributes", MTD_ATTRIBUTES, "hypervisor-retrieve-zero", `attributes ${hex(attrs)} in a hypervisor retrieve request MBZ`);
      if (flags !== 0) add("flags", MTD_FLAGS, "hypervisor-retrieve-zero", `flags ${hex(flags >>> 0)} in a hypervisor retrieve request MBZ`);
      if (desc.tag !== 0n) add("tag", MTD_TAG, "hypervisor-retrieve-zero", `tag ${hex(desc.tag)} in a hypervisor retrieve request MBZ`);
    } else {
      add("emad_count", MTD_EMAD_COUNT, "emad-count-nonzero", "no receivers: the EMAD count is 0");
    }
  }
  if (func === "donate" && count > 1) {
    add("emad_count", MTD_EMAD_COUNT, "donate-single-receiver", `FFA_MEM_DONATE has ${count} receivers; donate allows exactly 1`);
  }

  // ---- EMADs ----
  const emads = desc.emads;
  const reservedOff = emadReservedOffset(desc.emad_size);
  const firstComposite = emads.length > 0 ? emads[0].composite_offset : 0;
  for (let i = 0; i < emads.length; i++) {
    const e = emads[i];
    const base = emadOffsetOf(desc, i);
    const p = `emads[${i}]`;
    if (e.reserved !== 0n) add(`${p}.reserved`, base + reservedOff, "reserved-mbz", `${p}.reserved is ${hex(e.reserved)}; MBZ`);
    const perm = e.permissions;
    if ((perm & FFA_MEM_PERM_MBZ_MASK) !== 0) add(`${p}.permissions`, base + EMAD_PERMISSIONS, "permissions-mbz", `permissions ${hex(perm)} set reserved bits[7:4]`);
    if ((perm & FFA_DATA_ACCESS_MASK) === 3) add(`${p}.permissions`, base + EMAD_PERMISSIONS, "data-access-reserved", `permissions ${hex(perm)}: data access 0b11 is reserved`);
    if ((perm & FFA_INSTRUCTION_ACCESS_MASK) === 0xc) add(`${p}.permissions`, base + EMAD_PERMISSIONS, "instruction-access-reserved", `permissions ${hex(perm)}: instruction access 0b11 is reserved`);
    if ((e.flags & FFA_EMAD_FLAGS_MBZ_MASK) !== 0) add(`${p}.flags`, base + EMAD_FLAGS, "emad-flags-mbz", `receiver flags ${hex(e.flags)} set reserved bits[7:1]`);
    if (e.receiver_id === desc.sender_id) add(`${p}.receiver_id`, base + EMAD_RECEIVER_ID, "receiver-is-sender", `receiver ${hex(e.receiver_id)} is the sender`);
    if (func === "retrieve_req") {
      if (e.composite_offset !== 0) add(`${p}.composite_offset`, base + EMAD_COMPOSITE_OFFSET, "retrieve-composite-offset-zero", `composite offset ${e.composite_offset} in a retrieve request MBZ`);
    } else if (i > 0 && e.composite_offset !== firstComposite) {
      add(`${p}.composite_offset`, base + EMAD_COMPOSITE_OFFSET, "composite-offset-same", `composite offset ${e.composite_offset} differs from EMAD[0]'s ${firstComposite}; every receiver must describe the same region`);
    }
  }
  checkDuplicateReceivers(desc, add);

  // ---- composite ----
  const emadEnd = desc.emad_offset + count * desc.emad_size;
  const comp = desc.composite;
  if (comp === null) {
    if (count > 0 && func !== "retrieve_req" && func !== undefined) {
      add("emads[0].composite_offset", emadOffsetOf(desc, 0) + EMAD_COMPOSITE_OFFSET, "composite-required", `composite offset 0: ${func} needs a composite memory region`);
    }
    return problems;
  }
  const c0 = emadOffsetOf(desc, 0) + EMAD_COMPOSITE_OFFSET;
  if (comp.offset % 16 !== 0) add("emads[0].composite_offset", c0, "composite-offset-aligned", `composite offset ${comp.offset} is not 16-byte aligned`);
  if (comp.offset < emadEnd) add("emads[0].composite_offset", c0, "composite-after-emads", `composite offset ${comp.offset} is before the end of the EMAD array (${emadEnd})`);
  if (comp.reserved !== 0n) add("composite.reserved", comp.offset + COMPOSITE_RESERVED, "reserved-mbz", `composite reserved is ${hex(comp.reserved)}; MBZ`);
  const n = comp.address_range_count;
  if (n === 0) add("composite.address_range_count", comp.offset + COMPOSITE_ADDRESS_RANGE_COUNT, "constituents-nonzero", "the composite has no constituents");
  const first = comp.offset + COMPOSITE_SIZE;
  const room = (desc.length - first) / CONSTITUENT_SIZE;
  if (room !== n) {
    add("composite.address_range_count", comp.offset + COMPOSITE_ADDRESS_RANGE_COUNT, "constituents-fill-length", `address_range_count ${n}, but the ${desc.length}-byte descriptor holds ${room} constituents after offset ${first}`);
  }

  let sum = 0;
  const cs = comp.constituents;
  for (let j = 0; j < cs.length; j++) {
    const c = cs[j];
    const off = first + j * CONSTITUENT_SIZE;
    const p = `composite.constituents[${j}]`;
    sum += c.page_count;
    if (c.reserved !== 0) add(`${p}.reserved`, off + CONSTITUENT_RESERVED, "reserved-mbz", `${p}.reserved is ${hex(c.reserved)}; MBZ`);
    if ((c.address & PAGE_MASK) !== 0n) add(`${p}.address`, off + CONSTITUENT_ADDRESS, "constituent-address-aligned", `address ${hex(c.address)} is not 4 KiB aligned`);
    if (c.address + (BigInt(c.page_count) << PAGE_SHIFT) > U64_LIMIT) {
      add(`${p}.page_count`, off + CONSTITUENT_ADDRESS + 8, "constituent-range-wraps", `${c.page_count} pages from ${hex(c.address)} run past the top of the 64-bit address space`);
    }
  }
  if (sum !== comp.total_page_count) {
    add("composite.total_page_count", comp.offset + COMPOSITE_TOTAL_PAGE_COUNT, "total-page-count-sum", `total_page_count ${comp.total_page_count} but the constituents sum to ${sum} pages`);
  }
  if (cs.length > 1) checkOverlap(comp.constituents, first, add);
  return problems;
}

type Add = (field: string, offset: number, rule: string, why: string) => void;

/** Hafnium/TF-A: a receiver may appear once. Quadratic for a few EMADs, a Map beyond. */
function checkDuplicateReceivers(desc: MemRegion, add: Add): void {
  const emads = desc.emads;
  if (emads.length < 2) return;
  const report = (i: number, j: number): void => {
    add(`emads[${i}].receiver_id`, emadOffsetOf(desc, i) + EMAD_RECEIVER_ID, "receiver-duplicate", `receiver ${hex(emads[i].receiver_id)} already appears in EMAD[${j}]`);
  };
  if (emads.length <= 16) {
    for (let i = 1; i < emads.length; i++) {
      for (let j = 0; j < i; j++) {
        if (emads[j].receiver_id === emads[i].receiver_id) {
          report(i, j);
          break;
        }
      }
    }
    return;
  }
  const seen = new Map<number, number>();
  for (let i = 0; i < emads.length; i++) {
    const j = seen.get(emads[i].receiver_id);
    if (j === undefined) seen.set(emads[i].receiver_id, i);
    else report(i, j);
  }
}

/**
 * No two constituents may share a page: Hafnium ffa_send_check_update() and TF-A
 * spmc_ffa_fill_desc() reject overlaps with INVALID_PARAMETERS (reference/ffa.md §5.3, §5.8).
 */
function checkOverlap(cs: readonly Constituent[], first: number, add: Add): void {
  const order = cs.map((_, i) => i).sort((a, b) => (cs[a].address < cs[b].address ? -1 : cs[a].address > cs[b].address ? 1 : a - b));
  let prev = order[0];
  let prevEnd = cs[prev].address + (BigInt(cs[prev].page_count) << PAGE_SHIFT);
  for (let k = 1; k < order.length; k++) {
    const i = order[k];
    const c = cs[i];
    const end = c.address + (BigInt(c.page_count) << PAGE_SHIFT);
    if (c.page_count !== 0 && c.address < prevEnd) {
      add(`composite.constituents[${i}].address`, first + i * CONSTITUENT_SIZE + CONSTITUENT_ADDRESS, "constituents-overlap", `constituent ${i} at ${hex(c.address)} overlaps constituent ${prev} (${hex(cs[prev].address)}..${hex(prevEnd)})`);
    }
    if (end > prevEnd) {
      prevEnd = end;
      prev = i;
    }
  }
}
