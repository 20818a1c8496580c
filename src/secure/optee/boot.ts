/**
 * OP-TEE's boot, after the firmware (firmware/boot.ts) and before the normal world's OP-TEE driver
 * probes: it plugs its direct-request handler into the SPMC as endpoint 0x8001 (replacing the echo
 * stand-in), declares which bus masters each use case's memory is for (the devices its platform hook
 * opens the firewall to: secure video → video-decoder and display, trusted UI → display), and sets
 * the scrub policy:
 * - "none" (upstream OP-TEE 4.9: nothing zeroes protected memory, optee.md §1.7);
 * - "secure-on-release": OP-TEE zeroes the range before it leaves protection — with Hafnium at
 *   RELEASE_PROTMEM before FFA_MEM_RELINQUISH; as its own SPMC inside plat_set_protmem_range(NS_SHM)
 *   at FFA_MEM_RECLAIM, before the firewall is reopened.
 * Under Hafnium it also chooses the retrieve request it sends (`opteeRetrieve`, sel2_mobj.ts).
 * With `platform.opteeAbi: "smc"` it also takes OP-TEE's SMC function ids from EL3 (smc_boot.ts).
 */
import { OpteeSel1Spmc } from "../../firmware/optee_sel1/optee_sel1.ts";
import { FFA_OPTEE_ID } from "../../firmware/spmc/endpoint.ts";
import type { Spmc } from "../../firmware/spmc/spmc.ts";
import type { Machine } from "../../hw/machine.ts";
import type { Sim } from "../../sim/sim.ts";
import { platProtmemConfigs, type ProtmemSizes } from "./config.ts";
import type { MobjFfaOps } from "./mobj.ts";
import { OpteeSecure, type ScrubPolicy } from "./optee.ts";
import { USE_CASE_MASTERS } from "./plat_protmem.ts";
import { Sel1Mobjs } from "./sel1_mobj.ts";
import { Sel2Mobjs, type OpteeRetrieve } from "./sel2_mobj.ts";
import { bootOpteeSmc } from "./smc_boot.ts";
import { opteeDirectRequestHandler } from "./thread_spmc.ts";

export interface OpteeBootOptions {
  /** Scrub policy (scenario `policy.scrub`); default "none", as upstream. */
  readonly scrub?: ScrubPolicy;
  /** min_mem_sz per OPTEE_MSG_PROTMEM_* use case, overriding the platform's (config.ts). */
  readonly protmemSizes?: ProtmemSizes;
  /**
   * The retrieve request under an S-EL2 SPMC (scenario `policy.optee_retrieve`; sel2_mobj.ts): default
   * "upstream", OP-TEE 4.9's request (which Hafnium refuses for lent memory); "fixed" asks RW + NX.
   * Ignored when OP-TEE is its own SPMC (nothing is retrieved).
   */
  readonly opteeRetrieve?: OpteeRetrieve;
}

export function bootOptee(sim: Sim, machine: Machine, spmc: Spmc, opts: OpteeBootOptions = {}): OpteeSecure {
  const scrub = opts.scrub ?? "none";
  const configs = platProtmemConfigs(machine.platform, opts.protmemSizes);
  for (const [uc, names] of Object.entries(USE_CASE_MASTERS)) {
    machine.setUseCaseMasters(
      Number(uc),
      names.filter((n) => machine.masterIndex(n) >= 0),
    );
  }
  let mobjs: MobjFfaOps;
  if (spmc instanceof OpteeSel1Spmc) mobjs = new Sel1Mobjs(spmc);
  else if (spmc.flavor === "hafnium") mobjs = new Sel2Mobjs(machine, spmc, opts.opteeRetrieve ?? "upstream");
  else throw new Error(`bootOptee: unknown SPMC flavor ${spmc.flavor}`);
  const os = new OpteeSecure(sim, machine, mobjs, configs, scrub);
  if (spmc instanceof OpteeSel1Spmc && scrub === "secure-on-release") {
    spmc.hook.beforeRestore = (pa, size, cost) => {
      cost.ns += os.zeroRange(pa, size);
    };
  }
  spmc.partitions.register(FFA_OPTEE_ID, opteeDirectRequestHandler(os));
  if (machine.platform.opteeAbi === "smc") bootOpteeSmc(sim, machine, configs, scrub);
  return os;
}
