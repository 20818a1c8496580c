/**
 * The trusted OS as a whole (ARCHITECTURE.md §4): its FF-A memory objects (`mobjs`, per SPMC
 * flavor), its per-use-case protected-memory configuration, the scrub policy, the counters the
 * reports show, and OP-TEE's own accesses to memory (bus master `cpu-s`). Built by bootOptee().
 */
import type { Machine } from "../../hw/machine.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import type { ProtmemConfig } from "./config.ts";
import type { MobjFfaOps, MobjRef } from "./mobj.ts";

export type ScrubPolicy = "none" | "secure-on-release";

/** What OP-TEE did, for reports. */
export interface OpteeCounters {
  /** FFA_MSG_SEND_DIRECT_REQ received. */
  directRequests: number;
  /** OPTEE_FFA_YIELDING_CALL_WITH_ARG handled (arg found). */
  yieldingCalls: number;
  /** OPTEE_MSG_CMD_GET_PROTMEM_CONFIG handled. */
  configQueries: number;
  /** OPTEE_MSG_CMD_ASSIGN_PROTMEM answered TEE_SUCCESS / otherwise. */
  assigns: number;
  assignFailures: number;
  /** OPTEE_FFA_RELEASE_PROTMEM answered 0 / FFA_BUSY. */
  releases: number;
  releaseBusy: number;
  /** OPTEE_FFA_UNREGISTER_SHM answered. */
  unregisters: number;
  /** Pages OP-TEE zeroed before giving memory back, and the virtual time it took. */
  scrubbedPages: number;
  scrubNs: number;
}

export class OpteeSecure {
  readonly counters: OpteeCounters = {
    directRequests: 0,
    yieldingCalls: 0,
    configQueries: 0,
    assigns: 0,
    assignFailures: 0,
    releases: 0,
    releaseBusy: 0,
    unregisters: 0,
    scrubbedPages: 0,
    scrubNs: 0,
  };
  readonly #cpuS: number;

  constructor(
    readonly sim: Sim,
    readonly machine: Machine,
    readonly mobjs: MobjFfaOps,
    readonly configs: ReadonlyMap<number, ProtmemConfig>,
    readonly scrub: ScrubPolicy,
  ) {
    this.#cpuS = machine.masterIndex("cpu-s");
    if (this.#cpuS < 0) throw new Error(`${machine.platform.name} has no cpu-s master`);
  }

  get flavor(): MobjFfaOps["flavor"] {
    return this.mobjs.flavor;
  }

  /** OP-TEE reads shared memory through its own mapping (master cpu-s). */
  readShared(pa: number, length: number): { code: number; bytes: Uint8Array } {
    return this.machine.readBytes(this.#cpuS, pa, length);
  }

  /** OP-TEE writes shared memory (master cpu-s); the machine's access code. */
  writeShared(pa: number, bytes: Uint8Array): number {
    return this.machine.writeBytes(this.#cpuS, pa, bytes);
  }

  /** Zeroes a range (the scrub policy's memset); returns the ns it costs, counted. */
  zeroRange(pa: number, size: number): number {
    // Planted bug `no-scrub` (sim/mutations.ts); correct: the memset runs before the range leaves protection.
    if (this.sim.mutations["no-scrub"]) return 0;
    const ns = this.machine.zeroPages(pa, size);
    this.counters.scrubbedPages += Math.ceil(size / 4096);
    this.counters.scrubNs += ns;
    this.trace("scrub", { pa: "0x" + pa.toString(16), size });
    return ns;
  }

  /** The scrub before OP-TEE gives a protected object back (S-EL2 flavor: at RELEASE_PROTMEM). */
  *scrubBeforeGiveBack(m: MobjRef): Sleeps<void> {
    if (this.scrub !== "secure-on-release" || m.kind !== "prm") return;
    let ns = 0;
    for (const r of m.ranges) ns += this.zeroRange(r.address, r.pages * 4096);
    if (!elapse(ns)) yield sleep(ns);
  }

  /**
   * A TA starts using an assigned protected buffer (mobj_ffa_get_by_cookie(), as set_fmem_param()
   * does for an FMEM parameter of an invoke): held until `put()`; RELEASE_PROTMEM is BUSY meanwhile.
   */
  /** References a `RELEASE_PROTMEM` fault (faults.ts) left held by a TA until its invoke ends (thread_spmc.ts). */
  readonly faultHeld: MobjRef[] = [];

  getProtmem(cookie: bigint): MobjRef | null {
    return this.mobjs.findProtmem(cookie);
  }

  trace(event: string, data: Record<string, unknown> = {}): void {
    if (this.sim.trace.listening) this.sim.trace.emit("secure", event, data);
  }
}
