/**
 * Test-only instruments for the FF-A tests: a recorder of every SMC through the conduit (registers in
 * and out, taken by wrapping SmcConduit.prototype.smc for the duration of a test, since the probe runs
 * inside buildSystem()), the SPMC's own view of calls from the trace, and a fake SPMC for driver tests
 * that need answers the real flavors never give (FFA_YIELD, FFA_SUCCESS_64, FFA_MEM_OP_PAUSE).
 */
import { FFA_MEM_RW, ffaFuncId, ffaFuncName } from "../../src/abi/ffa/index.ts";
import type { FfaMemOpsArgs } from "../../src/kernel/firmware/arm_ffa/mem_ops.ts";
import { ArmFfaDriver, type FfaProbeResult } from "../../src/kernel/firmware/arm_ffa/driver.ts";
import { Machine } from "../../src/hw/machine.ts";
import { SmcConduit, smcRegs, type SmcRegs } from "../../src/hw/smc.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import type { Sleeps } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";

export interface SmcRecord {
  readonly caller: string;
  readonly regs: SmcRegs;
  out: SmcRegs | null;
}

/** Records every SMC (all machines) until the returned function is called. */
export function recordSmcs(onCall?: (r: SmcRecord) => void): { log: SmcRecord[]; stop: () => void } {
  const log: SmcRecord[] = [];
  const orig = SmcConduit.prototype.smc;
  SmcConduit.prototype.smc = function* (this: SmcConduit, regs: SmcRegs, caller = "ns" as const) {
    const rec: SmcRecord = { caller, regs: regs.slice(), out: null };
    log.push(rec);
    onCall?.(rec);
    const out = yield* orig.call(this, regs, caller);
    rec.out = out.slice();
    return out;
  } as typeof orig;
  return { log, stop: () => (SmcConduit.prototype.smc = orig) };
}

/** The low 32 bits of a register. */
export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** "FFA_FEATURES_32" → its ID (throws on a typo). */
export function fid(name: string): number {
  const id = ffaFuncId(name);
  if (id === undefined) throw new Error(`no FF-A function ${name}`);
  return id;
}

export function fname(id: number): string {
  return ffaFuncName(id) ?? `0x${id.toString(16)}`;
}

/** A fake SPMC on a bare machine: every FF-A SMC goes to `answer`, which sees the registers. */
export function fakeSpmc(answer: (regs: SmcRegs, n: number) => SmcRegs | (number | bigint)[]): {
  sim: Sim;
  machine: Machine;
  drv: ArmFfaDriver;
  calls: SmcRegs[];
} {
  const sim = new Sim(1);
  const machine = new Machine(sim, PRESETS["tzc400-board"]);
  const calls: SmcRegs[] = [];
  // eslint-disable-next-line require-yield
  const handler = function* (regs: SmcRegs): Sleeps<SmcRegs> {
    calls.push(regs.slice());
    const r = answer(regs, calls.length - 1);
    return Array.isArray(r) ? smcRegs(...r) : r;
  };
  machine.smc.register("fake-ffa-32", 0x8400_0060, 0x8400_00ff, handler);
  machine.smc.register("fake-ffa-64", 0xc400_0060, 0xc400_00ff, handler);
  const txPa = machine.dramBase + 0x20_0000;
  const probe: FfaProbeResult = {
    vmId: 0,
    txPa,
    rxPa: txPa + 4096,
    bufferSize: 4096,
    version: "1.2",
    versionNumber: 0x1_0002,
    calls: new Map(),
  };
  return { sim, machine, drv: new ArmFfaDriver(sim, machine, probe), calls };
}

/** Runs a body as a task to its end (a fake-SPMC machine has no kernel). */
export function runOn<T>(sim: Sim, body: () => Sleeps<T>): T {
  let out: T | undefined;
  let done = false;
  sim.sched.spawn("t", function* () {
    out = yield* body();
    done = true;
  });
  sim.sched.run();
  if (!done) throw new Error("task did not finish");
  return out as T;
}

/**
 * ffa_memory_lend() arguments for OP-TEE (0x8001, RW) of `n` separate pages: every other page from `pa`,
 * so no two constituents merge and the descriptor grows past one fragment as `n` does (250 fill the
 * first 4 KiB fragment at v1.2).
 */
export function lendEveryOtherPage(pa: number, n: number): FfaMemOpsArgs {
  return {
    useTxbuf: true,
    tag: 0n,
    flags: 0,
    attrs: [{ receiver: 0x8001, attrs: FFA_MEM_RW }],
    sg: Array.from({ length: n }, (_, i) => ({ pa: pa + 2 * i * 4096, length: 4096 })),
    gHandle: 0n,
  };
}
