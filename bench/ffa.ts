/**
 * FF-A benchmarks (wired into bench/run.ts by the lead):
 * - decode + validate of a 1-receiver, 1-constituent v1.1 descriptor (the codec), per second;
 * - full memory-sharing cycles on fvp-rme (Hafnium, RME) per second: a LEND of 1,000 constituents
 *   fragmented at 4 KiB (FFA_MEM_FRAG_TX), OP-TEE's RETRIEVE with its FRAG_RX continuation and
 *   RX_RELEASEs, RELINQUISH, RECLAIM — every byte through the TX/RX pages and every call through the
 *   conduit, as in a scenario.
 * Wall-clock time is read here only, never inside the simulation.
 */
import { performance } from "node:perf_hooks";
import {
  decodeMemRegion,
  encodeMemRegion,
  encodeRelinquish,
  FFA_MEM_FRAG_RX_32,
  FFA_MEM_FRAG_TX_32,
  FFA_MEM_LEND_32,
  FFA_MEM_RECLAIM_32,
  FFA_MEM_RELINQUISH_32,
  FFA_MEM_RETRIEVE_REQ_32,
  FFA_MEM_RW,
  FFA_RX_RELEASE_32,
  FFA_SUCCESS_32,
  packMemAccessPermissions,
  validateMemRegion,
} from "../src/abi/ffa/index.ts";
import { smcRegs, type SmcRegs } from "../src/hw/smc.ts";
import { PRESETS } from "../src/scenario/presets.ts";
import type { FfaEndpointClient } from "../src/scenario/steps/ffa_client.ts";
import { buildSystem } from "../src/scenario/system.ts";
import type { Sleeps } from "../src/sim/scheduler.ts";
import { Sim } from "../src/sim/sim.ts";

export interface FfaFigure {
  name: string;
  value: number;
  unit: string;
  budget?: string;
}

const w = (r: SmcRegs, i: number) => Number(r[i] & 0xffff_ffffn);

function decodeValidate(figure: (f: FfaFigure) => void): void {
  const bytes = encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      tag: 1n,
      emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
      constituents: [{ address: 0x9000_0000n, page_count: 256 }],
    },
    "1.1",
  );
  const n = 300_000;
  let best = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    let problems = 0;
    for (let i = 0; i < n; i++) {
      const d = decodeMemRegion(bytes, "1.1");
      if (d.ok) problems += validateMemRegion(d.value, "1.1", { func: FFA_MEM_LEND_32 }).length;
    }
    best = Math.min(best, performance.now() - t0);
    if (problems !== 0) throw new Error("bench descriptor is not valid");
  }
  figure({
    name: "FF-A decode + validate per second (1 receiver, 1 constituent, v1.1)",
    value: Math.round((n / best) * 1000),
    unit: "descriptors/s",
    budget: ">= 1000000",
  });
}

/** The lend descriptor of `constituents` single pages, every other page (no two adjacent). */
function lendDescriptor(constituents: number): Uint8Array {
  return encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      tag: 1n,
      emads: [{ receiver_id: 0x8001, permissions: FFA_MEM_RW }],
      constituents: Array.from({ length: constituents }, (_, i) => ({
        address: BigInt(0x9000_0000 + i * 0x2000),
        page_count: 1,
      })),
    },
    "1.2",
  );
}

/**
 * One cycle, as the normal world's driver and OP-TEE make the calls. The driver's descriptor is built
 * once (the codec's encoding speed is measured on its own); every byte still goes through the TX page.
 */
function* cycle(
  nwd: FfaEndpointClient,
  optee: FfaEndpointClient,
  desc: Uint8Array,
  fragment: number,
): Sleeps<void> {
  nwd.writeTx(desc.subarray(0, fragment));
  let out = yield* nwd.call(smcRegs(FFA_MEM_LEND_32, desc.length, Math.min(fragment, desc.length)));
  let sent = Math.min(fragment, desc.length);
  while (w(out, 0) !== FFA_SUCCESS_32) {
    const next = desc.subarray(sent, sent + fragment);
    nwd.writeTx(next);
    out = yield* nwd.call(smcRegs(FFA_MEM_FRAG_TX_32, w(out, 1), w(out, 2), next.length));
    sent += next.length;
  }
  const handle = BigInt(w(out, 2)) | (BigInt(w(out, 3)) << 32n);
  const req = encodeMemRegion(
    {
      sender_id: 0,
      attributes: 0,
      flags: 0,
      handle,
      tag: 1n,
      emads: [
        { receiver_id: 0x8001, permissions: packMemAccessPermissions({ data: "rw", instruction: "nx" }) },
      ],
      constituents: null,
    },
    "1.2",
  );
  optee.writeTx(req);
  out = yield* optee.call(smcRegs(FFA_MEM_RETRIEVE_REQ_32, req.length, req.length));
  const total = w(out, 1);
  let got = w(out, 2);
  optee.readRx(got);
  yield* optee.call(smcRegs(FFA_RX_RELEASE_32));
  while (got < total) {
    out = yield* optee.call(smcRegs(FFA_MEM_FRAG_RX_32, handle & 0xffff_ffffn, handle >> 32n, got));
    optee.readRx(w(out, 3));
    got += w(out, 3);
    yield* optee.call(smcRegs(FFA_RX_RELEASE_32));
  }
  optee.writeTx(encodeRelinquish({ handle, endpoints: [0x8001] }));
  out = yield* optee.call(smcRegs(FFA_MEM_RELINQUISH_32));
  if (w(out, 0) !== FFA_SUCCESS_32) throw new Error("bench relinquish failed");
  out = yield* nwd.call(smcRegs(FFA_MEM_RECLAIM_32, handle & 0xffff_ffffn, handle >> 32n, 0));
  if (w(out, 0) !== FFA_SUCCESS_32) throw new Error("bench reclaim failed");
}

function sharingCycles(figure: (f: FfaFigure) => void, speculation: boolean): void {
  const sim = new Sim(1);
  const preset = PRESETS["fvp-rme"];
  // Without the CPU's speculative fills: under RME they never reach protected granules, and their
  // sampling (proportional to virtual time, ~5 ms a cycle) would dominate what this measures.
  const platform = speculation ? preset : { ...preset, caches: { ...preset.caches, specFillsPerMs: 0 } };
  const sys = buildSystem(sim, platform);
  const nwd = sys.ffa.endpoint("normal")!;
  const optee = sys.ffa.endpoint("optee")!;
  const cycles = 300;
  const desc = lendDescriptor(1000);
  let ms = Infinity;
  for (let rep = 0; rep < 3; rep++) {
    sim.sched.spawn(`bench-${rep}`, function* () {
      for (let i = 0; i < cycles; i++) yield* cycle(nwd, optee, desc, 4096);
    });
    const t0 = performance.now();
    sim.sched.run();
    ms = Math.min(ms, performance.now() - t0);
  }
  if (sim.findings.count("ffa-consistency") !== 0) throw new Error("bench cycles broke ffa-consistency");
  const what = "LEND of 1,000 constituents (4 KiB fragments) + RETRIEVE + RELINQUISH + RECLAIM, fvp-rme";
  figure({
    name: speculation
      ? `FF-A cycles per second: ${what}, with speculative fills`
      : `FF-A cycles per second: ${what}`,
    value: Math.round((cycles / ms) * 1000),
    unit: "cycles/s",
    ...(speculation ? {} : { budget: ">= 2000" }),
  });
}

export function benchFfa(figure: (f: FfaFigure) => void): void {
  decodeValidate(figure);
  sharingCycles(figure, false);
  sharingCycles(figure, true);
}

// `tsx bench/ffa.ts` runs it alone.
if (import.meta.url === `file://${process.argv[1]}`) benchFfa((f) => console.log(JSON.stringify(f)));
