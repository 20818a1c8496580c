import { describe, expect, it } from "vitest";
import { FFA_BUSY, FFA_DENIED, FFA_ERROR_32, FFA_SUCCESS_32 } from "../../src/abi/ffa/index.ts";
import {
  OPTEE_FFA_UNREGISTER_SHM,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_BUSY,
  TEE_ERROR_ITEM_NOT_FOUND,
  TEE_SUCCESS,
} from "../../src/abi/optee/index.ts";
import { ACCESS_OK, FAULT_DENIED } from "../../src/hw/machine.ts";
import {
  ARG_PAGE,
  assign,
  boot,
  direct,
  lend,
  LEND_PA,
  reclaim,
  release,
  run,
  shareArgPage,
  w,
} from "./helpers.ts";

const FLAVORS = ["tzc400-board", "fvp-rme"] as const;
/**
 * Under Hafnium OP-TEE 4.9's own retrieve request is refused (sel2-retrieve.test.ts): the tests that
 * need a working assign boot with the "fixed" request (ignored when OP-TEE is its own SPMC).
 */
const RETRIEVES = { opteeRetrieve: "fixed" } as const;

function cpuNsRead(sys: ReturnType<typeof boot>["sys"], pa: number): number {
  return sys.machine.access(sys.machine.masterIndex("cpu-ns"), pa, 8, "read");
}

describe("ASSIGN_PROTMEM twice", () => {
  it("OP-TEE as SPMC: after a LEND with tag 1, assigning secure video play succeeds; a second assign is BUSY", () => {
    const { sys, os } = boot("tzc400-board");
    const [first, second] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      return [yield* assign(sys, h, cookie, 1), yield* assign(sys, h, cookie, 1)];
    });
    expect(first).toBe(TEE_SUCCESS);
    expect(second).toBe(TEE_ERROR_BUSY);
    expect(os.counters.assigns).toBe(1);
    expect(os.counters.assignFailures).toBe(1);
  });

  it("under Hafnium the retrieving assign leaves assigned_use_case unset (4.9): the second succeeds, the third is BUSY", () => {
    const { sys, os } = boot("fvp-rme", RETRIEVES);
    const rcs = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      return [
        yield* assign(sys, h, cookie, 1),
        yield* assign(sys, h, cookie, 1),
        yield* assign(sys, h, cookie, 1),
      ];
    });
    expect(rcs).toEqual([TEE_SUCCESS, TEE_SUCCESS, TEE_ERROR_BUSY]);
    expect(os.counters.assigns).toBe(2);
  });
});

describe.each(FLAVORS)("ASSIGN_PROTMEM on %s", (preset) => {
  it("an unknown cookie: TEE_SUCCESS with OP-TEE as SPMC, ITEM_NOT_FOUND under Hafnium", () => {
    const { sys } = boot(preset);
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* assign(sys, h, 0x1234n, 1);
    });
    // OP-TEE 4.9 mobj_ffa_assign_protmem(): a cookie on neither list falls through to `out` with
    // res = TEE_SUCCESS when CFG_CORE_SEL1_SPMC; under an S-EL2 SPMC it is retrieved from the SPMC
    // (thread_spmc_populate_mobj_from_rx()), which knows no such handle: ITEM_NOT_FOUND.
    expect(rc).toBe(preset === "tzc400-board" ? TEE_SUCCESS : TEE_ERROR_ITEM_NOT_FOUND);
  });

  it("secure video record (3) goes to mobj_ffa_assign_protmem() unchecked (4.9 assign_protmem()) and fails there", () => {
    const { sys } = boot(preset, RETRIEVES);
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      return yield* assign(sys, h, cookie, 3);
    });
    // As SPMC: the use case is not the lend's tag. Under Hafnium: the retrieve with tag 3 is refused.
    expect(rc).toBe(preset === "fvp-rme" ? TEE_ERROR_ITEM_NOT_FOUND : TEE_ERROR_BAD_PARAMETERS);
  });

  it("the shared arg page itself cannot be assigned", () => {
    const { sys } = boot(preset);
    const rc = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      return yield* assign(sys, h, h, 1);
    });
    // mobj_ffa_assign_protmem(): the cookie is active shared memory while the call runs.
    expect(rc).toBe(TEE_ERROR_BUSY);
  });
});

describe("ASSIGN_PROTMEM with a use case other than the lend's tag", () => {
  it("OP-TEE as SPMC compares with the tag: BAD_PARAMETERS, and the right use case still works", () => {
    const { sys } = boot("tzc400-board");
    const [wrong, right] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      return [yield* assign(sys, h, cookie, 2), yield* assign(sys, h, cookie, 1)];
    });
    expect(wrong).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(right).toBe(TEE_SUCCESS);
  });

  it("under Hafnium the retrieve with that tag is refused: ITEM_NOT_FOUND, and the right one works", () => {
    const { sys, os } = boot("fvp-rme", RETRIEVES);
    const [wrong, right] = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      return [yield* assign(sys, h, cookie, 2), yield* assign(sys, h, cookie, 1)];
    });
    expect(wrong).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    expect(right).toBe(TEE_SUCCESS);
    expect(os.counters.assigns).toBe(1);
    expect(sys.spmc.rejections.get("FFA_MEM_RETRIEVE_REQ_32: tag-mismatch")).toBe(1);
  });
});

describe.each(FLAVORS)("RELEASE_PROTMEM and reclaim on %s", (preset) => {
  it("lent memory is out of the normal world's reach; RELEASE then RECLAIM gives it back", () => {
    const { sys, os } = boot(preset, RETRIEVES);
    const { lent, rel, rec } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      expect(yield* assign(sys, h, cookie, 1)).toBe(TEE_SUCCESS);
      const lent = cpuNsRead(sys, LEND_PA);
      const rel = yield* release(sys, cookie);
      const rec = yield* reclaim(sys, cookie);
      return { lent, rel, rec };
    });
    expect(lent).toBe(FAULT_DENIED);
    expect(w(rel, 3)).toBe(0);
    expect(w(rec, 0)).toBe(FFA_SUCCESS_32);
    expect(cpuNsRead(sys, LEND_PA)).toBe(ACCESS_OK);
    expect(os.counters.releases).toBe(1);
  });

  it("RELEASE while a TA uses the buffer is FFA_BUSY; after the TA lets go it succeeds", () => {
    const { sys, os } = boot(preset, RETRIEVES);
    const { busy, after, rec } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      yield* assign(sys, h, cookie, 1);
      const held = os.getProtmem(cookie)!;
      expect(held.ranges[0].address).toBe(LEND_PA);
      const busy = yield* release(sys, cookie);
      held.put();
      const after = yield* release(sys, cookie);
      const rec = yield* reclaim(sys, cookie);
      return { busy, after, rec };
    });
    expect(w(busy, 3)).toBe(FFA_BUSY >>> 0);
    expect(w(after, 3)).toBe(0);
    expect(w(rec, 0)).toBe(FFA_SUCCESS_32);
    expect(os.counters.releaseBusy).toBe(1);
  });

  it("RELEASE of an unknown handle is 0, as handle_unregister_shm() answers ITEM_NOT_FOUND", () => {
    const { sys } = boot(preset);
    const out = run(sys, () => release(sys, 0x4242n));
    expect(w(out, 3)).toBe(0);
  });

  it("the arg page goes back with UNREGISTER_SHM then FFA_MEM_RECLAIM", () => {
    const { sys, os } = boot(preset, RETRIEVES);
    const rec = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      yield* assign(sys, h, 0x99n, 1); // OP-TEE has used the page
      const un = yield* direct(sys, [OPTEE_FFA_UNREGISTER_SHM, h & 0xffff_ffffn, h >> 32n]);
      expect(w(un, 3)).toBe(0);
      return yield* reclaim(sys, h);
    });
    expect(w(rec, 0)).toBe(FFA_SUCCESS_32);
    expect(os.counters.unregisters).toBe(1);
    expect(cpuNsRead(sys, ARG_PAGE)).toBe(ACCESS_OK);
  });
});

describe("reclaim without release", () => {
  it("OP-TEE as SPMC: memory a TA used stays registered, so FFA_MEM_RECLAIM is DENIED until RELEASE", () => {
    const { sys, os } = boot("tzc400-board");
    const { denied, ok } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      yield* assign(sys, h, cookie, 1);
      os.getProtmem(cookie)!.put();
      const denied = yield* reclaim(sys, cookie);
      yield* release(sys, cookie);
      const ok = yield* reclaim(sys, cookie);
      return { denied, ok };
    });
    expect(w(denied, 0)).toBe(FFA_ERROR_32);
    expect(w(denied, 2)).toBe(FFA_DENIED >>> 0);
    expect(w(ok, 0)).toBe(FFA_SUCCESS_32);
  });

  it("Hafnium: a retrieved lend cannot be reclaimed before OP-TEE relinquishes it", () => {
    const { sys } = boot("fvp-rme", RETRIEVES);
    const { denied, ok } = run(sys, function* () {
      const h = yield* shareArgPage(sys);
      const cookie = yield* lend(sys, 1);
      yield* assign(sys, h, cookie, 1);
      const denied = yield* reclaim(sys, cookie);
      yield* release(sys, cookie);
      const ok = yield* reclaim(sys, cookie);
      return { denied, ok };
    });
    expect(w(denied, 0)).toBe(FFA_ERROR_32);
    expect(w(ok, 0)).toBe(FFA_SUCCESS_32);
  });
});
