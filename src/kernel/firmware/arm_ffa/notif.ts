/**
 * Notification set-up of the arm_ffa driver — drivers/firmware/arm_ffa/driver.c (torvalds/linux
 * v6.18): ffa_notifications_setup(), ffa_notifications_cleanup(), ffa_notification_bitmap_create() /
 * _destroy(), ffa_irq_map(), and the first step of ffa_notify_request() (the partitions' drivers'
 * request for a notification ID).
 *
 * ffa_notifications_setup():
 *   FFA_FEATURES(FFA_NOTIFICATION_BITMAP_CREATE) → if supported, FFA_NOTIFICATION_BITMAP_CREATE(vm_id,
 *   nr_cpu_ids); its failure ends the set-up ("Notification bitmap create error") with notifications off;
 *   ffa_irq_map(FFA_FEAT_SCHEDULE_RECEIVER_INT) and ffa_irq_map(FFA_FEAT_NOTIFICATION_PENDING_INT): an
 *   FFA_FEATURES each (feature IDs 2 then 1), the answer's interrupt ID mapped through the GICv3 node;
 *   neither interrupt → ffa_notifications_cleanup() (FFA_NOTIFICATION_BITMAP_DESTROY if created) and
 *   notifications stay off; otherwise the per-CPU interrupts are requested (no FF-A call) and on.
 *
 * MODEL CHOICES: every platform is taken to have a GICv3 node (irq_create_of_mapping() succeeds: the
 * virtual IRQ is the interrupt ID + NR_IRQ_BASE); nr_cpu_ids is 1 (the model's normal world is one CPU,
 * `cpu-ns`). Notification delivery (FFA_NOTIFICATION_GET / INFO_GET, the per-CPU work) is not modelled.
 */
import {
  FFA_ERROR_32,
  FFA_NOTIFICATION_BIND_32,
  FFA_NOTIFICATION_UNBIND_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_SUCCESS_32,
  ffaToLinuxErrno,
} from "../../../abi/ffa/index.ts";
import { EINVAL, EOPNOTSUPP } from "../../../abi/uapi/errno.ts";
import { smcRegs } from "../../../hw/smc.ts";
import type { Sleeps } from "../../../sim/scheduler.ts";
import { w, type ArmFfaDriver } from "./driver.ts";

/** FFA FEATURE IDs — driver.c. */
export const FFA_FEAT_NOTIFICATION_PENDING_INT = 1;
export const FFA_FEAT_SCHEDULE_RECEIVER_INT = 2;
/** nr_cpu_ids (model choice, see the header). */
export const NR_CPU_IDS = 1;
/** Where the model's virtual IRQ numbers start (irq_create_of_mapping() of a GICv3 SGI). */
const NR_IRQ_BASE = 1000;
/** FFA_MAX_NOTIFICATIONS */
export const FFA_MAX_NOTIFICATIONS = 64;
/** PER_VCPU_NOTIFICATION_FLAG */
const PER_VCPU_NOTIFICATION_FLAG = 1;

function prInfo(drv: ArmFfaDriver, level: "pr_info" | "pr_err", msg: string): void {
  if (drv.sim.trace.listening) drv.sim.trace.emit("kernel", level, { msg: `ARM FF-A: ${msg}` });
}

/** ffa_notification_bitmap_create(): FFA_NOTIFICATION_BITMAP_CREATE(vm_id, vcpu_count). */
function* bitmapCreate(drv: ArmFfaDriver): Sleeps<number> {
  const ret = yield* drv.invoke(smcRegs(FFA_NOTIFICATION_BITMAP_CREATE_32, drv.vmId, NR_CPU_IDS));
  return w(ret, 0) === FFA_ERROR_32 ? ffaToLinuxErrno(w(ret, 2) | 0) : 0;
}

/** ffa_notification_bitmap_destroy() */
function* bitmapDestroy(drv: ArmFfaDriver): Sleeps<number> {
  const ret = yield* drv.invoke(smcRegs(FFA_NOTIFICATION_BITMAP_DESTROY_32, drv.vmId));
  return w(ret, 0) === FFA_ERROR_32 ? ffaToLinuxErrno(w(ret, 2) | 0) : 0;
}

/** ffa_irq_map(id): the virtual IRQ, or the FFA_FEATURES errno (printed unless −EOPNOTSUPP). */
function* irqMap(drv: ArmFfaDriver, id: number): Sleeps<number> {
  const f = yield* drv.features(id);
  if (f.rc < 0) {
    if (f.rc !== -EOPNOTSUPP) {
      const what =
        id === FFA_FEAT_NOTIFICATION_PENDING_INT
          ? "Notification Pending Interrupt"
          : "Schedule Receiver Interrupt";
      prInfo(drv, "pr_err", `Failed to retrieve FF-A ${what} ${id}`);
    }
    return f.rc;
  }
  return NR_IRQ_BASE + f.props1;
}

/** ffa_notifications_cleanup() */
export function* ffaNotificationsCleanup(drv: ArmFfaDriver): Sleeps {
  drv.schedRecvIrq = 0;
  drv.notifPendIrq = 0;
  if (drv.bitmapCreated) {
    yield* bitmapDestroy(drv);
    drv.bitmapCreated = false;
  }
  drv.notifEnabled = false;
}

/** ffa_notifications_setup() */
export function* ffaNotificationsSetup(drv: ArmFfaDriver): Sleeps {
  let ret = (yield* drv.features(FFA_NOTIFICATION_BITMAP_CREATE_32)).rc;
  if (!ret) {
    ret = yield* bitmapCreate(drv);
    if (ret) {
      prInfo(drv, "pr_err", `Notification bitmap create error ${ret}`);
      return;
    }
    drv.bitmapCreated = true;
  }
  ret = yield* irqMap(drv, FFA_FEAT_SCHEDULE_RECEIVER_INT);
  if (ret > 0) drv.schedRecvIrq = ret;
  ret = yield* irqMap(drv, FFA_FEAT_NOTIFICATION_PENDING_INT);
  if (ret > 0) drv.notifPendIrq = ret;
  if (!drv.schedRecvIrq && !drv.notifPendIrq) {
    prInfo(drv, "pr_info", `Notification setup failed ${ret}, not enabled`);
    yield* ffaNotificationsCleanup(drv);
    return;
  }
  // ffa_init_pcpu_irq(): request_percpu_irq(), the work queue, cpuhp — no FF-A call.
  drv.notifEnabled = true;
}

/**
 * __ffa_notify_request(dev, is_per_vcpu, cb, cb_data, notify_id, false) up to the bind: −EOPNOTSUPP
 * with notifications off, −EINVAL for an ID ≥ FFA_MAX_NOTIFICATIONS; else FFA_NOTIFICATION_BIND
 * (w1 = dst_id << 16 | vm_id, w2 = flags, w3/w4 = the bitmap) → 0 or −errno (an answer other than
 * FFA_SUCCESS is −EINVAL). Registering the callback needs no FF-A call.
 */
export function* ffaNotifyRequest(
  drv: ArmFfaDriver,
  dstId: number,
  isPerVcpu: boolean,
  notifyId: number,
): Sleeps<number> {
  if (!drv.notifEnabled) return -EOPNOTSUPP;
  if (notifyId >= FFA_MAX_NOTIFICATIONS) return -EINVAL;
  const bitmap = 1n << BigInt(notifyId);
  const ret = yield* drv.invoke(
    smcRegs(
      FFA_NOTIFICATION_BIND_32,
      FFA_NOTIFICATION_UNBIND_32,
      (((dstId & 0xffff) << 16) | (drv.vmId & 0xffff)) >>> 0,
      isPerVcpu ? PER_VCPU_NOTIFICATION_FLAG : 0,
      bitmap & 0xffff_ffffn,
      bitmap >> 32n,
    ),
  );
  if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (w(ret, 0) !== FFA_SUCCESS_32) return -EINVAL;
  return 0;
}

/**
 * __ffa_notify_relinquish(dev, notify_id, false): −EOPNOTSUPP with notifications off, −EINVAL for an ID
 * ≥ FFA_MAX_NOTIFICATIONS; else FFA_NOTIFICATION_UNBIND (w1 = dst_id << 16 | vm_id, w2 = 0, w3/w4 =
 * the bitmap).
 */
export function* ffaNotifyRelinquish(drv: ArmFfaDriver, dstId: number, notifyId: number): Sleeps<number> {
  if (!drv.notifEnabled) return -EOPNOTSUPP;
  if (notifyId >= FFA_MAX_NOTIFICATIONS) return -EINVAL;
  const bitmap = 1n << BigInt(notifyId);
  const ret = yield* drv.invoke(
    smcRegs(
      FFA_NOTIFICATION_UNBIND_32,
      (((dstId & 0xffff) << 16) | (drv.vmId & 0xffff)) >>> 0,
      0,
      bitmap & 0xffff_ffffn,
      bitmap >> 32n,
    ),
  );
  if (w(ret, 0) === FFA_ERROR_32) return ffaToLinuxErrno(w(ret, 2) | 0);
  if (w(ret, 0) !== FFA_SUCCESS_32) return -EINVAL;
  return 0;
}
