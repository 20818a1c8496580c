/**
 * Hafnium's retrieve rules in Hafnium's order (src/ffa_memory.c v2.14.0/v2.15.0:
 * ffa_partition_retrieve_request() → ffa_memory_retrieve_validate() → ..._validate_memory_access_list()
 * → ffa_memory_retrieve_is_memory_access_valid()), met by the requests OP-TEE 4.9 really sends
 * (thread_spmc.c spmc_retrieve_req(), encoded by sel2_mobj.ts), and the SPMC's rejection counter.
 */
import { describe, expect, it } from "vitest";
import {
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_NO_EXEC,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_RW,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
  FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE,
  FFA_NORMAL_MEM_REG_ATTR,
  FFA_SUCCESS_32,
} from "../../../src/abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../../src/hw/smc.ts";
import { loadScenarioText } from "../../../src/scenario/loader.ts";
import { runScenario } from "../../../src/scenario/runner.ts";
import type { System } from "../../../src/scenario/system.ts";
import type { Sleeps } from "../../../src/sim/scheduler.ts";
import { encodeOpteeRetrieveReq } from "../../../src/secure/optee/sel2_mobj.ts";
import { boot, call, handleOf, lend, lendDescriptor, reclaim, run, w } from "./testing.ts";

const PAGE = 0x9000_0000;

/** A retrieve request as OP-TEE 4.9 builds it, with the given transaction type, tag and perm. */
function* opteeRetrieve(
  sys: System,
  handle: bigint,
  o: { share?: boolean; tag?: bigint; perm?: number } = {},
): Sleeps<SmcRegs> {
  const bytes = encodeOpteeRetrieveReq(
    sys.ffa.endpoint("optee")!.layout,
    {
      senderId: 0,
      memRegAttr: FFA_NORMAL_MEM_REG_ATTR,
      flags: o.share ? FFA_MEMORY_REGION_TRANSACTION_TYPE_SHARE : FFA_MEMORY_REGION_TRANSACTION_TYPE_LEND,
      globalHandle: handle,
      tag: o.tag ?? 1n,
    },
    0x8001,
    o.perm ?? FFA_MEM_RW,
  );
  return yield* call(sys, "optee", smcRegs(FFA_MEM_RETRIEVE_REQ_32, bytes.length, bytes.length), bytes);
}

function lent(sys: System): bigint {
  const out = run(sys, () => lend(sys, lendDescriptor([{ address: PAGE, pages: 4 }])));
  expect(w(out, 0)).toBe(FFA_SUCCESS_32);
  return handleOf(out);
}

function rejected(out: SmcRegs, sys: System, rule: string): void {
  expect(w(out, 0)).toBe(FFA_ERROR_32);
  expect(w(out, 2) | 0).toBe(FFA_INVALID_PARAMETERS);
  expect(sys.spmc.lastRejectionOf.get(0x8001)?.rule).toBe(rule);
}

describe("OP-TEE 4.9's retrieve request at Hafnium", () => {
  it("a single-borrower LEND retrieved with perm RW (instruction access not specified) is INVALID_PARAMETERS and changes nothing", () => {
    const sys = boot("fvp-rme");
    const h = lent(sys);
    const out = run(sys, () => opteeRetrieve(sys, h));
    rejected(out, sys, "retrieve-instruction-access-not-specified");
    expect(sys.spmc.endpoint(0x8001)!.rxFull).toBe(false);
    // Not retrieved: the lender takes it straight back.
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
  });

  it("the same request with RW + NX (optee_retrieve: fixed) is granted", () => {
    const sys = boot("fvp-rme");
    const h = lent(sys);
    const out = run(sys, () => opteeRetrieve(sys, h, { perm: FFA_MEM_RW | FFA_MEM_NO_EXEC }));
    expect(w(out, 0)).toBe(FFA_MEM_RETRIEVE_RESP_32);
    expect(sys.spmc.rejections.size).toBe(0);
  });

  it("the transaction type is checked before any permission: a SHARE-typed request for a LEND is refused as transaction-type", () => {
    const sys = boot("fvp-rme");
    const h = lent(sys);
    rejected(
      run(sys, () => opteeRetrieve(sys, h, { share: true })),
      sys,
      "transaction-type",
    );
    // ... and before the tag.
    rejected(
      run(sys, () => opteeRetrieve(sys, h, { share: true, tag: 7n })),
      sys,
      "transaction-type",
    );
    // With the right type, the tag is next, still before the permissions.
    rejected(
      run(sys, () => opteeRetrieve(sys, h, { tag: 7n })),
      sys,
      "tag-mismatch",
    );
  });
});

describe("Spmc.rejections", () => {
  it("counts every rejected call, from any endpoint, by function name and rule", () => {
    const sys = boot("fvp-rme");
    const h = lent(sys);
    run(sys, () => opteeRetrieve(sys, h));
    run(sys, () => opteeRetrieve(sys, h));
    run(sys, () => opteeRetrieve(sys, h, { share: true }));
    run(sys, () => reclaim(sys, 0x4242n));
    run(sys, () => call(sys, "normal", smcRegs(0x8400_0065)));
    expect(Object.fromEntries(sys.spmc.rejections)).toEqual({
      "FFA_MEM_RETRIEVE_REQ_32: retrieve-instruction-access-not-specified": 2,
      "FFA_MEM_RETRIEVE_REQ_32: transaction-type": 1,
      "FFA_MEM_RECLAIM_32: unknown-handle": 1,
      "FFA_RX_RELEASE_32: rx-empty": 1,
    });
    // Granted calls are not counted.
    expect(
      w(
        run(sys, () => reclaim(sys, h)),
        0,
      ),
    ).toBe(FFA_SUCCESS_32);
    expect([...sys.spmc.rejections.values()].reduce((a, b) => a + b, 0)).toBe(5);
  });

  it("names the X-on-NS-memory rule when Hafnium cannot change the PAS (no RME)", () => {
    const r = runScenario(
      loadScenarioText(
        `
name: x-on-ns
platform: { preset: qemu-virt, spmc: hafnium }
steps:
  - ffa: MEM_LEND
    descriptor: { tag: 1, receivers: [{ id: 0x8001 }], constituents: [{ address: 0x90000000, pages: 4 }] }
    expect: SUCCESS
    save: h
  - ffa: MEM_RETRIEVE_REQ
    as: optee
    descriptor: { handle: $h, tag: 1, receivers: [{ id: 0x8001, access: { data: rw, instruction: x } }] }
    expect: INVALID_PARAMETERS
`,
        "x-on-ns.yaml",
      ),
    );
    expect(r.passed).toBe(true);
    expect(r.ffaRejections).toEqual({ "FFA_MEM_RETRIEVE_REQ_32: retrieve-x-on-ns-memory": 1 });
  });
});
