/**
 * OP-TEE's SMC ABI entry (no FF-A) — what EL3's opteed dispatcher hands to OP-TEE for the Trusted-OS
 * function ids, and what OP-TEE does with them:
 * - fast calls 0xB2000000–0xB200FFFF (OPTEE_SMC_FAST_CALL_VAL, core/arch/arm/tee/entry_fast.c
 *   tee_entry_fast()): OPTEE_SMC_EXCHANGE_CAPABILITIES and OPTEE_SMC_GET_PROTMEM_CONFIG; any other id
 *   answers OPTEE_SMC_RETURN_UNKNOWN_FUNCTION;
 * - yielding calls 0x32000000–0x3200FFFF (OPTEE_SMC_STD_CALL_VAL, core/arch/arm/kernel/
 *   thread_optee_smc.c __thread_std_smc_entry() → std_entry_with_parg()): OPTEE_SMC_CALL_WITH_ARG with
 *   the optee_msg_arg's physical address in a1 (upper 32 bits) / a2 (lower); OP-TEE reads the message
 *   from normal-world memory as `cpu-s`, runs tee_entry_std() (core/tee/entry_std.c) and writes the
 *   message back; a0 = tee_entry_std()'s result (0 = OPTEE_SMC_RETURN_OK, TEE_ERROR_NOT_IMPLEMENTED for
 *   an unknown command). A misaligned, non-normal-world or unreadable arg answers
 *   OPTEE_SMC_RETURN_EBADADDR; any other yielding id OPTEE_SMC_RETURN_EBADCMD.
 *
 * Build configuration (optee.md §1.1, §2.1, §2.3), chosen from the platform:
 * - `staticProtmem` given: CFG_SECURE_DATA_PATH=y, CFG_CORE_DYN_PROTMEM=n. EXCHANGE_CAPABILITIES reports
 *   OPTEE_SMC_SEC_CAP_PROTMEM; GET_PROTMEM_CONFIG reports the carveout (CFG_TEE_SDP_MEM_BASE/SIZE);
 *   the message commands GET_PROTMEM_CONFIG / LEND / RECLAIM do not exist (TEE_ERROR_NOT_IMPLEMENTED).
 * - otherwise: CFG_CORE_DYN_PROTMEM=y. EXCHANGE_CAPABILITIES reports OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM;
 *   the fast GET_PROTMEM_CONFIG is unknown; OPTEE_MSG_CMD_GET_PROTMEM_CONFIG answers
 *   plat_get_protmem_config() (no attribute list over SMC); LEND / RECLAIM_PROTMEM go to SmcProtmem
 *   (smc_abi.ts), which protects through plat_set_protmem_range() at LEND time.
 * Both report OPTEE_SMC_SEC_CAP_DYNAMIC_SHM (CFG_CORE_DYN_SHM=y, the default).
 *
 * MODEL CHOICES (not fixed by the references):
 * - OPTEE_SMC_SEC_CAP_RPC_ARG is not reported and a3 (RPC parameter count) is 0, so Linux passes the
 *   arg by physical address with OPTEE_SMC_CALL_WITH_ARG (smc_abi.c's `else` branch) rather than
 *   OPTEE_SMC_CALL_WITH_REGD_ARG; upstream OP-TEE 4.9 does report RPC_ARG. No RPCs are modelled.
 * - The static carveout is protected when OP-TEE boots, through the same platform hook the dynamic
 *   path uses: on a TZC-400 one region, secure read/write, non-secure access only for the secure-video
 *   use case's devices (video decoder, display). Upstream leaves this to the platform (TF-A's or
 *   OP-TEE's TZC set-up for the SDP region); QEMU protects nothing (reported as protected-when-lent).
 * - The message command GET_PROTMEM_CONFIG accepts params[1] as TMEM_OUTPUT or RMEM/FMEM_OUTPUT and
 *   treats a zero size as the NULL memref (protmem.c's query); output size is the input size, as the
 *   non-FF-A branch of get_protmem_config() leaves it.
 * Costs: each call sleeps worldSwitchSel1Ns inside OP-TEE; the conduit adds smcRoundTripNs.
 */
import {
  decodeMsgArg,
  encodeMsgArg,
  OPTEE_MSG_ARG_HEADER_SIZE,
  OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_RECLAIM_PROTMEM,
  optee_msg_get_arg_size,
  optee_smc_fast_call_val,
  optee_smc_std_call_val,
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
  OPTEE_SMC_RETURN_EBADADDR,
  OPTEE_SMC_RETURN_EBADCMD,
  OPTEE_SMC_RETURN_OK,
  OPTEE_SMC_RETURN_UNKNOWN_FUNCTION,
  OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM,
  OPTEE_SMC_SEC_CAP_DYNAMIC_SHM,
  OPTEE_SMC_SEC_CAP_PROTMEM,
  paramType,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  valueParam,
  type OpteeMsgArg,
} from "../../abi/optee/index.ts";
import { OWNER_SECURE } from "../../hw/frames.ts";
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import { platGetProtmemConfig, type ProtmemConfig } from "./config.ts";
import type { ScrubPolicy } from "./optee.ts";
import { MOBJ_USE_CASE_SEC_VIDEO_PLAY, type PlatProtmem } from "../../abi/optee/protmem.ts";
import { platProtmemFor } from "./plat_protmem.ts";
import { PROTMEM_PA_WIDTH } from "./entry_std.ts";
import { smcGetProtmemConfig, SmcProtmem, type SdpCarveout } from "./smc_abi.ts";
import { SideTable } from "../../sim/side_table.ts";

/** The function-id ranges EL3 routes to OP-TEE (SMC32, owner Trusted OS 50). */
export const OPTEE_SMC_FAST_LO = optee_smc_fast_call_val(0);
export const OPTEE_SMC_FAST_HI = optee_smc_fast_call_val(0xffff);
export const OPTEE_SMC_STD_LO = optee_smc_std_call_val(0);
export const OPTEE_SMC_STD_HI = optee_smc_std_call_val(0xffff);

/** What OP-TEE did over the SMC ABI, for tests and reports. */
export interface OpteeSmcCounters {
  fastCalls: number;
  yieldingCalls: number;
  badArgs: number;
  lends: number;
  reclaims: number;
}

export class OpteeSmcEntry {
  readonly counters: OpteeSmcCounters = { fastCalls: 0, yieldingCalls: 0, badArgs: 0, lends: 0, reclaims: 0 };
  /** The dynamic lend/reclaim state (CFG_CORE_DYN_PROTMEM), or null for a static build. */
  readonly protmem: SmcProtmem | null;
  readonly #cpuS: number;

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
    readonly configs: ReadonlyMap<number, ProtmemConfig>,
    readonly hook: PlatProtmem,
    /** CFG_TEE_SDP_MEM_BASE/SIZE: a static build; null: CFG_CORE_DYN_PROTMEM. */
    readonly carveout: SdpCarveout | null,
    scrub: ScrubPolicy,
  ) {
    this.#cpuS = machine.masterIndex("cpu-s");
    if (this.#cpuS < 0) throw new Error(`${machine.platform.name} has no cpu-s master`);
    this.protmem = carveout ? null : new SmcProtmem(sim, machine, hook, scrub);
  }

  get dynamic(): boolean {
    return this.carveout === null;
  }

  /** tee_entry_exchange_capabilities(): the capability bits of this build. */
  get secCaps(): number {
    return (
      OPTEE_SMC_SEC_CAP_DYNAMIC_SHM |
      (this.dynamic ? OPTEE_SMC_SEC_CAP_DYNAMIC_PROTMEM : OPTEE_SMC_SEC_CAP_PROTMEM)
    );
  }

  /** EL3 routes OP-TEE's fast and yielding SMC ranges here (opteed's Trusted-OS owner). */
  attach(): void {
    this.machine.smc.register("optee-smc-fast", OPTEE_SMC_FAST_LO, OPTEE_SMC_FAST_HI, (r) => this.fast(r));
    this.machine.smc.register("optee-smc-std", OPTEE_SMC_STD_LO, OPTEE_SMC_STD_HI, (r) => this.yielding(r));
  }

  /**
   * The static carveout is protected from boot for the use case's devices (see the header). Returns the
   * plat hook's TEE_Result.
   */
  protectCarveout(): number {
    const c = this.carveout;
    if (!c) return TEE_SUCCESS;
    const cost = { ns: 0 };
    const rc = this.hook.setProtmemRange(MOBJ_USE_CASE_SEC_VIDEO_PLAY, c.base, c.size, cost);
    if (rc !== TEE_SUCCESS) return rc;
    this.machine.setOwner(c.base, c.size, OWNER_SECURE, MOBJ_USE_CASE_SEC_VIDEO_PLAY);
    this.trace("sdp-carveout", { base: "0x" + c.base.toString(16), size: c.size });
    return TEE_SUCCESS;
  }

  /** tee_entry_fast() */
  *fast(regs: SmcRegs): Sleeps<SmcRegs> {
    this.counters.fastCalls++;
    if (!elapse(this.machine.costs.worldSwitchSel1Ns)) yield sleep(this.machine.costs.worldSwitchSel1Ns);
    const fid = Number(regs[0] & 0xffff_ffffn);
    switch (fid) {
      case OPTEE_SMC_EXCHANGE_CAPABILITIES:
        // a1 = sec caps, a2 = max notification value (no async notif), a3 = RPC param count (0, see header).
        return smcRegs(OPTEE_SMC_RETURN_OK, this.secCaps, 0, 0);
      case OPTEE_SMC_GET_PROTMEM_CONFIG:
        return smcGetProtmemConfig(this.carveout, this.dynamic);
      default:
        this.trace("unknown-fast-call", { fid: "0x" + fid.toString(16) });
        return smcRegs(OPTEE_SMC_RETURN_UNKNOWN_FUNCTION);
    }
  }

  /** __thread_std_smc_entry() → std_entry_with_parg() → tee_entry_std(). */
  *yielding(regs: SmcRegs): Sleeps<SmcRegs> {
    this.counters.yieldingCalls++;
    if (!elapse(this.machine.costs.worldSwitchSel1Ns)) yield sleep(this.machine.costs.worldSwitchSel1Ns);
    const fid = Number(regs[0] & 0xffff_ffffn);
    if (fid !== OPTEE_SMC_CALL_WITH_ARG) return smcRegs(OPTEE_SMC_RETURN_EBADCMD);
    const parg = Number(((regs[1] & 0xffff_ffffn) << 32n) | (regs[2] & 0xffff_ffffn));
    const arg = this.#readArg(parg);
    if (typeof arg === "string") {
      this.counters.badArgs++;
      this.trace("bad-arg", { parg: "0x" + parg.toString(16), why: arg });
      return smcRegs(OPTEE_SMC_RETURN_EBADADDR);
    }
    const { rv, out } = yield* this.#entryStd(arg);
    if (out && this.machine.writeBytes(this.#cpuS, parg, encodeMsgArg(out)) !== ACCESS_OK) {
      return smcRegs(OPTEE_SMC_RETURN_EBADADDR);
    }
    return smcRegs(rv);
  }

  /** The arg at `parg`: page aligned (mobj_mapped_shm_alloc of one page), in normal-world DRAM, fits the page. */
  #readArg(parg: number): OpteeMsgArg | string {
    if (parg % PAGE_SIZE !== 0) return "not page aligned";
    const m = this.machine;
    if (parg < m.dramBase || parg + PAGE_SIZE > m.dramEnd) return "not in DRAM";
    if (m.platform.reserved.some((r) => r.secure && parg < r.base + r.size && r.base < parg + PAGE_SIZE))
      return "secure memory";
    const head = m.readBytes(this.#cpuS, parg, OPTEE_MSG_ARG_HEADER_SIZE);
    if (head.code !== ACCESS_OK) return "header unreadable";
    const n = new DataView(head.bytes.buffer, head.bytes.byteOffset).getUint32(28, true);
    const size = optee_msg_get_arg_size(n);
    if (size > PAGE_SIZE) return `num_params ${n} does not fit the page`;
    const all = m.readBytes(this.#cpuS, parg, size);
    if (all.code !== ACCESS_OK) return "arg unreadable";
    const d = decodeMsgArg(all.bytes);
    return d.ok ? d.arg : d.why;
  }

  /** __tee_entry_std() for this build: the return value (a0) and the message to write back. */
  *#entryStd(arg: OpteeMsgArg): Sleeps<{ rv: number; out: OpteeMsgArg | null }> {
    const p = this.protmem;
    if (p && arg.cmd === OPTEE_MSG_CMD_GET_PROTMEM_CONFIG) return { rv: 0, out: this.#getProtmemConfig(arg) };
    if (p && (arg.cmd === OPTEE_MSG_CMD_LEND_PROTMEM || arg.cmd === OPTEE_MSG_CMD_RECLAIM_PROTMEM)) {
      const out = yield* p.smcEntryStd(arg);
      if (out.ret === TEE_SUCCESS) {
        if (arg.cmd === OPTEE_MSG_CMD_LEND_PROTMEM) this.counters.lends++;
        else this.counters.reclaims++;
      }
      this.trace(arg.cmd === OPTEE_MSG_CMD_LEND_PROTMEM ? "lend-protmem" : "reclaim-protmem", {
        ret: out.ret,
      });
      return { rv: 0, out };
    }
    // "Unknown cmd": the function's result is NOT_IMPLEMENTED, the message is left as it came.
    this.trace("unknown-cmd", { cmd: arg.cmd });
    return { rv: TEE_ERROR_NOT_IMPLEMENTED, out: null };
  }

  /** get_protmem_config() without FF-A: plat_get_protmem_config(), no attribute list. */
  #getProtmemConfig(arg: OpteeMsgArg): OpteeMsgArg {
    const p = arg.params;
    const bad = { ...arg, ret: TEE_ERROR_BAD_PARAMETERS >>> 0, ret_origin: TEEC_ORIGIN_TEE };
    if (p.length !== 2 || paramType(p[0]) !== OPTEE_MSG_ATTR_TYPE_VALUE_INOUT) return bad;
    const t = paramType(p[1]);
    if (t !== OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT && t !== OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT) return bad;
    const useCase = p[0].u[0];
    const cfg = useCase < 0x7fff_ffffn ? platGetProtmemConfig(this.configs, Number(useCase)) : null;
    // A failure still reports c = PA width (the code writes it after copy_out_param()).
    if (!cfg) {
      const values = valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, p[0].u[0], p[0].u[1], PROTMEM_PA_WIDTH);
      return { ...bad, params: [values, p[1]] };
    }
    const values = valueParam(
      OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
      cfg.minSizeBytes,
      cfg.alignBytes,
      PROTMEM_PA_WIDTH,
    );
    return { ...arg, ret: TEE_SUCCESS, ret_origin: TEEC_ORIGIN_TEE, params: [values, p[1]] };
  }

  trace(event: string, data: Record<string, unknown> = {}): void {
    if (this.sim.trace.listening) this.sim.trace.emit("secure", `smc:${event}`, data);
  }
}

const byMachine = new SideTable<Machine, OpteeSmcEntry>();

/** The SMC-ABI entry OP-TEE booted on this machine, if its platform uses the SMC ABI (tests, reports). */
export function opteeSmcOf(machine: Machine): OpteeSmcEntry | null {
  return byMachine.get(machine) ?? null;
}

/**
 * OP-TEE's boot with the SMC ABI (after its FF-A set-up, which stays for the platform's SPMC): the
 * build is chosen from the platform (`staticProtmem`), the static carveout is protected, and the SMC
 * handlers are registered on the conduit.
 */
export function bootOpteeSmc(
  sim: Sim,
  machine: Machine,
  configs: ReadonlyMap<number, ProtmemConfig>,
  scrub: ScrubPolicy,
): OpteeSmcEntry {
  const carveout = machine.platform.staticProtmem ?? null;
  const entry = new OpteeSmcEntry(sim, machine, configs, platProtmemFor(sim, machine), carveout, scrub);
  const rc = entry.protectCarveout();
  if (rc !== TEE_SUCCESS) {
    throw new Error(`OP-TEE boot: cannot protect the SDP carveout (TEE_Result 0x${(rc >>> 0).toString(16)})`);
  }
  entry.attach();
  byMachine.set(machine, entry);
  return entry;
}
