import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  FFA_ERROR_32,
  FFA_INVALID_PARAMETERS,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_RETRY,
  FFA_SUCCESS_32,
} from "../../src/abi/ffa/index.ts";
import { rstmem } from "../helpers/rstmem.ts";
import type { CorpusCase } from "../../src/explore/fuzz/corpus.ts";
import { caseCalls, fuzz, generateCase } from "../../src/explore/fuzz/fuzz.ts";
import { Prng } from "../../src/sim/prng.ts";
import { buildBases } from "../../src/explore/fuzz/gen.ts";
import { consistencyProblem, replyProblem } from "../../src/explore/fuzz/oracle.ts";
import { FuzzRig, type FuzzCaller } from "../../src/explore/fuzz/rig.ts";
import { FlavorRunner } from "../../src/explore/fuzz/runner.ts";
import { capture, differs } from "../../src/explore/fuzz/state.ts";
import { OWNER_NORMAL } from "../../src/hw/frames.ts";
import { HafniumSpmc } from "../../src/firmware/hafnium/hafnium.ts";
import { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import type { SpmcFlavorName } from "../../src/firmware/spmc/spmc.ts";
import { regs } from "../../src/explore/fuzz/calls.ts";

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
        expect(differs(used.rig, used.bases[i].snap), `${flavor} ${bases[i].name}`).toBeNull();
        // Across rigs the machine and the SPMC's arrays and endpoints compare too (Hafnium's share
        // states hold their fragments by identity, so only OP-TEE's objects compare across rigs).
        expect(differs(used.rig, capture(fresh.rig)) ?? "", `${flavor} ${bases[i].name}`).not.toMatch(
          /machine|endpoint|page|object|pending|cookie/,
        );
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
    const call = FuzzRig.prototype.call;
    FuzzRig.prototype.call = function (this: FuzzRig, by, x) {
      const r = call.call(this, by, x);
      if (this.spmc.lastRejection?.rule === "too-many-fragments") this.spmc.endpoint(0)!.rxFull = true;
      return r;
    };
    try {
      const planted = (batch: number) =>
        fuzz({ flavors: ["hafnium"], runs: 2000, seed: 3, corpus: true, batch });
      const one = planted(1);
      expect(one.violation?.kind).toBe("state-changed-on-rejection");
      expect(one.violation!.caseIndex % 128).not.toBe(127);
      expect(one.cases).toBe(one.violation!.caseIndex + 1);
      expect(JSON.stringify(planted(128))).toBe(JSON.stringify(one));
    } finally {
      FuzzRig.prototype.call = call;
    }
  });

  it("gives the same corpus, byte for byte, for the same seed", () => {
    const a = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 3, corpus: true });
    const b = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 3, corpus: true });
    const c = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 150, seed: 4, corpus: true });
    expect(JSON.stringify(a.corpus)).toBe(JSON.stringify(b.corpus));
    expect(JSON.stringify(a.corpus)).not.toBe(JSON.stringify(c.corpus));
  });

  it("writes a corpus a harness can replay from the JSON alone, getting every expected reply", () => {
    const r = fuzz({ flavors: ["hafnium", "optee-sel1"], runs: 120, seed: 11, corpus: true });
    expect(r.corpus.length).toBeGreaterThan(10);
    for (const c of r.corpus.slice(0, 25)) {
      for (const flavor of ["hafnium", "optee-sel1"] as SpmcFlavorName[]) replayCorpusCase(c, flavor);
    }
  });
});

/** Replays a corpus case as a real SPMC's harness would: from a fresh boot, only the JSON's fields. */
function replayCorpusCase(c: CorpusCase, flavor: SpmcFlavorName): void {
  const rig = new FuzzRig(flavor);
  const replies: (bigint[] | null)[] = [];
  const handleOf = (x: bigint[] | null): bigint => {
    if (!x) return 0n;
    const w0 = Number(x[0] & 0xffff_ffffn);
    if (w0 === FFA_SUCCESS_32) return (x[2] & 0xffff_ffffn) | ((x[3] & 0xffff_ffffn) << 32n);
    if (w0 === 0x8400_007a) return (x[1] & 0xffff_ffffn) | ((x[2] & 0xffff_ffffn) << 32n);
    return 0n;
  };
  for (const call of c.calls) {
    const want = call.expect[flavor]!;
    if (want.x === null) {
      replies.push(null);
      continue;
    }
    const x = new BigUint64Array(18);
    call.x.forEach((v, i) => (x[i] = BigInt(v)));
    let tx = call.tx ? Uint8Array.from(Buffer.from(call.tx, "hex")) : null;
    if (call.handle) {
      const h = handleOf(replies[call.handle.from]) ^ BigInt(call.handle.xor);
      if (call.handle.at === "w1") {
        x[1] = h & 0xffff_ffffn;
        x[2] = h >> 32n;
      } else if (tx && tx.length >= (call.handle.at === "tx8" ? 16 : 8)) {
        tx = tx.slice();
        new DataView(tx.buffer).setBigUint64(call.handle.at === "tx8" ? 8 : 0, h, true);
      }
    }
    if (call.offset_from !== undefined) {
      const r = replies[call.offset_from];
      x[3] = r && Number(r[0] & 0xffff_ffffn) === 0x8400_0075 ? r[2] & 0xffff_ffffn : 0n;
    }
    rig.writeTx(call.by, tx);
    const got = rig.call(call.by, x);
    const gotX = Array.from(got.subarray(0, 8), (v) => "0x" + v.toString(16));
    expect(gotX, `${c.id} ${flavor} ${call.call}`).toEqual(want.x);
    if (want.rx) expect(Buffer.from(rig.readRx(call.by, want.rx.length / 2)).toString("hex")).toBe(want.rx);
    replies.push(Array.from(got.subarray(0, 8)));
  }
}

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
    };
    expect(index.format).toBe("rstmem-ffa-fuzz/1");
    expect(index.files.length).toBeGreaterThan(0);
    for (const f of index.files) expect(existsSync(join(dir, f))).toBe(true);
    expect(readdirSync(dir).length).toBe(index.files.length + 1);
  });

  it("exits 2 on an unknown flavor or a bad budget", async () => {
    expect((await rstmem("ffa", "fuzz", "--flavor", "tf-a", "--runs", "5")).code).toBe(2);
    expect((await rstmem("ffa", "fuzz", "--flavor", "hafnium", "--runs", "0")).code).toBe(2);
    expect((await rstmem("ffa", "fuzz", "--runs", "5")).code).toBe(2);
  });
});
