/**
 * OP-TEE as its own SPMC at S-EL1 (CFG_CORE_SEL1_SPMC, "SPMC_AT_EL=1") — core/arch/arm/kernel/
 * thread_spmc.c thread_spmc_msg_recv() and its handlers (optee.md §1.5). TF-A's SPMD at EL3 forwards
 * the normal world's FF-A calls; it answers FFA_VERSION and FFA_ID_GET for it. OP-TEE is the only
 * partition (a logical partition in the SPMC's own exception level; S-EL0 SPs are not modelled), and
 * it never makes FF-A calls to itself: every call from its own endpoint is NOT_SUPPORTED.
 *
 * What it does not handle answers FFA_NOT_SUPPORTED (thread_spmc_msg_recv()'s default): DONATE,
 * RETRIEVE_REQ, RELINQUISH and FRAG_RX among them — memory sent to OP-TEE is used by OP-TEE itself
 * through mobj_ffa_get_by_cookie() (MobjFfaTable), not retrieved. The notification calls are in
 * notif.ts.
 */
import {
  FFA_DENIED,
  FFA_BUSY,
  FFA_FEATURES_32,
  FFA_ID_GET_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_BIND_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_NOTIFICATION_GET_32,
  FFA_NOTIFICATION_INFO_GET_32,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_NOTIFICATION_UNBIND_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_RX_RELEASE_32,
  FFA_RXTX_MAP_32,
  FFA_RXTX_MAP_64,
  FFA_RXTX_UNMAP_32,
  FFA_VERSION_1_0,
  FFA_VERSION_1_1,
  FFA_VERSION_1_2,
  FFA_VERSION_32,
  ffaFuncId,
  ffaVersionMajor,
} from "../../abi/ffa/index.ts";
import { OWNER_SECURE } from "../../hw/frames.ts";
import type { Machine } from "../../hw/machine.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { type PlatProtmem } from "../../abi/optee/protmem.ts";
import { TEE_ERROR_ITEM_NOT_FOUND, TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import type { Sim } from "../../sim/sim.ts";
import { checkHandlesUnique, checkMachineOwner } from "../spmc/consistency.ts";
import { FFA_OPTEE_ID, type SpmcEndpoint } from "../spmc/endpoint.ts";
import {
  encodePartitionInfo,
  FFA_PARTITION_COUNT_FLAG,
  matchPartitions,
  PARTITION_INFO_SIZE_V1_1,
} from "../spmc/partition_info.ts";
import { CallCtx, ffaError, ffaSuccess, hex, w } from "../spmc/regs.ts";
import { Spmc, type SpmcLimits } from "../spmc/spmc.ts";
import { memFragTx, memOp, type MemFragState } from "./mem_op.ts";
import { lentRanges, MobjFfaTable, type MobjFfa } from "./mobj_ffa.ts";
import {
  notificationBind,
  notificationBitmapCreate,
  notificationBitmapDestroy,
  notificationGet,
  notificationInfoGet,
  notificationUnbind,
  SpmcNotif,
} from "./notif.ts";

/** SPMC_CORE_SEL1_MAX_SHM_COUNT = 64 (thread_spmc.h); no fragment or receiver limit of its own. */
export const OPTEE_SEL1_LIMITS: SpmcLimits = {
  maxShares: 64,
  maxFragments: Number.MAX_SAFE_INTEGER,
  maxRecipients: 255,
};

/** FFA_MSG_FLAG_FRAMEWORK — direct request w2 bit 31. */
const FFA_MSG_FLAG_FRAMEWORK = 1 << 31;

/** FFA_FEATURE_MANAGED_EXIT_INTR — a feature ID (ffa.h). */
const FFA_FEATURE_MANAGED_EXIT_INTR = 0x3;

/**
 * handle_features() (4.9.0): IDs answered with success (w2 as given); anything else, including
 * FFA_FEATURE_SCHEDULE_RECV_INTR while spmc_notif_is_ready is false (always, in the model: notif.ts),
 * FFA_MEM_LEND and FFA_PARTITION_INFO_GET_REGS, is FFA_ERROR(NOT_SUPPORTED) — the query's answer, not a
 * refusal (the input property in w2 is not looked at).
 */
const FEATURES = new Map<number, number>([
  ...[
    "FFA_ERROR_32",
    "FFA_VERSION_32",
    "FFA_SUCCESS_32",
    "FFA_SUCCESS_64",
    "FFA_FEATURES_32",
    "FFA_SPM_ID_GET_32",
    "FFA_MEM_FRAG_TX_32",
    "FFA_MEM_RECLAIM_32",
    "FFA_MSG_SEND_DIRECT_REQ_64",
    "FFA_MSG_SEND_DIRECT_REQ_32",
    "FFA_INTERRUPT_32",
    "FFA_PARTITION_INFO_GET_32",
    "FFA_RXTX_UNMAP_32",
    "FFA_RX_RELEASE_32",
    "FFA_NOTIFICATION_BITMAP_CREATE_32",
    "FFA_NOTIFICATION_BITMAP_DESTROY_32",
    "FFA_NOTIFICATION_BIND_32",
    "FFA_NOTIFICATION_UNBIND_32",
    "FFA_NOTIFICATION_SET_32",
    "FFA_NOTIFICATION_GET_32",
    "FFA_NOTIFICATION_INFO_GET_32",
    "FFA_NOTIFICATION_INFO_GET_64",
  ].map((n) => [ffaFuncId(n)!, 0] as [number, number]),
  [FFA_FEATURE_MANAGED_EXIT_INTR, 0],
  [FFA_RXTX_MAP_32, 0],
  [FFA_RXTX_MAP_64, 0],
  // "transmission of a memory transaction descriptor in a buffer dynamically allocated by the endpoint"
  [FFA_MEM_SHARE_32, 1],
  [FFA_MEM_SHARE_64, 1],
]);

export class OpteeSel1Spmc extends Spmc {
  readonly flavor = "optee-sel1" as const;
  readonly mobjs: MobjFfaTable;
  readonly fragStates = new Map<bigint, MemFragState>();
  readonly hook: PlatProtmem;
  readonly opteeId = FFA_OPTEE_ID;
  /** The normal world's notification bitmap (notif.ts). */
  readonly notif = new SpmcNotif();

  /**
   * `hook`: the platform's plat_set_protmem_range() (secure/optee/plat_protmem.ts platProtmemFor(), handed
   * in by whoever builds the system: OP-TEE's platform code is linked into the same image, but the
   * model's firmware layer does not import the secure layer, ARCHITECTURE.md §1).
   */
  constructor(sim: Sim, machine: Machine, limits: SpmcLimits, hook: PlatProtmem) {
    super(sim, machine, limits);
    this.hook = hook;
    this.mobjs = new MobjFfaTable(machine, this.hook, limits.maxShares);
  }

  /** thread_spmc.c's frag_state_head: sends waiting for their next FFA_MEM_FRAG_TX. */
  incompleteSends(): number {
    return this.fragStates.size;
  }

  protected entryCostNs(): number {
    return this.machine.costs.worldSwitchSel1Ns;
  }

  protected handle(ctx: CallCtx, ep: SpmcEndpoint, fid: number, regs: SmcRegs): SmcRegs {
    if (ep.secure)
      return ctx.reject(
        FFA_NOT_SUPPORTED,
        "optee-is-the-spmc",
        "OP-TEE is the SPMC: it makes no FF-A calls to itself",
      );
    switch (fid) {
      case FFA_VERSION_32:
        return this.#version(ep, w(regs, 1));
      case FFA_ID_GET_32:
        // The SPMD answers for the normal world (FFA_NS_ENDPOINT_ID).
        return ffaSuccess(ep.id);
      case FFA_FEATURES_32: {
        const v = FEATURES.get(w(regs, 1));
        return v === undefined ? ffaError(FFA_NOT_SUPPORTED) : ffaSuccess(v);
      }
      case FFA_RXTX_MAP_32:
      case FFA_RXTX_MAP_64:
        return this.#rxtxMap(ctx, ep, regs);
      case FFA_RXTX_UNMAP_32:
        return this.#rxtxUnmap(ctx, ep);
      case FFA_RX_RELEASE_32:
        // spmc_handle_rx_release(): "The senders RX is our TX".
        if (ep.rx === null || !ep.rxFull)
          return ctx.reject(FFA_DENIED, "rx-not-owned", "the caller does not own its RX buffer");
        ep.rxFull = false;
        return ffaSuccess();
      case FFA_PARTITION_INFO_GET_32:
        return this.#partitionInfo(ctx, ep, regs);
      case FFA_MEM_SHARE_32:
      case FFA_MEM_SHARE_64:
      case FFA_MEM_LEND_32:
      case FFA_MEM_LEND_64:
        return memOp(this, ctx, ep, fid, regs);
      case FFA_MEM_FRAG_TX_32:
        return memFragTx(this, ctx, ep, regs);
      case FFA_MEM_RECLAIM_32:
        return this.#reclaim(ctx, regs);
      case FFA_NOTIFICATION_BITMAP_CREATE_32:
        return notificationBitmapCreate(this.notif, ctx, regs);
      case FFA_NOTIFICATION_BITMAP_DESTROY_32:
        return notificationBitmapDestroy(this.notif, ctx, regs);
      case FFA_NOTIFICATION_BIND_32:
        return notificationBind(this.notif, ctx, regs);
      case FFA_NOTIFICATION_UNBIND_32:
        return notificationUnbind(this.notif, ctx, regs);
      case FFA_NOTIFICATION_GET_32:
        return notificationGet(this.notif, ctx, regs);
      case FFA_NOTIFICATION_INFO_GET_32:
      case FFA_NOTIFICATION_INFO_GET_64:
        return notificationInfoGet(this.notif, ctx, regs);
      default:
        return ctx.reject(
          FFA_NOT_SUPPORTED,
          "unhandled-function",
          () => `unhandled FFA function ID ${hex(fid)}`,
        );
    }
  }

  /**
   * spmc_exchange_version(): no lock — "We must be able to renegotiate". Below v1.1 → v1.0; otherwise
   * the caller's minor up to v1.2 (the v1.2 register ABI of thread_smc_1_2_regs; older OP-TEE capped
   * at v1.1). The answer is the negotiated version, in w0.
   */
  #version(ep: SpmcEndpoint, requested: number): SmcRegs {
    if (requested >>> 31 !== 0 || ffaVersionMajor(requested) !== 1) return smcRegs(0xffff_ffff);
    const v = requested < FFA_VERSION_1_1 ? FFA_VERSION_1_0 : Math.min(requested, FFA_VERSION_1_2);
    ep.version = v;
    return smcRegs(v);
  }

  /** spmc_handle_rxtx_map(). */
  #rxtxMap(ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
    const pages = regs[3];
    if ((pages & ~0x3fn) !== 0n)
      return ctx.reject(FFA_INVALID_PARAMETERS, "rxtx-page-count", () => `page count ${pages} > 63`);
    if (pages === 0n) return ctx.reject(FFA_INVALID_PARAMETERS, "rxtx-page-count", "page count 0");
    if (ep.tx !== null) return ctx.reject(FFA_DENIED, "rxtx-already-mapped", "RX/TX buffers already mapped");
    const size = Number(pages) * PAGE_SIZE;
    const tx = Number(regs[1]);
    const rx = Number(regs[2]);
    if (!this.isNonSecureDram(tx, size) || !this.isNonSecureDram(rx, size))
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "rxtx-not-ns",
        "buffers must be non-secure memory (map_buf())",
      );
    ep.tx = tx;
    ep.rx = rx;
    ep.pageCount = Number(pages);
    // "rxtx->tx_is_mine = true": a pair mapped afresh starts with the RX buffer the caller's to fill.
    ep.rxFull = false;
    return ffaSuccess();
  }

  /**
   * spmc_handle_rxtx_unmap() (4.9.0): w1 is not looked at (no allocator ID: the normal world is the
   * only caller, and OP-TEE runs no hypervisor's VMs here). No pair mapped (`!rxtx->size`):
   * INVALID_PARAMETERS. Otherwise unmap_buf() of both buffers and the pair is forgotten: FFA_SUCCESS.
   * `tx_is_mine` is left as it is; the next FFA_RXTX_MAP sets it.
   */
  #rxtxUnmap(ctx: CallCtx, ep: SpmcEndpoint): SmcRegs {
    if (ep.tx === null)
      return ctx.reject(FFA_INVALID_PARAMETERS, "rxtx-unmap-not-mapped", "no RX/TX buffers mapped");
    ep.tx = null;
    ep.rx = null;
    ep.pageCount = 0;
    return ffaSuccess();
  }

  /** spmc_handle_partition_info_get(). */
  #partitionInfo(ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
    const countOnly = (w(regs, 5) & FFA_PARTITION_COUNT_FLAG) !== 0;
    if (!countOnly && (ep.rx === null || ep.rxFull))
      return ctx.reject(FFA_BUSY, "rx-busy", "RX buffer not available");
    const uuid = [w(regs, 1), w(regs, 2), w(regs, 3), w(regs, 4)];
    const sps = matchPartitions(
      [...this.endpoints.values()].filter((e) => e.secure),
      uuid,
    );
    if (sps.length === 0) return ctx.reject(FFA_INVALID_PARAMETERS, "partition-info-uuid", "unknown UUID");
    const v10 = ep.layout === "1.0";
    if (countOnly) return ffaSuccess(sps.length);
    if (!this.writeRx(ctx, ep, encodePartitionInfo(sps, v10)))
      return ctx.reject(FFA_INVALID_PARAMETERS, "copy-faulted", "RX write faulted");
    ep.rxFull = true;
    return ffaSuccess(sps.length, v10 ? 0 : PARTITION_INFO_SIZE_V1_1);
  }

  /** handle_mem_reclaim(): w3..w7 MBZ (so no zero-memory flag); busy → DENIED; unknown → INVALID_PARAMETERS. */
  #reclaim(ctx: CallCtx, regs: SmcRegs): SmcRegs {
    for (let i = 3; i <= 7; i++) {
      if (regs[i] !== 0n)
        return ctx.reject(FFA_INVALID_PARAMETERS, "reclaim-mbz", () => `w${i} MBZ (flags are not supported)`);
    }
    const cookie = BigInt(w(regs, 1)) | (BigInt(w(regs, 2)) << 32n);
    const cost = { ns: 0 };
    const rc = this.mobjs.reclaim(cookie, cost);
    ctx.costNs += cost.ns;
    if (rc === TEE_SUCCESS) return ffaSuccess();
    if (rc === TEE_ERROR_ITEM_NOT_FOUND)
      return ctx.reject(FFA_INVALID_PARAMETERS, "unknown-cookie", () => `cookie ${hex(cookie)} not found`);
    return ctx.reject(FFA_DENIED, "cookie-busy", () => `cookie ${hex(cookie)} is in use (rc ${hex(rc)})`);
  }

  /**
   * handle_direct_request() (OP-TEE 4.9.0 thread_spmc.c): spmc_find_lsp_by_sp_id(FFA_DST(w1)) — OP-TEE
   * is the logical partition requests reach; another receiver goes to spmc_sp_start_thread(), which
   * without CFG_SECURE_PARTITION (no S-EL0 SPs here) returns FFA_INVALID_PARAMETERS, and the SPMC's own
   * ID (optee_spmc_lsp_handle_direct_request()) answers a non-framework request FFA_INVALID_PARAMETERS
   * too. Framework messages to OP-TEE are not modelled.
   */
  protected directRequestTarget(ctx: CallCtx, _ep: SpmcEndpoint, regs: SmcRegs): number | SmcRegs {
    const receiver = w(regs, 1) & 0xffff;
    if (receiver !== this.opteeId)
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "direct-receiver",
        () => `no logical partition ${hex(receiver)} (spmc_sp_start_thread())`,
      );
    if ((w(regs, 2) & FFA_MSG_FLAG_FRAMEWORK) !== 0)
      return ctx.reject(FFA_NOT_SUPPORTED, "framework-message", "framework messages are not modelled");
    return this.opteeId;
  }

  /** ffa-consistency: a lent object's pages are secure in the machine; cookies unique. */
  audit(m: MobjFfa): void {
    if (m.lent) {
      for (const r of lentRanges(m, this.machine)) {
        if (
          !checkMachineOwner(
            this.sim,
            this.machine,
            r.address,
            r.pages,
            OWNER_SECURE,
            `lent cookie ${hex(m.cookie)}`,
          )
        )
          break;
      }
    }
    checkHandlesUnique(
      this.sim,
      [...this.mobjs.live()].map((o) => o.cookie),
    );
  }
}
