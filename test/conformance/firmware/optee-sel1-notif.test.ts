/**
 * OP-TEE 4.9 as its own SPMC answers FFA_FEATURES and the notification calls as
 * core/arch/arm/kernel/thread_spmc.c (4.9.0) does: handle_features(), then
 * handle_notification_bitmap_create() / _destroy() / _bind() / _unbind() / _get() / _info_get() as
 * thread_spmc_msg_recv() dispatches them (FFA_NOTIFICATION_SET listed, not dispatched).
 */
import { describe, expect, it } from "vitest";
import {
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_FEATURES_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_LEND_64,
  FFA_MEM_SHARE_64,
  FFA_NO_DATA,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_BIND_32,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_NOTIFICATION_GET_32,
  FFA_NOTIFICATION_INFO_GET_32,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_NOTIFICATION_SET_32,
  FFA_NOTIFICATION_UNBIND_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_SUCCESS_32,
} from "../../../src/abi/ffa/index.ts";
import { OpteeSel1Spmc } from "../../../src/firmware/optee_sel1/optee_sel1.ts";
import { smcRegs, type SmcRegs } from "../../../src/hw/smc.ts";
import { boot, call, run, w } from "./testing.ts";

type Sys = ReturnType<typeof boot>;

function op(sys: Sys): OpteeSel1Spmc {
  expect(sys.spmc).toBeInstanceOf(OpteeSel1Spmc);
  return sys.spmc as OpteeSel1Spmc;
}

const nwd = (sys: Sys, ...regs: (number | bigint)[]): SmcRegs =>
  run(sys, () => call(sys, "normal", smcRegs(...regs)));
const errorOf = (r: SmcRegs) => (w(r, 0) === FFA_ERROR_32 ? w(r, 2) | 0 : 0);
const ruleOf = (sys: Sys) => sys.spmc.lastRejection?.rule ?? null;

describe("handle_features() (OP-TEE 4.9 as SPMC)", () => {
  it("lists the notification calls and MEI; not SRI (notifications not ready), NPI, LEND or the register form", () => {
    const sys = boot("tzc400-board");
    const f = (id: number) => nwd(sys, FFA_FEATURES_32, id);
    for (const id of [
      FFA_NOTIFICATION_BITMAP_CREATE_32,
      FFA_NOTIFICATION_BITMAP_DESTROY_32,
      FFA_NOTIFICATION_BIND_32,
      FFA_NOTIFICATION_UNBIND_32,
      FFA_NOTIFICATION_SET_32,
      FFA_NOTIFICATION_GET_32,
      FFA_NOTIFICATION_INFO_GET_32,
      FFA_NOTIFICATION_INFO_GET_64,
      3, // FFA_FEATURE_MANAGED_EXIT_INTR
    ]) {
      const r = f(id);
      expect([w(r, 0), w(r, 2)]).toEqual([FFA_SUCCESS_32, 0]);
    }
    expect(w(f(FFA_MEM_SHARE_64), 2)).toBe(1);
    for (const id of [2, 1, FFA_MEM_LEND_64, FFA_PARTITION_INFO_GET_REGS_64])
      expect(errorOf(f(id))).toBe(FFA_NOT_SUPPORTED);
    // Answers to queries, not refusals.
    expect(sys.spmc.rejections.size).toBe(0);
  });
});

describe("notification bitmaps (OP-TEE 4.9 as SPMC)", () => {
  const create = (sys: Sys, w1: number | bigint = 0, x3: number | bigint = 0) =>
    nwd(sys, FFA_NOTIFICATION_BITMAP_CREATE_32, w1, 1, x3);
  const destroy = (sys: Sys, w1: number | bigint = 0) => nwd(sys, FFA_NOTIFICATION_BITMAP_DESTROY_32, w1);
  const bind = (sys: Sys, bitmap: bigint, flags = 0) =>
    nwd(sys, FFA_NOTIFICATION_BIND_32, (0x8001 << 16) | 0, flags, bitmap & 0xffff_ffffn, bitmap >> 32n);
  const unbind = (sys: Sys, bitmap: bigint) =>
    nwd(sys, FFA_NOTIFICATION_UNBIND_32, (0x8001 << 16) | 0, 0, bitmap & 0xffff_ffffn, bitmap >> 32n);

  it("Linux's ffa_init() created and destroyed VM 0's bitmap at boot: nothing is left", () => {
    const sys = boot("tzc400-board", {}, { tee: true });
    expect(sys.kernel.armFfa!.bitmapCreated).toBe(false);
    expect(sys.kernel.armFfa!.notifEnabled).toBe(false);
    expect(op(sys).notif.defaultBitmap.initialized).toBe(false);
  });

  it("create once (a second is DENIED); destroy, even twice (4.9 does not check that it exists)", () => {
    const sys = boot("tzc400-board");
    const nvb = op(sys).notif.defaultBitmap;
    const first = create(sys);
    expect([w(first, 0), w(first, 2)]).toEqual([FFA_SUCCESS_32, 0]);
    expect(nvb).toMatchObject({ initialized: true, doBottomHalfValue: -1 });
    expect(errorOf(create(sys))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bitmap-exists");
    expect(w(destroy(sys), 0)).toBe(FFA_SUCCESS_32);
    expect(nvb.initialized).toBe(false);
    expect(w(destroy(sys), 0)).toBe(FFA_SUCCESS_32);
  });

  it("only VM 0 has a bitmap; w1[31:16] and x3..x7 MBZ", () => {
    const sys = boot("tzc400-board");
    expect(errorOf(create(sys, 1))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("notification-vm-id");
    expect(errorOf(create(sys, 0x8001_0000))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("notification-mbz");
    expect(errorOf(create(sys, 0, 1n << 40n))).toBe(FFA_INVALID_PARAMETERS);
    expect(errorOf(destroy(sys, 2))).toBe(FFA_INVALID_PARAMETERS);
    expect(op(sys).notif.defaultBitmap.initialized).toBe(false);
  });

  it("a bound notification keeps the bitmap: destroy is DENIED until it is unbound", () => {
    const sys = boot("tzc400-board");
    const nvb = op(sys).notif.defaultBitmap;
    expect(w(create(sys), 0)).toBe(FFA_SUCCESS_32);
    expect(w(bind(sys, 1n << 40n), 0)).toBe(FFA_SUCCESS_32);
    expect(nvb.bound).toBe(1n << 40n);
    expect(errorOf(bind(sys, 1n << 40n))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bound");
    expect(errorOf(bind(sys, 1n, 1))).toBe(FFA_DENIED); // per-vCPU
    expect(ruleOf(sys)).toBe("notification-per-vcpu");
    expect(errorOf(destroy(sys))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bitmap-in-use");
    expect(nvb).toMatchObject({ initialized: true, bound: 1n << 40n });
    expect(w(unbind(sys, 1n << 40n), 0)).toBe(FFA_SUCCESS_32);
    expect(w(destroy(sys), 0)).toBe(FFA_SUCCESS_32);
  });

  it("GET and INFO_GET: nothing is ever pending (spmc_notif_is_ready is false): empty, NO_DATA", () => {
    const sys = boot("tzc400-board");
    const get = nwd(sys, FFA_NOTIFICATION_GET_32, 0, 1);
    expect([w(get, 0), w(get, 2), w(get, 3)]).toEqual([FFA_SUCCESS_32, 0, 0]);
    expect(errorOf(nwd(sys, FFA_NOTIFICATION_GET_32, 1, 1))).toBe(FFA_INVALID_PARAMETERS);
    expect(w(nwd(sys, FFA_NOTIFICATION_GET_32, 1, 0), 0)).toBe(FFA_SUCCESS_32); // no SP flag: nothing looked up
    const before = sys.spmc.rejections.size;
    expect(errorOf(nwd(sys, FFA_NOTIFICATION_INFO_GET_64))).toBe(FFA_NO_DATA);
    expect(sys.spmc.rejections.size).toBe(before);
    expect(errorOf(nwd(sys, FFA_NOTIFICATION_INFO_GET_32, 1))).toBe(FFA_INVALID_PARAMETERS);
  });

  it("FFA_NOTIFICATION_SET is listed but not dispatched: NOT_SUPPORTED", () => {
    const sys = boot("tzc400-board");
    expect(errorOf(nwd(sys, FFA_NOTIFICATION_SET_32, 0x8001, 0, 1))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("unhandled-function");
  });
});
