/**
 * The harness side of FF-A endpoints: what a driver does to make a call. It writes descriptors into
 * its own TX buffer through the machine (the normal world as the kernel, `cpu-ns` with {kernel:
 * true}; a partition as `cpu-s`), issues the call — an SMC through the conduit from the normal world,
 * a trap into the SPMC from a partition — and reads its RX buffer. It keeps the driver's view of the
 * negotiated version (Linux ffa_version_check(): the lower of its own and the SPMC's answer).
 *
 * Used by the `ffa` step and the benchmark. The normal world's endpoint is the kernel's arm_ffa driver:
 * it probes at boot (kernel/firmware/arm_ffa/driver.ts armFfaProbe()) and the harness then uses its
 * buffers and negotiated layout.
 */
import { ffaVersionLayout, type FfaVersion } from "../../abi/ffa/index.ts";
import type { EndpointDesc } from "../../firmware/spmc/endpoint.ts";
import type { Spmc } from "../../firmware/spmc/spmc.ts";
import type { Machine } from "../../hw/machine.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import type { Sleeps } from "../../sim/scheduler.ts";

export class FfaEndpointClient {
  /** The layout this driver writes descriptors in (its negotiated version). */
  layout: FfaVersion;
  readonly #master: number;

  constructor(
    readonly desc: EndpointDesc,
    private readonly machine: Machine,
    private readonly spmc: Spmc,
    layout: FfaVersion,
  ) {
    this.layout = layout;
    this.#master = machine.masterIndex(desc.master);
  }

  get id(): number {
    return this.desc.id;
  }

  get name(): string {
    return this.desc.name;
  }

  /** One FF-A call from this endpoint. */
  *call(regs: SmcRegs): Sleeps<SmcRegs> {
    if (this.desc.world === "ns") return yield* this.machine.smc.smc(regs, "ns");
    return yield* this.spmc.partitionCall(this.desc.id, regs);
  }

  /** Writes into the TX buffer at `offset`; returns the machine's access code (0 = ok). */
  writeTx(bytes: Uint8Array, offset = 0): number {
    if (this.desc.txPa === null) return -1;
    return this.machine.writeBytes(this.#master, this.desc.txPa + offset, bytes, {
      kernel: this.desc.world === "ns",
    });
  }

  /** Reads the RX buffer. */
  readRx(length: number): Uint8Array {
    if (this.desc.rxPa === null) return new Uint8Array(length);
    return this.machine.readBytes(this.#master, this.desc.rxPa, length, { kernel: this.desc.world === "ns" })
      .bytes;
  }

  /** Records the outcome of an FFA_VERSION call as the driver does: the lower of asked and answered. */
  noteVersion(requested: number, answer: number): void {
    if (answer >>> 31 !== 0) return;
    const v = ffaVersionLayout(Math.min(requested, answer));
    if (v) this.layout = v;
  }
}

export class FfaHarness {
  readonly endpoints: readonly FfaEndpointClient[];

  constructor(machine: Machine, spmc: Spmc, descs: readonly EndpointDesc[]) {
    const layout = machine.platform.ffaVersion;
    this.endpoints = descs.map((d) => new FfaEndpointClient(d, machine, spmc, layout));
  }

  /** An endpoint by scenario name (`normal`, `optee`, `sp2`) or ID. */
  endpoint(nameOrId: string | number): FfaEndpointClient | undefined {
    return this.endpoints.find((e) =>
      typeof nameOrId === "number" ? e.id === nameOrId : e.name === nameOrId,
    );
  }

  /**
   * The normal world's probe, as the arm_ffa driver does it (ffa_init()): FFA_VERSION, FFA_ID_GET,
   * then FFA_RXTX_MAP of its buffer pair.
   */
}
