/**
 * Rules for the composite memory region and its constituents (part of validateMemRegion()).
 *
 * Hafnium src/ffa_memory.c ffa_memory_send_validate() (composite offset after the EMADs, 16-byte
 * aligned; constituent count implied by the total length) and ffa_send_check_update() (page-count
 * sum, no constituents, page alignment, overlap); TF-A spmc_ffa_fill_desc() (the same, plus
 * `address_range_count` against the size). reference/ffa.md §3.4, §3.5, §5.3, §5.8.
 */

import type { Constituent } from "./composite.ts";
import type { FfaMemFunc } from "./func.ts";
import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_RESERVED,
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_ADDRESS,
  CONSTITUENT_PAGE_COUNT,
  CONSTITUENT_RESERVED,
  CONSTITUENT_SIZE,
  EMAD_COMPOSITE_OFFSET,
  FFA_PAGE_SIZE,
} from "./layout.ts";
import { emadOffsetOf, type MemRegion } from "./mem_region.ts";
import { addProblem, hex, type FfaProblem } from "./problem.ts";

const PAGE_SHIFT = BigInt(Math.log2(FFA_PAGE_SIZE));
const U64_LIMIT = 1n << 64n;
/** Below this address even 2^32 - 1 pages cannot run past 2^64, so the exact check is skipped. */
const WRAP_POSSIBLE = U64_LIMIT - (1n << (32n + PAGE_SHIFT));

/** Appends the problems of the composite (or of its absence) to `problems`. */
export function validateComposite(
  problems: FfaProblem[],
  desc: MemRegion,
  func: FfaMemFunc | undefined,
): void {
  const comp = desc.composite;
  const c0Field = "emads[0].composite_offset";
  const c0 = emadOffsetOf(desc, 0) + EMAD_COMPOSITE_OFFSET;
  if (comp === null) {
    if (desc.emad_count > 0 && func !== undefined && func !== "retrieve_req") {
      addProblem(
        problems,
        c0Field,
        c0,
        "composite-required",
        `composite offset 0: ${func} needs a composite`,
      );
    }
    return;
  }
  const emadEnd = desc.emad_offset + desc.emad_count * desc.emad_size;
  if (comp.offset % 16 !== 0) {
    addProblem(
      problems,
      c0Field,
      c0,
      "composite-offset-aligned",
      `composite offset ${comp.offset} is not 16-aligned`,
    );
  }
  if (comp.offset < emadEnd) {
    const why = `composite offset ${comp.offset} is before the end of the EMAD array (${emadEnd})`;
    addProblem(problems, c0Field, c0, "composite-after-emads", why);
  }
  if (comp.reserved !== 0n) {
    const why = `composite reserved is ${hex(comp.reserved)}`;
    addProblem(problems, "composite.reserved", comp.offset + COMPOSITE_RESERVED, "reserved-mbz", why);
  }
  const n = comp.address_range_count;
  const countField = "composite.address_range_count";
  const countOff = comp.offset + COMPOSITE_ADDRESS_RANGE_COUNT;
  if (n === 0)
    addProblem(problems, countField, countOff, "constituents-nonzero", "the composite has no constituents");
  const first = comp.offset + COMPOSITE_SIZE;
  const room = (desc.length - first) / CONSTITUENT_SIZE;
  if (room !== n) {
    const why = `address_range_count ${n}, but the ${desc.length}-byte descriptor has room for ${room} after offset ${first}`;
    addProblem(problems, countField, countOff, "constituents-fill-length", why);
  }

  let sum = 0;
  const cs = comp.constituents;
  for (let j = 0; j < cs.length; j++) {
    const c = cs[j];
    const off = first + j * CONSTITUENT_SIZE;
    const p = `composite.constituents[${j}]`;
    sum += c.page_count;
    if (c.reserved !== 0) {
      addProblem(
        problems,
        `${p}.reserved`,
        off + CONSTITUENT_RESERVED,
        "reserved-mbz",
        `${p}.reserved is ${hex(c.reserved)}`,
      );
    }
    if (BigInt.asUintN(12, c.address) !== 0n) {
      const why = `address ${hex(c.address)} is not 4 KiB aligned`;
      addProblem(problems, `${p}.address`, off + CONSTITUENT_ADDRESS, "constituent-address-aligned", why);
    }
    if (c.address >= WRAP_POSSIBLE && c.address + (BigInt(c.page_count) << PAGE_SHIFT) > U64_LIMIT) {
      const why = `${c.page_count} pages from ${hex(c.address)} run past the top of the 64-bit address space`;
      addProblem(problems, `${p}.page_count`, off + CONSTITUENT_PAGE_COUNT, "constituent-range-wraps", why);
    }
  }
  if (sum !== comp.total_page_count) {
    const why = `total_page_count ${comp.total_page_count}, but the constituents sum to ${sum} pages`;
    const field = "composite.total_page_count";
    addProblem(problems, field, comp.offset + COMPOSITE_TOTAL_PAGE_COUNT, "total-page-count-sum", why);
  }
  if (cs.length > 1) checkOverlap(problems, cs, first);
}

/** No two constituents may share a page (Hafnium ffa_send_check_update(); TF-A spmc_ffa_fill_desc()). */
function checkOverlap(problems: FfaProblem[], cs: readonly Constituent[], first: number): void {
  const order = cs.map((_, i) => i);
  order.sort((a, b) => (cs[a].address < cs[b].address ? -1 : cs[a].address > cs[b].address ? 1 : a - b));
  let prev = order[0];
  let prevEnd = cs[prev].address + (BigInt(cs[prev].page_count) << PAGE_SHIFT);
  for (let k = 1; k < order.length; k++) {
    const i = order[k];
    const c = cs[i];
    const end = c.address + (BigInt(c.page_count) << PAGE_SHIFT);
    if (c.page_count !== 0 && c.address < prevEnd) {
      const why = `constituent ${i} at ${hex(c.address)} overlaps constituent ${prev} (${hex(cs[prev].address)}..${hex(prevEnd)})`;
      const field = `composite.constituents[${i}].address`;
      addProblem(
        problems,
        field,
        first + i * CONSTITUENT_SIZE + CONSTITUENT_ADDRESS,
        "constituents-overlap",
        why,
      );
    }
    if (end > prevEnd) {
      prevEnd = end;
      prev = i;
    }
  }
}
