import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanInputArb, versionArb } from "./arbitraries.ts";
import { FFA_MEM_RW, FFA_NORMAL_MEM_REG_ATTR } from "./attributes.ts";
import { FFA_MEM_CALL_NAMES, parseMemCall } from "./call.ts";
import type { FfaMemFunc } from "./func.ts";
import { describeDescriptorForCall } from "./json.ts";
import {
  decodeMemRegion,
  encodeMemRegion,
  type MemRegionInput,
  type MemRegionOverrides,
} from "./mem_region.ts";
import { validateCall, type CallProblem, type CallVerdict, type FfaSpmc } from "./validate_call.ts";
import type { FfaVersion } from "./version.ts";

const SP = 0x8001;
const SP2 = 0x8002;
const VM = 0x0001;
const RW = FFA_MEM_RW;
const RW_NX = FFA_MEM_RW | (1 << 2);
const RW_X = FFA_MEM_RW | (2 << 2);
const RO = 1;
const TYPE_SHARE = 0x08;
const TYPE_LEND = 0x10;
/** A handle the TF-A EL3 SPMC hands out (it counts up from 0xffffffc0) and Hafnium's SPMC could own. */
const HANDLE = 0xffff_ffc1n;

/** What Linux's ffa_memory_lend() sends: attributes 0, RW, one SP, 16 pages. */
const lend: MemRegionInput = {
  sender_id: VM,
  attributes: 0,
  flags: 0,
  emads: [{ receiver_id: SP, permissions: RW }],
  constituents: [{ address: 0x8800_0000n, page_count: 16 }],
};
/** What Linux's ffa_memory_share() sends: Normal, write-back, inner shareable. */
const share: MemRegionInput = { ...lend, attributes: FFA_NORMAL_MEM_REG_ATTR };
/** An SP's retrieve request for a lend (what OP-TEE and Hafnium's tests send). */
const retrieveLend: MemRegionInput = {
  ...lend,
  flags: TYPE_LEND,
  handle: HANDLE,
  emads: [{ receiver_id: SP, permissions: RW_NX }],
  constituents: null,
};
/** Hafnium's answer to `retrieveLend`: tag 0, type recorded, granted RW and NX, the NS bit set. */
const respLend: MemRegionInput = {
  ...lend,
  attributes: 0x40,
  flags: TYPE_LEND,
  handle: HANDLE,
  emads: [{ receiver_id: SP, permissions: RW_NX }],
};

function check(
  func: FfaMemFunc,
  input: Partial<MemRegionInput>,
  version: FfaVersion = "1.2",
  overrides: MemRegionOverrides = {},
  base: MemRegionInput = lend,
): Record<FfaSpmc, CallVerdict> {
  const bytes = encodeMemRegion({ ...base, ...input }, version, overrides);
  return checkBytes(func, bytes, version);
}

function checkBytes(func: FfaMemFunc, bytes: Uint8Array, version: FfaVersion): Record<FfaSpmc, CallVerdict> {
  const d = decodeMemRegion(bytes, version);
  if (!d.ok) throw new Error(`decode failed: ${d.error.rule}: ${d.error.why}`);
  return validateCall(bytes, d.value, version, func);
}

function rules(v: CallVerdict): string[] {
  return v.problems.map((p) => p.rule);
}

/** The verdict holds `rule` with this error, on this field. */
function expectRule(v: CallVerdict, rule: string, error: string | null, field?: string): CallProblem {
  const p = v.problems.find((q) => q.rule === rule);
  expect(p, `${rule} in ${JSON.stringify(v.problems)}`).toBeDefined();
  expect(p!.error).toBe(error);
  if (field !== undefined) expect(p!.field).toBe(field);
  expect(p!.source).toMatch(/\(\)/);
  return p!;
}

/** The hypervisor's retrieve request, as tf-a-tests ffa_hypervisor_retrieve_request_init() builds it. */
function hypervisorRequest(handle: bigint): Uint8Array {
  const b = new Uint8Array(48);
  new DataView(b.buffer).setBigUint64(8, handle, true);
  return b;
}

describe("--call names", () => {
  it("accept the short, FFA_-prefixed, _32/_64 and FN64 spellings, in any case", () => {
    expect(parseMemCall("MEM_LEND")).toEqual({ func: "lend", id: 0x8400_0072, name: "FFA_MEM_LEND_32" });
    expect(parseMemCall("ffa_mem_share_64")?.name).toBe("FFA_MEM_SHARE_64");
    expect(parseMemCall("FFA_FN64_MEM_DONATE")?.id).toBe(0xc400_0071);
    expect(parseMemCall("MEM_RETRIEVE_REQ_64")?.func).toBe("retrieve_req");
    expect(parseMemCall("FFA_MEM_RETRIEVE_RESP")?.id).toBe(0x8400_0075);
    for (const name of FFA_MEM_CALL_NAMES) expect(parseMemCall(name)).toBeDefined();
  });

  it("refuse other calls, widths a call does not have, and unknown names", () => {
    for (const name of ["MEM_RECLAIM", "MEM_RELINQUISH", "MEM_RETRIEVE_RESP_64", "LEND", "MEM_LEASE", ""]) {
      expect(parseMemCall(name)).toBeUndefined();
    }
  });
});

describe("FFA_MEM_LEND / SHARE / DONATE at Hafnium (ffa_memory_send_validate() and friends)", () => {
  it("what Linux sends is accepted by Hafnium and TF-A, in every version", () => {
    for (const v of ["1.0", "1.1", "1.2"] as const) {
      for (const [func, input] of [
        ["lend", lend],
        ["share", share],
      ] as const) {
        const out = check(func, input, v);
        expect(out.hafnium.problems, `${func} v${v}`).toEqual([]);
        expect(out["tf-a"].problems, `${func} v${v} TF-A`).toEqual([]);
      }
    }
  });

  it("a LEND to one borrower that gives the memory type is INVALID_PARAMETERS at Hafnium, fine at TF-A", () => {
    const out = check("lend", { attributes: FFA_NORMAL_MEM_REG_ATTR });
    expect(rules(out.hafnium)).toEqual(["memory-type-given"]);
    expectRule(out.hafnium, "memory-type-given", "FFA_INVALID_PARAMETERS", "attributes");
    expect(out["tf-a"].problems).toEqual([]);
  });

  it("a SHARE without the attributes is DENIED (ffa_memory_attributes_validate()), fine at TF-A", () => {
    const out = check("share", { attributes: 0 });
    expect(rules(out.hafnium)).toEqual(["attributes"]);
    const p = expectRule(out.hafnium, "attributes", "FFA_DENIED", "attributes");
    expect(p.source).toBe("ffa_memory_attributes_validate()");
    expect(out["tf-a"].problems).toEqual([]);
  });

  it("a LEND to several borrowers must give Normal write-back inner shareable, like a SHARE", () => {
    const two = {
      emads: [
        { receiver_id: SP, permissions: RW },
        { receiver_id: SP2, permissions: RW },
      ],
    };
    expect(rules(check("lend", { ...two, attributes: 0 }).hafnium)).toEqual(["attributes"]);
    expect(check("lend", { ...two, attributes: FFA_NORMAL_MEM_REG_ATTR }).hafnium.problems).toEqual([]);
  });

  it("a DONATE leaves data access unspecified; TF-A does not support DONATE", () => {
    expect(check("donate", { emads: [{ receiver_id: SP, permissions: 0 }] }).hafnium.problems).toEqual([]);
    const out = check("donate", {});
    expectRule(out.hafnium, "donate-data-access", "FFA_INVALID_PARAMETERS", "emads[0].permissions");
    expect(rules(out["tf-a"])).toEqual(["donate-not-supported"]);
    expectRule(out["tf-a"], "donate-not-supported", "FFA_NOT_SUPPORTED");
  });

  it("no sender gives instruction access, not even NX (Hafnium); TF-A reads no permission", () => {
    const out = check("lend", { emads: [{ receiver_id: SP, permissions: RW_NX }] });
    expectRule(out.hafnium, "send-instruction-access", "FFA_INVALID_PARAMETERS");
    expect(out["tf-a"].problems).toEqual([]);
    expectRule(
      check("share", { emads: [{ receiver_id: SP, permissions: 0 }] }).hafnium,
      "share-data-access",
      "FFA_INVALID_PARAMETERS",
    );
  });

  it("flags: CLEAR not on a SHARE; bits[31:2] MBZ; time slicing unsupported; TF-A takes only 0 or its type", () => {
    const clear = check("share", { flags: 1 });
    expectRule(clear.hafnium, "clear-on-share", "FFA_INVALID_PARAMETERS", "flags");
    expectRule(clear["tf-a"], "send-flags", "FFA_INVALID_PARAMETERS");
    expect(check("lend", { flags: 1 }).hafnium.problems).toEqual([]);
    // The transaction type: Hafnium sets it itself and refuses it; TF-A accepts the call's own.
    const typed = check("lend", { flags: TYPE_LEND });
    expect(rules(typed.hafnium)).toEqual(["flags-mbz"]);
    expect(typed["tf-a"].problems).toEqual([]);
    expect(rules(check("lend", { flags: TYPE_SHARE })["tf-a"])).toEqual(["send-flags"]);
    expect(rules(check("lend", { flags: 2 }).hafnium)).toEqual(["send-flags"]);
  });

  it("Hafnium's SPMC lends only to SPs (ffa_memory_is_send_valid(): DENIED)", () => {
    const out = check("lend", { emads: [{ receiver_id: 0x0002, permissions: RW }] });
    expectRule(out.hafnium, "send-policy", "FFA_DENIED", "emads[0].receiver_id");
  });

  it("receivers: not the sender, not twice; TF-A checks only the repeat", () => {
    const self = check("lend", { emads: [{ receiver_id: VM, permissions: RW }] });
    expectRule(self.hafnium, "receiver-is-sender", "FFA_INVALID_PARAMETERS");
    const dup = check("share", {
      emads: [
        { receiver_id: SP, permissions: RW },
        { receiver_id: SP, permissions: RW },
      ],
    });
    expectRule(dup.hafnium, "receiver-duplicate", "FFA_INVALID_PARAMETERS", "emads[1].receiver_id");
    expect(rules(dup["tf-a"])).toEqual(["receiver-duplicate"]);
  });

  it("16-byte (v1.1) EMADs from a v1.2 caller are accepted; 32-byte ones from a v1.1 caller are not", () => {
    // A v1.2 caller writing v1.1-sized EMADs: encode as v1.1, then claim v1.2.
    const v11 = encodeMemRegion(lend, "1.1");
    const out = checkBytes("lend", v11, "1.2");
    expect(out.hafnium.problems).toEqual([]);
    expect(out["tf-a"].problems).toEqual([]);
    expectRule(
      check("lend", {}, "1.1", { emad_size: 32 }).hafnium,
      "emad-size-for-version",
      "FFA_INVALID_PARAMETERS",
    );
  });

  it("a v1.2 caller's 16-byte EMAD has its reserved u64 read at +24, as Hafnium reads it", () => {
    // Byte 72 is EMAD[0] + 24: here the composite's reserved field, which nothing else checks.
    const v11 = encodeMemRegion(lend, "1.1", { composite_reserved: 1n });
    const p = expectRule(checkBytes("lend", v11, "1.2").hafnium, "reserved-mbz", "FFA_INVALID_PARAMETERS");
    expect([p.field, p.offset]).toEqual(["emads[0].reserved", 72]);
    expect(checkBytes("lend", v11, "1.1").hafnium.problems).toEqual([]);
  });

  it("constituents: overlap, page-count sum, page alignment (ffa_send_check_update())", () => {
    const overlap = check("lend", {
      constituents: [
        { address: 0x1000n, page_count: 4 },
        { address: 0x3000n, page_count: 1 },
      ],
    });
    expectRule(overlap.hafnium, "constituents-overlap", "FFA_INVALID_PARAMETERS");
    expect(overlap["tf-a"].problems).toEqual([]); // TF-A compares only with other transactions
    const sum = check("lend", {}, "1.2", { total_page_count: 15 });
    expectRule(sum.hafnium, "total-page-count-sum", "FFA_INVALID_PARAMETERS");
    expectRule(sum["tf-a"], "total-page-count-sum", "FFA_INVALID_PARAMETERS");
    const odd = check("lend", { constituents: [{ address: 0x8800_0800n, page_count: 1 }] });
    expectRule(odd.hafnium, "constituent-address-aligned", "FFA_INVALID_PARAMETERS");
    expect(odd["tf-a"].problems).toEqual([]);
    expect(odd["tf-a"].notes.join()).toMatch(/only warns/);
  });

  it("no composite: the send is INVALID_PARAMETERS at both", () => {
    const out = check("lend", { constituents: null });
    expectRule(out.hafnium, "composite-offset", "FFA_INVALID_PARAMETERS", "emads[0].composite_offset");
    expectRule(out["tf-a"], "composite-in-bounds", "FFA_INVALID_PARAMETERS");
  });

  it("the NS bit (and Hafnium's whole 2-bit security field) MBZ", () => {
    expectRule(check("share", { attributes: 0x6f }).hafnium, "ns-bit", "FFA_INVALID_PARAMETERS");
    expectRule(check("share", { attributes: 0x6f })["tf-a"], "ns-bit", "FFA_INVALID_PARAMETERS");
    expect(rules(check("lend", { attributes: 0x80 }).hafnium)).toEqual(["ns-bit"]);
    expect(check("lend", { attributes: 0x80 })["tf-a"].problems).toEqual([]);
  });
});

describe("FFA_MEM_RETRIEVE_REQ", () => {
  it("the hypervisor's request (no EMADs, all but the handle zero) is valid at Hafnium and TF-A", () => {
    for (const v of ["1.0", "1.1", "1.2"] as const) {
      const out = checkBytes("retrieve_req", hypervisorRequest(HANDLE), v);
      expect(out.hafnium.problems, v).toEqual([]);
      expect(out["tf-a"].problems, v).toEqual([]);
      expect(out.hafnium.notes.join()).toMatch(/hypervisor retrieve request/);
    }
  });

  it("a request without EMADs that sets any other field is INVALID_PARAMETERS at Hafnium", () => {
    const tagged = hypervisorRequest(HANDLE);
    tagged[16] = 1;
    expectRule(
      checkBytes("retrieve_req", tagged, "1.2").hafnium,
      "hypervisor-retrieve-zero",
      "FFA_INVALID_PARAMETERS",
      "tag",
    );
    // encodeMemRegion writes the v1.2 EMAD size and offset even without EMADs: Hafnium wants 0.
    const encoded = check("retrieve_req", { sender_id: 0, emads: [], constituents: null, handle: HANDLE });
    expect(encoded.hafnium.problems.map((p) => [p.rule, p.field])).toEqual([
      ["hypervisor-retrieve-zero", "emad_size"],
      ["hypervisor-retrieve-zero", "emad_offset"],
    ]);
  });

  it("handle 0 is Hafnium's first SPMC handle (accepted, with a note); TF-A never hands it out", () => {
    const out = checkBytes("retrieve_req", hypervisorRequest(0n), "1.2");
    expect(out.hafnium.problems).toEqual([]);
    expect(out.hafnium.notes.join()).toMatch(/handle 0 is share-state index 0/);
    expectRule(out["tf-a"], "handle-never-allocated", "FFA_INVALID_PARAMETERS", "handle");
  });

  it("a handle with bit 63 set (the hypervisor's, or FFA_MEMORY_HANDLE_INVALID) is INVALID_PARAMETERS", () => {
    const out = checkBytes("retrieve_req", hypervisorRequest(0xffff_ffff_ffff_ffffn), "1.2");
    expectRule(out.hafnium, "handle-other-world", "FFA_INVALID_PARAMETERS", "handle");
    const sp = check("retrieve_req", { handle: 1n << 63n }, "1.2", {}, retrieveLend);
    expectRule(sp.hafnium, "handle-other-world", "FFA_INVALID_PARAMETERS");
  });

  it("an SP's retrieve of a lend asking RW and NX is valid at both", () => {
    const out = check("retrieve_req", {}, "1.2", {}, retrieveLend);
    expect(out.hafnium.problems).toEqual([]);
    expect(out["tf-a"].problems).toEqual([]);
  });

  it("permissions by transaction type (ffa_memory_retrieve_is_memory_access_valid())", () => {
    const ask = (flags: number, permissions: number, n = 1) =>
      check(
        "retrieve_req",
        {
          flags,
          emads: [SP, SP2].slice(0, n).map((receiver_id) => ({ receiver_id, permissions })),
        },
        "1.2",
        {},
        retrieveLend,
      ).hafnium;
    expectRule(ask(TYPE_LEND, RW), "borrower-instruction-access", "FFA_INVALID_PARAMETERS");
    expectRule(ask(TYPE_SHARE, RW_X), "share-instruction-access", "FFA_INVALID_PARAMETERS");
    expectRule(ask(TYPE_LEND, RW_NX, 2), "multi-borrower-instruction-access", "FFA_INVALID_PARAMETERS");
    expect(ask(TYPE_LEND, RW, 2).problems).toEqual([]);
    expect(ask(TYPE_SHARE, RW).problems).toEqual([]);
    expect(ask(0, RW).problems).toEqual([]); // type left to the SPMC: nothing to decide
    expectRule(ask(TYPE_LEND | 1, RO | (1 << 2)), "clear-with-ro", "FFA_DENIED");
  });

  it("the request's own rules: composite offset 0, exact length, flags bits[9:5] and [31:11]", () => {
    const comp = check("retrieve_req", { constituents: lend.constituents }, "1.2", {}, retrieveLend);
    expectRule(comp.hafnium, "retrieve-composite-offset-zero", "FFA_INVALID_PARAMETERS");
    expect(comp["tf-a"].problems).toEqual([]); // TF-A does not read it
    const long = new Uint8Array(96);
    long.set(encodeMemRegion(retrieveLend, "1.2"));
    expectRule(checkBytes("retrieve_req", long, "1.2").hafnium, "retrieve-length", "FFA_INVALID_PARAMETERS");
    expectRule(
      check("retrieve_req", { flags: TYPE_LEND | (3 << 5) }, "1.2", {}, retrieveLend).hafnium,
      "address-hint-mbz",
      "FFA_INVALID_PARAMETERS",
    );
    expectRule(
      check("retrieve_req", { flags: TYPE_LEND | (1 << 12) }, "1.2", {}, retrieveLend).hafnium,
      "retrieve-flags-mbz",
      "FFA_INVALID_PARAMETERS",
    );
    expectRule(
      check("retrieve_req", { flags: TYPE_SHARE | 4 }, "1.2", {}, retrieveLend).hafnium,
      "clear-on-share",
      "FFA_INVALID_PARAMETERS",
    );
    expectRule(
      check("retrieve_req", { flags: TYPE_LEND | 1 }, "1.2", {}, retrieveLend)["tf-a"],
      "retrieve-flags",
      "FFA_INVALID_PARAMETERS",
    );
  });
});

describe("FFA_MEM_RETRIEVE_RESP", () => {
  it("the response Hafnium writes for a partition has no problems at Hafnium or TF-A", () => {
    for (const v of ["1.0", "1.1", "1.2"] as const) {
      const out = check("retrieve_resp", {}, v, {}, respLend);
      expect(out.hafnium.problems, v).toEqual([]);
      expect(out["tf-a"].problems, v).toEqual([]);
    }
  });

  it("what Hafnium never writes: a tag, no transaction type, another EMAD size, no composite", () => {
    const tag = check("retrieve_resp", { tag: 7n }, "1.2", {}, respLend);
    expectRule(tag.hafnium, "resp-tag-zero", null, "tag");
    expect(tag["tf-a"].problems).toEqual([]); // TF-A copies the sender's tag
    expectRule(
      check("retrieve_resp", { flags: 0 }, "1.2", {}, respLend).hafnium,
      "resp-transaction-type",
      null,
    );
    expectRule(
      checkBytes("retrieve_resp", encodeMemRegion(respLend, "1.1"), "1.2").hafnium,
      "resp-emad-size",
      null,
    );
    const none = check("retrieve_resp", { constituents: null }, "1.2", {}, respLend);
    expectRule(none.hafnium, "resp-composite-offset", null);
  });
});

describe("validateCall() on any bytes", () => {
  const funcs: FfaMemFunc[] = ["share", "lend", "donate", "retrieve_req", "retrieve_resp"];

  it("never throws, and every problem points inside the buffer and names its rule and source", () => {
    const mutated = fc
      .tuple(
        versionArb,
        cleanInputArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      )
      .map(([version, input, edits]) => {
        const b = encodeMemRegion(input, version);
        for (const [at, v] of edits) b[at % b.length] = v;
        return [version, b] as const;
      });
    fc.assert(
      fc.property(mutated, fc.constantFrom(...funcs), ([version, bytes], func) => {
        const d = decodeMemRegion(bytes, version);
        if (!d.ok) return;
        const out = validateCall(bytes, d.value, version, func);
        for (const v of [out.hafnium, out["tf-a"]]) {
          for (const p of v.problems) {
            if (p.offset < 0 || p.offset >= bytes.length || p.rule === "" || p.source === "" || p.why === "")
              throw new Error(`bad problem ${JSON.stringify(p)}`);
          }
        }
      }),
      { numRuns: 400 },
    );
  });

  it("is deterministic: the same bytes give the same JSON", () => {
    const bytes = encodeMemRegion({ ...share, attributes: 0x3f, flags: 7 }, "1.2");
    const call = parseMemCall("MEM_SHARE")!;
    const a = JSON.stringify(describeDescriptorForCall(bytes, "1.2", call));
    const b = JSON.stringify(describeDescriptorForCall(bytes, "1.2", call));
    expect(a).toBe(b);
  });
});
