/**
 * Findings that are the real implementation's own behaviour, faithfully modelled: the fuzzer counts
 * them, keeps one case of each in the corpus and goes on, instead of stopping as for a model bug.
 * Each names the real source that behaves so.
 */
import { FFA_MEM_FRAG_TX_32 } from "../../abi/ffa/index.ts";
import { HafniumSpmc } from "../../firmware/hafnium/hafnium.ts";
import { isSecureId } from "../../firmware/spmc/endpoint.ts";
import type { SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import type { FuzzCaller, FuzzRig } from "./rig.ts";

export interface KnownFinding {
  readonly id: string;
  readonly flavor: SpmcFlavorName;
  readonly what: string;
}

/**
 * Hafnium v2.15 src/ffa_memory.c ffa_memory_send_continue_validate(): the continuation's caller is
 * compared with the descriptor's sender only `if (vm_id_is_current_world(from_vm_id) && …)` — at the
 * SPMC, only for a partition. So the normal world may send FFA_MEM_FRAG_TX for a partition's pending
 * fragmented send; ffa_memory_send_complete() then checks and changes the pages in the caller's (the
 * normal world's) stage 2. The transaction records the partition as its sender while the normal world
 * owns the pages (or, with the partition's own pages in an earlier fragment, the normal world aborts the
 * partition's send with DENIED).
 */
export const HF_NWD_CONTINUES_SP_SEND: KnownFinding = {
  id: "hafnium-nwd-continues-sp-send",
  flavor: "hafnium",
  what:
    "the normal world completed a partition's fragmented send with FFA_MEM_FRAG_TX (Hafnium " +
    "ffa_memory_send_continue_validate() checks the sender only for a current-world caller): the " +
    "transaction's sender is the partition, the pages are the normal world's",
};

export const KNOWN_FINDINGS: readonly KnownFinding[] = [HF_NWD_CONTINUES_SP_SEND];

/** The known finding a call's violation is, or null. */
export function knownFinding(rig: FuzzRig, by: FuzzCaller, x: SmcRegs): KnownFinding | null {
  const spmc = rig.spmc;
  const fid = Number(x[0] & 0xffff_ffffn);
  if (spmc instanceof HafniumSpmc && fid === FFA_MEM_FRAG_TX_32 && by === "normal") {
    const handle = (x[1] & 0xffff_ffffn) | ((x[2] & 0xffff_ffffn) << 32n);
    const s = spmc.shares.get(handle);
    if (s && isSecureId(s.sender)) return HF_NWD_CONTINUES_SP_SEND;
  }
  return null;
}
