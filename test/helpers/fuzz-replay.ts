/**
 * Replays an FF-A fuzz corpus case (src/explore/fuzz/corpus.ts) as a real SPMC's harness would: from a
 * fresh boot of the fuzz rig, using only the JSON's fields, and expects every call's recorded reply.
 */
import { expect } from "vitest";
import { FFA_SUCCESS_32 } from "../../src/abi/ffa/index.ts";
import type { CorpusCase } from "../../src/explore/fuzz/corpus.ts";
import { FuzzRig } from "../../src/explore/fuzz/rig.ts";
import type { OpteeSel1Spmc } from "../../src/firmware/optee_sel1/optee_sel1.ts";
import type { SpmcFlavorName } from "../../src/firmware/spmc/spmc.ts";

/** Replays a corpus case as a real SPMC's harness would: from a fresh boot, only the JSON's fields. */
export function replayCorpusCase(c: CorpusCase, flavor: SpmcFlavorName): void {
  const rig = new FuzzRig(flavor, c.partition_version);
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
    if (call.internal && want.refcount !== undefined) {
      // OP-TEE's core takes or drops a reference to the object the cookie names.
      const op = rig.spmc as OpteeSel1Spmc;
      const cookie = handleOf(replies[call.handle!.from]) ^ BigInt(call.handle!.xor);
      const m = op.mobjs.get(cookie);
      if (m && call.internal === "mobj_ffa_get_by_cookie") op.mobjs.getByCookie(cookie);
      else if (m && call.internal === "mobj_ffa_unregister_by_cookie") op.mobjs.unregisterByCookie(cookie);
      else if (m && m.refcount > 0) op.mobjs.put(m);
      expect(m ? m.refcount : null, `${c.id} ${flavor} ${call.call}`).toBe(want.refcount);
      replies.push(null);
      continue;
    }
    if (want.x === null) {
      replies.push(null);
      continue;
    }
    const x = new BigUint64Array(18);
    call.x.forEach((v, i) => (x[i] = BigInt(v)));
    let tx = call.tx ? Uint8Array.from(Buffer.from(call.tx, "hex")) : null;
    if (call.handle) {
      const h = handleOf(replies[call.handle.from]) ^ BigInt(call.handle.xor);
      if (call.handle.at === "w1" || call.handle.at === "w4") {
        const i = call.handle.at === "w1" ? 1 : 4;
        x[i] = h & 0xffff_ffffn;
        x[i + 1] = h >> 32n;
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
    if (call.shm) {
      // The message the driver writes into memory it shares with OP-TEE, the cookie written in.
      const bytes = Uint8Array.from(Buffer.from(call.shm.bytes, "hex"));
      if (call.shm.cookie) {
        const h = handleOf(replies[call.shm.cookie.from]) ^ BigInt(call.shm.cookie.xor);
        new DataView(bytes.buffer).setBigUint64(call.shm.cookie.off, h, true);
      }
      rig.writeShm(Number(call.shm.address), bytes);
    }
    const got = rig.call(call.by, x);
    const gotX = Array.from(got.subarray(0, 8), (v) => "0x" + v.toString(16));
    expect(gotX, `${c.id} ${flavor} ${call.call}`).toEqual(want.x);
    if (want.shm)
      expect(
        Buffer.from(rig.machine.bytes.read(Number(call.shm!.address), want.shm.length / 2)).toString("hex"),
      ).toBe(want.shm);
    if (want.rx) expect(Buffer.from(rig.readRx(call.by, want.rx.length / 2)).toString("hex")).toBe(want.rx);
    replies.push(Array.from(got.subarray(0, 8)));
  }
}
