/**
 * Turning an `ffa` step into bytes and registers, as a driver would: descriptors encoded with the
 * codec (abi/ffa) in the caller's layout (or the one asked for), raw overrides applied, relinquish
 * descriptors, and the registers each call takes by default.
 */
import {
  encodeMemRegion,
  encodeRelinquish,
  ffaFuncId,
  ffaVersionNumber,
  FFA_MEM_RW,
  FFA_NORMAL_MEM_REG_ATTR,
  packMemAccessPermissions,
  packMemAttributes,
  packMemRegionFlags,
  packRelinquishFlags,
  parseHexOrBytes,
  type ConstituentInput,
  type EmadInput,
  type FfaVersion,
  type MemRegionOverrides,
} from "../../abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import type { FfaEndpointClient } from "./ffa_client.ts";
import type { DescriptorSpec, FfaStepFunction, FfaStepSpec, ValueSpec } from "./ffa_schema.ts";

/** A value the step cannot resolve (an unknown $NAME, bad hex): the step fails with this message. */
export class StepInputError extends Error {}

/** Resolves a number, hex string or `$NAME` against the saved values. */
export function resolveValue(v: ValueSpec, vars: ReadonlyMap<string, bigint>): bigint {
  if (typeof v === "number") return BigInt(v);
  if (v.startsWith("$")) {
    const saved = vars.get(v.slice(1));
    if (saved === undefined) throw new StepInputError(`no saved value ${v}`);
    return saved;
  }
  return BigInt(v.replace(/_/g, ""));
}

function num(v: ValueSpec, vars: ReadonlyMap<string, bigint>): number {
  return Number(resolveValue(v, vars));
}

/** The function ID: FFA_<name>_64 with smc64, else the 32-bit one. */
export function stepFuncId(fn: FfaStepFunction, smc64: boolean | undefined): number | undefined {
  return ffaFuncId(`FFA_${fn}_${smc64 ? "64" : "32"}`);
}

const SEND: readonly FfaStepFunction[] = ["MEM_LEND", "MEM_SHARE", "MEM_DONATE"];

export function isSend(fn: FfaStepFunction): boolean {
  return SEND.includes(fn);
}

function access(fn: FfaStepFunction, a: NonNullable<DescriptorSpec["receivers"]>[number]["access"]): number {
  if (a === undefined) return fn === "MEM_LEND" || fn === "MEM_SHARE" ? FFA_MEM_RW : 0;
  if (typeof a === "number") return a;
  return packMemAccessPermissions({
    data: a.data ?? "not-specified",
    instruction: a.instruction ?? "not-specified",
  });
}

function attributes(fn: FfaStepFunction, a: DescriptorSpec["attributes"]): number {
  if (a === undefined) return fn === "MEM_SHARE" ? FFA_NORMAL_MEM_REG_ATTR : 0;
  if (typeof a === "number") return a;
  return packMemAttributes({
    type: a.type,
    cacheability: a.type === "normal" ? (a.cacheability ?? "write-back") : null,
    device: a.type === "device" ? (a.device ?? "nGnRnE") : null,
    shareability: a.shareability ?? (a.type === "not-specified" ? "non-shareable" : "inner"),
    ns: a.ns ?? false,
  });
}

function flags(f: DescriptorSpec["flags"]): number {
  if (f === undefined) return 0;
  if (typeof f === "number") return f;
  return packMemRegionFlags({
    zeroMemory: f.zero_memory,
    timeSlicing: f.time_slicing,
    zeroAfterRelinquish: f.zero_after_relinquish,
    transactionType: f.transaction_type,
    alignmentHint: f.alignment_hint,
    alignmentHintValid: f.alignment_hint_valid,
    bypassBorrowersCheck: f.bypass_borrowers_check,
  });
}

/** Relinquish flags: bit 0 zero after relinquish (either typed name), bit 1 time slicing. */
function relinquishFlags(f: DescriptorSpec["flags"]): number {
  if (f === undefined) return 0;
  if (typeof f === "number") return f;
  return packRelinquishFlags({
    zeroAfterRelinquish: f.zero_after_relinquish === true || f.zero_memory === true,
    timeSlicing: f.time_slicing,
  });
}

function constituents(d: DescriptorSpec): ConstituentInput[] {
  const out: ConstituentInput[] = [];
  for (const c of d.constituents ?? []) {
    const stride = c.stride ?? c.pages * 4096;
    for (let k = 0; k < (c.repeat ?? 1); k++)
      out.push({ address: BigInt(c.address + k * stride), page_count: c.pages });
  }
  return out;
}

/** The bytes the step writes into the caller's TX buffer, or null when the call carries none. */
export function descriptorBytes(
  spec: FfaStepSpec,
  caller: FfaEndpointClient,
  vars: ReadonlyMap<string, bigint>,
): Uint8Array | null {
  const fn = spec.ffa;
  const d = spec.descriptor;
  if (d?.hex !== undefined) {
    const parsed = parseHexOrBytes(d.hex);
    if (!parsed.ok) throw new StepInputError(`descriptor.hex: ${parsed.error.why}`);
    return parsed.value;
  }
  if (fn === "MEM_RELINQUISH") {
    const handle = d?.handle ?? spec.handle;
    return encodeRelinquish({
      handle: handle === undefined ? 0n : resolveValue(handle, vars),
      flags: relinquishFlags(d?.flags),
      endpoints: (d?.endpoints ?? [caller.id]).map((e) => num(e, vars)),
    });
  }
  if (!isSend(fn) && fn !== "MEM_RETRIEVE_REQ") return null;
  const spec0: DescriptorSpec = d ?? {};
  const version: FfaVersion = spec0.version ?? caller.layout;
  const retrieve = fn === "MEM_RETRIEVE_REQ";
  const emads: EmadInput[] = (spec0.receivers ?? []).map((r) => ({
    receiver_id: num(r.id, vars),
    permissions: access(fn, r.access),
    flags: r.flags ?? 0,
    impdef: r.impdef ? [resolveValue(r.impdef[0], vars), resolveValue(r.impdef[1], vars)] : undefined,
    composite_offset: r.composite_offset,
  }));
  const cs = constituents(spec0);
  const handle = spec0.handle ?? (retrieve ? spec.handle : undefined);
  const overrides: MemRegionOverrides = {
    emad_size: spec0.emad_size,
    emad_count: spec0.emad_count,
    emad_offset: spec0.emad_offset,
    composite_offset: spec0.composite_offset,
    total_page_count: spec0.total_page_count,
    address_range_count: spec0.address_range_count,
    reserved: spec0.reserved,
    emad_reserved: spec0.emad_reserved === undefined ? undefined : resolveValue(spec0.emad_reserved, vars),
  };
  try {
    return encodeMemRegion(
      {
        // A retrieve names the lender: the normal world unless given (a send names the caller).
        sender_id: spec0.sender !== undefined ? num(spec0.sender, vars) : retrieve ? 0 : caller.id,
        attributes: retrieve && spec0.attributes === undefined ? 0 : attributes(fn, spec0.attributes),
        flags: flags(spec0.flags),
        handle: handle === undefined ? 0n : resolveValue(handle, vars),
        tag: spec0.tag === undefined ? 0n : resolveValue(spec0.tag, vars),
        emads,
        constituents: retrieve && cs.length === 0 ? null : cs,
      },
      version,
      overrides,
    );
  } catch (e) {
    throw new StepInputError(`descriptor: ${(e as Error).message}`);
  }
}

/** The registers of the first call (args override them). */
export function stepRegisters(
  spec: FfaStepSpec,
  fid: number,
  caller: FfaEndpointClient,
  bytes: Uint8Array | null,
  vars: ReadonlyMap<string, bigint>,
): SmcRegs {
  const fn = spec.ffa;
  const r = smcRegs(fid);
  const set = (i: number, v: number | bigint) => (r[i] = BigInt.asUintN(64, BigInt(v)));
  const handle = spec.handle === undefined ? 0n : resolveValue(spec.handle, vars);
  const len = bytes?.length ?? 0;
  if (isSend(fn) || fn === "MEM_RETRIEVE_REQ") {
    set(1, spec.total_length ?? len);
    set(2, spec.fragment_length ?? (spec.fragment ? Math.min(spec.fragment.bytes, len) : len));
  } else if (fn === "MEM_FRAG_TX" || fn === "MEM_FRAG_RX" || fn === "MEM_RECLAIM") {
    set(1, handle & 0xffff_ffffn);
    set(2, handle >> 32n);
    if (fn === "MEM_FRAG_TX") set(3, spec.fragment_length ?? len);
    if (fn === "MEM_FRAG_RX") set(3, spec.offset ?? 0);
    if (fn === "MEM_RECLAIM") set(3, spec.flags ?? 0);
  } else if (fn === "RXTX_MAP") {
    set(1, caller.desc.txPa ?? 0);
    set(2, caller.desc.rxPa ?? 0);
    set(3, caller.desc.bufferSize / 4096);
  } else if (fn === "VERSION") {
    set(1, ffaVersionNumber(caller.layout));
  } else if (fn === "MSG_SEND_DIRECT_REQ") {
    set(1, ((caller.id << 16) | 0x8001) >>> 0);
  }
  for (let i = 1; i <= 7; i++) {
    const v = spec.args?.[`w${i}` as "w1"];
    if (v !== undefined) set(i, resolveValue(v, vars));
  }
  return r;
}
