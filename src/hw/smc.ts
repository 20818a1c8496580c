/**
 * The SMC conduit: the only way from the normal world to the secure side (ARCHITECTURE.md §1).
 *
 * A call carries x0..x17 as 64-bit values and gets x0..x17 back (SMCCC v1.2 register use, which FF-A
 * v1.2 needs for its extended direct messages). Handlers register for a range of function IDs (w0); an
 * ID nobody handles returns SMC_UNK (−1 in x0), as TF-A does. The world switch costs time.
 */
import type { Sleeps } from "../sim/scheduler.ts";
import { elapse, sleep } from "../sim/scheduler.ts";
import type { Sim } from "../sim/sim.ts";
import type { World } from "./platform.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

export type SmcRegs = BigUint64Array;

/** SMC_UNK — SMCCC "NOT_SUPPORTED", −1 in x0. */
export const SMC_UNK = 0xffffffffffffffffn;

export type SmcHandler = (regs: SmcRegs, caller: World) => Sleeps<SmcRegs>;

interface Route {
  readonly name: string;
  readonly lo: number;
  readonly hi: number;
  readonly handler: SmcHandler;
}

/** Register files carved from one buffer (each its own 18 words): see newRegs(). */
const SLAB_REGS = 256;
const REGS_BYTES = 18 * 8;
let slab = new ArrayBuffer(SLAB_REGS * REGS_BYTES);
let slabNext = 0;

/**
 * A zeroed x0..x17 register file. Every SMC allocates two (the handler's copy of the caller's, the
 * reply), and a typed array of 144 bytes gets its own off-heap backing store (V8 keeps only ≤ 64-byte
 * arrays on the heap), which costs ~10× a view into a shared buffer: so they are views, 256 to a buffer,
 * as Node's Buffer pool does. A view never overlaps another; `.buffer` is the shared one (nothing reads
 * a register file through its buffer).
 */
export function newRegs(): SmcRegs {
  if (slabNext === SLAB_REGS) {
    slab = new ArrayBuffer(SLAB_REGS * REGS_BYTES);
    slabNext = 0;
  }
  return new BigUint64Array(slab, REGS_BYTES * slabNext++, 18);
}

/** A copy of a register file (its first 18 words). */
export function copyRegs(regs: SmcRegs): SmcRegs {
  const r = newRegs();
  r.set(regs.length > 18 ? regs.subarray(0, 18) : regs);
  return r;
}

/** Builds an x0..x17 register file from numbers or bigints (missing ones are 0). */
export function smcRegs(...values: (number | bigint)[]): SmcRegs {
  const r = newRegs();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    r[i] = typeof v === "bigint" ? BigInt.asUintN(64, v) : BigInt.asUintN(64, BigInt(v));
  }
  return r;
}

export class SmcConduit implements Snapshottable {
  readonly #routes: Route[] = [];
  /** Calls per function ID (w0). */
  readonly calls = new Map<number, number>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { routes: this.#routes };
  }

  constructor(
    private readonly sim: Sim,
    private readonly roundTripNs: () => number,
  ) {}

  /** Routes function IDs lo..hi (inclusive, compared on w0) to a handler. */
  register(name: string, lo: number, hi: number, handler: SmcHandler): void {
    for (const r of this.#routes) {
      if (lo <= r.hi && hi >= r.lo) throw new Error(`SMC range of ${name} overlaps ${r.name}`);
    }
    this.#routes.push({ name, lo, hi, handler });
  }

  /** SMC #0 from `caller`: returns the register file the handler leaves. */
  *smc(regs: SmcRegs, caller: World = "ns"): Sleeps<SmcRegs> {
    const fid = Number(regs[0] & 0xffffffffn);
    this.calls.set(fid, (this.calls.get(fid) ?? 0) + 1);
    const half = this.roundTripNs() / 2;
    if (!elapse(half)) yield sleep(half);
    let route: Route | undefined;
    for (const r of this.#routes) {
      if (fid >= r.lo && fid <= r.hi) {
        route = r;
        break;
      }
    }
    if (this.sim.trace.listening) this.sim.trace.emit("hw", "smc", { fid, to: route?.name ?? "none" });
    let out: SmcRegs;
    if (route) {
      out = yield* route.handler(copyRegs(regs), caller);
    } else {
      out = newRegs();
      out[0] = SMC_UNK;
    }
    if (!elapse(half)) yield sleep(half);
    return out;
  }
}
