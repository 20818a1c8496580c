/**
 * Hafnium's descriptor rules that depend on where the EMADs are and who sends them — src/ffa_memory.c
 * v2.15.0 (= 21bfbdc1 for this file) ffa_memory_region_sanity_check(), ffa_memory_send_validate(),
 * ffa_memory_retrieve_validate(); inc/vmapi/hf/ffa.h ffa_memory_region_get_receiver():
 * - the receivers offset: any value from 48 on (v2.14.0+, 68007003), the fragment holding the EMAD
 *   array (v2.15.0, a9d6a31f, in u32), the send and retrieve lengths measured from it;
 * - the EMAD reserved field read by the caller's version (v1.2: +24, even in a 16-byte EMAD);
 * - the 2-bit `security` field, bits [7:6], MBZ in a send and in a retrieve request.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_LEND_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_RW,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_SUCCESS_32,
  packMemAccessPermissions,
  type FfaVersion,
} from "../../../src/abi/ffa/index.ts";
import { MTD_EMAD_OFFSET } from "../../../src/abi/ffa/layout.ts";
import { smcRegs, type SmcRegs } from "../../../src/hw/smc.ts";
import type { System } from "../../../src/scenario/system.ts";
import { boot, call, handleOf, lend, lendDescriptor, run, w } from "./testing.ts";

const PAGE = 0x9000_0000;
const NX_RW = packMemAccessPermissions({ data: "rw", instruction: "nx" });

/** `bytes` with `pad` zero bytes inserted at 48 and every offset field moved by it (receivers_offset, composite offsets). */
function padAfterHeader(bytes: Uint8Array, pad: number, emadSize: number, count: number): Uint8Array {
  const out = new Uint8Array(bytes.length + pad);
  out.set(bytes.subarray(0, 48));
  out.set(bytes.subarray(48), 48 + pad);
  const d = new DataView(out.buffer);
  d.setUint32(MTD_EMAD_OFFSET, 48 + pad, true);
  for (let i = 0; i < count; i++) {
    const at = 48 + pad + i * emadSize + 4;
    const comp = d.getUint32(at, true);
    if (comp !== 0) d.setUint32(at, comp + pad, true);
  }
  return out;
}

function rejectedAs(sys: System, out: SmcRegs, id: number, rule: string): string {
  expect(w(out, 0)).toBe(FFA_ERROR_32);
  expect(w(out, 2) | 0).toBe(FFA_INVALID_PARAMETERS);
  const r = sys.spmc.lastRejectionOf.get(id);
  expect(r?.rule).toBe(rule);
  return r?.why ?? "";
}

function lendBytes(sys: System, bytes: Uint8Array): SmcRegs {
  return run(sys, () => lend(sys, bytes));
}

function retrieveRequest(version: FfaVersion, handle: bigint, attributes = 0): Uint8Array {
  return encodeMemRegion(
    {
      sender_id: 0,
      attributes,
      flags: 0,
      handle,
      tag: 1n,
      emads: [{ receiver_id: 0x8001, permissions: NX_RW }],
      constituents: null,
    },
    version,
  );
}

function retrieveBytes(sys: System, bytes: Uint8Array): SmcRegs {
  return run(sys, () =>
    call(sys, "optee", smcRegs(FFA_MEM_RETRIEVE_REQ_32, bytes.length, bytes.length), bytes),
  );
}

describe("Hafnium: the receivers offset", () => {
  it("an EMAD array 16 bytes past the header is accepted in a send, and the share state is whole", () => {
    const sys = boot("fvp-rme");
    const bytes = padAfterHeader(lendDescriptor([{ address: PAGE, pages: 2 }]), 16, 32, 1);
    const out = lendBytes(sys, bytes);
    expect(w(out, 0)).toBe(FFA_SUCCESS_32);
    const resp = retrieveBytes(sys, retrieveRequest("1.2", handleOf(out)));
    expect(w(resp, 0)).toBe(FFA_MEM_RETRIEVE_RESP_32);
    expect(sys.spmc.rejections.size).toBe(0);
  });

  it("an offset inside the header is refused by receiver_size_and_offset_valid_for_version()", () => {
    const sys = boot("fvp-rme");
    const bytes = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
        constituents: [{ address: BigInt(PAGE), page_count: 1 }],
      },
      "1.2",
      { emad_offset: 47 },
    );
    rejectedAs(sys, lendBytes(sys, bytes), 0, "receivers-offset");
  });

  it("an offset past the header with the EMAD left at 48 reads the EMAD where the field says: composite offset 0", () => {
    const sys = boot("fvp-rme");
    const bytes = lendDescriptor([{ address: PAGE, pages: 1 }]);
    new DataView(bytes.buffer).setUint32(MTD_EMAD_OFFSET, 64, true);
    rejectedAs(sys, lendBytes(sys, bytes), 0, "composite-offset");
  });

  it("v2.15.0: a fragment that does not hold the EMAD array is refused in the sanity check", () => {
    const sys = boot("fvp-rme");
    const bytes = lendDescriptor([{ address: PAGE, pages: 1 }]);
    new DataView(bytes.buffer).setUint32(MTD_EMAD_OFFSET, 4000, true);
    const why = rejectedAs(sys, lendBytes(sys, bytes), 0, "fragment-too-short");
    expect(why).toContain("4032");
  });

  it("the fragment check is u32 arithmetic: an offset near 2^32 wraps past it, and the EMAD read far away is refused later", () => {
    const sys = boot("fvp-rme");
    const bytes = lendDescriptor([{ address: PAGE, pages: 1 }]);
    // 0xffffffe0 + 32 × 1 = 0 (mod 2^32) ≤ any fragment length.
    new DataView(bytes.buffer).setUint32(MTD_EMAD_OFFSET, 0xffff_ffe0, true);
    rejectedAs(sys, lendBytes(sys, bytes), 0, "composite-offset");
  });

  it("a retrieve request with its EMAD at 64 is measured from that offset and granted", () => {
    const sys = boot("fvp-rme");
    const h = handleOf(lendBytes(sys, lendDescriptor([{ address: PAGE, pages: 1 }])));
    const req = padAfterHeader(retrieveRequest("1.2", h), 16, 32, 1);
    expect(req.length).toBe(96);
    expect(w(retrieveBytes(sys, req), 0)).toBe(FFA_MEM_RETRIEVE_RESP_32);
  });

  it("a retrieve request 16 bytes longer than its EMAD array is refused by ffa_memory_retrieve_validate()", () => {
    const sys = boot("fvp-rme");
    const h = handleOf(lendBytes(sys, lendDescriptor([{ address: PAGE, pages: 1 }])));
    const req = retrieveRequest("1.2", h);
    const longer = new Uint8Array(req.length + 16);
    longer.set(req);
    rejectedAs(sys, retrieveBytes(sys, longer), 0x8001, "retrieve-length");
  });
});

describe("Hafnium: the EMAD reserved field, by the caller's version", () => {
  /** A two-borrower v1.1-layout (16-byte EMAD) lend whose EMAD[1] reserved field (its +8) is 5. */
  function twoBorrowers(): Uint8Array {
    return encodeMemRegion(
      {
        sender_id: 0,
        attributes: FFA_NORMAL_MEM_REG_ATTR,
        flags: 0,
        tag: 1n,
        emads: [
          { receiver_id: 0x8001, permissions: FFA_MEM_RW },
          { receiver_id: 0x8002, permissions: FFA_MEM_RW, reserved: 5n },
        ],
        constituents: [{ address: BigInt(PAGE), page_count: 1 }],
      },
      "1.1",
    );
  }

  it("a v1.2 caller's 16-byte EMAD[0] is read at +24: EMAD[1]'s reserved field fails EMAD[0]", () => {
    const sys = boot("fvp-rme");
    const why = rejectedAs(sys, lendBytes(sys, twoBorrowers()), 0, "reserved-mbz");
    expect(why).toContain("EMAD[0]");
  });

  it("a v1.1 caller's is read at +8: the same bytes fail EMAD[1]", () => {
    const sys = boot("fvp-rme", { ffaVersion: "1.1" });
    const why = rejectedAs(sys, lendBytes(sys, twoBorrowers()), 0, "reserved-mbz");
    expect(why).toContain("EMAD[1]");
  });

  it("a v1.2 caller's 32-byte EMAD is read at +24, its own reserved field", () => {
    const sys = boot("fvp-rme");
    const bytes = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW, reserved: 1n }],
        constituents: [{ address: BigInt(PAGE), page_count: 1 }],
      },
      "1.2",
    );
    rejectedAs(sys, lendBytes(sys, bytes), 0, "reserved-mbz");
  });

  it("a v1.2 caller's 16-byte retrieve request: +24 of its only EMAD lies past the request (zeros here) and it is granted", () => {
    const sys = boot("fvp-rme");
    const h = handleOf(lendBytes(sys, lendDescriptor([{ address: PAGE, pages: 1 }])));
    const req = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        handle: h,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: NX_RW, reserved: 7n }],
        constituents: null,
      },
      "1.1",
    );
    expect(w(retrieveBytes(sys, req), 0)).toBe(FFA_MEM_RETRIEVE_RESP_32);
  });
});

describe("Hafnium: attributes bits [7:6] (security) MBZ", () => {
  for (const attributes of [0x40, 0x80, 0xc0]) {
    it(`a send with attributes ${attributes.toString(16)} is INVALID_PARAMETERS and lends nothing`, () => {
      const sys = boot("fvp-rme");
      const bytes = lendDescriptor([{ address: PAGE, pages: 1 }]);
      bytes[2] = attributes;
      rejectedAs(sys, lendBytes(sys, bytes), 0, "ns-bit");
      expect(sys.machine.access(sys.machine.masterIndex("cpu-ns"), PAGE, 8, "read")).toBe(0);
    });

    it(`a retrieve request with attributes ${attributes.toString(16)} is INVALID_PARAMETERS`, () => {
      const sys = boot("fvp-rme");
      const h = handleOf(lendBytes(sys, lendDescriptor([{ address: PAGE, pages: 1 }])));
      rejectedAs(sys, retrieveBytes(sys, retrieveRequest("1.2", h, attributes)), 0x8001, "ns-bit");
      expect(sys.spmc.endpoint(0x8001)!.rxFull).toBe(false);
    });
  }

  it("FFA_MEM_LEND_32 with bit 7 set in a v1.0 caller's attribute byte is refused the same way", () => {
    const sys = boot("fvp-rme", { ffaVersion: "1.0" });
    const bytes = lendDescriptor([{ address: PAGE, pages: 1 }], { version: "1.0" });
    bytes[2] = 0x80;
    const out = run(sys, () =>
      call(sys, "normal", smcRegs(FFA_MEM_LEND_32, bytes.length, bytes.length), bytes),
    );
    rejectedAs(sys, out, 0, "ns-bit");
  });
});
