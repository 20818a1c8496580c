/**
 * OP-TEE 4.9.0's device enumeration pseudo TA (core/pta/device.c) and the sessions the normal world
 * opens with a pseudo TA (core/tee/entry_std.c entry_open_session() / entry_invoke_command() /
 * entry_close_session(), core/kernel/tee_ta_manager.c, core/kernel/pseudo_ta.c), driven with raw
 * yielding calls as Linux's optee_enumerate_devices() makes them.
 */
import { describe, expect, it } from "vitest";
import {
  memParam,
  OPTEE_MSG_ATTR_META,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_NONE,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_ERROR_NOT_IMPLEMENTED,
  TEE_ERROR_SHORT_BUFFER,
  TEE_SUCCESS,
  TEEC_ORIGIN_TEE,
  TEEC_ORIGIN_TRUSTED_APP,
  valueParam,
  type OpteeMsgArg,
  type OpteeMsgParam,
} from "../../src/abi/optee/index.ts";
import {
  PTA_CMD_GET_DEVICES,
  PTA_CMD_GET_DEVICES_SUPP,
  PTA_DEVICE_UUID,
  ptaDeviceInvoke,
  TA_FLAG_DEVICE_ENUM,
  TA_FLAG_DEVICE_ENUM_SUPP,
  TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE,
  TEE_PARAM_TYPE_MEMREF_OUTPUT,
  TEE_PARAM_TYPE_NONE,
  TEE_PARAM_TYPE_VALUE_INPUT,
  teeParamTypes,
  uuidOctets,
  type PtaParam,
} from "../../src/secure/optee/pta_device.ts";
import { registerPseudoTa, taManagerOf } from "../../src/secure/optee/ta_session.ts";
import { ARG_PAGE, boot, CONFIG_BUF_OFFSET, msgArg, run, shareArgPage, yieldingCall } from "./helpers.ts";

const OUT_NONE = teeParamTypes(
  TEE_PARAM_TYPE_MEMREF_OUTPUT,
  TEE_PARAM_TYPE_NONE,
  TEE_PARAM_TYPE_NONE,
  TEE_PARAM_TYPE_NONE,
);
const HWRNG = "ab7a617c-b8e7-4d8f-8301-d09b61036b64";

/** Linux's OPEN_SESSION: the UUID's 16 bytes and the login as meta values (call.c). */
function openArg(uuid: string, login = 0): OpteeMsgArg {
  const o = uuidOctets(uuid);
  const v = new DataView(o.buffer);
  const meta = OPTEE_MSG_ATTR_TYPE_VALUE_INPUT | OPTEE_MSG_ATTR_META;
  return msgArg(OPTEE_MSG_CMD_OPEN_SESSION, [
    valueParam(meta, v.getBigUint64(0, true), v.getBigUint64(8, true)),
    valueParam(meta, 0, 0, login),
  ]);
}

/** get_devices()'s INVOKE_COMMAND: a MEMREF_OUTPUT (NULL, or the buffer at 0x800 of the arg page) and 3 NONE. */
function getDevicesArg(
  session: number,
  argHandle: bigint | null,
  size: number,
  func = PTA_CMD_GET_DEVICES,
): OpteeMsgArg {
  const none: OpteeMsgParam = valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0);
  return {
    ...msgArg(OPTEE_MSG_CMD_INVOKE_COMMAND, [
      memParam(
        OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
        argHandle === null ? 0 : CONFIG_BUF_OFFSET,
        size,
        argHandle ?? 0xffff_ffff_ffff_ffffn,
      ),
      none,
      none,
      none,
    ]),
    func,
    session,
  };
}

const param = (size: number, store: Uint8Array | null = null): PtaParam => ({
  buffer: store ? (off, b) => (store.set(b, off), true) : null,
  size,
  a: 0,
  b: 0,
});

describe("device.pta get_devices() (core/pta/device.c)", () => {
  it("with no device-enumeration TA in the build (4.9's default): a NULL, size-0 query is TEE_SUCCESS with size 0", () => {
    const p = [param(0), param(0), param(0), param(0)];
    expect(ptaDeviceInvoke([], PTA_CMD_GET_DEVICES, OUT_NONE, p)).toBe(TEE_SUCCESS);
    expect(p[0].size).toBe(0);
  });

  it("with one: SHORT_BUFFER with the size, then the UUID's octets into a buffer that fits", () => {
    const tas = [{ uuid: HWRNG, flags: TA_FLAG_DEVICE_ENUM }];
    const q = [param(0), param(0), param(0), param(0)];
    expect(ptaDeviceInvoke(tas, PTA_CMD_GET_DEVICES, OUT_NONE, q)).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(q[0].size).toBe(16);
    const store = new Uint8Array(16);
    const p = [param(16, store), param(0), param(0), param(0)];
    expect(ptaDeviceInvoke(tas, PTA_CMD_GET_DEVICES, OUT_NONE, p)).toBe(TEE_SUCCESS);
    expect(store).toEqual(uuidOctets(HWRNG));
  });

  it("checks its parameter types and a NULL buffer with a size; an unknown command is NOT_IMPLEMENTED", () => {
    const p = () => [param(0), param(0), param(0), param(0)];
    const valueFirst = teeParamTypes(TEE_PARAM_TYPE_VALUE_INPUT, 0, 0, 0);
    expect(ptaDeviceInvoke([], PTA_CMD_GET_DEVICES, valueFirst, p())).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(
      ptaDeviceInvoke([], PTA_CMD_GET_DEVICES, OUT_NONE, [param(16), param(0), param(0), param(0)]),
    ).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(ptaDeviceInvoke([], 7, OUT_NONE, p())).toBe(TEE_ERROR_NOT_IMPLEMENTED);
  });

  it("lists by command: SUPP takes DEVICE_ENUM_SUPP and (CFG_REE_FS) TEE_STORAGE_PRIVATE; inconsistent flags are skipped", () => {
    const tas = [
      { uuid: HWRNG, flags: TA_FLAG_DEVICE_ENUM },
      { uuid: "11111111-2222-3333-4444-555555555555", flags: TA_FLAG_DEVICE_ENUM_SUPP },
      { uuid: "66666666-7777-8888-9999-aaaaaaaaaaaa", flags: TA_FLAG_DEVICE_ENUM_TEE_STORAGE_PRIVATE },
      { uuid: "bbbbbbbb-cccc-dddd-eeee-ffffffffffff", flags: TA_FLAG_DEVICE_ENUM | TA_FLAG_DEVICE_ENUM_SUPP },
    ];
    const p = [param(0), param(0), param(0), param(0)];
    expect(ptaDeviceInvoke(tas, PTA_CMD_GET_DEVICES_SUPP, OUT_NONE, p)).toBe(TEE_ERROR_SHORT_BUFFER);
    expect(p[0].size).toBe(32);
  });
});

describe("sessions with a pseudo TA (entry_std.c, tee_ta_manager.c)", () => {
  for (const preset of ["tzc400-board", "fvp-rme"]) {
    it(`${preset}: open device.pta, GET_DEVICES (SUCCESS, size 0), close — as Linux's probe does`, () => {
      const { sys } = boot(preset);
      const out = run(sys, function* () {
        const h = yield* shareArgPage(sys);
        const open = yield* yieldingCall(sys, h, openArg(PTA_DEVICE_UUID));
        const inv = yield* yieldingCall(sys, h, getDevicesArg(open.arg.session, null, 0));
        const close = yield* yieldingCall(sys, h, {
          ...msgArg(OPTEE_MSG_CMD_CLOSE_SESSION, []),
          session: open.arg.session,
        });
        return { open: open.arg, inv: inv.arg, close: close.arg };
      });
      expect([out.open.ret, out.open.ret_origin, out.open.session]).toEqual([
        TEE_SUCCESS,
        TEEC_ORIGIN_TRUSTED_APP,
        1,
      ]);
      expect([out.inv.ret, out.inv.ret_origin, out.inv.params[0].u[1]]).toEqual([
        TEE_SUCCESS,
        TEEC_ORIGIN_TRUSTED_APP,
        0n,
      ]);
      expect([out.close.ret, out.close.ret_origin]).toEqual([TEE_SUCCESS, TEEC_ORIGIN_TEE]);
      expect(taManagerOf(sys.machine).sessions).toEqual([]);
    });
  }

  it("a device TA in the build: SHORT_BUFFER with 16, then its UUID written into the shared buffer", () => {
    const { sys } = boot("tzc400-board");
    registerPseudoTa(sys.machine, {
      uuid: HWRNG,
      name: "hwrng.pta",
      flags: TA_FLAG_DEVICE_ENUM,
      invoke: () => 0,
    });
    const cpuNs = sys.machine.masterIndex("cpu-ns");
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const open = yield* yieldingCall(sys, h, openArg(PTA_DEVICE_UUID));
      const query = yield* yieldingCall(sys, h, getDevicesArg(open.arg.session, null, 0));
      const fill = yield* yieldingCall(sys, h, getDevicesArg(open.arg.session, h, 16));
      return { query: query.arg, fill: fill.arg };
    });
    expect([out.query.ret, out.query.params[0].u[1]]).toEqual([TEE_ERROR_SHORT_BUFFER, 16n]);
    expect([out.fill.ret, out.fill.params[0].u[1]]).toEqual([TEE_SUCCESS, 16n]);
    expect(sys.machine.readBytes(cpuNs, ARG_PAGE + CONFIG_BUF_OFFSET, 16).bytes).toEqual(uuidOctets(HWRNG));
  });

  it("an unknown UUID is ITEM_NOT_FOUND from the TEE (session 0); a bad login BAD_PARAMETERS", () => {
    const { sys } = boot("tzc400-board");
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const unknown = yield* yieldingCall(sys, h, openArg("12345678-1234-1234-1234-123456789abc"));
      const login = yield* yieldingCall(sys, h, openArg(PTA_DEVICE_UUID, 0x7));
      return [unknown.arg, login.arg];
    });
    expect(out.map((a) => [a.ret, a.ret_origin, a.session])).toEqual([
      [TEE_ERROR_ITEM_NOT_FOUND, TEEC_ORIGIN_TEE, 0],
      [TEE_ERROR_BAD_PARAMETERS, TEEC_ORIGIN_TEE, 0],
    ]);
  });

  it("invoke on an unknown session is BAD_PARAMETERS; close of one ITEM_NOT_FOUND, with params BAD_PARAMETERS; ids count up", () => {
    const { sys } = boot("tzc400-board");
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const a = yield* yieldingCall(sys, h, openArg(PTA_DEVICE_UUID));
      const b = yield* yieldingCall(sys, h, openArg(PTA_DEVICE_UUID));
      const inv = yield* yieldingCall(sys, h, getDevicesArg(9, null, 0));
      const close = yield* yieldingCall(sys, h, { ...msgArg(OPTEE_MSG_CMD_CLOSE_SESSION, []), session: 9 });
      const withParams = yield* yieldingCall(sys, h, {
        ...msgArg(OPTEE_MSG_CMD_CLOSE_SESSION, [valueParam(OPTEE_MSG_ATTR_TYPE_NONE, 0)]),
        session: a.arg.session,
      });
      return {
        ids: [a.arg.session, b.arg.session],
        inv: inv.arg.ret,
        close: close.arg.ret,
        withParams: withParams.arg.ret,
      };
    });
    expect(out).toEqual({
      ids: [1, 2],
      inv: TEE_ERROR_BAD_PARAMETERS,
      close: TEE_ERROR_ITEM_NOT_FOUND,
      withParams: TEE_ERROR_BAD_PARAMETERS,
    });
  });
});
