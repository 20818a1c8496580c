/**
 * The normal world's notification bitmaps at Hafnium's SPMC (v2.15.0) — src/api.c
 * api_ffa_notification_bitmap_create() / _destroy(), src/ffa/spmc/notifications.c
 * ffa_notifications_is_bitmap_access_valid(), ffa_notifications_bitmap_create() / _destroy(), and
 * src/ffa/spmc/vm.c (nwd_vms[MAX_VMS], ffa_vm_nwd_alloc(), ffa_vm_find_locked(), ffa_vm_nwd_free()).
 *
 * FFA_NOTIFICATION_BITMAP_CREATE(w1 = VM ID, w2 = vCPU count) and _DESTROY(w1 = VM ID) are for the
 * hypervisor, i.e. the normal world's physical FF-A instance (the other-world VM, ID 0 =
 * HF_HYPERVISOR_VM_ID): from anyone else NOT_SUPPORTED; the ID must be a VM ID (bit 15 clear), else
 * INVALID_PARAMETERS. ID 0 is the other-world VM's own bitmap (the one a Linux without hypervisor
 * creates); any other VM ID takes a slot of nwd_vms — MAX_VMS = 16 slots on secure_aem_v8a_fvp_vhe
 * (project/reference BUILD.gn), NO_MEMORY when none is free — given back on destroy. A bitmap that
 * exists already is DENIED; destroying one that does not exist, or is disabled, is DENIED, and so is
 * one with notifications pending (vm_are_notifications_pending()). Nothing sets a notification in the
 * model (FFA_NOTIFICATION_SET is not handled), so none is ever pending.
 */
import { FFA_DENIED, FFA_INVALID_PARAMETERS, FFA_NO_MEMORY, FFA_NOT_SUPPORTED } from "../../abi/ffa/index.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { isSecureId, type SpmcEndpoint } from "../spmc/endpoint.ts";
import { CallCtx, ffaSuccess, hex, w } from "../spmc/regs.ts";

/** HF_HYPERVISOR_VM_ID = HF_OTHER_WORLD_ID at the SPMC (vm_ids.h, arch/vmid_base.h). */
export const HF_OTHER_WORLD_ID = 0;
/** MAX_VMS of the SPMC build (max_vms = 16, secure_aem_v8a_fvp_vhe): the nwd_vms slots. */
export const HF_MAX_VMS = 16;

/** The SPMC's notification state of normal-world VMs. */
export class NwdNotifications {
  /** The other-world VM's `notifications.enabled`. */
  otherWorldEnabled = false;
  /** nwd_vms: VM ID → vCPU count, one entry per slot in use (a slot exists while its bitmap does). */
  readonly vms = new Map<number, number>();

  constructor(readonly maxVms = HF_MAX_VMS) {}

  /** Whether VM `id` has a bitmap. */
  enabled(id: number): boolean {
    return id === HF_OTHER_WORLD_ID ? this.otherWorldEnabled : this.vms.has(id);
  }
}

/** ffa_notifications_is_bitmap_access_valid(): the caller's right and the VM ID, or the error. */
function accessValid(ctx: CallCtx, ep: SpmcEndpoint, vmId: number, what: string): SmcRegs | null {
  if (ep.secure || ep.id !== HF_OTHER_WORLD_ID)
    return ctx.reject(
      FFA_NOT_SUPPORTED,
      "notification-bitmap-caller",
      () => `${what} to be used by the hypervisor only (caller ${hex(ep.id)})`,
    );
  if (isSecureId(vmId))
    return ctx.reject(
      FFA_INVALID_PARAMETERS,
      "notification-bitmap-vm-id",
      () => `${what} for valid NWd VM IDs only (${hex(vmId)})`,
    );
  return null;
}

/** api_ffa_notification_bitmap_create(vm_id = (u16)w1, vcpu_count = (u16)w2). */
export function hfNotificationBitmapCreate(
  n: NwdNotifications,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  regs: SmcRegs,
): SmcRegs {
  const vmId = w(regs, 1) & 0xffff;
  const vcpuCount = w(regs, 2) & 0xffff;
  const bad = accessValid(ctx, ep, vmId, "FFA_NOTIFICATION_BITMAP_CREATE");
  if (bad) return bad;
  if (n.enabled(vmId))
    return ctx.reject(
      FFA_DENIED,
      "notification-bitmap-exists",
      () => `bitmap of VM ${hex(vmId)} already created`,
    );
  if (vmId === HF_OTHER_WORLD_ID) {
    n.otherWorldEnabled = true;
    return ffaSuccess();
  }
  // ffa_vm_nwd_alloc(): the first free slot.
  if (n.vms.size >= n.maxVms)
    return ctx.reject(
      FFA_NO_MEMORY,
      "notification-bitmap-no-slot",
      () => `no memory to create VM ID ${hex(vmId)} (${n.maxVms} NWd VM slots in use)`,
    );
  n.vms.set(vmId, vcpuCount);
  return ffaSuccess();
}

/** api_ffa_notification_bitmap_destroy(vm_id = (u16)w1). */
export function hfNotificationBitmapDestroy(
  n: NwdNotifications,
  ctx: CallCtx,
  ep: SpmcEndpoint,
  regs: SmcRegs,
): SmcRegs {
  const vmId = w(regs, 1) & 0xffff;
  const bad = accessValid(ctx, ep, vmId, "FFA_NOTIFICATION_BITMAP_DESTROY");
  if (bad) return bad;
  if (vmId === HF_OTHER_WORLD_ID) {
    if (!n.otherWorldEnabled)
      return ctx.reject(
        FFA_DENIED,
        "notification-bitmap-disabled",
        () => `notifications disabled for VM ${hex(vmId)}`,
      );
    n.otherWorldEnabled = false;
    return ffaSuccess();
  }
  if (!n.vms.has(vmId))
    return ctx.reject(
      FFA_DENIED,
      "notification-bitmap-not-created",
      () => `bitmap not created for VM ${hex(vmId)}`,
    );
  // ffa_vm_nwd_free(): the slot is free again (the SPMC maps no mailbox for these VMs here).
  n.vms.delete(vmId);
  return ffaSuccess();
}
