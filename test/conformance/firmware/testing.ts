/**
 * Test-only helpers for the firmware tests in this folder: a booted system on a preset, a way to
 * run an endpoint's calls as a task, and the descriptors the tests send. Kept out of src/firmware so
 * that the firmware never imports the scenario layer.
 */
import {
  encodeMemRegion,
  encodeRelinquish,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RW,
  packMemAccessPermissions,
  type FfaVersion,
} from "../../../src/abi/ffa/index.ts";
import type { PlatformDesc } from "../../../src/hw/platform.ts";
import { smcRegs, type SmcRegs } from "../../../src/hw/smc.ts";
import { PRESETS } from "../../../src/scenario/presets.ts";
import { buildSystem, type System, type SystemOptions } from "../../../src/scenario/system.ts";
import type { Sleeps } from "../../../src/sim/scheduler.ts";
import { Sim } from "../../../src/sim/sim.ts";

export function boot(
  preset: string,
  overrides: Partial<PlatformDesc> = {},
  opts: SystemOptions = {},
): System {
  // Firmware alone: no OP-TEE handler and no kernel TEE driver holding shares of its own.
  return buildSystem(new Sim(1), { ...PRESETS[preset], ...overrides }, { tee: false, ...opts });
}

/** Runs `body` as a task to completion and returns its result. */
export function run<T>(sys: System, body: () => Sleeps<T>): T {
  let out: T | undefined;
  sys.sim.sched.spawn("test", function* () {
    out = yield* body();
  });
  sys.sim.sched.run();
  return out as T;
}

/** One call from an endpoint, with `bytes` written into its TX buffer first. */
export function* call(sys: System, who: string, regs: SmcRegs, bytes?: Uint8Array): Sleeps<SmcRegs> {
  const ep = sys.ffa.endpoint(who)!;
  if (bytes) ep.writeTx(bytes);
  return yield* ep.call(regs);
}

export function w(regs: SmcRegs, i: number): number {
  return Number(regs[i] & 0xffff_ffffn);
}

/** A lend to `receivers` of `constituents`, in `version`'s layout. */
export function lendDescriptor(
  constituents: readonly { address: number; pages: number }[],
  opts: { receivers?: number[]; tag?: bigint; version?: FfaVersion; sender?: number } = {},
): Uint8Array {
  return encodeMemRegion(
    {
      sender_id: opts.sender ?? 0,
      attributes: 0,
      flags: 0,
      tag: opts.tag ?? 1n,
      emads: (opts.receivers ?? [0x8001]).map((id) => ({ receiver_id: id, permissions: FFA_MEM_RW })),
      constituents: constituents.map((c) => ({ address: BigInt(c.address), page_count: c.pages })),
    },
    opts.version ?? "1.2",
  );
}

export function* lend(sys: System, bytes: Uint8Array, fid = FFA_MEM_LEND_32): Sleeps<SmcRegs> {
  return yield* call(sys, "normal", smcRegs(fid, bytes.length, bytes.length), bytes);
}

/** OP-TEE's retrieve request for a single-borrower lend. */
export function* retrieve(
  sys: System,
  handle: bigint,
  who = "optee",
  id = 0x8001,
  tag = 1n,
): Sleeps<SmcRegs> {
  const req = encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      handle,
      tag,
      emads: [{ receiver_id: id, permissions: packMemAccessPermissions({ data: "rw", instruction: "nx" }) }],
      constituents: null,
    },
    sys.ffa.endpoint(who)!.layout,
  );
  return yield* call(sys, who, smcRegs(FFA_MEM_RETRIEVE_REQ_32, req.length, req.length), req);
}

export function* relinquish(
  sys: System,
  handle: bigint,
  who = "optee",
  id = 0x8001,
  flags = 0,
): Sleeps<SmcRegs> {
  const d = encodeRelinquish({ handle, flags, endpoints: [id] });
  return yield* call(sys, who, smcRegs(FFA_MEM_RELINQUISH_32), d);
}

export function* reclaim(sys: System, handle: bigint, flags = 0): Sleeps<SmcRegs> {
  return yield* call(sys, "normal", smcRegs(FFA_MEM_RECLAIM_32, handle & 0xffff_ffffn, handle >> 32n, flags));
}

/** The handle of an FFA_SUCCESS answer (w2/w3). */
export function handleOf(regs: SmcRegs): bigint {
  return BigInt(w(regs, 2)) | (BigInt(w(regs, 3)) << 32n);
}
