/**
 * The OP-TEE driver's message arguments and get_protmem_config()'s buffer, as torvalds/linux v6.18 has
 * them: drivers/tee/optee/call.c optee_get_msg_arg() / optee_free_msg_arg() (the arg cache: pages
 * allocated and shared when a message needs one, the cache mutex held only to pick or return a slot),
 * and drivers/tee/optee/protmem.c get_protmem_config() (its attribute buffer is a
 * tee_shm_alloc_priv_buf(): shared, passed as MEMREF_OUTPUT by its FF-A handle, then tee_shm_free():
 * OPTEE_FFA_UNREGISTER_SHM and FFA_MEM_RECLAIM).
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_SHARE_64,
  FFA_MSG_SEND_DIRECT_REQ_32,
} from "../../src/abi/ffa/index.ts";
import {
  OPTEE_FFA_UNREGISTER_SHM,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
} from "../../src/abi/optee/index.ts";
import { opteeMsgArgSize, SHM_ENTRY_SIZE } from "../../src/kernel/optee/call.ts";
import { getProtmemConfig, type OpteeProtmemDynPool } from "../../src/kernel/optee/protmem.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { recordSmcs, w, type SmcRecord } from "./ffa-fixture.ts";
import { expectQuiesced, runTasks, teeSystem } from "./tee-fixture.ts";

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

const isYielding = (r: SmcRecord) =>
  w(r.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32 && w(r.regs, 3) === OPTEE_FFA_YIELDING_CALL_WITH_ARG;
const handleOf = (r: SmcRecord) => (r.out![2] & 0xffff_ffffn) | ((r.out![3] & 0xffff_ffffn) << 32n);

describe("the message-argument cache (call.c)", () => {
  it("a slot is optee_msg_arg_size(rpc_param_count) bytes: 6 params plus OP-TEE's 4-param RPC arg", () => {
    expect(opteeMsgArgSize(4)).toBe(224 + 160);
    expect(opteeMsgArgSize(0)).toBe(224);
  });

  it("the first message allocates and shares the page; every later one reuses it, and frees its slot", () => {
    const rec = recordSmcs();
    stop = rec.stop;
    const sys = teeSystem("tzc400-board");
    const optee = sys.kernel.optee!;
    const nwd = rec.log.filter((r) => r.caller === "ns");
    const firstShare = nwd.findIndex((r) => w(r.regs, 0) === FFA_MEM_SHARE_64);
    const firstYield = nwd.findIndex(isYielding);
    // Shared right before the first yielding call (not among the arm_ffa / probe's blocking calls).
    expect(firstShare).toBe(firstYield - 1);
    expect(optee.shmArgCache.entries.length).toBe(1);
    const page = optee.shmArgCache.entries[0].shm;
    for (const r of nwd.filter(isYielding)) {
      expect(r.regs[4] | (r.regs[5] << 32n)).toBe(page.secWorldId);
      expect(w(r.regs, 6)).toBe(0);
    }
    expect(optee.shmArgCache.entries[0].map).toBe(0);
    expect(page.size).toBe(SHM_ENTRY_SIZE);
    expectQuiesced(sys);
  });

  it("two messages at once take two slots of the page: the cache mutex is not held across the call", () => {
    const sys = teeSystem("tzc400-board");
    const optee = sys.kernel.optee!;
    const offsets: number[] = [];
    sys.sim.trace.subscribe((e) => {
      if (e.layer === "secure" && e.name === "yielding-call") offsets.push(Number(e.args.offset));
    });
    const out = runTasks(sys.sim, [
      () => getProtmemConfig(optee, 1, null, 0),
      () => getProtmemConfig(optee, 1, null, 0),
    ]);
    expect(out.map((o) => o.rc)).toEqual([-28, -28]); // -ENOSPC: the query
    expect(offsets).toEqual([0, opteeMsgArgSize(4)]);
    expect(optee.shmArgCache.entries.length).toBe(1);
    expect(optee.shmArgCache.mutex.contended).toBe(0);
    expect(optee.shmArgCache.entries[0].map).toBe(0);
  });

  it("without OPTEE_SHM_ARG_SHARED, one slot a page: a second message at once allocates and shares a second page", () => {
    const rec = recordSmcs();
    stop = rec.stop;
    const sys = teeSystem("tzc400-board");
    const optee = sys.kernel.optee!;
    optee.shmArgCache.flags = 0;
    const before = rec.log.length;
    runTasks(sys.sim, [() => getProtmemConfig(optee, 1, null, 0), () => getProtmemConfig(optee, 1, null, 0)]);
    const calls = rec.log.slice(before).filter((r) => r.caller === "ns");
    expect(calls.filter((r) => w(r.regs, 0) === FFA_MEM_SHARE_64).length).toBe(1);
    expect(optee.shmArgCache.entries.length).toBe(2);
    expect(calls.filter(isYielding).map((r) => w(r.regs, 6))).toEqual([0, 0]);
  });
});

describe("get_protmem_config()'s attribute buffer (protmem.c)", () => {
  for (const platform of ["tzc400-board", "fvp-rme"]) {
    it(`${platform}: a shared page of its own, passed by handle, then unregistered and reclaimed`, () => {
      const rec = recordSmcs();
      stop = rec.stop;
      const sim = new Sim(1);
      const messages: { cmd: number; cookie: string }[] = [];
      sim.trace.subscribe((e) => {
        if (e.layer === "secure" && e.name === "yielding-call")
          messages.push({ cmd: Number(e.args.cmd), cookie: String(e.args.cookie) });
      });
      const sys = buildSystem(sim, PRESETS[platform]);
      const nwd = rec.log.filter((r) => r.caller === "ns");
      const shares = nwd.filter((r) => w(r.regs, 0) === FFA_MEM_SHARE_64);
      expect(shares.length).toBe(2);
      const [argPage, buf] = shares.map(handleOf);
      const unreg = nwd.find(
        (r) => w(r.regs, 0) === FFA_MSG_SEND_DIRECT_REQ_32 && w(r.regs, 3) === OPTEE_FFA_UNREGISTER_SHM,
      )!;
      expect(unreg.regs[4] | (unreg.regs[5] << 32n)).toBe(buf);
      expect(w(unreg.out!, 3)).toBe(0);
      const reclaims = nwd.filter((r) => w(r.regs, 0) === FFA_MEM_RECLAIM_32);
      expect(reclaims.map((r) => r.regs[1] | (r.regs[2] << 32n))).toEqual([buf]);
      // Both GET_PROTMEM_CONFIG messages were in the arg page; the pool got OP-TEE's one attribute.
      expect(messages.slice(0, 2)).toEqual([
        { cmd: OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, cookie: "0x" + argPage.toString(16) },
        { cmd: OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, cookie: "0x" + argPage.toString(16) },
      ]);
      const pool = sys.kernel.optee!.protmemPool as OpteeProtmemDynPool;
      expect(pool.memAttrs.map((a) => a & 0xffff)).toEqual([0x8001]);
      expect(sys.kernel.optee!.ffaHandles.has(buf)).toBe(false);
      if (platform === "fvp-rme") {
        // Under Hafnium OP-TEE retrieves each shared page on first use and relinquishes the buffer
        // at OPTEE_FFA_UNREGISTER_SHM, before Linux reclaims it.
        const ffaTrace = sys.spmc.calls;
        expect(ffaTrace.get(FFA_MEM_RETRIEVE_REQ_32)).toBe(2);
        expect(ffaTrace.get(FFA_MEM_RELINQUISH_32)).toBe(1);
      }
    });
  }
});
