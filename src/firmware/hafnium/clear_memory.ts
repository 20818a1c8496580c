/**
 * Zeroing memory for the FF-A clear flags — TF-Hafnium/hafnium v2.15.0 src/ffa_memory.c clear_memory()
 * and ffa_clear_memory_constituents(). For each constituent Hafnium maps the range in its own stage 1
 * with `MM_MODE_W | (mode & ffa_memory_get_other_world_mode())` — at the SPMC that is MM_MODE_NS, so the
 * caller's mode picks the physical address space the memset goes to — then memset_s() to zero,
 * arch_mm_flush_dcache(), and unmaps it.
 *
 * The mode each caller passes:
 * - FFA_MEM_LEND/DONATE/SHARE with FFA_MEMORY_REGION_FLAG_CLEAR, ffa_send_check_update(): `clean_mode`,
 *   the sender's original mode with MM_MODE_NS masked when the range was just protected (moved to the
 *   Secure PAS by MAP_ACTION_CHECK_PROTECT), so the memset goes through the Secure alias;
 * - FFA_MEM_RELINQUISH with the clear flag, ffa_relinquish_check_update(): the borrower's mode, which
 *   has MM_MODE_NS masked for protected memory (ffa_retrieve_check_transition());
 * - FFA_MEM_RECLAIM with FFA_MEM_RECLAIM_CLEAR, reclaim_shared_state() → ffa_retrieve_check_update():
 *   `sender_orig_mode` as stored — MM_MODE_NS set for memory from the normal world (the other-world VM's
 *   ranges are mapped RWX|NS at boot, other_world.c) — and the clear runs between MAP_ACTION_CHECK and
 *   MAP_ACTION_COMMIT_UNPROTECT, i.e. while the granules Hafnium protected are still in the Secure PAS.
 *
 * So with RME, a reclaim-time clear of a protected lend is an NS-PAS store to Secure granules: a granule
 * protection fault at S-EL2. TF-A does not set SCR_EL3.GPF (arch.h defines SCR_GPF_BIT, nothing sets
 * it), so the fault is taken by Hafnium itself: sync_current_exception() (src/arch/aarch64/hypervisor/
 * handler.c) recovers a GPF only inside memcpy_trapped(); this one ends in panic("EL2 exception") →
 * abort(), which spins the CPU in S-EL2 with share_states_lock and the normal world's VM lock held. The
 * same code is unchanged at Hafnium's main of Aug 2026. Without RME nothing was protected: the NS
 * alias is the memory's own and the clear works.
 */
import { GPT_GPI_ANY, GPT_GPI_SECURE } from "../../hw/gpt.ts";
import { MM_MODE_NS } from "../spmc/page_state.ts";
import { hex, type CallCtx } from "../spmc/regs.ts";
import type { StoredConstituent } from "../spmc/share_state.ts";
import type { HafniumSpmc } from "./hafnium.ts";

/** 4 KiB (hw PAGE_SIZE). */
const PAGE_SIZE = 4096;

/**
 * ffa_clear_memory_constituents(mode, …): zeroes every constituent through the alias `mode` selects.
 * Returns null when done, or the address of the granule protection fault that stopped it (Hafnium then
 * panics: the caller calls hf.panic()).
 */
export function ffaClearMemoryConstituents(
  hf: HafniumSpmc,
  ctx: CallCtx,
  cs: readonly StoredConstituent[],
  mode: number,
): number | null {
  const gpt = hf.machine.gpt;
  const nsAlias = (mode & MM_MODE_NS) !== 0;
  for (const c of cs) {
    const size = c.pageCount * PAGE_SIZE;
    // clear_memory(): the first store to a granule the alias's PAS may not reach faults — through the
    // NS alias a granule still Secure; through the Secure alias (memory counted as protected) a granule
    // the send left Non-secure (send_complete.ts: the last constituent's protect outcome decides).
    if (gpt !== null && nsAlias && !gpt.permits("ns", c.address, size)) {
      for (let pa = c.address; pa < c.address + size; pa += PAGE_SIZE)
        if (!gpt.permits("ns", pa, PAGE_SIZE)) return pa;
    }
    if (gpt !== null && !nsAlias)
      for (let pa = c.address; pa < c.address + size; pa += PAGE_SIZE) {
        const g = gpt.gpiAt(pa);
        if (g !== GPT_GPI_SECURE && g !== GPT_GPI_ANY) return pa;
      }
    hf.zero(ctx, c.address, size);
  }
  return null;
}

/**
 * Why Hafnium panics on the fault ffaClearMemoryConstituents() reported, through the alias of `mode`
 * (the same mode the clear was given).
 */
export function clearMemoryGpf(pa: number, mode: number): string {
  return (
    `EL2 exception: granule protection fault at ${hex(pa)} in clear_memory() ` +
    ((mode & MM_MODE_NS) !== 0
      ? "(an NS-PAS store to a granule still in the Secure PAS)"
      : "(a Secure-PAS store to a granule left in the Non-secure PAS)")
  );
}
