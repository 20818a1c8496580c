/**
 * The SPMC core shared by both flavors: the endpoint table, the partition handlers, the entry from
 * the SMC conduit (normal world) and from secure partitions, mailbox (RX/TX) access through the
 * machine, and the accounting of each call (its cost in virtual time, its rejection, its trace).
 *
 * Each call runs atomically, as the real SPMC does under its locks (Hafnium's share_states_lock and
 * vm locks are spinlocks; OP-TEE's shm_lock too): the state is checked and changed in one step, then
 * the time the work took is charged before the caller sees the answer. A direct request is the
 * exception: the partition's handler runs as a task step of its own and may sleep.
 *
 * Flavors (Hafnium at S-EL2, OP-TEE as its own SPMC at S-EL1) subclass this and answer every ABI
 * with their own rules and codes.
 */
import {
  FFA_MSG_SEND_DIRECT_REQ_32,
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_NOT_SUPPORTED,
  FFA_VERSION_32,
  ffaErrorName,
  ffaFuncName,
} from "../../abi/ffa/index.ts";
import { ACCESS_OK, type Machine } from "../../hw/machine.ts";
import { copyRegs, type SmcRegs } from "../../hw/smc.ts";
import type { World } from "../../hw/platform.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import { SpmcEndpoint, type EndpointDesc } from "./endpoint.ts";
import { injectedAnswer } from "./faults.ts";
import { PartitionRegistry, echoHandler } from "./partitions.ts";
import { CallCtx, ffaError, hex, isFfaError, w, type Rejection } from "./regs.ts";

export type SpmcFlavorName = "hafnium" | "optee-sel1";

/** The table limits of an SPMC (reference/ffa.md §5.2; OP-TEE thread_spmc.h). */
export interface SpmcLimits {
  /** Share states / cookies: Hafnium MAX_MEM_SHARES = 100, OP-TEE SPMC_CORE_SEL1_MAX_SHM_COUNT = 64. */
  readonly maxShares: number;
  /** Hafnium MAX_FRAGMENTS = 20 (platform.gni plat_max_fragments). */
  readonly maxFragments: number;
  /** Hafnium MAX_MEM_SHARE_RECIPIENTS = 2. */
  readonly maxRecipients: number;
}

/** Hafnium's internal copy buffer: one page from its pool (MM_PPOOL_ENTRY_SIZE). */
export const MM_PPOOL_ENTRY_SIZE = 4096;

/** Where a call came from, as the SPMC sees it (trace). */
export interface SpmcCallRecord {
  readonly from: number;
  readonly fid: number;
  readonly result: number;
  readonly rejection: Rejection | null;
}

export abstract class Spmc {
  abstract readonly flavor: SpmcFlavorName;
  readonly endpoints = new Map<number, SpmcEndpoint>();
  readonly partitions = new PartitionRegistry();
  /** Why the last call was rejected (null when it was not): steps show it next to the code. */
  lastRejection: Rejection | null = null;
  /** The same, per calling endpoint (calls from several tasks may interleave). */
  readonly lastRejectionOf = new Map<number, Rejection | null>();
  /** Calls handled, per function ID. */
  readonly calls = new Map<number, number>();
  /** Σ fid × 0x9e3779b1 × calls(fid) mod 2^32: `calls` in one number (the explorer's state hash). */
  callsDigest = 0;
  /**
   * Rejected calls, from any endpoint, keyed `"<FFA function name>: <rule>"` (e.g.
   * `"FFA_MEM_RETRIEVE_REQ_32: retrieve-instruction-access-not-specified"`): one count per call that
   * ended with a rule's FFA_ERROR (CallCtx.reject()), so a run's summary can say which rule refused
   * what. Answers that carry no rule (FFA_VERSION's NOT_SUPPORTED in w0, FFA_FEATURES' NOT_SUPPORTED
   * for an interface the SPMC does not offer this caller, OP-TEE's NO_DATA for "nothing pending", a
   * partition's own direct response) are not rejections of the SPMC's and are not counted.
   */
  readonly rejections = new Map<string, number>();
  readonly #cpuS: number;

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
    readonly limits: SpmcLimits,
  ) {
    this.#cpuS = machine.masterIndex("cpu-s");
  }

  /** Declares an endpoint (boot, from the manifests); secure ones get the echo stand-in handler. */
  addEndpoint(desc: EndpointDesc): SpmcEndpoint {
    const ep = new SpmcEndpoint(desc);
    this.endpoints.set(desc.id, ep);
    this.#nwd = null;
    if (ep.secure && !this.partitions.handler(desc.id)) this.partitions.register(desc.id, echoHandler);
    return ep;
  }

  /** The normal world's endpoint (the first non-secure one), found once per set of endpoints. */
  #nwd: SpmcEndpoint | undefined | null = null;
  #normalWorld(): SpmcEndpoint | undefined {
    if (this.#nwd === null) {
      this.#nwd = undefined;
      for (const e of this.endpoints.values()) {
        if (!e.secure) {
          this.#nwd = e;
          break;
        }
      }
    }
    return this.#nwd;
  }

  endpoint(id: number): SpmcEndpoint | undefined {
    return this.endpoints.get(id);
  }

  /** Takes the FF-A function IDs on the conduit: calls from the normal world come in here (via EL3's SPMD). */
  attach(): void {
    const handler = (regs: SmcRegs, caller: World) => this.#fromConduit(regs, caller);
    this.machine.smc.register("spmc-ffa-32", 0x8400_0060, 0x8400_00ff, handler);
    this.machine.smc.register("spmc-ffa-64", 0xc400_0060, 0xc400_00ff, handler);
  }

  /** A call from the conduit: the dispatch itself (no generator of its own around it). */
  #fromConduit(regs: SmcRegs, caller: World): Sleeps<SmcRegs> {
    const nwd = this.#normalWorld();
    // A secure-world SMC reaches the SPMD, not the SPMC's FF-A ABI (partitions use partitionCall()).
    if (caller !== "ns" || !nwd) return answerNow(ffaError(FFA_NOT_SUPPORTED));
    return this.#dispatch(nwd, regs);
  }

  /**
   * A secure partition's FF-A call (an SVC/HVC/SMC trapped by the SPMC: the SPMC knows the caller by
   * the vCPU that trapped, so the ID is not taken from the registers).
   */
  *partitionCall(id: number, regs: SmcRegs): Sleeps<SmcRegs> {
    const ep = this.endpoints.get(id);
    if (!ep || !ep.secure) throw new Error(`partitionCall: ${hex(id)} is not a secure partition`);
    return yield* this.#dispatch(ep, regs);
  }

  *#dispatch(ep: SpmcEndpoint, regs: SmcRegs): Sleeps<SmcRegs> {
    const fid = w(regs, 0);
    this.calls.set(fid, (this.calls.get(fid) ?? 0) + 1);
    this.callsDigest = (this.callsDigest + Math.imul(fid, 0x9e3779b1)) | 0;
    const ctx = new CallCtx();
    ctx.costNs += this.entryCostNs(ep);
    let out: SmcRegs;
    // The first call other than FFA_VERSION locks the version (Hafnium ffa_version_negotiated).
    if (fid !== FFA_VERSION_32) ep.versionLocked = true;
    // A fault (firmware/spmc/faults.ts) answers before the call changes anything.
    const fault = injectedAnswer(this.sim, ctx, fid, this.flavor);
    if (fault !== null) {
      out = fault;
      if (!elapse(ctx.costNs)) yield sleep(ctx.costNs);
    } else if (fid === FFA_MSG_SEND_DIRECT_REQ_32 || fid === FFA_MSG_SEND_DIRECT_REQ_64) {
      const target = this.directRequestTarget(ctx, ep, regs);
      if (typeof target !== "number") {
        out = target;
        if (!elapse(ctx.costNs)) yield sleep(ctx.costNs);
      } else {
        if (!elapse(ctx.costNs)) yield sleep(ctx.costNs);
        out = yield* this.#deliver(target, regs);
      }
    } else {
      out = this.handle(ctx, ep, fid, regs);
      if (!elapse(ctx.costNs)) yield sleep(ctx.costNs);
    }
    this.lastRejection = ctx.rejection;
    this.lastRejectionOf.set(ep.id, ctx.rejection);
    if (ctx.rejection) {
      const key = rejectionKey(fid, ctx.rejection.rule);
      this.rejections.set(key, (this.rejections.get(key) ?? 0) + 1);
    }
    if (this.sim.trace.listening) {
      this.sim.trace.emit("firmware", "ffa", {
        from: hex(ep.id),
        call: ffaFuncName(fid) ?? hex(fid),
        result: isFfaError(out)
          ? (ffaErrorName(w(out, 2)) ?? hex(w(out, 2)))
          : (ffaFuncName(w(out, 0)) ?? hex(w(out, 0))),
        ...(ctx.rejection ? { rule: ctx.rejection.rule, why: ctx.rejection.why } : {}),
      });
    }
    return out;
  }

  /** Runs the receiver's handler for a validated direct request (the SPMC switches to the partition). */
  *#deliver(receiver: number, regs: SmcRegs): Sleeps<SmcRegs> {
    const handler = this.partitions.handler(receiver);
    if (!handler) return ffaError(FFA_NOT_SUPPORTED);
    if (!elapse(this.machine.costs.worldSwitchSel1Ns)) yield sleep(this.machine.costs.worldSwitchSel1Ns);
    return yield* handler(copyRegs(regs));
  }

  /** Time to enter the SPMC from this endpoint and return. */
  /**
   * Fragmented sends whose last fragment never came: the SPMC holds their state (Hafnium frees it only
   * when a continuation fails its own checks; nobody can reclaim an incomplete send). Checked at the
   * end of a run (quiesce-clean).
   */
  abstract incompleteSends(): number;

  protected abstract entryCostNs(ep: SpmcEndpoint): number;

  /** Every ABI but the direct request: runs atomically, adds its cost to ctx. */
  protected abstract handle(ctx: CallCtx, ep: SpmcEndpoint, fid: number, regs: SmcRegs): SmcRegs;

  /** Validates a direct request: the receiver's ID, or the error to return. */
  protected abstract directRequestTarget(ctx: CallCtx, ep: SpmcEndpoint, regs: SmcRegs): number | SmcRegs;

  // ---- Mailbox access: the SPMC reads TX and writes RX buffers through the machine ----

  /**
   * memcpy_trapped() from the endpoint's TX buffer: the bytes, or null when the access faults
   * (Hafnium answers FFA_ABORTED). Costs the copy.
   */
  readTx(ctx: CallCtx, ep: SpmcEndpoint, offset: number, length: number): Uint8Array | null {
    if (ep.tx === null) return null;
    ctx.costNs += length / this.machine.costs.memcpyBytesPerNs;
    if (length === 0) return new Uint8Array(0);
    const r = this.machine.readBytes(this.#cpuS, ep.tx + offset, length);
    return r.code === ACCESS_OK ? r.bytes : null;
  }

  /** memcpy_trapped() into the endpoint's RX buffer; false when the access faults. Costs the copy. */
  writeRx(ctx: CallCtx, ep: SpmcEndpoint, bytes: Uint8Array): boolean {
    if (ep.rx === null) return false;
    ctx.costNs += bytes.length / this.machine.costs.memcpyBytesPerNs;
    return this.machine.writeBytes(this.#cpuS, ep.rx, bytes) === ACCESS_OK;
  }

  /** Zeroes pages (clear_memory()), charging the memset. */
  zero(ctx: CallCtx, pa: number, bytes: number): void {
    ctx.costNs += this.machine.zeroPages(pa, bytes);
  }

  /** Whether [pa, pa + size) is normal-world DRAM (OP-TEE core_pbuf_is(CORE_MEM_NON_SEC)). */
  isNonSecureDram(pa: number, size: number): boolean {
    const m = this.machine;
    if (size <= 0 || pa < m.dramBase || pa + size > m.dramEnd) return false;
    for (const r of m.platform.reserved) {
      if (r.secure && pa < r.base + r.size && pa + size > r.base) return false;
    }
    return true;
  }
}

/** An answer given without running anything. */
// eslint-disable-next-line require-yield
function* answerNow(regs: SmcRegs): Sleeps<SmcRegs> {
  return regs;
}

/** rejectionKey()'s strings, per function ID and rule. */
const rejectionKeys = new Map<number, Map<string, string>>();

/** The `rejections` key of a rule's refusal of call `fid` ("<FFA function name>: <rule>"), made once. */
function rejectionKey(fid: number, rule: string): string {
  let m = rejectionKeys.get(fid);
  if (!m) rejectionKeys.set(fid, (m = new Map()));
  let k = m.get(rule);
  if (k === undefined) m.set(rule, (k = `${ffaFuncName(fid) ?? hex(fid)}: ${rule}`));
  return k;
}
