/**
 * Protected memory over the SMC ABI (no FF-A; Linux drivers/tee/optee/smc_abi.c), optee.md §1.4, §2.3:
 * - OPTEE_SMC_GET_PROTMEM_CONFIG (fast call 0xB2000014, entry_fast.c): a0 = OPTEE_SMC_RETURN_OK, a1 =
 *   start, a2 = size, a3 = PA width (64) of a static carveout (CFG_TEE_SDP_MEM_BASE/SIZE), or a0 =
 *   OPTEE_SMC_RETURN_ENOTAVAIL. Only built with CFG_SECURE_DATA_PATH && !CFG_CORE_DYN_PROTMEM:
 *   with dynamic protmem the function is unknown (OPTEE_SMC_RETURN_UNKNOWN_FUNCTION).
 * - OPTEE_MSG_CMD_LEND_PROTMEM (entry_std.c lend_protmem() → mobj_protmem_alloc(), mobj_dyn_shm.c):
 *   2 params, [0] VALUE_INPUT a = use case, [1] TMEM_INPUT buf_ptr = PA, size, shm_ref = cookie; the
 *   range must be normal-world DRAM, page aligned, not overlap other protected memory, then
 *   plat_set_protmem_range(use_case, pa, size). Every failure is TEE_ERROR_BAD_PARAMETERS.
 * - OPTEE_MSG_CMD_RECLAIM_PROTMEM (reclaim_protmem() → mobj_protmem_release_by_cookie()): 1 param,
 *   RMEM_INPUT shm_ref = cookie (the header's comment says VALUE_INPUT: the code and Linux use RMEM);
 *   unknown or already releasing → BAD_PARAMETERS; otherwise marks it releasing, drops the lend's
 *   reference, waits until TAs let go, restore_mem() = plat_set_protmem_range(NS_SHM), frees.
 *
 * Wired by smc_boot.ts when the platform's `opteeAbi` is "smc": EL3 routes OPTEE_SMC_CALL_WITH_ARG to
 * OpteeSmcEntry, which reads the optee_msg_arg at the PA Linux passes and hands LEND / RECLAIM to
 * smcEntryStd(), and answers the fast 0xB2000014 with smcGetProtmemConfig(). Ownership of the range
 * moves with the lend (machine.setOwner), as the SPMC does for FF-A; the scrub policy zeroes before
 * restore_mem().
 */
import {
  OPTEE_MSG_ATTR_TYPE_RMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_INPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_RECLAIM_PROTMEM,
  OPTEE_SMC_RETURN_ENOTAVAIL,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
  paramType,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  type OpteeMsgArg,
} from "../../abi/optee/index.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import { WaitQueue } from "../../sim/waitqueue.ts";
import { isMobjProtmemUseCase } from "./config.ts";
import { MOBJ_USE_CASE_NS_SHM, type PlatProtmem } from "../../abi/optee/protmem.ts";
import { PROTMEM_PA_WIDTH } from "./entry_std.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** A static SDP carveout (CFG_TEE_SDP_MEM_BASE / CFG_TEE_SDP_MEM_SIZE). */
export interface SdpCarveout {
  readonly base: number;
  readonly size: number;
}

/**
 * tee_entry_get_protmem_config() (entry_fast.c l.29-47). `dynamic`: built with CFG_CORE_DYN_PROTMEM,
 * where the function does not exist.
 */
export function smcGetProtmemConfig(carveout: SdpCarveout | null, dynamic = false): SmcRegs {
  if (dynamic) return smcRegs(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
  if (!carveout) return smcRegs(OPTEE_SMC_RETURN_ENOTAVAIL, 0, 0, PROTMEM_PA_WIDTH);
  return smcRegs(OPTEE_SMC_RETURN_OK, carveout.base, carveout.size, PROTMEM_PA_WIDTH);
}

/** struct mobj_protmem (core/mm/mobj_dyn_shm.c). */
interface MobjProtmem {
  readonly cookie: bigint;
  readonly pa: number;
  readonly size: number;
  readonly useCase: number;
  refs: number;
  releasing: boolean;
}

export class SmcProtmem implements Snapshottable {
  readonly #byCookie = new Map<bigint, MobjProtmem>();
  readonly #released: WaitQueue;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { byCookie: this.#byCookie, released: this.#released };
  }

  constructor(
    private readonly sim: Sim,
    private readonly machine: Machine,
    private readonly hook: PlatProtmem,
    private readonly scrub: "none" | "secure-on-release" = "none",
  ) {
    this.#released = new WaitQueue(sim, "mobj_protmem");
  }

  /** The SMC ABI's tee_entry_std() for the two protected-memory commands. */
  *smcEntryStd(arg: OpteeMsgArg): Sleeps<OpteeMsgArg> {
    let ret: number;
    if (arg.cmd === OPTEE_MSG_CMD_LEND_PROTMEM) ret = yield* this.lend(arg);
    else if (arg.cmd === OPTEE_MSG_CMD_RECLAIM_PROTMEM) ret = yield* this.reclaim(arg);
    else ret = TEE_ERROR_NOT_IMPLEMENTED;
    return { ...arg, ret: ret >>> 0, ret_origin: TEEC_ORIGIN_TEE };
  }

  /** lend_protmem() + mobj_protmem_alloc(). */
  *lend(arg: OpteeMsgArg): Sleeps<number> {
    const p = arg.params;
    if (
      p.length !== 2 ||
      paramType(p[0]) !== OPTEE_MSG_ATTR_TYPE_VALUE_INPUT ||
      paramType(p[1]) !== OPTEE_MSG_ATTR_TYPE_TMEM_INPUT
    )
      return TEE_ERROR_BAD_PARAMETERS;
    const useCase = Number(p[0].u[0] & 0xffn);
    if (p[0].u[0] > 0xffn || !isMobjProtmemUseCase(useCase)) return TEE_ERROR_BAD_PARAMETERS;
    const pa = Number(p[1].u[0]);
    const size = Number(p[1].u[1]);
    const cookie = p[1].u[2];
    if (!this.#nonSecureDram(pa, size)) return TEE_ERROR_BAD_PARAMETERS;
    if (pa % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0) return TEE_ERROR_BAD_PARAMETERS;
    if (this.#byCookie.has(cookie)) return TEE_ERROR_BAD_PARAMETERS;
    for (const m of this.#byCookie.values()) {
      if (pa < m.pa + m.size && m.pa < pa + size) return TEE_ERROR_BAD_PARAMETERS;
    }
    const cost = { ns: 0 };
    const rc = this.hook.setProtmemRange(useCase, pa, size, cost);
    if (!elapse(cost.ns)) yield sleep(cost.ns);
    if (rc !== TEE_SUCCESS) return TEE_ERROR_BAD_PARAMETERS;
    this.machine.setOwner(pa, size, OWNER_SECURE, useCase);
    this.#byCookie.set(cookie, { cookie, pa, size, useCase, refs: 1, releasing: false });
    return TEE_SUCCESS;
  }

  /** reclaim_protmem() + mobj_protmem_release_by_cookie(): may sleep until TAs let go. */
  *reclaim(arg: OpteeMsgArg): Sleeps<number> {
    const p = arg.params;
    if (p.length !== 1 || paramType(p[0]) !== OPTEE_MSG_ATTR_TYPE_RMEM_INPUT) return TEE_ERROR_BAD_PARAMETERS;
    const m = this.#byCookie.get(p[0].u[2]);
    if (!m || m.releasing) return TEE_ERROR_BAD_PARAMETERS;
    m.releasing = true;
    m.refs--;
    yield* this.#released.waitEvent(() => m.refs === 0);
    const cost = { ns: 0 };
    if (this.scrub === "secure-on-release") cost.ns += this.machine.zeroPages(m.pa, m.size);
    this.hook.setProtmemRange(MOBJ_USE_CASE_NS_SHM, m.pa, m.size, cost);
    this.machine.setOwner(m.pa, m.size, OWNER_NORMAL);
    this.#byCookie.delete(m.cookie);
    if (!elapse(cost.ns)) yield sleep(cost.ns);
    return TEE_SUCCESS;
  }

  /** mobj_protmem_get_by_pa() for a TA's TMEM parameter: a hold, or null. */
  getByPa(pa: number, size: number): { readonly cookie: bigint; put(): void } | null {
    for (const m of this.#byCookie.values()) {
      if (!m.releasing && pa >= m.pa && pa + Math.max(size, 1) <= m.pa + m.size) {
        m.refs++;
        let held = true;
        return {
          cookie: m.cookie,
          put: () => {
            if (!held) return;
            held = false;
            m.refs--;
            this.#released.wakeUpAll();
          },
        };
      }
    }
    return null;
  }

  get lentRanges(): number {
    return this.#byCookie.size;
  }

  /** core_pbuf_is(CORE_MEM_NON_SEC): DRAM outside secure carveouts. */
  #nonSecureDram(pa: number, size: number): boolean {
    const m = this.machine;
    if (size <= 0 || pa < m.dramBase || pa + size > m.dramEnd) return false;
    return !m.platform.reserved.some((r) => r.secure && pa < r.base + r.size && r.base < pa + size);
  }
}
