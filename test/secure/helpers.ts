/**
 * Test-only helpers for the OP-TEE model: a booted system with OP-TEE, raw FF-A calls from the normal
 * world (as Linux's arm_ffa + OP-TEE drivers issue them), and the optee_msg_arg round trip through a
 * shared page. Addresses are ours: pages in the CMA area of both presets.
 */
import {
  encodeMemRegion,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RW,
  FFA_MEM_SHARE_32,
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_NORMAL_MEM_REG_ATTR,
} from "../../src/abi/ffa/index.ts";
import {
  decodeMsgArg,
  encodeMsgArg,
  memParam,
  OPTEE_FFA_RELEASE_PROTMEM,
  OPTEE_FFA_YIELDING_CALL_WITH_ARG,
  OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INOUT,
  OPTEE_MSG_ATTR_TYPE_VALUE_INPUT,
  OPTEE_MSG_CMD_ASSIGN_PROTMEM,
  OPTEE_MSG_CMD_GET_PROTMEM_CONFIG,
  valueParam,
  type OpteeMsgArg,
  msgArg,
} from "../../src/abi/optee/index.ts";
import type { SmcRegs } from "../../src/hw/smc.ts";
import { smcRegs } from "../../src/hw/smc.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem, type System } from "../../src/scenario/system.ts";
import { bootOptee, type OpteeBootOptions } from "../../src/secure/optee/boot.ts";
import type { OpteeSecure } from "../../src/secure/optee/optee.ts";
import type { Sleeps } from "../../src/sim/scheduler.ts";
import { Sim } from "../../src/sim/sim.ts";

/** The page Linux shares at probe for its optee_msg_args (ours). */
export const ARG_PAGE = 0xc800_0000;
/** Offset of the GET_PROTMEM_CONFIG output buffer in that page (the contract's model choice). */
export const CONFIG_BUF_OFFSET = 0x800;
/** Where the tests lend protected memory (ours): 1 MiB in the CMA area. */
export const LEND_PA = 0xd000_0000;
export const LEND_PAGES = 256;

export interface Booted {
  readonly sys: System;
  readonly os: OpteeSecure;
}

export function boot(preset: string, opts: OpteeBootOptions = {}): Booted {
  const sim = new Sim(1);
  // OP-TEE is booted here, with the test's options, and no normal-world TEE driver talks to it:
  // every call the tests see is their own.
  const sys = buildSystem(sim, PRESETS[preset], { tee: false });
  const os = bootOptee(sim, sys.machine, sys.spmc, opts);
  return { sys, os };
}

/** Runs `body` as a task to completion and returns its result. */
export function run<T>(sys: System, body: () => Sleeps<T>): T {
  let out: T | undefined;
  let finished = false;
  sys.sim.sched.spawn("test", function* () {
    out = yield* body();
    finished = true;
  });
  sys.sim.sched.run();
  if (!finished) throw new Error("test task did not finish");
  return out as T;
}

export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** A raw call from the normal world, `bytes` written into its TX buffer first. */
export function* nwd(sys: System, regs: SmcRegs, bytes?: Uint8Array): Sleeps<SmcRegs> {
  const ep = sys.ffa.endpoint("normal")!;
  if (bytes) ep.writeTx(bytes);
  return yield* ep.call(regs);
}

/** FFA_MSG_SEND_DIRECT_REQ (64-bit unless `wide` is false) from the normal world to OP-TEE. */
export function* direct(sys: System, data: readonly (number | bigint)[], wide = true): Sleeps<SmcRegs> {
  const fid = wide ? FFA_MSG_SEND_DIRECT_REQ_64 : FFA_MSG_SEND_DIRECT_REQ_32;
  return yield* nwd(sys, smcRegs(fid, 0x8001, 0, ...data));
}

function memDescriptor(pa: number, pages: number, tag: bigint, share: boolean): Uint8Array {
  return encodeMemRegion(
    {
      sender_id: 0,
      attributes: share ? FFA_NORMAL_MEM_REG_ATTR : 0,
      flags: 0,
      tag,
      emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
      constituents: [{ address: BigInt(pa), page_count: pages }],
    },
    "1.2",
  );
}

/** The handle of an FFA_SUCCESS answer, or throws with the answer. */
function handleOf(out: SmcRegs): bigint {
  if (w(out, 0) !== 0x8400_0061) throw new Error(`send failed: w0=${w(out, 0).toString(16)} w2=${w(out, 2)}`);
  return BigInt(w(out, 2)) | (BigInt(w(out, 3)) << 32n);
}

/** FFA_MEM_SHARE of one page for the args (attributes 0x2f, OP-TEE RW, tag 0). */
export function* shareArgPage(sys: System, pa = ARG_PAGE): Sleeps<bigint> {
  const d = memDescriptor(pa, 1, 0n, true);
  return handleOf(yield* nwd(sys, smcRegs(FFA_MEM_SHARE_32, d.length, d.length), d));
}

/** FFA_MEM_LEND with tag = use case, as Linux's optee_ffa_lend_protmem() does. */
export function* lend(sys: System, useCase: number, pa = LEND_PA, pages = LEND_PAGES): Sleeps<bigint> {
  const d = memDescriptor(pa, pages, BigInt(useCase), false);
  return handleOf(yield* nwd(sys, smcRegs(FFA_MEM_LEND_32, d.length, d.length), d));
}

export function* reclaim(sys: System, handle: bigint): Sleeps<SmcRegs> {
  return yield* nwd(sys, smcRegs(FFA_MEM_RECLAIM_32, handle & 0xffff_ffffn, handle >> 32n, 0));
}

export function* release(sys: System, handle: bigint): Sleeps<SmcRegs> {
  return yield* direct(sys, [OPTEE_FFA_RELEASE_PROTMEM, handle & 0xffff_ffffn, handle >> 32n]);
}

/** One yielding call with `arg` at offset 0 of the arg page; the arg as OP-TEE left it, and w3/w4. */
export function* yieldingCall(
  sys: System,
  argHandle: bigint,
  arg: OpteeMsgArg,
  pa = ARG_PAGE,
): Sleeps<{ arg: OpteeMsgArg; regs: SmcRegs }> {
  const cpuNs = sys.machine.masterIndex("cpu-ns");
  const bytes = encodeMsgArg(arg);
  sys.machine.writeBytes(cpuNs, pa, bytes);
  const regs = yield* direct(sys, [
    OPTEE_FFA_YIELDING_CALL_WITH_ARG,
    argHandle & 0xffff_ffffn,
    argHandle >> 32n,
    0,
  ]);
  const back = decodeMsgArg(sys.machine.readBytes(cpuNs, pa, bytes.length).bytes);
  if (!back.ok) throw new Error(back.why);
  return { arg: back.arg, regs };
}

export { msgArg };

/** GET_PROTMEM_CONFIG: no buffer (`size` 0, invalid global id) or the buffer at 0x800 of the arg page. */
export function protmemConfigArg(useCase: number, argHandle: bigint | null, size = 0): OpteeMsgArg {
  return msgArg(OPTEE_MSG_CMD_GET_PROTMEM_CONFIG, [
    valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INOUT, useCase),
    memParam(
      OPTEE_MSG_ATTR_TYPE_FMEM_OUTPUT,
      argHandle === null ? 0 : CONFIG_BUF_OFFSET,
      size,
      argHandle ?? 0xffff_ffff_ffff_ffffn,
    ),
  ]);
}

export function assignArg(cookie: bigint, useCase: number): OpteeMsgArg {
  return msgArg(OPTEE_MSG_CMD_ASSIGN_PROTMEM, [valueParam(OPTEE_MSG_ATTR_TYPE_VALUE_INPUT, cookie, useCase)]);
}

/** ASSIGN_PROTMEM through the arg page; the TEE_Result. */
export function* assign(sys: System, argHandle: bigint, cookie: bigint, useCase: number): Sleeps<number> {
  return (yield* yieldingCall(sys, argHandle, assignArg(cookie, useCase))).arg.ret;
}
