/**
 * The TEE subsystem's in-kernel client API — drivers/tee/tee_core.c tee_client_open_context(),
 * tee_client_close_context(), tee_client_open_session(), tee_client_close_session(),
 * tee_client_invoke_func(): what the OP-TEE driver's device enumeration (device.c) and other kernel
 * clients of a TEE use instead of /dev/teeN.
 */
import { EINVAL, ENODEV } from "../../abi/uapi/errno.ts";
import type { TeeIoctlVersionData } from "../../abi/uapi/tee.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Kernel } from "../kernel.ts";
import {
  teedevCloseContext,
  teedevOpen,
  teeSubsysOf,
  type TeeContext,
  type TeeInvokeArg,
  type TeeOpenSessionArg,
  type TeeParam,
} from "./tee_core.ts";

/**
 * tee_client_open_context(start = NULL, match, data, vers): the first registered device whose version
 * data `match` accepts, opened (teedev_open()); −ENODEV when none does.
 */
export function* teeClientOpenContext(
  kernel: Kernel,
  match: (v: TeeIoctlVersionData) => boolean,
): Sleeps<TeeContext | number> {
  const sub = teeSubsysOf(kernel);
  for (const teedev of sub.devices) {
    if (!teedev?.desc || !match(teedev.desc.ops.getVersion(teedev))) continue;
    return yield* teedevOpen(teedev);
  }
  return -ENODEV;
}

/** tee_client_close_context() → teedev_close_context(). */
export function* teeClientCloseContext(ctx: TeeContext): Sleeps {
  yield* teedevCloseContext(ctx);
}

/** tee_client_open_session(): the driver's open_session, or −EINVAL without one. */
export function* teeClientOpenSession(
  ctx: TeeContext,
  arg: TeeOpenSessionArg,
  params: TeeParam[],
): Sleeps<number> {
  const op = ctx.teedev.desc?.ops.openSession;
  if (!op) return -EINVAL;
  return yield* op(ctx, arg, params);
}

/** tee_client_close_session() */
export function* teeClientCloseSession(ctx: TeeContext, session: number): Sleeps<number> {
  const op = ctx.teedev.desc?.ops.closeSession;
  if (!op) return -EINVAL;
  return yield* op(ctx, session);
}

/** tee_client_invoke_func() */
export function* teeClientInvokeFunc(ctx: TeeContext, arg: TeeInvokeArg, params: TeeParam[]): Sleeps<number> {
  const op = ctx.teedev.desc?.ops.invokeFunc;
  if (!op) return -EINVAL;
  return yield* op(ctx, arg, params);
}
