/**
 * The FF-A fuzzer's test rig: one machine and one SPMC of a flavor, booted once, driven call by call
 * through its real ABI — the normal world's SMC through the conduit (EL3 → SPMD → SPMC), a partition's
 * FF-A call trapped by the SPMC (Spmc.partitionCall()) — with descriptors written into the caller's
 * TX page and answers read from its RX page, as bench/ffa.ts and the scenario harness do.
 *
 * Both flavors get the same small memory map, so one case (registers and bytes) means the same thing
 * to both and the corpus can say what each answers:
 *
 * | range                               | what                                                   |
 * |-------------------------------------|--------------------------------------------------------|
 * | 0x8000_0000 + 8 MiB                 | DRAM (2,048 frames: a state snapshot is ~18 KiB)       |
 * | 0x8020_0000 / 0x8020_1000           | the normal world's TX / RX page (firmware/boot.ts)     |
 * | 0x8030_0000 + 3 MiB                 | normal-world pages the cases send                      |
 * | 0x8060_0000 + 2 MiB                 | secure carveout: the partitions' memory (OP-TEE, sp2)  |
 *
 * Hafnium runs with RME (fvp-rme: a lend to partitions moves granules to the Secure PAS); OP-TEE at
 * S-EL1 runs without a firewall (qemu-virt: its default platform hook protects nothing), so its
 * TZC-400 hook is not part of what is fuzzed. Calls run outside the scheduler (drain(): an SPMC call
 * is atomic and only sleeps to charge its cost), so virtual time does not advance: no speculation
 * task, no timers.
 */
import { FFA_RXTX_MAP_64, FFA_VERSION_32, ffaVersionNumber, type FfaVersion } from "../../abi/ffa/index.ts";
import { bootFirmware, drain } from "../../firmware/boot.ts";
import { FFA_NWD_ID, FFA_OPTEE_ID, FFA_SP2_ID } from "../../firmware/spmc/endpoint.ts";
import type { Spmc, SpmcFlavorName } from "../../firmware/spmc/spmc.ts";
import { Machine } from "../../hw/machine.ts";
import type { PlatformDesc } from "../../hw/platform.ts";
import type { SmcRegs } from "../../hw/smc.ts";
import { PRESETS } from "../../scenario/presets.ts";
import { bootOptee } from "../../secure/optee/boot.ts";
import type { OpteeSecure } from "../../secure/optee/optee.ts";
import { Sel2Mobjs } from "../../secure/optee/sel2_mobj.ts";
import { platProtmemFor } from "../../secure/optee/plat_protmem.ts";
import { Sim } from "../../sim/sim.ts";

export const FUZZ_FLAVORS: readonly SpmcFlavorName[] = ["hafnium", "optee-sel1"];

const MiB = 0x10_0000;
/** A TX or RX buffer: one 4 KiB page (rxtxBufferSize); the corpus records what fits in it. */
export const FUZZ_TX_BYTES = 4096;
const PAGE = FUZZ_TX_BYTES;
export const FUZZ_DRAM_BASE = 0x8000_0000;
export const FUZZ_DRAM_SIZE = 8 * MiB;
export const FUZZ_NWD_TX = FUZZ_DRAM_BASE + 0x20_0000;
export const FUZZ_NWD_RX = FUZZ_NWD_TX + 0x1000;
export const FUZZ_SECURE_BASE = FUZZ_DRAM_BASE + 6 * MiB;
export const FUZZ_SECURE_SIZE = 2 * MiB;
/** Normal-world pages the seeds lend (below the TX page, clear of everything else). */
export const FUZZ_NS_POOL = FUZZ_DRAM_BASE + 0x30_0000;

/** What a TX page is cleared with (never written). */
const ZEROS = new Uint8Array(PAGE);

/** Endpoint names a case uses, and their IDs. */
export type FuzzCaller = "normal" | "optee" | "sp2";
export const CALLER_IDS: Readonly<Record<FuzzCaller, number>> = {
  normal: FFA_NWD_ID,
  optee: FFA_OPTEE_ID,
  sp2: FFA_SP2_ID,
};

/**
 * The fuzzing platform of a flavor: its preset, shrunk to the memory map above. `spVersion`: the FF-A
 * version the partitions' manifests declare (boot negotiates it for each partition, firmware/boot.ts).
 */
export function fuzzPlatform(flavor: SpmcFlavorName, spVersion: FfaVersion = "1.2"): PlatformDesc {
  const base = flavor === "hafnium" ? PRESETS["fvp-rme"] : PRESETS["qemu-virt"];
  return {
    ...base,
    name: `fuzz-${flavor}`,
    description: `FF-A fuzzing: ${base.name}'s SPMC and firewall on 8 MiB of DRAM`,
    dram: { base: FUZZ_DRAM_BASE, size: FUZZ_DRAM_SIZE },
    reserved: [
      { name: "spmc_sps", base: FUZZ_SECURE_BASE, size: FUZZ_SECURE_SIZE, noMap: true, secure: true },
    ],
    secureRam: [],
    cma: [],
    caches: { ...base.caches, specFillsPerMs: 0 },
    ffaVersion: spVersion,
    rxtxBufferSize: 4096,
  };
}

/** A booted SPMC with its endpoints' buffers, and a way to call it. */
export class FuzzRig {
  readonly sim: Sim;
  readonly machine: Machine;
  readonly spmc: Spmc;
  /**
   * OP-TEE's own side, booted behind its FF-A ID as a scenario run boots it (scenario/system.ts
   * bootOptee()): a direct request to 0x8001 reaches OP-TEE's message handling (thread_spmc.ts
   * opteeDirectRequestHandler(), optee_os thread_spmc.c optee_lsp_handle_direct_request()), not an echo.
   * sp2 (Hafnium only) keeps the echo stand-in.
   */
  readonly optee: OpteeSecure;
  readonly #txOf = new Map<number, number>();
  readonly #rxOf = new Map<number, number>();
  /** Per endpoint: how many bytes at the start of its TX page may be non-zero. */
  readonly #txDirty = new Map<number, number>();

  constructor(
    readonly flavor: SpmcFlavorName,
    readonly spVersion: FfaVersion = "1.2",
  ) {
    this.sim = new Sim(1);
    this.machine = new Machine(this.sim, fuzzPlatform(flavor, spVersion));
    const fw = bootFirmware(this.sim, this.machine, platProtmemFor);
    this.spmc = fw.spmc;
    this.optee = bootOptee(this.sim, this.machine, fw.spmc);
    for (const e of fw.endpoints) {
      if (e.txPa !== null) this.#txOf.set(e.id, e.txPa);
      if (e.rxPa !== null) this.#rxOf.set(e.id, e.rxPa);
    }
  }

  /**
   * Whether this endpoint makes FF-A calls under the flavor: sp2 exists only under Hafnium, and OP-TEE
   * at S-EL1 is the SPMC itself — it reaches its FF-A objects directly (mobj_ffa_get_by_cookie()), it
   * never calls itself.
   */
  has(caller: FuzzCaller): boolean {
    if (caller === "optee" && this.flavor === "optee-sel1") return false;
    return this.spmc.endpoint(CALLER_IDS[caller]) !== undefined;
  }

  /**
   * The normal world's driver probe in a given version: FFA_VERSION, then FFA_RXTX_MAP of its page
   * pair (Linux ffa_init()). Returns FFA_VERSION's answer (w0).
   */
  probe(version: FfaVersion): bigint {
    const v = new BigUint64Array(18);
    v[0] = BigInt(FFA_VERSION_32);
    v[1] = BigInt(ffaVersionNumber(version));
    const answer = this.call("normal", v)[0];
    const m = new BigUint64Array(18);
    m[0] = BigInt(FFA_RXTX_MAP_64);
    m[1] = BigInt(FUZZ_NWD_TX);
    m[2] = BigInt(FUZZ_NWD_RX);
    m[3] = 1n;
    this.call("normal", m);
    return answer;
  }

  /** One FF-A call from `caller`, run to its answer. */
  call(caller: FuzzCaller, regs: SmcRegs): SmcRegs {
    const mobjs = this.optee.mobjs;
    const opteeCalls = mobjs instanceof Sel2Mobjs ? mobjs.ffaCalls : 0;
    const out =
      caller === "normal"
        ? drain(this.machine.smc.smc(regs, "ns"))
        : drain(this.spmc.partitionCall(CALLER_IDS[caller], regs));
    // OP-TEE under Hafnium wrote its own retrieve request into its TX page (sel2_mobj.ts): the page is
    // cleared before the fuzzer's next call as OP-TEE, as after any write of the harness's own.
    if (mobjs instanceof Sel2Mobjs && mobjs.ffaCalls !== opteeCalls) this.#txDirty.set(FFA_OPTEE_ID, PAGE);
    return out;
  }

  /**
   * Makes the caller's TX page hold `bytes` followed by zeros, as a harness that clears the buffer
   * before each call does: what an SPMC reads past the descriptor never depends on earlier cases.
   * Written into the page store directly: the harness's own write is not an access under test.
   */
  writeTx(caller: FuzzCaller, bytes: Uint8Array | null): void {
    const id = CALLER_IDS[caller];
    const tx = this.#txOf.get(id);
    if (tx === undefined) return;
    const n = bytes === null ? 0 : Math.min(bytes.length, PAGE);
    const dirty = this.#txDirty.get(id) ?? 0;
    if (n > 0) this.machine.bytes.write(tx, n === bytes!.length ? bytes! : bytes!.subarray(0, n));
    if (dirty > n) this.machine.bytes.write(tx + n, ZEROS.subarray(0, dirty - n));
    this.#txDirty.set(id, n);
  }

  /** Normal-world ranges writeShm() wrote since the last clearShm(): [pa, length] pairs. */
  readonly #shmWritten: number[] = [];

  /**
   * Writes a message (an optee_msg_arg) into normal-world memory shared with OP-TEE, as the driver
   * does, into the page store directly (the harness's own write). clearShm() zeroes it again.
   */
  writeShm(pa: number, bytes: Uint8Array): void {
    this.machine.bytes.write(pa, bytes);
    this.#shmWritten.push(pa, bytes.length);
  }

  /**
   * Zeroes what writeShm() wrote (and OP-TEE wrote back there): every case starts with the memory it
   * shares as a fresh boot has it, so its messages are only its own. OP-TEE writes back only inside
   * the message it read (yielding_call_with_arg()), and elsewhere only over zeros, which read the same.
   */
  clearShm(): void {
    const w = this.#shmWritten;
    for (let i = 0; i < w.length; i += 2) this.machine.bytes.write(w[i], ZEROS.subarray(0, w[i + 1]));
    w.length = 0;
  }

  /** Writes a 64-bit little-endian value at byte `offset` of the caller's TX page (within what writeTx() wrote). */
  writeTxU64(caller: FuzzCaller, offset: number, value: bigint): void {
    const tx = this.#txOf.get(CALLER_IDS[caller]);
    if (tx === undefined) return;
    this.#u64.setBigUint64(0, value, true);
    this.machine.bytes.write(tx + offset, this.#u64Bytes);
  }

  readonly #u64Bytes = new Uint8Array(8);
  readonly #u64 = new DataView(this.#u64Bytes.buffer);

  /** The first `length` bytes of the caller's RX page. */
  readRx(caller: FuzzCaller, length: number): Uint8Array {
    const rx = this.#rxOf.get(CALLER_IDS[caller]);
    return rx === undefined ? new Uint8Array(0) : this.machine.bytes.read(rx, length);
  }
}
