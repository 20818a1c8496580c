/**
 * FF-A endpoints as the SPMC knows them: ID, world, UUID, partition properties, the negotiated FF-A
 * version and the RX/TX buffer pair (the mailbox).
 *
 * `struct vm` / `struct mailbox` — Hafnium inc/hf/vm.h; `struct ffa_rxtx` — OP-TEE
 * core/arch/arm/include/kernel/thread_spmc.h. Endpoint IDs: bit 15 set = secure partition
 * (`vm_id_is_current_world()` at the SPMC, `FFA_SWD_ID_MIN` 0x8000 in OP-TEE).
 */
import { ffaVersionLayout, type FfaVersion } from "../../abi/ffa/index.ts";
import type { World } from "../../hw/platform.ts";

/** The normal world's endpoint ID without a hypervisor (Linux: FFA_ID_GET returns 0). */
export const FFA_NWD_ID = 0x0000;
/** OP-TEE's endpoint ID (OP-TEE `SPMC_ENDPOINT_ID`, Hafnium manifests). */
export const FFA_OPTEE_ID = 0x8001;
/** The second secure partition of the Hafnium platforms (our choice of ID). */
export const FFA_SP2_ID = 0x8002;

/** True for a secure endpoint ID (bit 15). */
export function isSecureId(id: number): boolean {
  return (id & 0x8000) !== 0;
}

/** FFA_PARTITION_INFO_GET properties — DEN0077A Table 6.2 (OP-TEE `FFA_PART_PROP_*`). */
export const FFA_PART_PROP_DIRECT_REQ_RECV = 1 << 0;
export const FFA_PART_PROP_DIRECT_REQ_SEND = 1 << 1;
export const FFA_PART_PROP_INDIRECT_MSGS = 1 << 2;
export const FFA_PART_PROP_IS_PE_ID = 0 << 4;
export const FFA_PART_PROP_AARCH64_STATE = 1 << 8;

/** What a platform declares about an endpoint (the SP manifest, or the normal world). */
export interface EndpointDesc {
  readonly id: number;
  /** Scenario name: `normal`, `optee`, `sp2`. */
  readonly name: string;
  readonly world: World;
  /** UUID as the four 32-bit words FFA_PARTITION_INFO_GET takes in w1..w4. */
  readonly uuid: readonly [number, number, number, number];
  readonly properties: number;
  readonly execContexts: number;
  /** Where the endpoint's TX and RX buffers live (its driver or manifest picks them); null: it has none. */
  readonly txPa: number | null;
  readonly rxPa: number | null;
  /** Bytes per buffer. */
  readonly bufferSize: number;
  /** The bus master its own accesses use. */
  readonly master: "cpu-ns" | "cpu-s";
}

/** OP-TEE's UUID 486178e0-e7f8-11e3-bc5e-0002a5d5c51b as OP-TEE's `my_uuid_words` (thread_spmc.c). */
export const OPTEE_UUID_WORDS: readonly [number, number, number, number] = [
  0xe0786148, 0xe311f8e7, 0x02005ebc, 0x1bc5d5a5,
];
/** sp2's UUID (ours: 5370322d-0000-4000-8000-000000000002, a test partition). */
export const SP2_UUID_WORDS: readonly [number, number, number, number] = [
  0x2d327053, 0x00400000, 0x00000080, 0x02000000,
];

/** The SPMC's per-endpoint state. */
export class SpmcEndpoint {
  /** Negotiated version (packed), or null before FFA_VERSION. */
  version: number | null = null;
  /** Hafnium `ffa_version_negotiated`: set by the first call other than FFA_VERSION. */
  versionLocked = false;
  /** Mapped buffers (null until FFA_RXTX_MAP). */
  tx: number | null = null;
  rx: number | null = null;
  pageCount = 0;
  /** The RX buffer holds a message the endpoint owns (Hafnium MAILBOX_STATE_FULL; OP-TEE !tx_is_mine). */
  rxFull = false;

  constructor(readonly desc: EndpointDesc) {}

  get id(): number {
    return this.desc.id;
  }

  get secure(): boolean {
    return this.desc.world === "s";
  }

  /** Descriptor layout of the negotiated version (1.0 before negotiation, as FF-A v1.0 callers are). */
  get layout(): FfaVersion {
    return this.version === null ? "1.0" : (ffaVersionLayout(this.version) ?? "1.0");
  }

  get bufferBytes(): number {
    return this.pageCount * 4096;
  }
}
