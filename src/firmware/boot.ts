/**
 * Bringing up the firmware of a platform, in boot order: EL3's SiP services, the SPMC of the
 * platform's flavor with its endpoints (the normal world and the secure partitions from their
 * manifests), then each partition's own FF-A setup (FFA_VERSION, FFA_RXTX_MAP), as SPs do at init.
 *
 * Where the buffers and the partitions' memory are is our choice (no single real board fixes it):
 * - normal world: TX at DRAM base + 2 MiB, RX right after it — a stand-in until the kernel's arm_ffa
 *   driver model exists and allocates them at probe;
 * - partitions (Hafnium): their memory is the first secure carveout (split in halves when there are
 *   two partitions: OP-TEE the first, sp2 the second), or the platform's secure RAM; each one's TX and
 *   RX buffers are the first two buffer-sized blocks of its memory;
 * - OP-TEE as its own SPMC maps no buffers with itself.
 */
import { FFA_RXTX_MAP_64, FFA_VERSION_32, ffaVersionNumber } from "../abi/ffa/index.ts";
import type { PlatProtmem } from "../abi/optee/protmem.ts";
import type { Machine } from "../hw/machine.ts";
import type { PlatformDesc } from "../hw/platform.ts";
import { smcRegs } from "../hw/smc.ts";
import { drainSync, type Sleeps } from "../sim/scheduler.ts";
import type { Sim } from "../sim/sim.ts";
import { attachArmSip } from "./el3/protect_mem.ts";
import { HafniumSpmc, HAFNIUM_LIMITS } from "./hafnium/hafnium.ts";
import { OpteeSel1Spmc, OPTEE_SEL1_LIMITS } from "./optee_sel1/optee_sel1.ts";
import {
  FFA_NWD_ID,
  FFA_OPTEE_ID,
  FFA_SP2_ID,
  OPTEE_UUID_WORDS,
  SP2_UUID_WORDS,
  type EndpointDesc,
} from "./spmc/endpoint.ts";
import { MM_MODE_NWD_MEMORY, MM_MODE_R, MM_MODE_W } from "./spmc/page_state.ts";
import { DEFAULT_SP_PROPERTIES } from "./spmc/partition_info.ts";
import type { Spmc, SpmcLimits } from "./spmc/spmc.ts";

/** Offset of the normal world's TX buffer from the start of DRAM (stand-in, see above). */
export const NWD_RXTX_OFFSET = 0x200000;

export interface FirmwareOptions {
  /** Override the SPMC's table limits (tests, sweeps). */
  readonly spmcLimits?: Partial<SpmcLimits>;
}

/**
 * The platform's plat_set_protmem_range() for OP-TEE as its own SPMC (secure/optee/plat_protmem.ts
 * platProtmemFor): the builder of the system passes it, as the platform port is linked into OP-TEE's
 * image — the firmware layer does not import the secure layer (ARCHITECTURE.md §1).
 */
export type PlatProtmemFactory = (sim: Sim, machine: Machine) => PlatProtmem;

export interface Firmware {
  readonly spmc: Spmc;
  readonly endpoints: readonly EndpointDesc[];
}

/** The endpoints a platform has: the normal world, OP-TEE, and sp2 under Hafnium. */
export function platformEndpoints(platform: PlatformDesc): EndpointDesc[] {
  const size = platform.rxtxBufferSize;
  const nwdTx = platform.dram.base + NWD_RXTX_OFFSET;
  const out: EndpointDesc[] = [
    {
      id: FFA_NWD_ID,
      name: "normal",
      world: "ns",
      uuid: [0, 0, 0, 0],
      properties: 0,
      execContexts: 1,
      txPa: nwdTx,
      rxPa: nwdTx + size,
      bufferSize: size,
      master: "cpu-ns",
    },
  ];
  const sps = platform.spmc === "hafnium" ? 2 : 1;
  const mem = partitionMemory(platform, sps);
  out.push({
    id: FFA_OPTEE_ID,
    name: "optee",
    world: "s",
    uuid: OPTEE_UUID_WORDS,
    properties: DEFAULT_SP_PROPERTIES,
    execContexts: 8,
    // OP-TEE as its own SPMC maps no buffers with itself.
    txPa: sps === 2 ? mem[0].base : null,
    rxPa: sps === 2 ? mem[0].base + size : null,
    bufferSize: size,
    master: "cpu-s",
  });
  if (sps === 2) {
    out.push({
      id: FFA_SP2_ID,
      name: "sp2",
      world: "s",
      uuid: SP2_UUID_WORDS,
      properties: DEFAULT_SP_PROPERTIES,
      execContexts: 1,
      txPa: mem[1].base,
      rxPa: mem[1].base + size,
      bufferSize: size,
      master: "cpu-s",
    });
  }
  return out;
}

/** Each partition's memory: halves of the first secure carveout, or of the secure RAM. */
export function partitionMemory(platform: PlatformDesc, count: number): { base: number; size: number }[] {
  const carveout = platform.reserved.find((r) => r.secure);
  const region = carveout ?? platform.secureRam[0] ?? { base: platform.dram.base, size: 0 };
  const part = Math.floor(region.size / count / 4096) * 4096;
  return Array.from({ length: count }, (_, i) => ({ base: region.base + i * part, size: part }));
}

/** Runs a boot-time call chain to its end before the run starts (it cannot block). */
export function drain<T>(gen: Sleeps<T>): T {
  return drainSync(gen, "a boot-time FF-A call");
}

/** Builds and boots the firmware; the normal world's driver probes afterwards (scenario/system.ts). */
export function bootFirmware(
  sim: Sim,
  machine: Machine,
  platProtmem: PlatProtmemFactory,
  opts: FirmwareOptions = {},
): Firmware {
  const platform = machine.platform;
  attachArmSip(machine);
  const spmc: Spmc =
    platform.spmc === "hafnium"
      ? new HafniumSpmc(sim, machine, { ...HAFNIUM_LIMITS, ...opts.spmcLimits })
      : new OpteeSel1Spmc(
          sim,
          machine,
          { ...OPTEE_SEL1_LIMITS, ...opts.spmcLimits },
          platProtmem(sim, machine),
        );
  const endpoints = platformEndpoints(platform);
  for (const e of endpoints) spmc.addEndpoint(e);
  spmc.attach();
  if (spmc instanceof HafniumSpmc) {
    // The SPMC's view of memory: normal DRAM is the normal world's, the partitions own theirs.
    spmc.pages.assign(platform.dram.base, platform.dram.size, FFA_NWD_ID, MM_MODE_NWD_MEMORY);
    const sps = endpoints.filter((e) => e.world === "s");
    const mem = partitionMemory(platform, sps.length);
    for (const r of platform.reserved.filter((x) => x.secure)) spmc.pages.assign(r.base, r.size, 0xffff, 0);
    sps.forEach((e, i) => spmc.pages.assign(mem[i].base, mem[i].size, e.id, MM_MODE_R | MM_MODE_W));
    // Each partition negotiates its version and maps its buffers at init.
    const version = ffaVersionNumber(platform.ffaVersion);
    for (const e of sps) {
      drain(spmc.partitionCall(e.id, smcRegs(FFA_VERSION_32, version)));
      drain(
        spmc.partitionCall(e.id, smcRegs(FFA_RXTX_MAP_64, e.txPa ?? 0, e.rxPa ?? 0, e.bufferSize / 4096)),
      );
    }
  }
  return { spmc, endpoints };
}
