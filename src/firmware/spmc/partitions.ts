/**
 * Secure partitions' message handlers: what runs in a partition when the SPMC delivers an
 * FFA_MSG_SEND_DIRECT_REQ to it. The SPMC reaches a partition only this way, with the request's
 * registers; the partition answers with FFA_MSG_SEND_DIRECT_RESP registers.
 *
 * Pluggable (endpoint ID → handler) so the OP-TEE model of a later issue replaces the stand-in.
 * The stand-in echoes w3..w7 back, as a test SP does (Hafnium test/vmapi services "echo").
 */
import {
  FFA_MSG_SEND_DIRECT_REQ_64,
  FFA_MSG_SEND_DIRECT_RESP_32,
  FFA_MSG_SEND_DIRECT_RESP_64,
} from "../../abi/ffa/index.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { smcRegs, type SmcRegs } from "../../hw/smc.ts";
import { w } from "./regs.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** A partition's direct-request handler: request registers in, response registers out. */
export type PartitionHandler = (request: SmcRegs) => Sleeps<SmcRegs>;

/** The response function ID that matches a request's width. */
export function directRespFid(requestFid: number): number {
  return requestFid === FFA_MSG_SEND_DIRECT_REQ_64
    ? FFA_MSG_SEND_DIRECT_RESP_64
    : FFA_MSG_SEND_DIRECT_RESP_32;
}

/** w1 of the response: the request's sender and receiver swapped (OP-TEE swap_src_dst()). */
export function swapSrcDst(w1: number): number {
  return ((w1 >>> 16) | (w1 << 16)) >>> 0;
}

/** The stand-in handler: DIRECT_RESP with w3..w7 echoed (a 32-bit request answers with 32-bit values). */
// eslint-disable-next-line require-yield
export function* echoHandler(request: SmcRegs): Sleeps<SmcRegs> {
  const fid = w(request, 0);
  const wide = fid === FFA_MSG_SEND_DIRECT_REQ_64;
  const reg = (i: number) => (wide ? request[i] : request[i] & 0xffff_ffffn);
  return smcRegs(directRespFid(fid), swapSrcDst(w(request, 1)), 0, reg(3), reg(4), reg(5), reg(6), reg(7));
}

/** Endpoint ID → handler. */
export class PartitionRegistry implements Snapshottable {
  readonly #handlers = new Map<number, PartitionHandler>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { handlers: this.#handlers };
  }

  register(id: number, handler: PartitionHandler): void {
    this.#handlers.set(id, handler);
  }

  handler(id: number): PartitionHandler | undefined {
    return this.#handlers.get(id);
  }
}
