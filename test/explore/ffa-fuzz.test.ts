import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import {
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_RETRIEVE_RESP_32,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_RETRY,
  FFA_SUCCESS_32,
  ffaVersionNumber,
} from "../../src/abi/ffa/index.ts";
import { replayCorpusCase } from "../helpers/fuzz-replay.ts";
import { plantRxFullOnTooManyFragments } from "../helpers/fuzz-plants.ts";
import { rstmem } from "../helpers/rstmem.ts";
import { caseCalls, fuzz, generateCase } from "../../src/explore/fuzz/fuzz.ts";
import { Prng } from "../../src/sim/prng.ts";
import { buildBases, opteeEvent } from "../../src/explore/fuzz/gen.ts";
import { decodeMemRegion } from "../../src/abi/ffa/mem_region.ts";
import { consistencyProblem, replyProblem } from "../../src/explore/fuzz/oracle.ts";
import type { FuzzCaller } from "../../src/explore/fuzz/rig.ts";
import { FlavorRunner } from "../../src/explore/fuzz/runner.ts";
import { capture, differs } from "../../src/explore/fuzz/state.ts";
import { OWNER_NORMAL } from "../../src/hw/frames.ts";
import { GPT_GPI_SECURE } from "../../src/hw/gpt.ts";
import { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import type { SpmcFlavorName } from "../../src/firmware/spmc/spmc.ts";
import { regs } from "../../src/explore/fuzz/calls.ts";
import { writeCorpus } from "../../src/cli/ffa_fuzz.ts";

const r8 = (...v: (number | bigint)[]) => {
  const x = new BigUint64Array(18);
  v.forEach((n, i) => (x[i] = BigInt.asUintN(64, BigInt(n))));
  return x;
};

describe("ffa fuzz oracle", () => {
  it("accepts the replies the spec defines and refuses the others", () => {
    expect(replyProblem(FFA_MEM_LEND_32, r8(FFA_SUCCESS_32, 0, 1, 0))).toBeNull();
    expect(replyProblem(FFA_MEM_LEND_32, r8(FFA_ERROR_32, 0, FFA_INVALID_PARAMETERS))).toBeNull();
    expect(replyProblem(FFA_MEM_LEND_32, r8(FFA_ERROR_32, 0, FFA_RETRY))).toMatch(/RETRY/);
    expect(replyProblem(FFA_MEM_LEND_32, r8(FFA_ERROR_32, 0, FFA_INVALID_PARAMETERS, 7))).toMatch(/x3/);
    expect(replyProblem(FFA_MEM_RETRIEVE_REQ_32, r8(FFA_SUCCESS_32))).toMatch(/does not return/);
    expect(replyProblem(FFA_MEM_RECLAIM_32, r8(0x8400_0075, 16, 16))).toMatch(/does not return/);
  });

  it("sees a rejected call's state change, and lets a refused FRAG_TX drop only its own pending send", () => {
    for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) {
      const runner = new FlavorRunner(flavor, buildBases());
      const base = runner.bases.findIndex((b) => b.base.name === "frag@1.2");
      // A clean run loads the base; the snapshot then equals the rig.
      runner.run(base, []);
      const snap = capture(runner.rig);
      expect(differs(runner.rig, snap)).toBeNull();
      runner.rig.spmc.endpoint(0)!.rxFull = true;
      expect(differs(runner.rig, snap)).toMatch(/RX buffer free → full/);
      runner.rig.spmc.endpoint(0)!.rxFull = false;
      // The last fragment with a constituent at an unaligned address aborts the pending send (Hafnium
      // frees the share state, OP-TEE deletes the object): allowed for that handle only.
      const rest = runner.bases[base].base.pending!.rest.slice();
      new DataView(rest.buffer).setBigUint64(0, 0x8030_0001n, true);
      const bad = [
        {
          by: "normal" as FuzzCaller,
          x: regs(0x8400_007b, 0, 0, rest.length),
          tx: rest,
          handle: { from: 0, xor: 0n, at: "w1" as const },
        },
      ];
      const out = runner.run(base, bad, true);
      expect(out.violation).toBeNull();
      expect(out.calls[0].reply![0]).toBe(BigInt(FFA_ERROR_32));
      const spmc = runner.rig.spmc;
      if (spmc instanceof HafniumSpmc) expect(spmc.shares.used).toBe(0);
      if (spmc instanceof OpteeSel1Spmc) expect(spmc.fragStates.size).toBe(0);
    }
  });

  it("a base restored after many cases is the base a fresh runner loads, whichever saved objects the restore reuses", () => {
    for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) {
      const bases = buildBases();
      const used = new FlavorRunner(flavor, bases);
      const rnd = new Prng(5).stream("ffa-fuzz");
      // Cases on every base, each restoring what the one before changed (and reusing its clones).
      for (let i = 0; i < 400; i++) {
        const spec = generateCase(rnd, bases);
        used.run(spec.base, caseCalls(spec));
      }
      // A change the SPMC makes in place to what a restore installed (a share state's progress, an
      // object's reference count) is undone by the next restore of that base, which must clone again.
      const lend = bases.findIndex((b) => b.name === "lend@1.2");
      used.run(lend, []);
      const spmc = used.rig.spmc;
      if (spmc instanceof HafniumSpmc) spmc.shares.at(0)!.bytesReceived += 1;
      if (spmc instanceof OpteeSel1Spmc) [...spmc.mobjs.live()][0].refcount += 1;
      expect(differs(used.rig, used.bases[lend].snap)).not.toBeNull();
      used.run(lend + 1, []);
      used.run(lend, []);
      expect(differs(used.rig, used.bases[lend].snap)).toBeNull();
      expect(used.stats.successes).toBeGreaterThan(0);
      const fresh = new FlavorRunner(flavor, bases);
      for (let i = 0; i < bases.length; i++) {
        used.run(i, []);
        fresh.run(i, []);
        expect(differs(used.rigOf(i), used.bases[i].snap), `${flavor} ${bases[i].name}`).toBeNull();
        // Across rigs the machine and the SPMC's arrays and endpoints compare too (Hafnium's share
        // states hold their fragments by identity, so only OP-TEE's objects compare across rigs).
        expect(
          differs(used.rigOf(i), capture(fresh.rigOf(i))) ?? "",
          `${flavor} ${bases[i].name}`,
        ).not.toMatch(/machine|endpoint|page|object|pending|cookie/);
      }
    }
  });

  it("reports a planted state change on rejection as a violation", () => {
    const runner = new FlavorRunner("hafnium", buildBases());
    const base = runner.bases.findIndex((b) => b.base.name === "lend@1.2");
    const reclaimWrongHandle = [
      {
        by: "normal" as FuzzCaller,
        x: regs(FFA_MEM_RECLAIM_32),
        tx: null,
        handle: { from: 0, xor: 5n, at: "w1" as const },
      },
    ];
    expect(runner.run(base, reclaimWrongHandle).violation).toBeNull();
    // The planted bug: a refused call that still marks the normal world's RX buffer full.
    const call = runner.rig.call.bind(runner.rig);
    runner.rig.call = (by, x) => {
      const r = call(by, x);
      if (Number(r[0] & 0xffff_ffffn) === FFA_ERROR_32) runner.rig.spmc.endpoint(0)!.rxFull = true;
      return r;
    };
    const v = runner.run(base, reclaimWrongHandle).violation;
    expect(v?.kind).toBe("state-changed-on-rejection");
    expect(v?.why).toMatch(/RX buffer/);
    // Deeper plants, each alone: a refused call that moves a lent page back to the normal world in the
    // machine, that bumps a share state's progress in place, that flips one granule's PAS.
    const plants: [(r: FlavorRunner) => void, RegExp][] = [
      [(r) => r.rig.machine.setOwner(0x8030_0000, 4096, OWNER_NORMAL), /frame's owner/],
      [
        (r) => ((r.rig.spmc as HafniumSpmc).shares.at(0)!.bytesReceived += 1),
        /share state 0x0: bytes received/,
      ],
      [(r) => r.rig.machine.gpt!.initRange(5, 1, GPT_GPI_SECURE), /physical address space/],
    ];
    for (const [plant, why] of plants) {
      runner.rig.call = (by, x) => {
        const r = call(by, x);
        if (Number(r[0] & 0xffff_ffffn) === FFA_ERROR_32) plant(runner);
        return r;
      };
      const found = runner.run(base, reclaimWrongHandle).violation;
      expect(found?.kind).toBe("state-changed-on-rejection");
      expect(found?.why).toMatch(why);
    }
  });

  it("finds ffa-consistency broken when the machine and the share states disagree", () => {
    for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) {
      const runner = new FlavorRunner(flavor, buildBases());
      const base = runner.bases.findIndex((b) => b.base.name === "lend@1.2");
      runner.run(base, []);
      expect(consistencyProblem(runner.rig)).toBeNull();
      // The lent pages (the pool's first page) given back to the normal world behind the SPMC's back.
      const f = runner.rig.machine.frames;
      f.owner[f.indexOf(0x8030_0000)] = OWNER_NORMAL;
      expect(consistencyProblem(runner.rig)).toMatch(/0x80300000 is normal in the machine/);
    }
  });
});

describe("ffa fuzz", () => {
  it("runs clean on both flavors and reaches many of each SPMC's rules", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 400, seed: 7 });
    expect(r.violation).toBeNull();
    expect(r.cases).toBe(400);
    const hf = r.flavors.find((f) => f.flavor === "hafnium")!;
    const op = r.flavors.find((f) => f.flavor === "optee-sel1")!;
    expect(hf.rejections).toBeGreaterThan(100);
    expect(hf.successes).toBeGreaterThan(50);
    expect(hf.outcomes).toBeGreaterThan(60);
    expect(op.outcomes).toBeGreaterThan(30);
  });

  it("runs cases grouped by base with the results of running them one by one, a violation mid-batch included", () => {
    const clean = (batch: number) =>
      JSON.stringify(fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 300, seed: 3, corpus: true, batch }));
    expect(clean(128)).toBe(clean(1));
    // A planted bug that only a rare refusal trips (Hafnium's 21st fragment), so the violation falls
    // inside a batch, after cases of other bases already ran: the run must stop at that case, with the
    // counts of the cases before it, as if nothing after it had run.
    const unplant = plantRxFullOnTooManyFragments();
    try {
      const planted = (batch: number) =>
        fuzz({ flavors: ["hafnium"], runs: 2000, seed: 3, corpus: true, batch });
      const one = planted(1);
      expect(one.violation?.kind).toBe("state-changed-on-rejection");
      expect(one.violation!.caseIndex % 128).not.toBe(127);
      expect(one.cases).toBe(one.violation!.caseIndex + 1);
      expect(JSON.stringify(planted(128))).toBe(JSON.stringify(one));
    } finally {
      unplant();
    }
  });

  it("gives the same corpus, byte for byte, for the same seed", () => {
    const a = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 3, corpus: true });
    const b = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 3, corpus: true });
    const c = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 4, corpus: true });
    expect(JSON.stringify(a.corpus)).toBe(JSON.stringify(b.corpus));
    expect(JSON.stringify(a.corpus)).not.toBe(JSON.stringify(c.corpus));
    // Writing a corpus makes each new case again to record it: the report still counts each case once.
    const counts = (r: typeof a) => r.flavors.map(({ ms: _ms, ...f }) => f);
    const plain = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 3 });
    expect(counts(a)).toEqual(counts(plain));
    expect(a.flavors[0].cases).toBe(150);
  });

  it("writes a corpus a harness can replay from the JSON alone, getting every expected reply", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 120, seed: 11, corpus: true });
    expect(r.corpus.length).toBeGreaterThan(10);
    for (const c of r.corpus.slice(0, 25)) {
      for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) replayCorpusCase(c, flavor);
    }
  });
});

describe("ffa fuzz: what it drives beyond memory sends", () => {
  const bases = buildBases();
  const at = (name: string) => bases.findIndex((b) => b.name === name);
  const w0 = (x: readonly bigint[] | null) => Number(x![0] & 0xffff_ffffn);

  it("partitions at FF-A v1.0 and v1.1 retrieve in their own layout and keep the version they negotiated at boot", () => {
    const runner = new FlavorRunner("hafnium", bases);
    for (const sp of ["1.0", "1.1"] as const) {
      expect(runner.rigOf(at(`boot@sp${sp}`)).spmc.endpoint(0x8002)!.version).toBe(ffaVersionNumber(sp));
      // sp2's retrieve of OP-TEE's lend: the response in RX is a descriptor in sp2's own layout.
      const retrieve = runner.baseOutcomes(at(`sp-lend@sp${sp}`))[1];
      expect(w0(retrieve.reply)).toBe(FFA_MEM_RETRIEVE_RESP_32);
      const resp = decodeMemRegion(retrieve.rx!, sp);
      expect(resp.ok && resp.value.emads[0].receiver_id).toBe(0x8002);
      expect(resp.ok && resp.value.composite!.constituents.length).toBe(2);
      // OP-TEE's retrieve of the normal world's (v1.2) lend: answered in OP-TEE's layout.
      const opteeResp = decodeMemRegion(runner.baseOutcomes(at(`retrieved@sp${sp}`))[1].rx!, sp);
      expect(opteeResp.ok && opteeResp.value.composite!.total_page_count).toBe(4);
      // The version is locked once the partition mapped its buffers: another is NOT_SUPPORTED, the same one
      // answers Hafnium's (v1.2).
      const version = (asked: number) => [
        { by: "sp2" as FuzzCaller, x: regs(0x8400_0063, asked), tx: null, handle: null },
      ];
      const other = runner.run(at(`boot@sp${sp}`), version(0x1_0002), true);
      expect(other.violation).toBeNull();
      expect(other.calls[0].reply![0]).toBe(0xffff_ffffn);
      const same = runner.run(at(`boot@sp${sp}`), version(ffaVersionNumber(sp)), true);
      expect(same.calls[0].reply![0]).toBe(0x1_0002n);
    }
    // A v1.2 descriptor from a v1.0 partition is read in the v1.0 layout, and refused.
    const send = runner.bases[at("sp-lend@1.2")].base.calls[0];
    const out = runner.run(at("boot@sp1.0"), [send], true);
    expect(out.violation).toBeNull();
    expect(w0(out.calls[0].reply)).toBe(FFA_ERROR_32);
  });

  it("OP-TEE holding an object refuses the normal world's reclaim (cookie busy) until it drops it and the cookie is unregistered", () => {
    const runner = new FlavorRunner("optee-sel1", bases);
    const held = at("held@1.2");
    const reclaim = {
      by: "normal" as FuzzCaller,
      x: regs(FFA_MEM_RECLAIM_32),
      tx: null,
      handle: { from: 0, xor: 0n, at: "w1" as const },
    };
    const busy = runner.run(held, [reclaim], true);
    expect(busy.violation).toBeNull();
    expect(busy.calls[0].rule).toBe("cookie-busy");
    expect(Number(busy.calls[0].reply![2] & 0xffff_ffffn) | 0).toBe(FFA_DENIED);
    // Dropped, the object is still registered by its cookie (mobj_ffa_get_by_cookie() registered it):
    // still busy until the normal world's OPTEE_FFA_UNREGISTER_SHM, as Linux sends before reclaiming.
    const dropped = runner.run(held, [opteeEvent("mobj-put", 0), reclaim], true);
    expect(dropped.calls[0].refcount).toBe(0);
    expect(dropped.calls[1].rule).toBe("cookie-busy");
    const freed = runner.run(
      held,
      [opteeEvent("mobj-put", 0), opteeEvent("mobj-unregister", 0), reclaim],
      true,
    );
    expect(freed.violation).toBeNull();
    expect(w0(freed.calls[2].reply)).toBe(FFA_SUCCESS_32);
    // Unregistered while still held: OP-TEE refuses (busy), and the reclaim too.
    const early = runner.run(held, [opteeEvent("mobj-unregister", 0), reclaim], true);
    expect(early.calls[1].rule).toBe("cookie-busy");
    // Hafnium has no such objects: the event is skipped, and the lend's reclaim succeeds.
    const hf = new FlavorRunner("hafnium", bases).run(held, [reclaim], true);
    expect(w0(hf.calls[0].reply)).toBe(FFA_SUCCESS_32);
  });

  it("drives FFA_FEATURES, FFA_ID_GET, FFA_PARTITION_INFO_GET(_REGS), FFA_RXTX_MAP/UNMAP and OP-TEE's holds, and reaches cookie busy", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 4000, seed: 4, corpus: true });
    expect(r.violation).toBeNull();
    const called = new Set<string>();
    const rules = new Set<string>();
    for (const c of r.corpus)
      for (const call of c.calls) {
        if (call.setup) continue;
        called.add(call.call);
        for (const e of Object.values(call.expect)) if (e?.rule) rules.add(e.rule);
      }
    for (const f of [
      "FFA_FEATURES_32",
      "FFA_ID_GET_32",
      "FFA_PARTITION_INFO_GET_32",
      "FFA_PARTITION_INFO_GET_REGS_64",
      "FFA_RXTX_UNMAP_32",
      "mobj_ffa_get_by_cookie",
    ])
      expect(called, f).toContain(f);
    expect([...called].some((c) => c.startsWith("FFA_RXTX_MAP"))).toBe(true);
    expect([...called].filter((c) => c.startsWith("FFA_NOTIFICATION_")).length).toBeGreaterThan(4);
    expect([...called].some((c) => c.startsWith("FFA_MSG_SEND_DIRECT_REQ"))).toBe(true);
    for (const rule of ["cookie-busy", "partition-info-uuid", "rxtx-already-mapped"])
      expect(rules, rule).toContain(rule);
    // Every corpus case replays, partition versions and OP-TEE's events included.
    const wide = r.corpus.filter((c) => c.partition_version !== "1.2" || c.calls.some((k) => k.internal));
    expect(wide.length).toBeGreaterThan(3);
    for (const c of wide.slice(0, 12))
      for (const f of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) replayCorpusCase(c, f);
  });

  it("sees a refused call that changes notification state (OP-TEE's bindings, Hafnium's VM bitmaps)", () => {
    for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) {
      const runner = new FlavorRunner(flavor, bases);
      const refused = [
        { by: "normal" as FuzzCaller, x: regs(FFA_MEM_RECLAIM_32, 0x77), tx: null, handle: null },
      ];
      expect(runner.run(at("boot@1.2"), refused).violation).toBeNull();
      const call = runner.rig.call.bind(runner.rig);
      runner.rig.call = (by, x) => {
        const r = call(by, x);
        const spmc = runner.rig.spmc;
        if (spmc instanceof OpteeSel1Spmc) spmc.notif.defaultBitmap.bound |= 4n;
        if (spmc instanceof HafniumSpmc) spmc.nwdNotifications.vms.set(3, 1);
        return r;
      };
      const v = runner.run(at("boot@1.2"), refused).violation;
      expect(v?.kind, flavor).toBe("state-changed-on-rejection");
      expect(v?.why, flavor).toMatch(/notification/);
      runner.rig.call = call;
      // The next case restores the base's notification state.
      expect(runner.run(at("boot@1.2"), refused).violation).toBeNull();
    }
  });

  it("reports an FFA_ID_GET that answers another endpoint's ID, and a direct response to the wrong endpoint", () => {
    const runner = new FlavorRunner("hafnium", bases);
    const idGet = [{ by: "sp2" as FuzzCaller, x: regs(0x8400_0069), tx: null, handle: null }];
    expect(runner.run(at("boot@1.2"), idGet).violation).toBeNull();
    const call = runner.rig.call.bind(runner.rig);
    runner.rig.call = (by, x) => {
      const r = call(by, x);
      if (Number(x[0]) === 0x8400_0069) r[2] = 0x8001n;
      return r;
    };
    const v = runner.run(at("boot@1.2"), idGet).violation;
    expect(v?.kind).toBe("non-spec-reply");
    expect(v?.why).toMatch(/FFA_ID_GET answered ID 0x8001 to 0x8002/);
    // A direct response must come from the request's receiver back to its sender.
    const direct = [
      { by: "sp2" as FuzzCaller, x: regs(0x8400_006f, 0x8002_8001, 0, 7), tx: null, handle: null },
    ];
    runner.rig.call = call;
    const ok = runner.run(at("boot@1.2"), direct, true);
    expect(ok.violation).toBeNull();
    expect(ok.calls[0].reply!.slice(0, 2)).toEqual([0x8400_0070n, 0x8001_8002n]);
    runner.rig.call = (by, x) => {
      const r = call(by, x);
      if (Number(x[0]) === 0x8400_006f) r[1] = 0x8002_8001n;
      return r;
    };
    expect(runner.run(at("boot@1.2"), direct).violation?.why).toMatch(/direct response w1 0x80028001/);
  });
});

describe("calls Hafnium implements and the model does not", () => {
  it("expect nothing of Hafnium (x null, `unmodelled` says why), where its FFA_FEATURES says they are supported", () => {
    const r = fuzz({ flavors: ["hafnium"], runs: 3000, seed: 1, corpus: true, clock: () => 0 });
    const calls = r.corpus.flatMap((c) => c.calls);
    const unmodelled = calls.filter((k) => k.expect.hafnium?.unmodelled !== undefined);
    expect(new Set(unmodelled.map((k) => k.call))).toContain("FFA_NOTIFICATION_BIND_32");
    for (const k of unmodelled) {
      expect(k.expect.hafnium!.x).toBeNull();
      expect(k.expect.hafnium!.unmodelled).toBe(`${k.call}: the SPMC implements it; the model does not yet`);
    }
    // No call of a function FFA_FEATURES lists for everyone is recorded as Hafnium refusing it as unknown
    // (NOTIFICATION_INFO_GET is the normal world's alone: from a partition it is NOT_SUPPORTED, as there).
    const listed = ["BIND", "UNBIND", "SET", "GET"].map((n) => `FFA_NOTIFICATION_${n}_32`);
    expect(
      calls.filter((k) => listed.includes(k.call) && k.expect.hafnium?.rule === "unknown-function"),
    ).toEqual([]);
  });
});

describe("an OP-TEE message's result in the corpus", () => {
  it("is given only where the message changed: left as written, its 0 is no TEE_SUCCESS", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 3000, seed: 1, corpus: true, clock: () => 0 });
    /** The hex without the cookie the harness writes in (8 bytes at `off`). */
    const unpatched = (hex: string, off: number | undefined) =>
      off === undefined ? hex : hex.slice(0, 2 * off) + hex.slice(2 * off + 16);
    let given = 0;
    let absent = 0;
    for (const k of r.corpus.flatMap((c) => c.calls)) {
      if (!k.shm) continue;
      for (const e of Object.values(k.expect)) {
        if (!e?.shm) continue;
        const same = unpatched(e.shm, k.shm.cookie?.off) === unpatched(k.shm.bytes, k.shm.cookie?.off);
        if (e.msg_ret === undefined) {
          absent++;
          expect(same).toBe(true);
        } else given++;
      }
    }
    expect(given).toBeGreaterThan(0);
    expect(absent).toBeGreaterThan(0);
  });
});

describe("the corpus's TX bytes", () => {
  it("are at most the TX page, however long the mutated descriptor (the rig writes only the page)", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 400, seed: 1, corpus: true, clock: () => 0 });
    const sizes = r.corpus.flatMap((c) => c.calls.map((k) => (k.tx ? k.tx.length / 2 : 0)));
    expect(Math.max(...sizes)).toBe(4096);
  });
});

describe("the corpus's registers and mutations", () => {
  it("give 0 in the words a handle or an offset goes into, list each mutation once, and mark those the handle writes over", () => {
    // helper-45: x kept a mutation's value in the handle's words, which the harness overwrites, and the
    // mutations named such values (and some twice) as if they had reached the SPMC.
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 6000, seed: 1, corpus: true, clock: () => 0 });
    let marked = 0;
    for (const c of r.corpus) {
      expect(new Set(c.mutations).size).toBe(c.mutations.length);
      marked += c.mutations.filter((m) =>
        /\(no effect: the (handle|offset) is written there\)$/.test(m),
      ).length;
      for (const k of c.calls) {
        const at = k.handle?.at;
        if (at === "w1") expect([k.x[1], k.x[2]]).toEqual(["0x0", "0x0"]);
        if (at === "w4") expect([k.x[4], k.x[5]]).toEqual(["0x0", "0x0"]);
        if (k.offset_from !== undefined) expect(k.x[3]).toBe("0x0");
      }
    }
    expect(marked).toBeGreaterThan(0);
    // helper-46: an x3 mutation of a call whose offset comes from a retrieve response was not marked.
    const offsets = r.corpus.flatMap((c) =>
      c.mutations.filter((m) => m.endsWith("(no effect: the offset is written there)")),
    );
    expect(offsets.length).toBeGreaterThan(0);
  });
});

describe("rstmem ffa fuzz", () => {
  it("exits 0 on a clean budget and writes the corpus with its index", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    const r = await rstmem("ffa", "fuzz", "--flavor", "all", "--runs", "60", "--seed", "2", "--corpus", dir);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/clean {6}no violation in 60 cases/);
    expect(r.out).toMatch(/hafnium .* cases\/s/);
    expect(r.out).toMatch(/optee-sel1 .* cases\/s/);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
      files: string[];
      format: string;
      violation: string | null;
    };
    expect(index.format).toBe("rstmem-ffa-fuzz/1");
    expect(index.violation).toBeNull();
    expect(index.files.length).toBeGreaterThan(0);
    for (const f of index.files) expect(existsSync(join(dir, f))).toBe(true);
    expect(readdirSync(dir).length).toBe(index.files.length + 1);
  });

  it("--corpus into a directory that holds an earlier corpus replaces it: the directory holds what index.json lists", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    expect((await rstmem("ffa", "fuzz", "--flavor", "all", "--runs", "300", "--corpus", dir)).code).toBe(0);
    // A `case-N.json` is the earlier corpus's (README), and so is what a run no longer running left
    // half-written; a user's case-notes.json is not.
    for (const stray of ["case-5.json", ".case-00000001.json.999999999.tmp", "case-notes.json"])
      writeFileSync(join(dir, stray), "{");
    const r = await rstmem(
      "ffa",
      "fuzz",
      "--flavor",
      "hafnium",
      "--runs",
      "40",
      "--seed",
      "7",
      "--corpus",
      dir,
    );
    expect(r.code).toBe(0);
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as {
      files: string[];
      seed: number;
    };
    expect(index.seed).toBe(7);
    expect(readdirSync(dir).sort()).toEqual(
      [...index.files, "case-notes.json", "index.json", "notes.txt"].sort(),
    );
  });

  it("--time stops the run early and says so; the corpus holds the cases run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    const r = await rstmem(
      "ffa",
      "fuzz",
      "--flavor",
      "hafnium",
      "--runs",
      "100000000",
      "--time",
      "300ms",
      "--corpus",
      dir,
    );
    expect(r.code).toBe(0);
    const m = /^stopped {4}--time 300\.000 ms ran out after (\d+) of 100000000 cases$/m.exec(r.out);
    expect(m).not.toBeNull();
    expect(r.out).toContain(`clean      no violation in ${m![1]} cases`);
    expect(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).cases).toBe(Number(m![1]));
    expect((await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--time", "5")).code).toBe(2);
  });

  it("a --corpus path that cannot be a directory is a usage error before any case runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    const file = join(dir, "afile");
    writeFileSync(file, "");
    for (const [path, why] of [
      [file, "is not a directory"],
      [join(file, "sub"), "ENOTDIR"],
      ["", "expected a directory path"],
      ["/proc/rstmem-nope", "cannot make directory"],
      // A directory that exists but takes no files (an access check passes there for root).
      ["/proc", "cannot write there"],
    ] as const) {
      const r = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "100000000", "--corpus", path);
      expect(r.code, path).toBe(2);
      expect(r.err).toContain("--corpus");
      expect(r.err).toContain(why);
      expect(r.err).not.toContain("internal error");
      expect(r.out).toBe("");
    }
  });

  it("an earlier corpus that cannot be replaced is a usage error before any case runs, and is left whole", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    expect((await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "50", "--corpus", dir)).code).toBe(
      0,
    );
    const before = readdirSync(dir).sort();
    mkdirSync(join(dir, "case-99999999.json"));
    const r = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "100000000", "--corpus", dir);
    expect(r.code).toBe(2);
    expect(r.err).toContain("case-99999999.json is a directory");
    expect(r.out).toBe("");
    expect(readdirSync(dir).sort()).toEqual([...before, "case-99999999.json"].sort());
  });

  it("a corpus that fails to write part-way leaves nothing of itself and the earlier corpus as it was", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    expect((await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "50", "--corpus", dir)).code).toBe(
      0,
    );
    const before = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f), "utf8")]));
    const r = fuzz({ flavors: ["hafnium"], runs: 300, seed: 5, corpus: true });
    expect(r.corpus.length).toBeGreaterThan(3);
    // The third case's file cannot be written (a directory in the way of its temporary name).
    const blocked = `.case-${String(r.corpus[2].id).padStart(8, "0")}.json.${process.pid}.tmp`;
    mkdirSync(join(dir, blocked));
    expect(() => writeCorpus(dir, r)).toThrow(
      /cannot write the corpus there \(EISDIR\); the earlier corpus is left as it was/,
    );
    const after = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f !== blocked)
        .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
    );
    expect(after).toEqual(before);
    // Failing while the earlier corpus is moved aside (helper-46: it was deleted first, then the
    // failure left neither corpus): it is put back whole, and this run's files go.
    const earlier = before["index.json"]
      ? Object.keys(before)
          .filter((f) => f.startsWith("case-"))
          .sort()
      : [];
    rmSync(join(dir, blocked), { recursive: true });
    const inTheWay = join(dir, `.${earlier[1]}.${process.pid}.old`);
    mkdirSync(inTheWay);
    writeFileSync(join(inTheWay, "x"), "");
    expect(() => writeCorpus(dir, r)).toThrow(
      /cannot replace the corpus there \(\w+\); the earlier corpus is left as it was/,
    );
    const back = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => !f.endsWith(".old"))
        .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
    );
    expect(back).toEqual(before);
  });

  it("--json prints the same facts as one object: each flavor's counts and rate, the corpus, no violation", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
    const args = ["ffa", "fuzz", "--flavor", "all", "--runs", "60", "--seed", "2"];
    const r = await rstmem(...args, "--corpus", dir, "--json");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j).toMatchObject({ seed: 2, cases: 60, corpus: { dir }, violation: null });
    expect(j.corpus.cases).toBe(JSON.parse(readFileSync(join(dir, "index.json"), "utf8")).files.length);
    const text = (await rstmem(...args)).out;
    for (const f of j.flavors as { flavor: string; calls: number; successes: number; rejections: number }[])
      expect(text).toContain(
        `${f.flavor.padEnd(10)} ${f.calls} calls: ${f.successes} answered, ${f.rejections} refused,`,
      );
    expect(j.flavors.map((f: { flavor: string }) => f.flavor)).toEqual(["hafnium", "optee-sel1"]);
    expect(j.flavors[0].casesPerSecond).toBeGreaterThan(0);
  });

  it("--json with a violation: exit 1, the violation whole with its case, and its file in the corpus", async () => {
    const unplant = plantRxFullOnTooManyFragments();
    try {
      const dir = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
      const args = ["ffa", "fuzz", "--flavor", "hafnium", "--runs", "2000", "--seed", "3", "--corpus"];
      const r = await rstmem(...args, dir, "--json");
      expect(r.code).toBe(1);
      const v = JSON.parse(r.out).violation;
      expect(v).toMatchObject({ flavor: "hafnium", kind: "state-changed-on-rejection" });
      expect(v.case.calls.length).toBeGreaterThan(v.call);
      expect(JSON.parse(readFileSync(v.caseFile, "utf8"))).toEqual(v.case);
      // A corpus that cannot be written does not lose the violation (helper-46: exit 2, nothing printed
      // but the corpus's error): printed whole, its case too, the corpus's error after it, exit 1.
      const blocked = mkdtempSync(join(tmpdir(), "rstmem-fuzz-"));
      mkdirSync(join(blocked, `.index.json.${process.pid}.tmp`));
      const lost = await rstmem(...args, blocked);
      expect(lost.code).toBe(1);
      expect(lost.out).toMatch(/^VIOLATION {2}hafnium: state-changed-on-rejection: /m);
      expect(lost.out).toMatch(/^case JSON {2}\{/m);
      expect(lost.err).toMatch(
        /cannot write the corpus there \(EISDIR\); the earlier corpus is left as it was\n$/,
      );
    } finally {
      unplant();
    }
  });

  it("--jobs on a short run: one thread, the same report as --jobs 1, and no word of threads", async () => {
    const run = async (jobs: string) => {
      const r = await rstmem("ffa", "fuzz", "--flavor", "all", "--runs", "300", "--jobs", jobs, "--json");
      expect(r.code).toBe(0);
      const { seconds: _s, casesPerSecond: _c, flavors, ...rest } = JSON.parse(r.out);
      return {
        ...rest,
        flavors: flavors.map(({ casesPerSecond: _r, ...f }: { casesPerSecond: number }) => f),
      };
    };
    const one = await run("1");
    expect(one.threads).toBe(1);
    expect(await run("4")).toEqual(one);
    const text = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "200", "--jobs", "2");
    expect(text.out).toMatch(/^ffa fuzz {3}seed 1, 200 cases in [\d.]+ s \(\d+ cases\/s\)\n/);
    expect(text.out).not.toMatch(/a thread/);
  });

  it("draws a progress bar on a terminal once a run has lasted a second", async () => {
    const drawn: string[] = [];
    const write = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      drawn.push(String(chunk));
      return true;
    });
    // cli-progress draws only on a terminal: stderr is taken for one here.
    const wasTty = process.stderr.isTTY;
    process.stderr.isTTY = true;
    let out = "";
    try {
      const args = ["node", "rstmem", "ffa", "fuzz", "--flavor", "hafnium", "--runs", "60000", "--jobs", "1"];
      const code = await main(args, { out: (t) => (out += t), err: () => {}, errIsTty: true });
      expect(code).toBe(0);
    } finally {
      write.mockRestore();
      process.stderr.isTTY = wasTty;
    }
    expect(drawn.join("")).toMatch(/ffa fuzz hafnium \[[^\]]*\] \d+\/60000 cases/);
    expect(out).toMatch(/^clean {6}no violation in 60000 cases$/m);
  });

  it("--case N makes case N alone, exactly as a run makes it: its outcome, and the case whole", async () => {
    // Case 664 of seed 1 is where the README's 20,000-case run first meets hafnium-first-fragment-modes.
    const one = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--case", "664");
    expect(one.code).toBe(0);
    expect(one.out).toMatch(/^ffa fuzz {3}seed 1, case 664 alone, in [\d.]+ s$/m);
    expect(one.out).toContain("known: hafnium-first-fragment-modes ×1 (first in case 664)");
    expect(one.out).toMatch(/^case {7}664, base frag@1\.2$/m);
    expect(one.out).toMatch(/^clean {6}no violation in case 664$/m);
    const shown = JSON.parse(/^case JSON {2}(.*)$/m.exec(one.out)![1]);
    // The same bytes as the corpus of a run through it records for that case.
    const run = fuzz({ flavors: ["hafnium"], runs: 700, seed: 1, corpus: true });
    expect(shown).toEqual(JSON.parse(JSON.stringify(run.corpus.find((c) => c.id === 664))));
    const json = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--case", "664", "--json");
    expect(JSON.parse(json.out).case).toEqual(shown);
    // One case: a budget makes no sense with it.
    for (const extra of [
      ["--runs", "10"],
      ["--time", "1s"],
    ]) {
      const r = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--case", "3", ...extra);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/--case makes one case/);
    }
  });

  it("exits 2 on an unknown flavor or a bad budget", async () => {
    expect((await rstmem("ffa", "fuzz", "--flavor", "tf-a", "--runs", "5")).code).toBe(2);
    expect((await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "0")).code).toBe(2);
    expect((await rstmem("ffa", "fuzz", "--runs", "5")).code).toBe(2);
    const jobs = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "5", "--jobs", "0");
    expect(jobs.code).toBe(2);
    expect(jobs.err).toMatch(/--jobs/);
    // Two flavors named: commander would keep the last one silently.
    const twice = await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--flavor", "optee-sel1", "--runs", "5");
    expect(twice.code).toBe(2);
    expect(twice.err).toContain("--flavor given twice: name one flavor, or all");
    expect(twice.out).toBe("");
  });
});
