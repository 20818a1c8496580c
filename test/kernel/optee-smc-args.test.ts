/**
 * The SMC ABI driver's messages as Linux 6.18 passes them (drivers/tee/optee/smc_abi.c with call.c's
 * argument cache): OPTEE_SHM_ARG_ALLOC_PRIV pages (private, unregistered, one message a page without
 * OPTEE_SMC_SEC_CAP_RPC_ARG) passed by physical address with OPTEE_SMC_CALL_WITH_ARG; a registered
 * shm with an RPC arg by reference (OPTEE_SMC_CALL_WITH_REGD_ARG); optee_to_msg_param()'s memrefs
 * (NULL → TMEM 0/0, a private buffer → TMEM by PA, a registered one → RMEM).
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT,
  OPTEE_SMC_CALL_WITH_ARG,
} from "../../src/abi/optee/index.ts";
import { opteeGetMsgArg, opteeFreeMsgArg } from "../../src/kernel/optee/call.ts";
import { OPTEE_SHM_ARG_ALLOC_PRIV } from "../../src/kernel/optee/optee.ts";
import { getProtmemConfig } from "../../src/kernel/optee/protmem.ts";
import {
  OPTEE_SMC_CALL_WITH_REGD_ARG,
  OPTEE_SMC_CALL_WITH_RPC_ARG,
  OPTEE_SMC_OPS,
} from "../../src/kernel/optee/smc_abi.ts";
import { shmPtr, smcToMsgParam } from "../../src/kernel/optee/smc_shm.ts";
import { TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, teeParam } from "../../src/kernel/tee/tee_core.ts";
import { TEE_SHM_DYNAMIC, TEE_SHM_POOL, TEE_SHM_PRIV } from "../../src/kernel/tee/tee_shm.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { recordSmcs, w, type SmcRecord } from "./ffa-fixture.ts";
import { run, runTasks } from "./tee-fixture.ts";

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

function smcSystem() {
  return buildSystem(new Sim(1), { ...PRESETS["tzc400-board"], opteeAbi: "smc" });
}

const parg = (r: SmcRecord) => Number((BigInt(w(r.regs, 1)) << 32n) | BigInt(w(r.regs, 2)));

describe("the SMC ABI driver's messages (smc_abi.c + call.c)", () => {
  it("come from the arg cache: a private page, passed by physical address with CALL_WITH_ARG", () => {
    const rec = recordSmcs();
    stop = rec.stop;
    const sys = smcSystem();
    const optee = sys.kernel.optee!;
    expect(optee.shmArgCache.flags).toBe(OPTEE_SHM_ARG_ALLOC_PRIV);
    expect(optee.shmArgCache.entries.length).toBe(1);
    const page = optee.shmArgCache.entries[0].shm;
    expect(page.flags).toBe(TEE_SHM_PRIV | TEE_SHM_POOL);
    const calls = rec.log.filter((r) => w(r.regs, 0) === OPTEE_SMC_CALL_WITH_ARG);
    // GET_PROTMEM_CONFIG, then the device PTA's OPEN_SESSION: both in the same page, at offset 0.
    expect(calls.map(parg)).toEqual([page.paddr, page.paddr]);
    expect(optee.shmArgCache.entries[0].map).toBe(0);
  });

  it("two messages at once: one slot a page without RPC_ARG, so a second private page; no lock across the SMC", () => {
    const sys = smcSystem();
    const optee = sys.kernel.optee!;
    const rec = recordSmcs();
    stop = rec.stop;
    runTasks(sys.sim, [() => getProtmemConfig(optee, 1, null, 0), () => getProtmemConfig(optee, 1, null, 0)]);
    expect(optee.shmArgCache.entries.length).toBe(2);
    expect(optee.shmArgCache.mutex.contended).toBe(0);
    const pages = optee.shmArgCache.entries.map((e) => e.shm.paddr).sort();
    const seen = rec.log
      .filter((r) => w(r.regs, 0) === OPTEE_SMC_CALL_WITH_ARG)
      .map(parg)
      .sort();
    expect(seen).toEqual(pages);
  });

  it("with an RPC parameter count: a registered shm goes by reference (REGD_ARG), a private one by PA (RPC_ARG)", () => {
    const sys = smcSystem();
    const optee = sys.kernel.optee!;
    optee.rpcParamCount = 4;
    const rec = recordSmcs();
    stop = rec.stop;
    run(sys.sim, function* () {
      const slot = yield* opteeGetMsgArg(optee.ctx!, 0);
      if (typeof slot === "number") throw new Error(`optee_get_msg_arg: ${slot}`);
      yield* OPTEE_SMC_OPS.doCallWithArg(optee, slot.shm, slot.offs);
      slot.shm.flags |= TEE_SHM_DYNAMIC; // as a registered kernel buffer would be
      yield* OPTEE_SMC_OPS.doCallWithArg(optee, slot.shm, slot.offs);
      slot.shm.flags &= ~TEE_SHM_DYNAMIC;
      yield* opteeFreeMsgArg(optee.ctx!, slot);
    });
    const [byPa, byRef] = rec.log;
    expect(w(byPa.regs, 0)).toBe(OPTEE_SMC_CALL_WITH_RPC_ARG);
    expect(parg(byPa)).toBe(optee.shmArgCache.entries[0].shm.paddr);
    expect(w(byRef.regs, 0)).toBe(OPTEE_SMC_CALL_WITH_REGD_ARG);
    const ptr = shmPtr(optee.shmArgCache.entries[0].shm);
    expect([byRef.regs[1], byRef.regs[2], byRef.regs[3]]).toEqual([ptr >> 32n, ptr & 0xffff_ffffn, 0n]);
  });

  it("optee_to_msg_param(): a NULL memref is TMEM {0, size, 0}; a private buffer TMEM by PA; a registered one RMEM", () => {
    const sys = smcSystem();
    const optee = sys.kernel.optee!;
    const shm = optee.shmArgCache.entries[0].shm;
    const out = smcToMsgParam(optee, [
      teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, { size: 16n }),
      teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, { shm, shmOffs: 64n, size: 16n }),
    ]);
    if (typeof out === "number") throw new Error(`to_msg_param: ${out}`);
    expect(out[0]).toEqual({ attr: BigInt(OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT), u: [0n, 16n, 0n] });
    expect(out[1]).toEqual({
      attr: BigInt(OPTEE_MSG_ATTR_TYPE_TMEM_OUTPUT),
      u: [BigInt(shm.paddr + 64), 16n, shmPtr(shm)],
    });
    shm.flags |= TEE_SHM_DYNAMIC;
    const reg = smcToMsgParam(optee, [
      teeParam(TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT, { shm, shmOffs: 64n, size: 16n }),
    ]);
    shm.flags &= ~TEE_SHM_DYNAMIC;
    expect(reg).toEqual([{ attr: BigInt(OPTEE_MSG_ATTR_TYPE_RMEM_OUTPUT), u: [64n, 16n, shmPtr(shm)] }]);
  });
});
