import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMsgArg,
  encodeMsgArg,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  OPTEE_MSG_CMD_LEND_PROTMEM,
  OPTEE_MSG_CMD_OPEN_SESSION,
  opteeMsgCmdName,
  OPTEE_MSG_PROTMEM_SECURE_VIDEO_PLAY,
  optee_msg_get_arg_size,
  paramType,
  protmemMemAttr,
  valueParam,
} from "./msg.ts";
import {
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_SEC_CAP_PROTMEM,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
} from "./ffa.ts";
import { OPTEE_SMC_GET_PROTMEM_CONFIG } from "./smc.ts";
import { TEE_ERROR_SHORT_BUFFER, teeResultName } from "./tee_result.ts";

describe("OP-TEE message ABI", () => {
  it("an optee_msg_arg with two params is 96 bytes, header fields little-endian", () => {
    const bytes = encodeMsgArg({
      cmd: OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
      func: 0,
      session: 0,
      cancel_id: 0,
      pad: 0,
      ret: 0,
      ret_origin: 0,
      params: [
        valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, OPTEE_MSG_PROTMEM_SECURE_VIDEO_PLAY),
        valueParam(0, 0),
      ],
    });
    expect(bytes.length).toBe(optee_msg_get_arg_size(2));
    expect(bytes.length).toBe(96);
    expect(bytes[0]).toBe(10);
    expect(bytes[28]).toBe(2);
    expect(bytes[32]).toBe(3);
    expect(bytes[40]).toBe(1);
  });

  it("encode and decode round-trip any arg", () => {
    const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    const u32 = fc.integer({ min: 0, max: 0xffffffff });
    fc.assert(
      fc.property(
        fc.record({
          cmd: u32,
          func: u32,
          session: u32,
          cancel_id: u32,
          pad: u32,
          ret: u32,
          ret_origin: u32,
          params: fc.array(fc.record({ attr: u64, u: fc.tuple(u64, u64, u64) }), { maxLength: 6 }),
        }),
        (arg) => {
          const d = decodeMsgArg(encodeMsgArg(arg));
          expect(d.ok && d.arg).toEqual(arg);
        },
      ),
    );
  });

  it("decoding never throws and refuses args shorter than their num_params", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        expect(() => decodeMsgArg(b)).not.toThrow();
      }),
    );
    const b = encodeMsgArg({
      cmd: 1,
      func: 0,
      session: 0,
      cancel_id: 0,
      pad: 0,
      ret: 0,
      ret_origin: 0,
      params: [valueParam(1, 1)],
    });
    const r = decodeMsgArg(b.subarray(0, 40));
    expect(r.ok).toBe(false);
    expect(paramType(valueParam(0x103, 0))).toBe(3);
  });

  it("constants have the values of the headers", () => {
    expect(OPTEE_FFA_RELEASE_PROTMEM).toBe(8);
    expect(OPTEE_FFA_SEC_CAP_PROTMEM).toBe(8);
    expect(OPTEE_FFA_YIELDING_CALL_WITH_ARG).toBe(0x80000000);
    expect(OPTEE_SMC_GET_PROTMEM_CONFIG).toBe(0xb2000014);
    expect(teeResultName(TEE_ERROR_SHORT_BUFFER)).toBe("TEE_ERROR_SHORT_BUFFER");
    // endpoint 0x8001 with FFA_MEM_RW (BIT(1)) as GET_PROTMEM_CONFIG returns it.
    expect(protmemMemAttr(0x8001, 2)).toBe(0x28001);
  });
});

describe("opteeMsgCmdName()", () => {
  it("names each command optee_msg.h defines, by its value, and nothing else", () => {
    expect(opteeMsgCmdName(OPTEE_MSG_CMD_OPEN_SESSION)).toBe("OPTEE_MSG_CMD_OPEN_SESSION");
    expect(opteeMsgCmdName(OPTEE_MSG_CMD_LEND_PROTMEM)).toBe("OPTEE_MSG_CMD_LEND_PROTMEM");
    expect(opteeMsgCmdName(OPTEE_MSG_CMD_ASSIGN_PROTMEM)).toBe("OPTEE_MSG_CMD_ASSIGN_PROTMEM");
    for (const v of [12, -1, 0.5, 0xffff_ffff]) expect(opteeMsgCmdName(v)).toBeUndefined();
  });
});
