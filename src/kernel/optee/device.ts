/**
 * drivers/tee/optee/device.c (torvalds/linux v6.18): the devices OP-TEE announces on the TEE bus.
 *
 * optee_enumerate_devices(func) → __optee_enumerate_devices(): a context on the first OP-TEE device
 * (tee_client_open_context(NULL, optee_ctx_match, …)), a session with the device enumeration pseudo
 * TA 7011a688-ddde-4053-a5a9-7b3c4ddf13b8 (any failure to open it — "Device enumeration pseudo TA not
 * found" — is not an error: 0), get_devices() with no buffer for the size; a size of 0 ends there
 * (`if (rc < 0 || !shm_size) goto out_sess`); otherwise a tee_shm_alloc_kernel_buf() of that size, a
 * second get_devices() into it, one "optee-ta-<uuid>" device per 16 bytes, then the buffer, the
 * session and the context go (out_shm, out_sess, out_ctx). optee_unregister_devices() removes every
 * "optee-ta" device again (optee_remove_common()).
 */
import { TEE_ERROR_SHORT_BUFFER, TEE_SUCCESS } from "../../abi/optee/tee_result.ts";
import { EINVAL, ENODEV } from "../../abi/uapi/errno.ts";
import { TEE_IMPL_ID_OPTEE } from "../../abi/uapi/tee.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import {
  teeClientCloseContext,
  teeClientCloseSession,
  teeClientInvokeFunc,
  teeClientOpenContext,
  teeClientOpenSession,
} from "../tee/tee_client.ts";
import {
  TEE_IOCTL_LOGIN_PUBLIC,
  TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT,
  TEE_IOCTL_PARAM_ATTR_TYPE_NONE,
  teeParam,
  type TeeContext,
  type TeeInvokeArg,
  type TeeOpenSessionArg,
} from "../tee/tee_core.ts";
import { teeShmAllocKernelBuf, teeShmFree, teeShmRead, type TeeShm } from "../tee/tee_shm.ts";
import { pr, uuidBytes, type Optee } from "./optee.ts";

/** The device enumeration pseudo TA (device.c pta_uuid). */
export const DEVICE_ENUM_PTA_UUID = uuidBytes("7011a688-ddde-4053-a5a9-7b3c4ddf13b8");
/** TEE_ERROR_STORAGE_NOT_AVAILABLE — tee_drv.h: a device TA needs RPMB, and none is usable. */
export const TEE_ERROR_STORAGE_NOT_AVAILABLE = 0xf0100003;

/**
 * get_devices(ctx, session, device_shm, &shm_size, func): PTA `func` with params[0] MEMREF_OUTPUT
 * {shm, size = *shm_size, shm_offs 0} and three NONE; 0 with *shm_size = params[0].size when OP-TEE
 * answered TEEC_SUCCESS or TEEC_ERROR_SHORT_BUFFER; −ENODEV for TEE_ERROR_STORAGE_NOT_AVAILABLE;
 * −EINVAL otherwise ("PTA_CMD_GET_DEVICES invoke function err").
 */
function* getDevices(
  optee: Optee,
  ctx: TeeContext,
  session: number,
  deviceShm: TeeShm | null,
  shmSize: { value: number },
  func: number,
): Sleeps<number> {
  const inv: TeeInvokeArg = { func, session, cancelId: 0, ret: 0, retOrigin: 0 };
  const params = [
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, { shm: deviceShm, size: BigInt(shmSize.value) }),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
    teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_NONE),
  ];
  const ret = yield* teeClientInvokeFunc(ctx, inv, params);
  if (ret < 0 || (inv.ret !== TEE_SUCCESS && inv.ret !== TEE_ERROR_SHORT_BUFFER)) {
    if (inv.ret === TEE_ERROR_STORAGE_NOT_AVAILABLE) return -ENODEV;
    pr(optee, "pr_err", `PTA_CMD_GET_DEVICES invoke function err: ${(inv.ret >>> 0).toString(16)}`);
    return -EINVAL;
  }
  shmSize.value = Number(params[0].size & 0xffff_ffffn); // u32 *shm_size
  return 0;
}

/** The UUID of a 16-byte device entry, in the "optee-ta-%pUb" form. */
function uuidString(b: Uint8Array): string {
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** optee_enumerate_devices(func): 0, or −errno (the probe then fails). */
export function* opteeEnumerateDevices(optee: Optee, func: number): Sleeps<number> {
  const ctx = yield* teeClientOpenContext(optee.kernel, (v) => v.impl_id === TEE_IMPL_ID_OPTEE);
  if (typeof ctx === "number") return -ENODEV;
  const sess: TeeOpenSessionArg = {
    uuid: DEVICE_ENUM_PTA_UUID,
    clntLogin: TEE_IOCTL_LOGIN_PUBLIC,
    cancelId: 0,
    session: 0,
    ret: 0,
    retOrigin: 0,
  };
  let rc = yield* teeClientOpenSession(ctx, sess, []);
  if (rc < 0 || sess.ret !== TEE_SUCCESS) {
    // "Device enumeration pseudo TA not found"
    yield* teeClientCloseContext(ctx);
    return 0;
  }
  const shmSize = { value: 0 };
  rc = yield* getDevices(optee, ctx, sess.session, null, shmSize, func);
  if (rc >= 0 && shmSize.value) {
    const deviceShm = yield* teeShmAllocKernelBuf(ctx, shmSize.value);
    if (typeof deviceShm === "number") {
      pr(optee, "pr_err", "tee_shm_alloc_kernel_buf failed");
      rc = deviceShm;
    } else {
      rc = yield* getDevices(optee, ctx, sess.session, deviceShm, shmSize, func);
      if (rc >= 0) {
        const bytes = teeShmRead(deviceShm, 0, shmSize.value);
        // num_devices = shm_size / sizeof(uuid_t); optee_register_device() each.
        for (let i = 0; i + 16 <= bytes.length; i += 16)
          optee.taDevices.push(`optee-ta-${uuidString(bytes.subarray(i, i + 16))}`);
      }
      yield* teeShmFree(deviceShm); // out_shm
    }
  }
  yield* teeClientCloseSession(ctx, sess.session); // out_sess
  yield* teeClientCloseContext(ctx); // out_ctx
  return rc;
}

/** optee_unregister_devices(): every "optee-ta" device leaves the TEE bus. */
export function opteeUnregisterDevices(optee: Optee): void {
  optee.taDevices.length = 0;
}
