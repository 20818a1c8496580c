/**
 * drivers/tee/optee/core.c (torvalds/linux v6.18): what both ABIs' drivers share — optee_set_dma_mask(),
 * optee_open() / optee_release() / optee_release_supp() (the context's session list), and
 * optee_remove_common(), the teardown optee_ffa_remove() and optee_smc_remove() end in:
 *
 *   optee_unregister_devices();          the "optee-ta-*" devices on the TEE bus
 *   optee_notif_uninit(optee);           (no call into the secure world)
 *   optee_shm_arg_cache_uninit(optee);   each cached argument page freed (FF-A: UNREGISTER_SHM, RECLAIM)
 *   teedev_close_context(optee->ctx);    the driver's own context
 *   tee_device_unregister(optee->supp_teedev);
 *   tee_device_unregister(optee->teedev);  → tee_device_put_all_dma_heaps(): the last heap reference
 *                                          destroys the protected pool; then it waits for every user
 *   tee_shm_pool_free(optee->pool);
 *   optee_supp_uninit(&optee->supp); mutex_destroy(); rpmb_dev_put()   (not modelled: no state)
 *
 * The blocking notifier and RPMB work of the real function hold nothing the model has.
 * opteeRegisterDevices() is the part of optee_ffa_probe() and optee_probe() (smc_abi.c) both ABIs do
 * alike: tee_device_alloc() ×2, tee_device_register() ×2, and teedev_open() of the driver's context.
 */
import type { Sleeps } from "../../sim/scheduler.ts";
import {
  teeDeviceRegister,
  teeDeviceUnregister,
  teedevCloseContext,
  teedevOpen,
  type TeeContext,
  type TeeDesc,
} from "../tee/tee_core.ts";
import { teeShmPoolFree } from "../tee/tee_shm.ts";
import { opteeCloseSessionHelper, opteeShmArgCacheUninit } from "./call.ts";
import { opteeUnregisterDevices } from "./device.ts";
import type { Optee, OpteeContextData } from "./optee.ts";

/** optee_set_dma_mask(): DMA_BIT_MASK(min(64, pa_width)) on the TEE device. */
export function opteeSetDmaMask(optee: Optee, paWidth: number): number {
  if (optee.teedev) optee.teedev.dmaMaskBits = Math.min(64, paWidth);
  return 0;
}

/**
 * optee_open(ctx, cap_memref_null): the context's (empty) session list. The supplicant's device
 * (only one opener, and the PTA_CMD_GET_DEVICES_SUPP bus scan it schedules) is not modelled.
 */
// eslint-disable-next-line require-yield
export function* opteeOpen(ctx: TeeContext): Sleeps<number> {
  const data: OpteeContextData = { sessList: [] };
  ctx.data = data;
  return 0;
}

/** optee_release() → optee_release_helper(ctx, optee_close_session_helper): every session is closed. */
export function* opteeRelease(ctx: TeeContext): Sleeps {
  const data = ctx.data as OpteeContextData | null;
  if (!data) return;
  while (data.sessList.length) {
    const sess = data.sessList.shift()!; // list_for_each_entry_safe() + list_del()
    yield* opteeCloseSessionHelper(ctx, sess.sessionId);
  }
  ctx.data = null;
}

/**
 * The shared part of the probes: /dev/teeN (clnt) and /dev/teeprivN (supp) on optee->pool, then the
 * driver's own context (teedev_open()). 0 or −errno.
 */
export function* opteeRegisterDevices(optee: Optee, clnt: TeeDesc, supp: TeeDesc): Sleeps<number> {
  const teedev = teeDeviceRegister(optee.kernel, clnt, optee, optee.pool);
  if (typeof teedev === "number") return teedev;
  optee.teedev = teedev;
  const suppDev = teeDeviceRegister(optee.kernel, supp, optee, optee.pool);
  if (typeof suppDev === "number") return suppDev;
  optee.suppTeedev = suppDev;
  const ctx = yield* teedevOpen(teedev);
  if (typeof ctx === "number") return ctx;
  optee.ctx = ctx;
  return 0;
}

/** optee_remove_common(optee), in the order of the header. */
export function* opteeRemoveCommon(optee: Optee): Sleeps {
  opteeUnregisterDevices(optee);
  // optee_notif_uninit(): nothing in the secure world.
  yield* opteeShmArgCacheUninit(optee);
  if (optee.ctx) yield* teedevCloseContext(optee.ctx);
  // "The two devices have to be unregistered before we can free the other resources."
  yield* teeDeviceUnregister(optee.suppTeedev);
  yield* teeDeviceUnregister(optee.teedev);
  if (optee.pool) teeShmPoolFree(optee.pool);
}
