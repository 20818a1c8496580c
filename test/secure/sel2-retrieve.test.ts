/**
 * OP-TEE 4.9 retrieving memory from Hafnium (thread_spmc.c thread_spmc_populate_mobj_from_rx(),
 * spmc_retrieve_req(); mobj_ffa.c mobj_ffa_assign_protmem(), mobj_ffa_add_pages_at()): the request
 * byte for byte, what the upstream request meets, and what 4.9 does with the answer.
 */
import { describe, expect, it } from "vitest";
import {
  encodeMemRegion,
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RW,
  FFA_MEM_SHARE_32,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_RX_RELEASE_32,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import {
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "../../src/abi/optee/index.ts";
import { smcRegs, type SmcRegs } from "../../src/hw/smc.ts";
import { encodeOpteeRetrieveReq, type Sel2Mobjs } from "../../src/secure/optee/sel2_mobj.ts";
import {
  assign,
  boot,
  lend,
  LEND_PA,
  msgArg,
  nwd,
  reclaim,
  release,
  run,
  shareArgPage,
  w,
  yieldingCall,
  type Booted,
} from "./helpers.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

/** Records OP-TEE's FF-A calls (registers) and, for each retrieve, its TX bytes. */
function spy(b: Booted): { calls: SmcRegs[]; requests: Uint8Array[] } {
  const rec = { calls: [] as SmcRegs[], requests: [] as Uint8Array[] };
  const spmc = b.sys.spmc;
  const real = spmc.partitionCall.bind(spmc);
  spmc.partitionCall = function* (id, regs) {
    rec.calls.push(regs.slice());
    if (w(regs, 0) === FFA_MEM_RETRIEVE_REQ_32) {
      const tx = spmc.endpoint(id)!.tx!;
      rec.requests.push(b.sys.machine.readBytes(b.sys.machine.masterIndex("cpu-s"), tx, w(regs, 1)).bytes);
    }
    return yield* real(id, regs);
  };
  return rec;
}

/** One ASSIGN_PROTMEM of a fresh tag-1 lend: the TEE_Result, the cookie and the recorded calls. */
function assignOnce(b: Booted, useCase = 1) {
  const rec = spy(b);
  const { rc, cookie } = run(b.sys, function* () {
    const h = yield* shareArgPage(b.sys);
    const cookie = yield* lend(b.sys, 1);
    // The arg page's own retrieve (a SHARE) is not the one under test.
    yield* yieldingCall(b.sys, h, msgArg(0x77, []));
    rec.calls.length = 0;
    rec.requests.length = 0;
    return { rc: yield* assign(b.sys, h, cookie, useCase), cookie };
  });
  return { rc, cookie, ...rec };
}

function le(n: bigint | number, bytes: number): string {
  let v = BigInt(n);
  let s = "";
  for (let i = 0; i < bytes; i++) {
    s += (v & 0xffn).toString(16).padStart(2, "0");
    v >>= 8n;
  }
  return s;
}

/** spmc_retrieve_req()'s v1.1+ request, written out field by field. */
function expectedV11(cookie: bigint, perm: number, emadSize: 16 | 32): string {
  return (
    le(0, 2) + // sender_id (rpc_target_info: the normal world)
    le(FFA_NORMAL_MEM_REG_ATTR, 2) + // mem_reg_attr 0x2f
    le(2 << 3, 4) + // flags: FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND | ANY_ALIGNMENT (0)
    le(cookie, 8) + // global_handle
    le(1, 8) + // tag = use case
    le(emadSize, 4) + // mem_access_size
    le(1, 4) + // mem_access_count
    le(48, 4) + // mem_access_offs
    le(0, 12) + // reserved
    le(0x8001, 2) + // endpoint_id
    le(perm, 1) + // perm
    le(0, 1) + // flags
    le(0, 4) + // region_offs
    le(0, emadSize - 8) // reserved (v1.2: impdef[16] + reserved)
  );
}

describe("the retrieve request OP-TEE 4.9 sends (spmc_retrieve_req())", () => {
  it("upstream: v1.2 layout, LEND type, perm FFA_MEM_ACC_RW, one 32-byte EMAD; w1 = w2 = 80, w3 = w4 = 0", () => {
    const b = boot("fvp-rme");
    const { rc, cookie, calls, requests } = assignOnce(b);
    expect(rc).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    expect(requests.length).toBe(1);
    expect(hex(requests[0])).toBe(expectedV11(cookie, 0x02, 32));
    expect([...calls[0].slice(0, 5)]).toEqual([BigInt(FFA_MEM_RETRIEVE_REQ_32), 80n, 80n, 0n, 0n]);
  });

  it("fixed: the same bytes but perm RW | NX (0x06)", () => {
    const b = boot("fvp-rme", { opteeRetrieve: "fixed" });
    const { rc, cookie, requests } = assignOnce(b);
    expect(rc).toBe(TEE_SUCCESS);
    expect(hex(requests[0])).toBe(expectedV11(cookie, 0x06, 32));
  });

  it("v1.0 and v1.1 layouts: a 32-byte header with an 8-bit attribute, or 48 bytes with 16-byte EMADs", () => {
    const d = {
      senderId: 0,
      memRegAttr: FFA_NORMAL_MEM_REG_ATTR,
      flags: 2 << 3,
      globalHandle: 0x1234n,
      tag: 1n,
    };
    expect(hex(encodeOpteeRetrieveReq("1.1", d, 0x8001, FFA_MEM_RW))).toBe(expectedV11(0x1234n, 2, 16));
    expect(hex(encodeOpteeRetrieveReq("1.0", d, 0x8001, FFA_MEM_RW))).toBe(
      le(0, 2) + // sender_id
        le(0x2f, 1) + // mem_reg_attr (u8)
        le(0, 1) + // reserved_0
        le(2 << 3, 4) + // flags
        le(0x1234, 8) + // global_handle
        le(1, 8) + // tag
        le(0, 4) + // reserved_1
        le(1, 4) + // mem_access_count
        le(0x8001, 2) +
        le(2, 1) +
        le(0, 1) +
        le(0, 4) +
        le(0, 8), // reserved
    );
  });
});

describe("the upstream request under Hafnium", () => {
  it("Hafnium refuses it by the instruction-access rule; OP-TEE answers ITEM_NOT_FOUND and releases no RX buffer", () => {
    const b = boot("fvp-rme");
    const { rc, calls } = assignOnce(b);
    expect(rc).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    // spmc_retrieve_req() returns NULL at once: no FFA_RX_RELEASE.
    expect(calls.map((c) => w(c, 0))).toEqual([FFA_MEM_RETRIEVE_REQ_32]);
    const mobjs = b.os.mobjs as Sel2Mobjs;
    expect(mobjs.lastRetrieveFailure?.why).toBe(
      "FFA_MEM_RETRIEVE_REQ: retrieve-instruction-access-not-specified",
    );
    expect(
      b.sys.spmc.rejections.get("FFA_MEM_RETRIEVE_REQ_32: retrieve-instruction-access-not-specified"),
    ).toBe(1);
    expect(b.os.counters.assignFailures).toBe(1);
  });

  it("nothing was retrieved, so the lender reclaims at once, and every retry fails the same way", () => {
    const b = boot("fvp-rme");
    const out = run(b.sys, function* () {
      const h = yield* shareArgPage(b.sys);
      const cookie = yield* lend(b.sys, 1);
      const rcs = [yield* assign(b.sys, h, cookie, 1), yield* assign(b.sys, h, cookie, 1)];
      return { rcs, rec: yield* reclaim(b.sys, cookie) };
    });
    expect(out.rcs).toEqual([TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_ITEM_NOT_FOUND]);
    expect(w(out.rec, 0)).toBe(FFA_SUCCESS_32);
  });

  it("an ASSIGN with use case 0 asks for a SHARE: the transaction-type rule refuses it first", () => {
    const b = boot("fvp-rme");
    const { rc } = assignOnce(b, 0);
    expect(rc).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    expect(b.sys.spmc.lastRejectionOf.get(0x8001)?.rule).toBe("transaction-type");
  });
});

describe("what 4.9 does with the answer", () => {
  it("protected memory in two contiguous ranges: mobj_ffa_add_pages_at() refuses the second (4.9), the memory stays retrieved", () => {
    const b = boot("fvp-rme", { opteeRetrieve: "fixed" });
    const { sys } = b;
    const d = encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0,
        flags: 0,
        tag: 1n,
        emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
        constituents: [
          { address: BigInt(LEND_PA), page_count: 128 },
          { address: BigInt(LEND_PA + 128 * 4096), page_count: 128 },
        ],
      },
      "1.2",
    );
    const out = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const sent = yield* nwd(sys, smcRegs(FFA_MEM_LEND_32, d.length, d.length), d);
      const cookie = BigInt(w(sent, 2)) | (BigInt(w(sent, 3)) << 32n);
      const rc = yield* assign(sys, h, cookie, 1);
      const rel = yield* release(sys, cookie);
      return { rc, rel, rec: yield* reclaim(sys, cookie) };
    });
    expect(out.rc).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    expect((b.os.mobjs as Sel2Mobjs).lastRetrieveFailure?.why).toMatch(/refused by mobj_ffa_add_pages_at/);
    // OP-TEE dropped its object without relinquishing: RELEASE finds nothing (0), Hafnium still
    // counts the memory as retrieved and refuses the reclaim.
    expect(w(out.rel, 3)).toBe(0);
    expect(w(out.rec, 0)).toBe(FFA_ERROR_32);
    expect(w(out.rec, 2) | 0).toBe(FFA_DENIED);
    expect(sys.spmc.endpoint(0x8001)!.rxFull).toBe(false);
  });

  it("a response longer than one fragment: 4.9 sends no FFA_MEM_FRAG_RX and reads past the first fragment", () => {
    const b = boot("fvp-rme");
    const { sys } = b;
    const rec = spy(b);
    // 300 one-page ranges, every other page: the response needs 96 + 300 * 16 bytes, more than the
    // 4 KiB RX buffer.
    const d = encodeMemRegion(
      {
        sender_id: 0,
        attributes: FFA_NORMAL_MEM_REG_ATTR,
        flags: 0,
        tag: 0n,
        emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
        constituents: Array.from({ length: 300 }, (_, i) => ({
          address: BigInt(LEND_PA + i * 2 * 4096),
          page_count: 1,
        })),
      },
      "1.2",
    );
    const out = run(sys, function* () {
      let sent = 0;
      let regs = yield* nwd(sys, smcRegs(FFA_MEM_SHARE_32, d.length, 4096), d.subarray(0, 4096));
      sent = 4096;
      while (w(regs, 0) === FFA_MEM_FRAG_RX_32) {
        const next = d.subarray(sent, Math.min(d.length, sent + 4096));
        regs = yield* nwd(sys, smcRegs(FFA_MEM_FRAG_TX_32, regs[1], regs[2], next.length), next);
        sent += next.length;
      }
      const cookie = BigInt(w(regs, 2)) | (BigInt(w(regs, 3)) << 32n);
      return yield* yieldingCall(sys, cookie, msgArg(0x77, []));
    });
    expect(w(out.regs, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(rec.calls.map((c) => w(c, 0))).toEqual([FFA_MEM_RETRIEVE_REQ_32, FFA_RX_RELEASE_32]);
    expect((b.os.mobjs as Sel2Mobjs).lastRetrieveFailure?.why).toMatch(/past the RX buffer/);
  });
});
