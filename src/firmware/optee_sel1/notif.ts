/**
 * Notifications at OP-TEE 4.9 as its own SPMC — core/arch/arm/kernel/thread_spmc.c (4.9.0):
 * `struct notif_vm_bitmap`, get_notif_vm_bitmap(), handle_notification_bitmap_create() / _destroy(),
 * handle_notification_bind() / _unbind(), handle_notification_get(), handle_notification_info_get(),
 * as thread_spmc_msg_recv() dispatches them (FFA_NOTIFICATION_SET is listed by handle_features() but
 * not dispatched: "Unhandled FFA function ID").
 *
 * Without CFG_NS_VIRTUALIZATION there is one bitmap, the normal world's: VM ID 0; any other ID finds
 * none (INVALID_PARAMETERS). Every answer is spmc_set_args(ret_fid, 0, ret_val, 0, 0, 0): FFA_SUCCESS_32
 * with w2 = FFA_OK, or FFA_ERROR with the code in w2. OP-TEE prints nothing; the model names the rule
 * of each refusal (INFO_GET's NO_DATA is an answer, "nothing pending", not a refusal).
 * - BITMAP_CREATE(w1 = VM ID in bits[15:0]; bits[31:16] MBZ; w3..w7 MBZ, w2 = vCPU count unused):
 *   DENIED when it exists; otherwise initialized.
 * - BITMAP_DESTROY(same): DENIED while a notification is bound or pending; otherwise cleared — also
 *   when it was never created (no check).
 * - BIND(w1 = sender << 16 | receiver, w2 = flags, w3/w4 = bitmap low/high; w5..w7 MBZ): only global
 *   notifications (flags 0, else DENIED); an ID already bound DENIED; the bitmap need not exist.
 * - UNBIND(w2, w5..w7 MBZ): a pending ID DENIED; otherwise unbound.
 * - GET(w1 receiver, w2 flags; w5..w7 MBZ): without the SP flag (bit 0) SUCCESS with nothing; else the
 *   pending bitmap (w2 low, w3 high), cleared.
 * - INFO_GET (32 or 64; w1..w7 MBZ): NO_DATA when nothing is pending.
 * Nothing becomes pending in the model: notif_send_async() needs spmc_notif_is_ready, which only a
 * platform with CFG_CORE_ASYNC_NOTIF sets (thread_spmc_set_async_notif_intid()), and the model's
 * OP-TEE has none — which is also why handle_features() does not list the schedule-receiver interrupt.
 */
import {
  FFA_DENIED,
  FFA_INVALID_PARAMETERS,
  FFA_NO_DATA,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_SUCCESS_32,
  FFA_SUCCESS_64,
} from "../../abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { CallCtx, ffaError, ffaSuccess, hex, w } from "../spmc/regs.ts";

/** struct notif_vm_bitmap */
export interface NotifVmBitmap {
  initialized: boolean;
  doBottomHalfValue: number;
  pending: bigint;
  bound: bigint;
}

/** OP-TEE's notification state: default_notif_vm_bitmap, the normal world's (VM ID 0). */
export class SpmcNotif {
  readonly defaultBitmap: NotifVmBitmap = {
    initialized: false,
    doBottomHalfValue: 0,
    pending: 0n,
    bound: 0n,
  };

  /** get_notif_vm_bitmap() without CFG_NS_VIRTUALIZATION: VM 0's, or none. */
  bitmap(vmId: number): NotifVmBitmap | null {
    return vmId === 0 ? this.defaultBitmap : null;
  }
}

/** FFA_TARGET_INFO_GET_SP_ID(x1) == 0 and x3..x7 all zero (the whole 64-bit registers). */
function createDestroyArgsValid(regs: SmcRegs): boolean {
  return ((regs[1] >> 16n) & 0xffffn) === 0n && [3, 4, 5, 6, 7].every((i) => regs[i] === 0n);
}

/** The bitmap of VM FFA_DST(w1) (bits[15:0]), or the refusal when there is none. */
function bitmapOrReject(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): NotifVmBitmap | SmcRegs {
  const vmId = Number(regs[1] & 0xffffn);
  return (
    n.bitmap(vmId) ??
    ctx.reject(FFA_INVALID_PARAMETERS, "notification-vm-id", `no notification bitmap for VM ${hex(vmId)}`)
  );
}

function mbz(ctx: CallCtx, regs: SmcRegs, which: readonly number[]): SmcRegs | null {
  const i = which.find((k) => regs[k] !== 0n);
  return i === undefined ? null : ctx.reject(FFA_INVALID_PARAMETERS, "notification-mbz", `x${i} MBZ`);
}

/** handle_notification_bitmap_create() */
export function notificationBitmapCreate(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  if (!createDestroyArgsValid(regs))
    return ctx.reject(FFA_INVALID_PARAMETERS, "notification-mbz", "w1[31:16] and x3..x7 MBZ");
  const nvb = bitmapOrReject(n, ctx, regs);
  if (nvb instanceof BigUint64Array) return nvb;
  if (nvb.initialized)
    return ctx.reject(FFA_DENIED, "notification-bitmap-exists", "the notification bitmap is already created");
  nvb.initialized = true;
  nvb.doBottomHalfValue = -1;
  return ffaSuccess();
}

/** handle_notification_bitmap_destroy() */
export function notificationBitmapDestroy(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  if (!createDestroyArgsValid(regs))
    return ctx.reject(FFA_INVALID_PARAMETERS, "notification-mbz", "w1[31:16] and x3..x7 MBZ");
  const nvb = bitmapOrReject(n, ctx, regs);
  if (nvb instanceof BigUint64Array) return nvb;
  if (nvb.pending || nvb.bound)
    return ctx.reject(
      FFA_DENIED,
      "notification-bitmap-in-use",
      `notifications bound ${hex(nvb.bound)} / pending ${hex(nvb.pending)}`,
    );
  Object.assign(nvb, { initialized: false, doBottomHalfValue: 0, pending: 0n, bound: 0n });
  return ffaSuccess();
}

/** reg_pair_to_64(w4, w3): the notification bitmap of BIND / UNBIND. */
function bitmapOf(regs: SmcRegs): bigint {
  return (BigInt(w(regs, 4)) << 32n) | BigInt(w(regs, 3));
}

/** handle_notification_bind(): the bitmap is the receiver's, FFA_DST(w1). */
export function notificationBind(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  const bad = mbz(ctx, regs, [5, 6, 7]);
  if (bad) return bad;
  if (regs[2]) return ctx.reject(FFA_DENIED, "notification-per-vcpu", "only global notifications (flags 0)");
  const nvb = bitmapOrReject(n, ctx, regs);
  if (nvb instanceof BigUint64Array) return nvb;
  const bitmap = bitmapOf(regs);
  if (bitmap & nvb.bound)
    return ctx.reject(FFA_DENIED, "notification-bound", `${hex(bitmap & nvb.bound)} already bound`);
  nvb.bound |= bitmap;
  return ffaSuccess();
}

/** handle_notification_unbind() */
export function notificationUnbind(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  const bad = mbz(ctx, regs, [2, 5, 6, 7]);
  if (bad) return bad;
  const nvb = bitmapOrReject(n, ctx, regs);
  if (nvb instanceof BigUint64Array) return nvb;
  const bitmap = bitmapOf(regs);
  if (bitmap & nvb.pending)
    return ctx.reject(FFA_DENIED, "notification-pending", `${hex(bitmap & nvb.pending)} pending`);
  nvb.bound &= ~bitmap;
  return ffaSuccess();
}

/** handle_notification_get(): SUCCESS_32 with the pending bitmap in w2 (low) / w3 (high). */
export function notificationGet(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  const bad = mbz(ctx, regs, [5, 6, 7]);
  if (bad) return bad;
  if ((regs[2] & 1n) === 0n) return ffaSuccess();
  const nvb = bitmapOrReject(n, ctx, regs);
  if (nvb instanceof BigUint64Array) return nvb;
  const pending = nvb.pending;
  nvb.pending = 0n;
  return smcRegs(FFA_SUCCESS_32, 0, pending & 0xffff_ffffn, pending >> 32n);
}

/**
 * handle_notification_info_get(): w1..w7 MBZ; the IDs with pending notifications (one list per VM), or
 * NO_DATA. Only VM 0's bitmap exists and the model never makes it pending, so a well-formed call is
 * NO_DATA (the list encoding is not needed).
 */
export function notificationInfoGet(n: SpmcNotif, ctx: CallCtx, regs: SmcRegs): SmcRegs {
  const bad = mbz(ctx, regs, [1, 2, 3, 4, 5, 6, 7]);
  if (bad) return bad;
  if (n.defaultBitmap.pending === 0n) return ffaError(FFA_NO_DATA);
  // One list of one ID (VM 0, a global notification): list count 1 in w2[11:7], ID count 0 in w2[13:12].
  const fid = w(regs, 0) === FFA_NOTIFICATION_INFO_GET_64 ? FFA_SUCCESS_64 : FFA_SUCCESS_32;
  return smcRegs(fid, 0, 1 << 7, 0);
}
