/**
 * `ffa: FUNCTION` — one raw FF-A call from an endpoint (ARCHITECTURE.md §7). The harness writes the
 * descriptor into the caller's TX buffer, sets the registers, calls through the conduit (or the
 * partition's trap into the SPMC), and compares the answer with `expect` / `expect_regs`. With
 * `fragment: {bytes: N}` a send goes in N-byte fragments, the rest with FFA_MEM_FRAG_TX, each
 * FFA_MEM_FRAG_RX checked for the offset it reports. `save: NAME` keeps the handle.
 */
import {
  FFA_ERROR_32,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEMORY_HANDLE_INVALID,
  FFA_SUCCESS_32,
  FFA_SUCCESS_64,
  ffaErrorName,
  ffaFuncName,
} from "../../abi/ffa/index.ts";
import { platformEndpoints } from "../../firmware/boot.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { afterInjectedFault, expectedText, expectMet } from "./expect.ts";
import { defineStep, type StepContext, type StepOutcomeCore } from "./types.ts";
import {
  descriptorBytes,
  isSend,
  resolveValue,
  stepFuncId,
  stepRegisters,
  StepInputError,
} from "./ffa_encode.ts";
import { ffaStepSchema, type FfaStepSpec } from "./ffa_schema.ts";
import type { FfaEndpointClient } from "./ffa_client.ts";

/** What an answer is called in `expect`: the function or error name without FFA_ and width. */
export function resultName(regs: SmcRegs): string {
  const w0 = Number(regs[0] & 0xffff_ffffn);
  if (w0 === FFA_ERROR_32)
    return ffaErrorName(Number(regs[2] & 0xffff_ffffn))?.slice(4) ?? `error ${regs[2]}`;
  const name = ffaFuncName(w0);
  return name ? name.slice(4).replace(/_(32|64)$/, "") : `0x${w0.toString(16)}`;
}

function hex(v: bigint | number): string {
  return "0x" + v.toString(16);
}

function handleOf(regs: SmcRegs): bigint | null {
  const w0 = Number(regs[0] & 0xffff_ffffn);
  const lo = (i: number) => regs[i] & 0xffff_ffffn;
  if (w0 === FFA_SUCCESS_32 || w0 === FFA_SUCCESS_64) return lo(2) | (lo(3) << 32n);
  if (w0 === FFA_MEM_FRAG_RX_32 || w0 === FFA_MEM_FRAG_TX_32) return lo(1) | (lo(2) << 32n);
  return null;
}

export const ffaStep = defineStep({
  kind: "ffa",
  schema: ffaStepSchema,

  check(spec, platform, path, map) {
    const eps = platformEndpoints(platform);
    const as = spec.as ?? "normal";
    const ep = eps.find((e) => (typeof as === "number" ? e.id === as : e.name === as));
    if (!ep) {
      throw map.error(
        [...path, "as"],
        `no endpoint "${as}" on ${platform.name} (${platform.spmc}); expected one of ${eps.map((e) => e.name).join(", ")}`,
      );
    }
    if (stepFuncId(spec.ffa, spec.smc64) === undefined) {
      throw map.error([...path, "smc64"], `FFA_${spec.ffa} has no 64-bit function ID`);
    }
    if (spec.fragment && !isSend(spec.ffa)) {
      throw map.error([...path, "fragment"], "fragment: only for MEM_LEND, MEM_SHARE and MEM_DONATE");
    }
  },

  *run(ctx, spec) {
    return yield* runFfa(ctx, spec);
  },
});

function* runFfa(ctx: StepContext, spec: FfaStepSpec): Sleeps<StepOutcomeCore> {
  const expected = expectedText(spec.expect);
  const harness = ctx.system.ffa;
  const caller = harness.endpoint(spec.as ?? "normal");
  if (!caller) return { got: "error", expected, ok: false, detail: `no endpoint ${spec.as}` };
  const fid = stepFuncId(spec.ffa, spec.smc64)!;
  let bytes: Uint8Array | null;
  let regs: SmcRegs;
  try {
    bytes = descriptorBytes(spec, caller, ctx.vars);
    regs = stepRegisters(spec, fid, caller, bytes, ctx.vars);
  } catch (e) {
    if (e instanceof StepInputError) return { got: "error", expected, ok: false, detail: e.message };
    throw e;
  }
  const chunk = spec.fragment ? spec.fragment.bytes : Number.MAX_SAFE_INTEGER;
  if (bytes) caller.writeTx(bytes.subarray(0, Math.min(chunk, bytes.length)));
  let out = yield* caller.call(regs);
  let sentFragments = 1;
  let sent = Math.min(chunk, bytes?.length ?? 0);
  const notes: string[] = [];
  if (spec.ffa === "VERSION")
    caller.noteVersion(Number(regs[1] & 0xffff_ffffn), Number(out[0] & 0xffff_ffffn));

  // The handle a fragmented send got in FFA_MEM_FRAG_RX: `save` keeps it even when a later fragment fails.
  let sendHandle: bigint | null = null;
  if (spec.fragment && bytes) {
    const stop = spec.fragment.stop_after ?? Number.MAX_SAFE_INTEGER;
    while (resultName(out) === "MEM_FRAG_RX" && sent < bytes.length && sentFragments < stop) {
      const offset = Number(out[3] & 0xffff_ffffn);
      if (offset !== sent) {
        return outcome(
          ctx,
          spec,
          caller.id,
          out,
          `${resultName(out)} reported offset ${offset} after ${sent} bytes`,
          false,
        );
      }
      const handle = handleOf(out)!;
      sendHandle = handle;
      const next = bytes.subarray(sent, Math.min(sent + chunk, bytes.length));
      caller.writeTx(next);
      out = yield* caller.call(
        smcRegs(FFA_MEM_FRAG_TX_32, handle & 0xffff_ffffn, handle >> 32n, next.length),
      );
      sent += next.length;
      sentFragments++;
    }
    notes.push(`${sentFragments} fragment(s), ${sent}/${bytes.length} bytes`);
  }
  return outcome(ctx, spec, caller.id, out, notes.join("; "), true, sendHandle);
}

function outcome(
  ctx: StepContext,
  spec: FfaStepSpec,
  callerId: number,
  out: SmcRegs,
  note: string,
  fragmentsOk: boolean,
  sendHandle: bigint | null = null,
): StepOutcomeCore {
  const expected = expectedText(spec.expect);
  let got = resultName(out);
  if (spec.ffa === "VERSION") got = Number(out[0] & 0xffff_ffffn) >>> 31 ? "NOT_SUPPORTED" : "SUCCESS";
  const parts: string[] = [];
  if (note) parts.push(note);
  const rej = ctx.system.spmc.lastRejectionOf.get(callerId) ?? null;
  if (got !== "SUCCESS" && rej) parts.push(`rule ${rej.rule}: ${rej.why}`);
  const regsText = [0, 1, 2, 3, 4].map((i) => `w${i}=${hex(out[i] & 0xffff_ffffn)}`).join(" ");
  parts.push(regsText);
  let ok = fragmentsOk && expectMet(spec.expect, got);
  for (let i = 1; i <= 7; i++) {
    const want = spec.expect_regs?.[`w${i}` as "w1"];
    if (want === undefined) continue;
    let value: bigint;
    try {
      value = resolveValue(want, ctx.vars);
    } catch (e) {
      return { got, expected, ok: false, detail: (e as Error).message };
    }
    if (out[i] !== value) {
      ok = false;
      parts.unshift(`w${i} is ${hex(out[i])}, expected ${hex(value)}`);
    }
  }
  // After a fault the scenario did not plan, a miss of one expected outcome is not judged (runner.ts):
  // the save goes on as for an accepted failure.
  const unjudged = !ok && afterInjectedFault(ctx.system.sim.faults, spec.expect);
  if (spec.save && (ok || unjudged)) {
    // A call that failed as the step accepts saves FFA_MEMORY_HANDLE_INVALID (~0), as a caller's handle
    // variable left unset: a later reclaim of it is refused (INVALID_PARAMETERS), as in C.
    const failed = Number(out[0] & 0xffff_ffffn) === FFA_ERROR_32;
    const h = handleOf(out) ?? sendHandle ?? (failed ? FFA_MEMORY_HANDLE_INVALID : null);
    if (h !== null) ctx.vars.set(spec.save, h);
  }
  return { got, expected, ok, detail: parts.join("; ") };
}

export type { FfaEndpointClient };
