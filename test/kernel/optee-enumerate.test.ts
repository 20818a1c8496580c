/**
 * drivers/tee/optee/device.c optee_enumerate_devices() (Linux 6.18) against OP-TEE 4.9's device.pta:
 * at probe with the default build (no device TA: OPEN_SESSION, GET_DEVICES → size 0, CLOSE_SESSION,
 * nothing registered), and with a build that has one (SHORT_BUFFER with the size, a kernel buffer
 * shared for the second GET_DEVICES, one "optee-ta-<uuid>" device, the buffer unregistered and
 * reclaimed, the session and the context closed).
 */
import { afterEach, describe, expect, it } from "vitest";
import { FFA_MEM_RECLAIM_32, FFA_MEM_SHARE_64, FFA_MSG_SEND_DIRECT_REQ_32 } from "../../src/abi/ffa/index.ts";
import {
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_MSG_CMD_CLOSE_SESSION,
  OPTEE_MSG_CMD_INVOKE_COMMAND,
  OPTEE_MSG_CMD_OPEN_SESSION,
} from "../../src/abi/optee/index.ts";
import { opteeEnumerateDevices } from "../../src/kernel/optee/device.ts";
import { PTA_CMD_GET_DEVICES } from "../../src/kernel/optee/optee.ts";
import { TA_FLAG_DEVICE_ENUM } from "../../src/secure/optee/pta_device.ts";
import { registerPseudoTa, taManagerOf } from "../../src/secure/optee/ta_session.ts";
import { recordSmcs, w } from "./ffa-fixture.ts";
import { expectQuiesced, run, teeSystem } from "./tee-fixture.ts";

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

const HWRNG = "ab7a617c-b8e7-4d8f-8301-d09b61036b64";

describe("optee_enumerate_devices() and device.pta", () => {
  it("default build: the probe opens the PTA's session, finds no device, closes it; nothing stays open", () => {
    const sys = teeSystem("tzc400-board");
    const optee = sys.kernel.optee!;
    expect(optee.taDevices).toEqual([]);
    expect(taManagerOf(sys.machine).sessions).toEqual([]);
    // The enumeration's context went (teedev_close_context()): tee_device_alloc()'s user, the driver's
    // context, the secure-video heap and the arg cache's page remain.
    expect(optee.teedev!.numUsers).toBe(4);
    expectQuiesced(sys);
  });

  it("a build with a device TA: SHORT_BUFFER, a shared kernel buffer, its UUID, one optee-ta device", () => {
    const sys = teeSystem("tzc400-board");
    const optee = sys.kernel.optee!;
    registerPseudoTa(sys.machine, {
      uuid: HWRNG,
      name: "hwrng.pta",
      flags: TA_FLAG_DEVICE_ENUM,
      invoke: () => 0,
    });
    const commands: number[] = [];
    sys.sim.trace.subscribe((e) => {
      if (e.layer === "secure" && e.name === "yielding-call") commands.push(Number(e.args.cmd));
    });
    const rec = recordSmcs();
    stop = rec.stop;
    const rc = run(sys.sim, () => opteeEnumerateDevices(optee, PTA_CMD_GET_DEVICES));
    expect(rc).toBe(0);
    expect(optee.taDevices).toEqual([`optee-ta-${HWRNG}`]);
    expect(commands).toEqual([
      OPTEE_MSG_CMD_OPEN_SESSION,
      OPTEE_MSG_CMD_INVOKE_COMMAND, // NULL, 0 → SHORT_BUFFER, 16
      OPTEE_MSG_CMD_INVOKE_COMMAND, // the 16-byte buffer
      OPTEE_MSG_CMD_CLOSE_SESSION,
    ]);
    const nwd = rec.log.filter((r) => r.caller === "ns");
    const shares = nwd.filter((r) => w(r.regs, 0) === FFA_MEM_SHARE_64);
    const unreg = nwd.filter(
      (r) => w(r.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32 && w(r.regs, 3) === OPTEE_FFA_UNREGISTER_SHM,
    );
    expect([
      shares.length,
      unreg.length,
      nwd.filter((r) => w(r.regs, 0) === FFA_MEM_RECLAIM_32).length,
    ]).toEqual([1, 1, 1]);
    expect(taManagerOf(sys.machine).sessions).toEqual([]);
    expectQuiesced(sys);
  });
});
