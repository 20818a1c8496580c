import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as ffa from "./func.ts";
import {
  FFA_ERRORS,
  FFA_FUNCS,
  FFA_MEMORY_HANDLE_INVALID,
  ffaAssembleHandle,
  ffaErrorCode,
  ffaErrorFromU32,
  ffaErrorName,
  ffaErrorToU32,
  ffaFuncId,
  ffaFuncIs64,
  ffaFuncName,
  ffaFuncOtherWidth,
  ffaHandleHigh,
  ffaHandleLow,
  ffaMemFunc,
  ffaMemoryHandleAllocator,
  ffaMemoryHandleIndex,
  ffaMemoryHandleMake,
  ffaPackVersion,
  ffaSmc32,
  ffaSmc64,
  ffaToLinuxErrno,
  ffaVersionLayout,
  ffaVersionMajor,
  ffaVersionMinor,
  ffaVersionNumber,
  ffaVersionsAreCompatible,
  isFfaVersion,
} from "./func.ts";

/** reference/ffa.md §1, row by row. */
const REFERENCE_IDS: Record<string, number> = {
  FFA_ERROR_32: 0x84000060,
  FFA_ERROR_64: 0xc4000060,
  FFA_SUCCESS_32: 0x84000061,
  FFA_SUCCESS_64: 0xc4000061,
  FFA_INTERRUPT_32: 0x84000062,
  FFA_VERSION_32: 0x84000063,
  FFA_FEATURES_32: 0x84000064,
  FFA_RX_RELEASE_32: 0x84000065,
  FFA_RXTX_MAP_32: 0x84000066,
  FFA_RXTX_MAP_64: 0xc4000066,
  FFA_RXTX_UNMAP_32: 0x84000067,
  FFA_PARTITION_INFO_GET_32: 0x84000068,
  FFA_ID_GET_32: 0x84000069,
  FFA_MSG_POLL_32: 0x8400006a,
  FFA_MSG_WAIT_32: 0x8400006b,
  FFA_YIELD_32: 0x8400006c,
  FFA_RUN_32: 0x8400006d,
  FFA_MSG_SEND_32: 0x8400006e,
  FFA_MSG_SEND_DIRECT_REQ_32: 0x8400006f,
  FFA_MSG_SEND_DIRECT_REQ_64: 0xc400006f,
  FFA_MSG_SEND_DIRECT_RESP_32: 0x84000070,
  FFA_MSG_SEND_DIRECT_RESP_64: 0xc4000070,
  FFA_MEM_DONATE_32: 0x84000071,
  FFA_MEM_DONATE_64: 0xc4000071,
  FFA_MEM_LEND_32: 0x84000072,
  FFA_MEM_LEND_64: 0xc4000072,
  FFA_MEM_SHARE_32: 0x84000073,
  FFA_MEM_SHARE_64: 0xc4000073,
  FFA_MEM_RETRIEVE_REQ_32: 0x84000074,
  FFA_MEM_RETRIEVE_REQ_64: 0xc4000074,
  FFA_MEM_RETRIEVE_RESP_32: 0x84000075,
  FFA_MEM_RELINQUISH_32: 0x84000076,
  FFA_MEM_RECLAIM_32: 0x84000077,
  FFA_MEM_OP_PAUSE_32: 0x84000078,
  FFA_MEM_OP_RESUME_32: 0x84000079,
  FFA_MEM_FRAG_RX_32: 0x8400007a,
  FFA_MEM_FRAG_TX_32: 0x8400007b,
  FFA_NORMAL_WORLD_RESUME_32: 0x8400007c,
  FFA_NOTIFICATION_BITMAP_CREATE_32: 0x8400007d,
  FFA_NOTIFICATION_GET_32: 0x84000082,
  FFA_NOTIFICATION_INFO_GET_64: 0xc4000083,
  FFA_RX_ACQUIRE_32: 0x84000084,
  FFA_SPM_ID_GET_32: 0x84000085,
  FFA_MSG_SEND2_32: 0x84000086,
  FFA_SECONDARY_EP_REGISTER_64: 0xc4000087,
  FFA_MEM_PERM_GET_32: 0x84000088,
  FFA_MEM_PERM_SET_32: 0x84000089,
  FFA_MEM_PERM_GET_64: 0xc4000088,
  FFA_MEM_PERM_SET_64: 0xc4000089,
  FFA_CONSOLE_LOG_32: 0x8400008a,
  FFA_CONSOLE_LOG_64: 0xc400008a,
  FFA_PARTITION_INFO_GET_REGS_64: 0xc400008b,
  FFA_EL3_INTR_HANDLE_32: 0x8400008c,
  FFA_MSG_SEND_DIRECT_REQ2_64: 0xc400008d,
  FFA_MSG_SEND_DIRECT_RESP2_64: 0xc400008e,
};

describe("FF-A function IDs", () => {
  it("every ID in reference/ffa.md §1 has the reference value, as a constant and in the table", () => {
    const constants = ffa as unknown as Record<string, number>;
    for (const [name, id] of Object.entries(REFERENCE_IDS)) {
      expect(constants[name], name).toBe(id);
      expect(ffaFuncName(id), name).toBe(name);
      expect(ffaFuncId(name), name).toBe(id);
    }
  });

  it("bare 32-bit names are aliases of the _32 IDs", () => {
    expect(ffa.FFA_ERROR).toBe(0x84000060);
    expect(ffa.FFA_VERSION).toBe(0x84000063);
    expect(ffa.FFA_FEATURES).toBe(0x84000064);
    expect(ffa.FFA_RX_RELEASE).toBe(0x84000065);
    expect(ffa.FFA_PARTITION_INFO_GET).toBe(0x84000068);
    expect(ffa.FFA_ID_GET).toBe(0x84000069);
    expect(ffa.FFA_MEM_RETRIEVE_RESP).toBe(0x84000075);
    expect(ffa.FFA_MEM_RELINQUISH).toBe(0x84000076);
    expect(ffa.FFA_MEM_RECLAIM).toBe(0x84000077);
    expect(ffa.FFA_MEM_FRAG_RX).toBe(0x8400007a);
    expect(ffa.FFA_MEM_FRAG_TX).toBe(0x8400007b);
    expect(ffaFuncId("FFA_VERSION")).toBe(0x84000063);
    expect(ffaFuncId("FFA_MEM_RECLAIM")).toBe(0x84000077);
  });

  it("the name table is a bijection and round-trips both ways", () => {
    const ids = new Set(FFA_FUNCS.map((f) => f.id));
    const names = new Set(FFA_FUNCS.map((f) => f.name));
    expect(ids.size).toBe(FFA_FUNCS.length);
    expect(names.size).toBe(FFA_FUNCS.length);
    for (const f of FFA_FUNCS) {
      expect(ffaFuncId(f.name)).toBe(f.id);
      expect(ffaFuncName(f.id)).toBe(f.name);
      expect(f.name.endsWith("_64")).toBe(ffaFuncIs64(f.id));
    }
  });

  it("Linux FFA_SMC_32/64 and FFA_FN64_ spellings give the same IDs", () => {
    expect(ffaSmc32(0x72)).toBe(ffa.FFA_MEM_LEND_32);
    expect(ffaSmc64(0x72)).toBe(ffa.FFA_MEM_LEND_64);
    expect(ffaFuncId("FFA_FN64_MEM_LEND")).toBe(ffa.FFA_MEM_LEND_64);
    expect(ffaFuncId("FFA_FN64_RXTX_MAP")).toBe(ffa.FFA_RXTX_MAP_64);
  });

  it("a register value read as signed still names the call", () => {
    expect(ffaFuncName(ffa.FFA_MEM_SHARE_32 | 0)).toBe("FFA_MEM_SHARE_32");
  });

  it("unknown IDs and names give undefined", () => {
    expect(ffaFuncName(0x84000000)).toBeUndefined();
    expect(ffaFuncName(0xc4000075)).toBeUndefined(); // RETRIEVE_RESP has no SMC64 form
    expect(ffaFuncId("FFA_NOPE")).toBeUndefined();
  });

  it("the other-width twin exists only where the reference lists both", () => {
    expect(ffaFuncOtherWidth(ffa.FFA_MEM_LEND_32)).toBe(ffa.FFA_MEM_LEND_64);
    expect(ffaFuncOtherWidth(ffa.FFA_MEM_LEND_64)).toBe(ffa.FFA_MEM_LEND_32);
    expect(ffaFuncOtherWidth(ffa.FFA_MEM_RECLAIM_32)).toBeUndefined();
  });

  it("memory-transaction calls classify regardless of width", () => {
    expect(ffaMemFunc(ffa.FFA_MEM_DONATE_64)).toBe("donate");
    expect(ffaMemFunc(ffa.FFA_MEM_LEND_32)).toBe("lend");
    expect(ffaMemFunc(ffa.FFA_MEM_SHARE_64)).toBe("share");
    expect(ffaMemFunc(ffa.FFA_MEM_RETRIEVE_REQ_64)).toBe("retrieve_req");
    expect(ffaMemFunc(ffa.FFA_MEM_RETRIEVE_RESP_32)).toBe("retrieve_resp");
    expect(ffaMemFunc(ffa.FFA_MEM_RECLAIM_32)).toBeUndefined();
  });
});

describe("FF-A error codes", () => {
  it("have the reference/ffa.md §2 values and u32 forms", () => {
    const table: [string, number, number][] = [
      ["FFA_NOT_SUPPORTED", -1, 0xffffffff],
      ["FFA_INVALID_PARAMETERS", -2, 0xfffffffe],
      ["FFA_NO_MEMORY", -3, 0xfffffffd],
      ["FFA_BUSY", -4, 0xfffffffc],
      ["FFA_INTERRUPTED", -5, 0xfffffffb],
      ["FFA_DENIED", -6, 0xfffffffa],
      ["FFA_RETRY", -7, 0xfffffff9],
      ["FFA_ABORTED", -8, 0xfffffff8],
      ["FFA_NO_DATA", -9, 0xfffffff7],
      ["FFA_NOT_READY", -10, 0xfffffff6],
    ];
    const constants = ffa as unknown as Record<string, number>;
    expect(FFA_ERRORS.length).toBe(table.length);
    for (const [name, code, u32] of table) {
      expect(constants[name]).toBe(code);
      expect(ffaErrorCode(name)).toBe(code);
      expect(ffaErrorCode(name.slice(4))).toBe(code);
      expect(ffaErrorName(code)).toBe(name);
      expect(ffaErrorName(u32)).toBe(name);
      expect(ffaErrorToU32(code)).toBe(u32);
      expect(ffaErrorFromU32(u32)).toBe(code);
    }
  });

  it("non-codes have no name", () => {
    for (const v of [0, 1, -11, 0x7fffffff, 1.5, 0xfffffff5]) expect(ffaErrorName(v)).toBeUndefined();
    expect(ffaErrorCode("FFA_OK")).toBeUndefined();
  });

  it("map to Linux errnos as ffa_linux_errmap does, unknown codes to -EINVAL", () => {
    expect([-1, -2, -3, -4, -5, -6, -7, -8, -9, -10].map(ffaToLinuxErrno)).toEqual([
      -95, -22, -12, -16, -4, -13, -11, -125, -61, -11,
    ]);
    expect(ffaToLinuxErrno(0)).toBe(0);
    expect(ffaToLinuxErrno(-11)).toBe(-22);
    expect(ffaToLinuxErrno(5)).toBe(-22);
    expect(ffaToLinuxErrno(0xfffffffa)).toBe(-13);
  });
});

describe("FF-A versions", () => {
  it("pack as major<<16 | minor", () => {
    expect(ffa.FFA_VERSION_1_0).toBe(0x10000);
    expect(ffa.FFA_VERSION_1_1).toBe(0x10001);
    expect(ffa.FFA_VERSION_1_2).toBe(0x10002);
    expect(ffa.FFA_VERSION_1_3).toBe(0x10003);
    expect(ffaPackVersion(1, 2)).toBe(0x10002);
    expect(ffaVersionNumber("1.0")).toBe(0x10000);
    expect(ffaVersionNumber("1.1")).toBe(0x10001);
    expect(ffaVersionNumber("1.2")).toBe(0x10002);
  });

  it("major and minor round-trip for every 15-bit major and 16-bit minor", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0x7fff }),
        fc.integer({ min: 0, max: 0xffff }),
        (major, minor) => {
          const v = ffaPackVersion(major, minor);
          expect(v >>> 31).toBe(0);
          expect(ffaVersionMajor(v)).toBe(major);
          expect(ffaVersionMinor(v)).toBe(minor);
        },
      ),
    );
  });

  it("are compatible with the same major and a caller minor not above the callee's", () => {
    expect(ffaVersionsAreCompatible(0x10001, 0x10002)).toBe(true);
    expect(ffaVersionsAreCompatible(0x10002, 0x10002)).toBe(true);
    expect(ffaVersionsAreCompatible(0x10002, 0x10001)).toBe(false);
    expect(ffaVersionsAreCompatible(0x20000, 0x10002)).toBe(false);
  });

  it("map to descriptor layouts; 1.3 uses the 1.2 layout", () => {
    expect(ffaVersionLayout(0x10000)).toBe("1.0");
    expect(ffaVersionLayout(0x10001)).toBe("1.1");
    expect(ffaVersionLayout(0x10002)).toBe("1.2");
    expect(ffaVersionLayout(0x10003)).toBe("1.2");
    expect(ffaVersionLayout(0x20000)).toBeUndefined();
    expect(ffaVersionLayout(0x80010000)).toBeUndefined();
    expect(isFfaVersion("1.1")).toBe(true);
    expect(isFfaVersion("1.3")).toBe(false);
  });
});

describe("FF-A memory handles", () => {
  it("bit 63 names the allocator: 0 SPMC, 1 hypervisor", () => {
    expect(ffa.FFA_MEMORY_HANDLE_ALLOCATOR_MASK).toBe(0x8000_0000_0000_0000n);
    expect(ffaMemoryHandleMake(5, "spmc")).toBe(5n);
    expect(ffaMemoryHandleMake(5, "hypervisor")).toBe(0x8000_0000_0000_0005n);
    expect(ffaMemoryHandleAllocator(5n)).toBe("spmc");
    expect(ffaMemoryHandleAllocator(0x8000_0000_0000_0005n)).toBe("hypervisor");
    expect(ffaMemoryHandleIndex(0x8000_0000_0000_0005n)).toBe(5n);
    expect(FFA_MEMORY_HANDLE_INVALID).toBe(0xffff_ffff_ffff_ffffn);
  });

  it("an index that reaches bit 63 is refused", () => {
    expect(() => ffaMemoryHandleMake(1n << 63n, "spmc")).toThrow(RangeError);
    expect(() => ffaMemoryHandleMake(-1, "spmc")).toThrow(RangeError);
  });

  it("splits into w-register halves and reassembles (TF-A's 0xffffffc0 crosses the boundary)", () => {
    expect(ffaHandleLow(0xffffffc0n + 0x40n)).toBe(0);
    expect(ffaHandleHigh(0xffffffc0n + 0x40n)).toBe(1);
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (h) => {
        expect(ffaAssembleHandle(ffaHandleLow(h), ffaHandleHigh(h))).toBe(h);
      }),
    );
  });
});
