/**
 * RME granule protection — TFA lib/gpt_rme (gpt_rme.c, gpt_rme.h); hardware.md §2.
 *
 * One GPI per 4 KiB granule of DRAM (PGS = 4K). A transition moves one granule per call, as TF-A's
 * gpt_transition_pas() does, and only along the transitions the caller's world may make (Secure:
 * NS ↔ SECURE). The transition itself cleans and invalidates the caches for the granule (DC CIPAPA on
 * both aliases), which is why RME leaves no dirty or speculatively filled lines behind.
 */
import type { World } from "./platform.ts";
import type { DirtyBlocks } from "../sim/dirty.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

/** GPI encodings — gpt_rme.h. */
export const GPT_GPI_NO_ACCESS = 0x0;
export const GPT_GPI_SECURE = 0x8;
export const GPT_GPI_NS = 0x9;
export const GPT_GPI_ROOT = 0xa;
export const GPT_GPI_REALM = 0xb;
export const GPT_GPI_ANY = 0xf;

export const GPT_EINVAL = -22;
export const GPT_EPERM = -1;

export class GranuleProtectionTable implements Snapshottable {
  readonly gpi: Uint8Array;
  readonly #basePfn: number;
  /** The frames' dirty tracker (a granule is a frame): a restore copies back the blocks written. */
  readonly #dirty: DirtyBlocks | null;
  /** Granules whose GPI is not NS: zero means every NS access passes without a scan. */
  #nonNs = 0;
  transitions = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nonNs = saved.nonNs as number;
    }
    return { nonNs: this.#nonNs };
  }

  constructor(basePfn: number, granules: number, dirty: DirtyBlocks | null = null) {
    this.#basePfn = basePfn;
    const gpi = new Uint8Array(granules).fill(GPT_GPI_NS);
    this.gpi = dirty ? dirty.track(gpi) : gpi;
    this.#dirty = dirty;
  }

  /** Sets a range at boot (the EL3 firmware's initial PAS regions). */
  initRange(firstGranule: number, count: number, gpi: number): void {
    for (let i = firstGranule; i < firstGranule + count; i++) this.#set(i, gpi);
  }

  #set(i: number, gpi: number): void {
    const was = this.gpi[i];
    if (was === GPT_GPI_NS && gpi !== GPT_GPI_NS) this.#nonNs++;
    else if (was !== GPT_GPI_NS && gpi === GPT_GPI_NS) this.#nonNs--;
    this.gpi[i] = gpi;
    this.#dirty?.touch(i);
  }

  /**
   * gpt_transition_pas() for one granule: 0, GPT_EINVAL (outside the table) or GPT_EPERM (a transition
   * the caller may not make, is_gpi_transition_permitted()).
   */
  transition(pa: number, target: number, caller: World): number {
    const i = Math.floor(pa / 4096) - this.#basePfn;
    if (pa % 4096 !== 0 || i < 0 || i >= this.gpi.length) return GPT_EINVAL;
    const cur = this.gpi[i];
    const permitted =
      caller === "s" &&
      ((cur === GPT_GPI_NS && target === GPT_GPI_SECURE) ||
        (cur === GPT_GPI_SECURE && target === GPT_GPI_NS));
    if (!permitted) return GPT_EPERM;
    this.#set(i, target);
    this.transitions++;
    return 0;
  }

  /** Granules whose GPI is not NS (kept by every write of the table: a count, not a scan). */
  get nonNsGranules(): number {
    return this.#nonNs;
  }

  gpiAt(pa: number): number {
    const i = Math.floor(pa / 4096) - this.#basePfn;
    return i >= 0 && i < this.gpi.length ? this.gpi[i] : GPT_GPI_NO_ACCESS;
  }

  /** Whether a world's access to every granule of [pa, pa + length) passes the granule protection check. */
  permits(world: World, pa: number, length: number): boolean {
    const first = Math.floor(pa / 4096) - this.#basePfn;
    const last = Math.floor((pa + length - 1) / 4096) - this.#basePfn;
    // Outside the table is NO_ACCESS, as gpiAt() says.
    if (first < 0 || last >= this.gpi.length) return false;
    if (world === "ns" && this.#nonNs === 0) return true;
    for (let i = first; i <= last; i++) {
      const g = this.gpi[i];
      if (g === GPT_GPI_ANY || g === GPT_GPI_NS) continue;
      if (world === "s" && g === GPT_GPI_SECURE) continue;
      return false;
    }
    return true;
  }
}
