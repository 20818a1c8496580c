/**
 * Rules for the EMAD array of a decoded transaction descriptor (part of validateMemRegion()).
 *
 * Hafnium src/ffa_memory.c ffa_memory_region_sanity_check() (EMAD reserved MBZ, composite offsets
 * equal), ffa_memory_send_validate() (receiver ≠ sender, no repeated receiver, reserved access
 * encodings), api_ffa_mem_retrieve_req() (composite offset 0 in a retrieve request); TF-A
 * spmc_ffa_fill_desc() (duplicate endpoint, differing composite offsets). reference/ffa.md §5.3, §5.4.
 */

import {
  FFA_DATA_ACCESS_MASK,
  FFA_EMAD_FLAGS_MBZ_MASK,
  FFA_INSTRUCTION_ACCESS_MASK,
  FFA_MEM_PERM_MBZ_MASK,
} from "./attributes.ts";
import { emadReservedOffset } from "./emad.ts";
import type { FfaMemFunc } from "./func.ts";
import { EMAD_COMPOSITE_OFFSET, EMAD_FLAGS, EMAD_PERMISSIONS, EMAD_RECEIVER_ID } from "./layout.ts";
import { emadOffsetOf, type MemRegion } from "./mem_region.ts";
import { addProblem, hex, type FfaProblem } from "./problem.ts";

/** Appends the problems of every EMAD of `desc` to `problems`. */
export function validateEmads(problems: FfaProblem[], desc: MemRegion, func: FfaMemFunc | undefined): void {
  const emads = desc.emads;
  const reservedOff = emadReservedOffset(desc.emad_size);
  const firstComposite = emads.length > 0 ? emads[0].composite_offset : 0;
  for (let i = 0; i < emads.length; i++) {
    const e = emads[i];
    const base = emadOffsetOf(desc, i);
    const p = `emads[${i}]`;
    if (e.reserved !== 0n) {
      addProblem(
        problems,
        `${p}.reserved`,
        base + reservedOff,
        "reserved-mbz",
        `${p}.reserved is ${hex(e.reserved)}`,
      );
    }
    const perm = e.permissions;
    const permField = `${p}.permissions`;
    const permOff = base + EMAD_PERMISSIONS;
    if ((perm & FFA_MEM_PERM_MBZ_MASK) !== 0) {
      addProblem(problems, permField, permOff, "permissions-mbz", `permissions ${hex(perm)} set bits[7:4]`);
    }
    if ((perm & FFA_DATA_ACCESS_MASK) === 3) {
      addProblem(
        problems,
        permField,
        permOff,
        "data-access-reserved",
        `permissions ${hex(perm)}: data access 0b11`,
      );
    }
    if ((perm & FFA_INSTRUCTION_ACCESS_MASK) === 0xc) {
      const why = `permissions ${hex(perm)}: instruction access 0b11`;
      addProblem(problems, permField, permOff, "instruction-access-reserved", why);
    }
    if ((e.flags & FFA_EMAD_FLAGS_MBZ_MASK) !== 0) {
      const why = `receiver flags ${hex(e.flags)} set reserved bits[7:1]`;
      addProblem(problems, `${p}.flags`, base + EMAD_FLAGS, "emad-flags-mbz", why);
    }
    if (e.receiver_id === desc.sender_id) {
      const why = `receiver ${hex(e.receiver_id)} is the sender`;
      addProblem(problems, `${p}.receiver_id`, base + EMAD_RECEIVER_ID, "receiver-is-sender", why);
    }
    const compField = `${p}.composite_offset`;
    const compOff = base + EMAD_COMPOSITE_OFFSET;
    if (func === "retrieve_req") {
      if (e.composite_offset !== 0) {
        const why = `composite offset ${e.composite_offset} in a retrieve request MBZ`;
        addProblem(problems, compField, compOff, "retrieve-composite-offset-zero", why);
      }
    } else if (i > 0 && e.composite_offset !== firstComposite) {
      const why = `composite offset ${e.composite_offset} differs from EMAD[0]'s ${firstComposite}`;
      addProblem(problems, compField, compOff, "composite-offset-same", why);
    }
  }
  checkDuplicateReceivers(problems, desc);
}

/** A receiver may appear once. Quadratic for a few EMADs, a Map beyond. */
function checkDuplicateReceivers(problems: FfaProblem[], desc: MemRegion): void {
  const emads = desc.emads;
  if (emads.length < 2) return;
  if (emads.length <= 16) {
    for (let i = 1; i < emads.length; i++) {
      for (let j = 0; j < i; j++) {
        if (emads[j].receiver_id === emads[i].receiver_id) {
          reportDuplicate(problems, desc, i, j);
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
    else reportDuplicate(problems, desc, i, j);
  }
}

function reportDuplicate(problems: FfaProblem[], desc: MemRegion, i: number, j: number): void {
  const why = `receiver ${hex(desc.emads[i].receiver_id)} already appears in EMAD[${j}]`;
  addProblem(
    problems,
    `emads[${i}].receiver_id`,
    emadOffsetOf(desc, i) + EMAD_RECEIVER_ID,
    "receiver-duplicate",
    why,
  );
}
