/**
 * Hafnium as the SPMC at S-EL2 — TF-Hafnium/hafnium src/api.c (the ABI handlers), src/ffa_memory.c
 * (memory sharing), src/ffa/spmc/*.c (the SPMC build's policies). Calls from the normal world arrive
 * through the SPMD at EL3; partitions trap to it. Protection of lent memory is only through RME
 * (memory_protect/rme.c); without RME a lend goes through unprotected (reference/ffa.md §5,
 * optee.md §1.5).
 */
import {
  FFA_ABORTED,
  FFA_DENIED,
  FFA_FEATURES_32,
  FFA_ID_GET_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_DONATE_32,
  FFA_MEM_DONATE_64,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_REQ_64,
  FFA_MEM_SHARE_32,
  FFA_MEM_SHARE_64,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_RX_RELEASE_32,
  FFA_RXTX_MAP_32,
  FFA_RXTX_MAP_64,
  FFA_RXTX_UNMAP_32,
  FFA_VERSION_1_2,
  FFA_VERSION_32,
  ffaFuncName,
  ffaVersionsAreCompatible,
} from "../../abi/ffa/index.ts";
import type { Machine } from "../../hw/machine.ts";
import { OWNER_NORMAL, OWNER_SECURE } from "../../hw/frames.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sim } from "../../sim/sim.ts";
import { checkHandlesUnique, checkRangesOwner } from "../spmc/consistency.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { MM_MODE_NWD_MEMORY, PageState } from "../spmc/page_state.ts";
import { CallCtx, ffaError, ffaSuccess, hex, w } from "../spmc/regs.ts";
import { ShareStateTable, type ShareState } from "../spmc/share_state.ts";
import { Spmc, type SpmcLimits } from "../spmc/spmc.ts";
import { hafniumFeatures, hafniumListsFunction } from "./features.ts";
import {
  hfNotificationBitmapCreate,
  hfNotificationBitmapDestroy,
  NwdNotifications,
} from "./notifications.ts";
import { hfPartitionInfoGet, hfPartitionInfoGetRegs } from "./partition_info.ts";
import { reclaim, relinquish } from "./release.ts";
import { fragRx, retrieveReq } from "./retrieve.ts";
import { allConstituents } from "./send_complete.ts";
import { fragTx, memSend } from "./send.ts";

/** Defaults of the SPMC build (reference/ffa.md §5.2). */
export const HAFNIUM_LIMITS: SpmcLimits = { maxShares: 100, maxFragments: 20, maxRecipients: 2 };

/**
 * FFA_VERSION_COMPILED of the Hafnium we model: a v2.15.0 built for FF-A v1.2 (`ffa_version =
 * "0x10002"` in build/toolchain/platform.gni, which defines FFA_VERSION). Our choice: v2.15.0's default
 * build is v1.3 (inc/vmapi/hf/ffa.h), which answers FFA_VERSION with 0x10003, accepts v1.3 callers and
 * lists FFA_NS_RES_INFO_GET, FFA_ABORT and notification feature ID 4 in FFA_FEATURES (features.ts);
 * the model implements none of those v1.3 interfaces yet.
 */
export const HAFNIUM_FFA_VERSION = FFA_VERSION_1_2;

export class HafniumSpmc extends Spmc {
  readonly flavor = "hafnium" as const;
  readonly shares: ShareStateTable;
  readonly pages: PageState;
  /** HF_MAILBOX_SIZE: the RX/TX buffer size Hafnium is built with (the platform's). */
  readonly mailboxSize: number;
  /** The normal world's notification bitmaps (notifications.ts). */
  readonly nwdNotifications = new NwdNotifications();

  constructor(sim: Sim, machine: Machine, limits: SpmcLimits = HAFNIUM_LIMITS) {
    super(sim, machine, limits);
    this.shares = new ShareStateTable(limits.maxShares);
    this.pages = new PageState(machine.frames);
    this.mailboxSize = machine.platform.rxtxBufferSize;
  }

  /**
   * From the normal world: EL3 (the conduit's round trip, charged there) plus the switch into S-EL2
   * and back. From a partition: its trap into S-EL2 and back — the same switch.
   */
  incompleteSends(): number {
    let n = 0;
    for (const s of this.shares.live()) if (!s.sendingComplete) n++;
    return n;
  }

  protected entryCostNs(): number {
    return this.machine.costs.worldSwitchSel2Ns;
  }

  protected handle(ctx: CallCtx, ep: SpmcEndpoint, fid: number, regs: SmcRegs): SmcRegs {
    switch (fid) {
      case FFA_VERSION_32:
        return this.#version(ep, w(regs, 1));
      case FFA_ID_GET_32:
        return ffaSuccess(ep.id);
      case FFA_FEATURES_32:
        return hafniumFeatures(ctx, ep, w(regs, 1), w(regs, 2), this.mailboxSize);
      case FFA_RXTX_MAP_32:
      case FFA_RXTX_MAP_64:
        return this.#rxtxMap(ctx, ep, regs);
      case FFA_RXTX_UNMAP_32:
        return this.#rxtxUnmap(ctx, ep, w(regs, 1) >>> 16);
      case FFA_RX_RELEASE_32:
        if (!ep.rxFull) return ctx.reject(FFA_DENIED, "rx-empty", () => `mailbox of ${hex(ep.id)} is empty`);
        ep.rxFull = false;
        return ffaSuccess();
      case FFA_PARTITION_INFO_GET_32:
        return hfPartitionInfoGet(this, ctx, ep, regs);
      case FFA_PARTITION_INFO_GET_REGS_64:
        return hfPartitionInfoGetRegs(this, ctx, ep, regs);
      case FFA_NOTIFICATION_BITMAP_CREATE_32:
        return hfNotificationBitmapCreate(this.nwdNotifications, ctx, ep, regs);
      case FFA_NOTIFICATION_BITMAP_DESTROY_32:
        return hfNotificationBitmapDestroy(this.nwdNotifications, ctx, ep, regs);
      case FFA_MEM_DONATE_32:
      case FFA_MEM_DONATE_64:
      case FFA_MEM_LEND_32:
      case FFA_MEM_LEND_64:
      case FFA_MEM_SHARE_32:
      case FFA_MEM_SHARE_64:
        return memSend(this, ctx, ep, fid, regs);
      case FFA_MEM_FRAG_TX_32:
        return fragTx(this, ctx, ep, regs);
      case FFA_MEM_RETRIEVE_REQ_32:
      case FFA_MEM_RETRIEVE_REQ_64:
        return retrieveReq(this, ctx, ep, regs);
      case FFA_MEM_FRAG_RX_32:
        return fragRx(this, ctx, ep, regs);
      case FFA_MEM_RELINQUISH_32:
        return relinquish(this, ctx, ep);
      case FFA_MEM_RECLAIM_32:
        return reclaim(this, ctx, ep, regs);
      default:
        // A function Hafnium implements (its FFA_FEATURES lists it) that the model does not: the answer
        // is the model's, not Hafnium's — the rule says so, and the fuzzer's corpus expects nothing of it.
        if (hafniumListsFunction(fid, ep))
          return ctx.reject(
            FFA_NOT_SUPPORTED,
            "unmodelled-function",
            () => `${ffaFuncName(fid) ?? hex(fid)}: Hafnium v2.15 implements it; the model does not yet`,
          );
        return ctx.reject(FFA_NOT_SUPPORTED, "unknown-function", () => `function ${hex(fid)} is not handled`);
    }
  }

  /**
   * panic() → abort() — src/panic.c, src/abort.c: Hafnium logs "Panic: …" and spins the CPU in S-EL2
   * for good ("TODO: Block all CPUs"); the call never returns, and the locks it holds
   * (share_states_lock, the caller's VM lock) are never released. The model stops the machine there
   * (machine.hung), as it does for an SError. The registers returned are never seen: the conduit's
   * return leg is where the scheduler stops.
   */
  panic(why: string): SmcRegs {
    const msg = `Hafnium panic: ${why}`;
    if (this.machine.hung === null) this.machine.hung = msg;
    this.sim.sched.stop(msg);
    if (this.sim.trace.listening) this.sim.trace.emit("firmware", "panic", { spmc: "hafnium", why });
    return ffaError(FFA_ABORTED);
  }

  /** api_ffa_version(): NOT_SUPPORTED travels in w0 itself, not in an FFA_ERROR. */
  #version(ep: SpmcEndpoint, requested: number): SmcRegs {
    const fail = smcRegs(0xffff_ffff);
    if (requested >>> 31 !== 0) return fail;
    if (!ffaVersionsAreCompatible(requested, HAFNIUM_FFA_VERSION)) return fail;
    if (ep.versionLocked && ep.version !== null && requested !== ep.version) return fail;
    ep.version = requested;
    return smcRegs(HAFNIUM_FFA_VERSION);
  }

  /** api_ffa_rxtx_map() → api_vm_configure_pages(). */
  #rxtxMap(ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): SmcRegs {
    const send = Number(regs[1]);
    const recv = Number(regs[2]);
    const pageCount = w(regs, 3);
    if (ep.tx !== null || ep.rx !== null)
      return ctx.reject(
        FFA_DENIED,
        "rxtx-already-mapped",
        () => `mailboxes have already been set up for ${hex(ep.id)}`,
      );
    if (pageCount !== this.mailboxSize / PAGE_SIZE)
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "rxtx-page-count",
        () => `page count must be ${this.mailboxSize / PAGE_SIZE}, it is ${pageCount}`,
      );
    if (send % PAGE_SIZE !== 0 || recv % PAGE_SIZE !== 0)
      return ctx.reject(FFA_INVALID_PARAMETERS, "rxtx-aligned", "mailbox buffers not page-aligned");
    if (send === recv) return ctx.reject(FFA_INVALID_PARAMETERS, "rxtx-overlap", "mailbox buffers overlap");
    if (!ep.secure) {
      // arch_other_world_vm_configure_rxtx_map(): both buffers mapped in the normal world's page tables
      // at the SPMC with R|W|X|NS, then unmapped from them — no later send, nor another RXTX_MAP, can
      // name them (FFA_RXTX_UNMAP maps them back).
      const ranges = [send, recv].map((pa) => this.pages.range(pa, pageCount));
      for (let k = 0; k < 2; k++) {
        const r = ranges[k];
        const mode = r ? this.pages.senderMode(ep.id, r.first, r.end) : null;
        if (mode === null || (mode & MM_MODE_NWD_MEMORY) !== MM_MODE_NWD_MEMORY)
          return ctx.reject(
            FFA_DENIED,
            "rxtx-nwd-mode",
            () =>
              `${k === 0 ? "send" : "recv"} page ${hex(k === 0 ? send : recv)} is not mapped R|W|X|NS in the normal world's page tables` +
              (mode === null ? "" : ` (mode ${hex(mode)})`),
          );
      }
      for (const r of ranges) this.pages.unmapNwd(r!.first, r!.end);
    } else {
      // A partition maps buffers in its own memory, owned and exclusive (api_mode_valid_owned_and_exclusive()).
      for (const pa of [send, recv]) {
        const r = this.pages.range(pa, pageCount);
        const mode = r ? this.pages.ownerMode(ep.id, r.first, r.end) : null;
        if (r && mode === null)
          return ctx.reject(
            FFA_INVALID_PARAMETERS,
            "rxtx-not-owned",
            () => `${hex(pa)} is not ${hex(ep.id)}'s own memory`,
          );
      }
    }
    ep.tx = send;
    ep.rx = recv;
    ep.pageCount = pageCount;
    return ffaSuccess();
  }

  /**
   * api_ffa_rxtx_unmap() — src/api.c (v2.15), called by ffa_handler() with ffa_vm_id(): the allocator
   * ID in w1[31:16] (w1[15:0] is not looked at). FF-A v1.1 has w1 zero from any caller
   * but a hypervisor (Linux stopped passing drv_info->vm_id there in commit dfc80d650be7); Hafnium does
   * not look at the negotiated version, and enforces it by instance, as it can tell only those apart:
   * - from the normal world (the other world's VM, HF_HYPERVISOR_VM_ID 0): a hypervisor may name one of
   *   its VMs; an SP ID (bit 15) is INVALID_PARAMETERS. 0 names the caller itself. Another VM ID is
   *   looked up in nwd_vms (ffa_vm_find_locked()): a slot exists only while its notification bitmap
   *   does, and such a VM never maps buffers here (no hypervisor forwards RXTX_MAP in the model), so it
   *   is INVALID_PARAMETERS either way ("not found" / "No buffer pair registered");
   * - from a partition (a virtual FF-A instance): w1 must be 0.
   * No buffer pair mapped: INVALID_PARAMETERS. Otherwise the pair is unmapped (vm_unmap_rxtx() gives a
   * partition's pages back their RWX stage-2 mode; arch_other_world_vm_configure_rxtx_unmap() maps the
   * normal world's back into its page tables at the SPMC, ABORTED only when that mapping runs out of
   * page-table memory — not modelled) and the mailbox forgets them: FFA_SUCCESS. The mailbox's state
   * (an RX buffer still full) is left as it is, as Hafnium leaves `mailbox.state`; FFA_RX_RELEASE still
   * releases it. A later FFA_RXTX_MAP may map a pair again.
   */
  #rxtxUnmap(ctx: CallCtx, ep: SpmcEndpoint, allocatorId: number): SmcRegs {
    if (!ep.secure && isSecureId(allocatorId))
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "rxtx-unmap-vm-id",
        () => `the Hypervisor must specify a valid VM ID in W1, not ${hex(allocatorId)}`,
      );
    if (ep.secure && allocatorId !== 0)
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "rxtx-unmap-w1-nonzero",
        () => `W1 (containing ID) must be 0 at virtual instances, it names ${hex(allocatorId)}`,
      );
    if (allocatorId !== 0)
      return this.nwdNotifications.vms.has(allocatorId)
        ? ctx.reject(
            FFA_INVALID_PARAMETERS,
            "rxtx-unmap-not-mapped",
            () => `no buffer pair registered on behalf of ${hex(allocatorId)}`,
          )
        : ctx.reject(
            FFA_INVALID_PARAMETERS,
            "rxtx-unmap-vm-not-found",
            () => `cannot unmap RX/TX for VM ID ${hex(allocatorId)}, not found`,
          );
    if (ep.tx === null || ep.rx === null)
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "rxtx-unmap-not-mapped",
        () => `no buffer pair registered on behalf of ${hex(ep.id)}`,
      );
    // arch_other_world_vm_configure_rxtx_unmap(): the normal world's buffers back in its page tables.
    if (!ep.secure)
      for (const pa of [ep.tx, ep.rx]) {
        const r = this.pages.range(pa, ep.pageCount);
        if (r) this.pages.setSenderMode(ep.id, r.first, r.end, MM_MODE_NWD_MEMORY);
      }
    ep.tx = null;
    ep.rx = null;
    ep.pageCount = 0;
    return ffaSuccess();
  }

  /**
   * ffa_direct_msg_is_direct_request_valid() and api_ffa_msg_send_direct_req(): w2 MBZ (no framework
   * messages modelled), the sender in w1[31:16] is the caller (a VM ID from the normal world), the
   * receiver is a partition that exists.
   */
  protected directRequestTarget(ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): number | SmcRegs {
    const w1 = w(regs, 1);
    const sender = w1 >>> 16;
    const receiver = w1 & 0xffff;
    if (w(regs, 2) !== 0)
      return ctx.reject(FFA_INVALID_PARAMETERS, "direct-w2-mbz", "direct messaging: w2 must be zero");
    const senderOk = ep.secure ? sender === ep.id : !isSecureId(sender);
    if (!senderOk || sender === receiver || !isSecureId(receiver))
      return ctx.reject(
        FFA_INVALID_PARAMETERS,
        "direct-request-invalid",
        () => `invalid direct request ${hex(sender)} → ${hex(receiver)}`,
      );
    if (!this.endpoint(receiver))
      return ctx.reject(FFA_INVALID_PARAMETERS, "direct-receiver", () => `invalid receiver ${hex(receiver)}`);
    return receiver;
  }

  // ---- ffa-consistency ----

  /** After a send and at a retrieve: the machine agrees with the share state's pages. */
  audit(state: ShareState): void {
    const nwdLend = !isSecureId(state.sender) && state.func !== "share";
    const expected = nwdLend || isSecureId(state.sender) ? OWNER_SECURE : OWNER_NORMAL;
    checkRangesOwner(
      this.sim,
      this.machine,
      allConstituents(state),
      expected,
      `${state.func} ${hex(state.handle)}`,
    );
    if (!this.shares.handlesMatchSlots())
      checkHandlesUnique(
        this.sim,
        [...this.shares.live()].map((s) => s.handle),
      );
  }

  /** After a reclaim: the pages are back with the normal world, held by no share state. */
  auditFreed(state: ShareState): void {
    if (isSecureId(state.sender)) return;
    checkRangesOwner(
      this.sim,
      this.machine,
      allConstituents(state),
      OWNER_NORMAL,
      `reclaimed ${hex(state.handle)}`,
    );
  }
}
