/**
 * The FF-A fuzzer against OP-TEE's own message handling (optee_os 4.9.0 thread_spmc.c
 * optee_lsp_handle_direct_request()): direct requests to 0x8001 reach secure/optee/thread_spmc.ts in
 * the fuzz rig, the generator sends OPTEE_FFA_* messages with live, held, reclaimed and unknown
 * cookies, the oracle holds OP-TEE's answers to what optee_os answers, and the corpus records them.
 */
import { describe, expect, it } from "vitest";
import {
  FFA_BUSY,
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
} from "../../src/abi/ffa/index.ts";
import {
  encodeMsgArg,
  msgArg,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  TEE_ERROR_BUSY,
  TEE_SUCCESS,
  valueParam,
  OPTEE_FFA_GET_API_VERSION,
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  TEE_ERROR_BAD_PARAMETERS,
  TEE_ERROR_ITEM_NOT_FOUND,
} from "../../src/abi/optee/index.ts";
import { regs, type FuzzCall } from "../../src/explore/fuzz/calls.ts";
import type { CorpusCase } from "../../src/explore/fuzz/corpus.ts";
import { fuzz } from "../../src/explore/fuzz/fuzz.ts";
import { buildBases } from "../../src/explore/fuzz/gen.ts";
import { opteeReplyProblem } from "../../src/explore/fuzz/oracle.ts";
import { FuzzRig } from "../../src/explore/fuzz/rig.ts";
import { FlavorRunner } from "../../src/explore/fuzz/runner.ts";
import { capture, differs, restore } from "../../src/explore/fuzz/state.ts";
import { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import { FFA_OPTEE_ID } from "../../src/firmware/spmc/endpoint.ts";
import type { SpmcFlavorName } from "../../src/firmware/spmc/spmc.ts";
import type { SmcRegs } from "../../src/hw/smc.ts";
import { Sel2Mobjs, type Sel2Mobj } from "../../src/secure/optee/sel2_mobj.ts";
import { hiddenState } from "../../src/sim/snapshot.ts";
import { opteeDirectRequestHandler } from "../../src/secure/optee/thread_spmc.ts";
import type { Sleeps } from "../../src/sim/scheduler.ts";
import { replayCorpusCase } from "../helpers/fuzz-replay.ts";

const FLAVORS: readonly SpmcFlavorName[] = ["hafnium", "optee-sel1"];
const bases = buildBases();
const at = (name: string) => bases.findIndex((b) => b.name === name);
const w = (r: readonly bigint[] | SmcRegs, i: number) => Number(r[i] & 0xffff_ffffn);

/** A message to OP-TEE from the normal world, its cookie (if any) the handle of setup call `from`. */
function toOptee(w3: number, from: number | null = null, x6 = 0): FuzzCall {
  return {
    by: "normal",
    x: regs(FFA_MSG_SEND_DIRECT_REQ_32, FFA_OPTEE_ID, 0, w3, 0, 0, x6),
    tx: null,
    handle: from === null ? null : { from, xor: 0n, at: "w4" },
  };
}

/** Per flavor, "OPTEE_FFA_… → result" for every OP-TEE answer in the corpus. */
/**
 * OPTEE_MSG_CMD_ASSIGN_PROTMEM of the lend for `useCase` (the cookie filled in by the case), followed
 * by 160 bytes of room for the RPC arg, as a shared page holds it.
 */
function assignProtmemBytes(useCase: number): Uint8Array {
  const arg = encodeMsgArg(
    msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, 0n, useCase)]),
  );
  const bytes = new Uint8Array(arg.length + 160);
  bytes.set(arg);
  return bytes;
}

function opteeOutcomes(corpus: readonly CorpusCase[]): Map<SpmcFlavorName, Set<string>> {
  const out = new Map<SpmcFlavorName, Set<string>>(FLAVORS.map((f) => [f, new Set<string>()]));
  for (const c of corpus)
    for (const call of c.calls) {
      if (!call.optee_msg) continue;
      for (const f of FLAVORS) {
        const e = call.expect[f];
        if (e?.optee_result) out.get(f)!.add(`${call.optee_msg} → ${e.optee_result}`);
      }
    }
  return out;
}

describe("ffa fuzz: OP-TEE's own messages", () => {
  it("reaches OP-TEE's handler on both flavors: its own return codes, not an echo", () => {
    const r = fuzz({ flavors: [...FLAVORS], runs: 4000, seed: 2, corpus: true });
    expect(r.violation).toBeNull();
    const got = opteeOutcomes(r.corpus);
    for (const f of FLAVORS) {
      const o = got.get(f)!;
      for (const want of [
        "OPTEE_FFA_GET_API_VERSION → 0x1",
        "OPTEE_FFA_GET_OS_VERSION → 0x4",
        "OPTEE_FFA_EXCHANGE_CAPABILITIES → TEE_SUCCESS",
        "OPTEE_FFA_ENABLE_ASYNC_NOTIF → TEE_ERROR_NOT_IMPLEMENTED",
        "OPTEE_FFA_UNREGISTER_SHM → 0",
        "OPTEE_FFA_RELEASE_PROTMEM → 0",
        "OPTEE_FFA_YIELDING_CALL_WITH_ARG → TEE_ERROR_BAD_PARAMETERS",
        "OPTEE_FFA_YIELDING_CALL_RESUME → TEE_ERROR_BAD_PARAMETERS",
        "undefined blocking ID → TEE_ERROR_BAD_PARAMETERS",
        "undefined yielding ID → FFA_DENIED",
      ])
        expect(o, `${f}: ${want}`).toContain(want);
    }
    // At S-EL1 the object OP-TEE's core holds answers BUSY (mobj_ffa_unregister_by_cookie()).
    const sel1 = [...got.get("optee-sel1")!];
    expect(sel1.filter((k) => /(UNREGISTER_SHM|RELEASE_PROTMEM) → FFA_BUSY/.test(k)).length).toBeGreaterThan(
      0,
    );
    // The cookies come from the fuzzer's state: written into w4/w5 from an earlier call's reply.
    const cookieCalls = r.corpus.flatMap((c) => c.calls.filter((k) => k.optee_msg && k.handle?.at === "w4"));
    expect(cookieCalls.length).toBeGreaterThan(5);
  });

  it("keeps the echo stand-in for sp2 under Hafnium", () => {
    const runner = new FlavorRunner("hafnium", bases);
    const toSp2: FuzzCall = {
      by: "normal",
      x: regs(FFA_MSG_SEND_DIRECT_REQ_32, 0x8002, 0, 7, 8),
      tx: null,
      handle: null,
    };
    const o = runner.run(at("boot@1.2"), [toSp2], true);
    expect(o.violation).toBeNull();
    expect(o.calls[0].reply!.slice(0, 5)).toEqual([
      BigInt(FFA_MSG_SEND_DIRECT_RESP_32),
      0x8002_0000n,
      0n,
      7n,
      8n,
    ]);
  });

  it("catches a planted wrong answer in a copy of OP-TEE's handler", () => {
    for (const flavor of FLAVORS) {
      const runner = new FlavorRunner(flavor, bases);
      const real = opteeDirectRequestHandler(runner.rig.optee);
      const plant = (edit: (req: SmcRegs, resp: SmcRegs) => void) =>
        runner.rig.spmc.partitions.register(FFA_OPTEE_ID, function* (req: SmcRegs): Sleeps<SmcRegs> {
          const resp = yield* real(req);
          edit(req, resp);
          return resp;
        });
      const unregister = [toOptee(OPTEE_FFA_UNREGISTER_SHM, 0)];
      const version = [toOptee(OPTEE_FFA_GET_API_VERSION)];
      plant(() => {});
      expect(runner.run(at("lend@1.2"), unregister).violation, flavor).toBeNull();
      expect(runner.run(at("boot@1.2"), version).violation, flavor).toBeNull();
      // handle_unregister_shm() answers 0 for TEE_ERROR_ITEM_NOT_FOUND: a copy that passes it through.
      plant((req, resp) => {
        if (w(req, 3) === OPTEE_FFA_UNREGISTER_SHM && resp[3] === 0n)
          resp[3] = BigInt(TEE_ERROR_ITEM_NOT_FOUND);
      });
      const v1 = runner.run(at("lend@1.2"), unregister).violation;
      expect(v1?.kind, flavor).toBe("non-spec-reply");
      expect(v1?.why).toMatch(/UNREGISTER_SHM/);
      // GET_API_VERSION answers OPTEE_FFA_VERSION_MAJOR.MINOR = 1.0.
      plant((req, resp) => {
        if (w(req, 3) === OPTEE_FFA_GET_API_VERSION) resp[4] = 1n;
      });
      expect(runner.run(at("boot@1.2"), version).violation?.why).toMatch(/GET_API_VERSION/);
      // An answer with w2 set (spmc_set_args() passes 0).
      plant((_req, resp) => {
        resp[2] = 1n;
      });
      expect(runner.run(at("boot@1.2"), version).violation?.why).toMatch(/w2/);
    }
  });

  it("catches a refused OP-TEE message that changed OP-TEE's objects", () => {
    // OP-TEE at S-EL1 holds the object (held@1.2): UNREGISTER_SHM answers FFA_BUSY, and must leave it be.
    const runner = new FlavorRunner("optee-sel1", bases);
    const spmc = runner.rig.spmc as OpteeSel1Spmc;
    const real = opteeDirectRequestHandler(runner.rig.optee);
    const unregister = [toOptee(OPTEE_FFA_UNREGISTER_SHM, 0)];
    const clean = runner.run(at("held@1.2"), unregister, true);
    expect(clean.violation).toBeNull();
    expect(w(clean.calls[0].reply!, 3)).toBe(FFA_BUSY >>> 0);
    runner.rig.spmc.partitions.register(FFA_OPTEE_ID, function* (req: SmcRegs): Sleeps<SmcRegs> {
      const resp = yield* real(req);
      // The planted bug: the registration is dropped although the answer is BUSY.
      for (const m of spmc.mobjs.live()) if (m.registeredByCookie) m.registeredByCookie = false;
      return resp;
    });
    const v = runner.run(at("held@1.2"), unregister).violation;
    expect(v?.kind).toBe("state-changed-on-rejection");
    expect(v?.why).toMatch(/registration changed/);
  });

  it("restores the objects OP-TEE under Hafnium retrieved for a yielding call, and sees them change", () => {
    const rig = new FuzzRig("hafnium");
    rig.probe("1.2");
    const share = bases[at("share@1.2")];
    const replies: SmcRegs[] = [];
    for (const c of share.calls) {
      rig.writeTx(c.by, c.tx);
      replies.push(rig.call(c.by, BigUint64Array.from([...c.x, ...Array<bigint>(10).fill(0n)])));
    }
    expect(w(replies[0], 0)).not.toBe(FFA_ERROR_32);
    const before = capture(rig);
    // YIELDING_CALL_WITH_ARG with the share's cookie, the arg past its end: OP-TEE retrieves the share
    // (mobj_ffa_get_by_cookie()), then refuses the arg — and keeps the object.
    const x = regs(
      FFA_MSG_SEND_DIRECT_REQ_64,
      FFA_OPTEE_ID,
      0,
      OPTEE_FFA_YIELDING_CALL_WITH_ARG,
      replies[0][2],
      replies[0][3],
      2 * 4096,
    );
    const r = rig.call("normal", BigUint64Array.from([...x, ...Array<bigint>(10).fill(0n)]));
    expect(w(r, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    const mobjs = rig.optee.mobjs as Sel2Mobjs;
    expect(mobjs.objectCount).toBe(1);
    expect(differs(rig, before)).not.toBeNull();
    // OP-TEE's own table is part of the snapshot: a reference taken since is a difference.
    const mid = capture(rig);
    expect(differs(rig, mid)).toBeNull();
    const objects = mobjs[hiddenState]().objects as Map<bigint, Sel2Mobj>;
    [...objects.values()][0].refcount++;
    expect(differs(rig, mid)).toMatch(/OP-TEE: object 0x[0-9a-f]+: reference counts changed/);
    restore(rig, before);
    expect(mobjs.objectCount).toBe(0);
    expect(differs(rig, before)).toBeNull();
  });

  it("answers as optee_os does where the model used to differ: an unknown receiver at S-EL1, x3's upper half", () => {
    const rig = new FuzzRig("optee-sel1");
    rig.probe("1.2");
    const call = (...v: (number | bigint)[]) => {
      const x = new BigUint64Array(18);
      v.forEach((n, i) => (x[i] = BigInt.asUintN(64, BigInt(n))));
      return rig.call("normal", x);
    };
    // handle_direct_request(): no logical partition 0x8002 → spmc_sp_start_thread() → INVALID_PARAMETERS.
    const toSp2 = call(FFA_MSG_SEND_DIRECT_REQ_32, 0x8002, 0, OPTEE_FFA_GET_API_VERSION);
    expect([w(toSp2, 0), w(toSp2, 2) | 0]).toEqual([FFA_ERROR_32, FFA_INVALID_PARAMETERS]);
    // A 64-bit x3 with its upper half set misses every case of `switch (args->a3)`.
    const high = call(
      FFA_MSG_SEND_DIRECT_REQ_64,
      FFA_OPTEE_ID,
      0,
      (1n << 32n) | BigInt(OPTEE_FFA_GET_API_VERSION),
    );
    expect(w(high, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(
      opteeReplyProblem(
        BigUint64Array.from([BigInt(FFA_MSG_SEND_DIRECT_REQ_64), 0x8001n, 0n, 1n << 32n, 0n, 0n, 0n, 0n]),
        high,
      ),
    ).toBeNull();
    const low = call(FFA_MSG_SEND_DIRECT_REQ_64, FFA_OPTEE_ID, 0, OPTEE_FFA_GET_API_VERSION);
    expect([w(low, 3), w(low, 4)]).toEqual([1, 0]);
  });

  it("a yielding call registers a cookie at S-EL1, UNREGISTER_SHM releases it, a second finds it released, the reclaim then succeeds", () => {
    const runner = new FlavorRunner("optee-sel1", bases);
    const spmc = runner.rig.spmc as OpteeSel1Spmc;
    const reclaim: FuzzCall = {
      by: "normal",
      x: regs(0x8400_0077),
      tx: null,
      handle: { from: 0, xor: 0n, at: "w1" },
    };
    const seq = [
      toOptee(OPTEE_FFA_YIELDING_CALL_WITH_ARG, 0, 4 * 4096),
      toOptee(OPTEE_FFA_UNREGISTER_SHM, 0),
      toOptee(OPTEE_FFA_UNREGISTER_SHM, 0),
    ];
    // Registered by the yielding call (refused: the arg lies past the end), so the reclaim is refused.
    const held = runner.run(at("lend@1.2"), [seq[0], reclaim], true);
    expect(held.violation).toBeNull();
    expect(w(held.calls[0].reply!, 3)).toBe(TEE_ERROR_BAD_PARAMETERS);
    expect(w(held.calls[1].reply!, 0)).toBe(FFA_ERROR_32);
    const o = runner.run(at("lend@1.2"), [...seq, reclaim], true);
    expect(o.violation).toBeNull();
    expect(o.calls.slice(1, 3).map((c) => w(c.reply!, 3))).toEqual([0, 0]);
    expect(w(o.calls[3].reply!, 0)).toBe(0x8400_0061);
    expect(spmc.mobjs.size).toBe(0);
  });

  it("assigns a lend with OPTEE_MSG_CMD_ASSIGN_PROTMEM written into shared memory, and catches a wrong ret", () => {
    const base = bases[at("share-lend@1.2")];
    const arena = base.sent[0];
    /** ASSIGN_PROTMEM of the lend (setup call 1) for `useCase`, in the arena's first page. */
    const assign = (useCase: number): FuzzCall => {
      const bytes = assignProtmemBytes(useCase);
      return {
        ...toOptee(OPTEE_FFA_YIELDING_CALL_WITH_ARG, arena.ref),
        shm: { pa: arena.pages[0].address, bytes, cookie: { from: 1, xor: 0n, off: 40 } },
      };
    };
    const ret = (o: { shm?: Uint8Array }) =>
      new DataView(o.shm!.buffer, o.shm!.byteOffset).getUint32(20, true);
    const sel1 = new FlavorRunner("optee-sel1", bases);
    const o = sel1.run(at("share-lend@1.2"), [assign(1), assign(1), assign(2)], true);
    expect(o.violation).toBeNull();
    expect(o.calls.map((c) => w(c.reply!, 3))).toEqual([0, 0, 0]);
    // mobj_ffa_assign_protmem(): assigned, then already assigned, then (a fresh case) another use case.
    expect(o.calls.map(ret)).toEqual([TEE_SUCCESS, TEE_ERROR_BUSY, TEE_ERROR_BUSY]);
    expect(ret(sel1.run(at("share-lend@1.2"), [assign(2)], true).calls[0])).toBe(TEE_ERROR_BAD_PARAMETERS);
    // Under Hafnium OP-TEE 4.9's retrieve of a lend is refused: TEE_ERROR_ITEM_NOT_FOUND.
    const hf = new FlavorRunner("hafnium", bases);
    const h = hf.run(at("share-lend@1.2"), [assign(1)], true);
    expect(h.violation).toBeNull();
    expect(ret(h.calls[0])).toBe(TEE_ERROR_ITEM_NOT_FOUND);
    // A copy of the handler that leaves another TEE_Result in the message.
    const real = opteeDirectRequestHandler(sel1.rig.optee);
    sel1.rig.spmc.partitions.register(FFA_OPTEE_ID, function* (req: SmcRegs): Sleeps<SmcRegs> {
      const resp = yield* real(req);
      sel1.rig.machine.bytes.write(arena.pages[0].address + 20, Uint8Array.of(0, 0, 0xff, 0xff));
      return resp;
    });
    const v = sel1.run(at("share-lend@1.2"), [assign(1)]).violation;
    expect(v?.kind).toBe("non-spec-reply");
    expect(v?.why).toMatch(/ASSIGN_PROTMEM answered TEE_ERROR_GENERIC/);
  });

  it("starts every case with the shared memory as a fresh boot has it: a message never leaks into the next case", () => {
    const base = bases[at("share-lend@1.2")];
    const arena = base.sent[0];
    const bytes = assignProtmemBytes(1);
    const withMsg: FuzzCall = {
      ...toOptee(OPTEE_FFA_YIELDING_CALL_WITH_ARG, arena.ref),
      shm: { pa: arena.pages[0].address, bytes, cookie: { from: 1, xor: 0n, off: 40 } },
    };
    // The same yielding call without writing a message: OP-TEE reads what the page holds.
    const bare = toOptee(OPTEE_FFA_YIELDING_CALL_WITH_ARG, arena.ref);
    for (const flavor of FLAVORS) {
      const fresh = new FlavorRunner(flavor, bases).run(at("share-lend@1.2"), [bare], true);
      const after = new FlavorRunner(flavor, bases);
      after.run(at("share-lend@1.2"), [withMsg], true);
      const again = after.run(at("share-lend@1.2"), [bare], true);
      expect(again.calls[0].reply, flavor).toEqual(fresh.calls[0].reply);
      // What OP-TEE read and wrote back is the same message: the fresh page's, not the last case's.
      const page = (r: FlavorRunner) =>
        Buffer.from(r.rig.machine.bytes.read(arena.pages[0].address, 256)).toString("hex");
      const freshRunner = new FlavorRunner(flavor, bases);
      freshRunner.run(at("share-lend@1.2"), [bare], true);
      expect(page(after), flavor).toBe(page(freshRunner));
    }
  });

  it("counts the panic of OP-TEE 4.9's assertion on an UNREGISTER_SHM of the invalid cookie, and goes on", () => {
    for (const flavor of FLAVORS) {
      const runner = new FlavorRunner(flavor, bases);
      const invalid: FuzzCall = {
        by: "normal",
        x: regs(
          FFA_MSG_SEND_DIRECT_REQ_32,
          FFA_OPTEE_ID,
          0,
          OPTEE_FFA_UNREGISTER_SHM,
          0xffff_ffff,
          0xffff_ffff,
        ),
        tx: null,
        handle: null,
      };
      const o = runner.run(at("lend@1.2"), [invalid]);
      expect(o.violation, flavor).toBeNull();
      expect(o.panic).toMatch(/^OP-TEE panic: assertion 'cookie != OPTEE_MSG_FMEM_INVALID_GLOBAL_ID'/);
      // The next case starts from the base again: OP-TEE answers.
      const next = runner.run(at("lend@1.2"), [toOptee(OPTEE_FFA_GET_API_VERSION)], true);
      expect(next.panic).toBeNull();
      expect(w(next.calls[0].reply!, 3)).toBe(1);
    }
  });

  it("writes OP-TEE's messages into the corpus with each flavor's answer, and the corpus replays from its JSON", () => {
    const r = fuzz({ flavors: [...FLAVORS], runs: 1500, seed: 9, corpus: true });
    const withOptee = r.corpus.filter((c) => c.calls.some((k) => k.optee_msg));
    expect(withOptee.length).toBeGreaterThan(5);
    const parsed = JSON.parse(JSON.stringify(withOptee)) as CorpusCase[];
    expect(parsed).toEqual(withOptee);
    for (const c of parsed.slice(0, 15)) for (const f of FLAVORS) replayCorpusCase(c, f);
  });
});
