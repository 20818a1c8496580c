/**
 * plat_set_protmem_range() — OP-TEE core/include/mm/mobj.h, the platform hook that protects (or, with
 * MOBJ_USE_CASE_NS_SHM, unprotects) a lent range for a use case (optee.md §1.3, §1.5).
 *
 * - Upstream default (core/mm/mobj.c, CFG_INSECURE=y): does nothing and warns once, "WARNING
 *   (insecure configuration): platform does not support to dynamically protected memory". This is
 *   what QEMU (and any platform without a hook) runs.
 * - TZC-400 (ours: no upstream platform implements the hook): programs a free region over the range
 *   with secure read/write and, for the normal world, access only for the use case's devices (their
 *   NSAIDs), as core/drivers/tzc400.c tzc_configure_region() allows; restoring disables the region.
 *   No free region: TEE_ERROR_OUT_OF_MEMORY, nothing programmed.
 *
 * The hook runs under OP-TEE's shm_lock spinlock (mobj_ffa_push_to_inactive()), so it cannot sleep:
 * it is a plain function that reports the time its register writes take.
 */
import {
  MOBJ_USE_CASE_NS_SHM,
  MOBJ_USE_CASE_SEC_VIDEO_PLAY,
  MOBJ_USE_CASE_TRUSTED_UI,
  type BeforeRestore,
  type PlatProtmem,
} from "../../abi/optee/protmem.ts";
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_ERROR_NOT_SUPPORTED,
  TEE_ERROR_OUT_OF_MEMORY,
  TEE_SUCCESS,
} from "../../abi/optee/tee_result.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { TZC_REGION_S_RDWR, tzcAccessRdWr } from "../../hw/tzc400.ts";
import type { Sim } from "../../sim/sim.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** The devices each use case's memory is for (our platform configuration). */
export const USE_CASE_MASTERS: Readonly<Record<number, readonly string[]>> = {
  [MOBJ_USE_CASE_SEC_VIDEO_PLAY]: ["video-decoder", "display"],
  [MOBJ_USE_CASE_TRUSTED_UI]: ["display"],
};

/** TFA DEFINE_TZC_COMMON_CONFIGURE_REGION: base low/high, top low/high, attributes, ID access. */
const TZC_CONFIGURE_WRITES = 6;
/** Disabling: the attributes register (filter enables off). Assumption. */
const TZC_DISABLE_WRITES = 1;

/** The hook this platform has: TZC-400 boards get the region-programming hook, the others the default. */
export function platProtmemFor(sim: Sim, machine: Machine): PlatProtmem {
  if (machine.tzc) return new TzcProtmem(machine);
  return new DefaultProtmem(sim);
}

/** The weak default of core/mm/mobj.c: protects nothing, warns once. */
export class DefaultProtmem implements Snapshottable, PlatProtmem {
  #warned = false;
  beforeRestore: BeforeRestore | null = null;
  /** Warnings printed (the default prints once). */
  warnings = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#warned = saved.warned as boolean;
    }
    return { warned: this.#warned };
  }

  constructor(private readonly sim: Sim) {}

  setProtmemRange(useCase: number, pa: number, size: number, cost: { ns: number }): number {
    if (useCase === MOBJ_USE_CASE_NS_SHM) this.beforeRestore?.(pa, size, cost);
    if (!this.#warned) {
      this.#warned = true;
      this.warnings++;
      if (this.sim.trace.listening) {
        this.sim.trace.emit("secure", "warn", {
          message:
            "WARNING (insecure configuration): platform does not support to dynamically protected memory",
        });
      }
    }
    return TEE_SUCCESS;
  }
}

/** A TZC-400 hook: one region per protected range, for the use case's devices. */
export class TzcProtmem implements Snapshottable, PlatProtmem {
  /** "pa:size" → region number. */
  readonly #regions = new Map<string, number>();
  beforeRestore: BeforeRestore | null = null;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { regions: this.#regions };
  }

  constructor(private readonly machine: Machine) {
    for (const [uc, names] of Object.entries(USE_CASE_MASTERS)) {
      const present = names.filter((n) => machine.masterIndex(n) >= 0);
      machine.setUseCaseMasters(Number(uc), present);
    }
  }

  setProtmemRange(useCase: number, pa: number, size: number, cost: { ns: number }): number {
    const tzc = this.machine.tzc!;
    const key = `${pa}:${size}`;
    if (pa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || size === 0) return TEE_ERROR_BAD_PARAMETERS;
    if (useCase === MOBJ_USE_CASE_NS_SHM) {
      const n = this.#regions.get(key);
      if (n === undefined) return TEE_ERROR_ITEM_NOT_FOUND;
      this.beforeRestore?.(pa, size, cost);
      tzc.disableRegion(n);
      this.#regions.delete(key);
      cost.ns += TZC_DISABLE_WRITES * this.machine.costs.mmioWriteNs;
      return TEE_SUCCESS;
    }
    const masters = USE_CASE_MASTERS[useCase];
    if (!masters) return TEE_ERROR_NOT_SUPPORTED;
    const n = tzc.freeRegion();
    if (n < 0) return TEE_ERROR_OUT_OF_MEMORY;
    let access = 0;
    for (const name of masters) {
      const m = this.machine.masterIndex(name);
      if (m >= 0) access |= tzcAccessRdWr(this.machine.masters[m].nsaid);
    }
    const rc = this.machine.tzcConfigureRegion(n, {
      base: pa,
      top: pa + size - 1,
      secAttr: TZC_REGION_S_RDWR,
      nsDeviceAccess: access,
    });
    cost.ns += TZC_CONFIGURE_WRITES * this.machine.costs.mmioWriteNs;
    if (rc !== 0) return TEE_ERROR_BAD_PARAMETERS;
    this.#regions.set(key, n);
    return TEE_SUCCESS;
  }

  /** Regions this hook has programmed. */
  get regionsInUse(): number {
    return this.#regions.size;
  }
}
