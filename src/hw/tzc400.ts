/**
 * A TZC-400-like memory firewall — TFA drivers/arm/tzc/tzc400.c, include/drivers/arm/tzc400.h;
 * behaviour per hardware.md §1.
 *
 * Region 0 is the background region: it covers every address no other enabled region covers, and only
 * its permissions can change. Regions 1..N are programmable, 4 KiB granular, top inclusive. Secure
 * accesses need S_RD_EN / S_WR_EN; non-secure ones need their NSAID's bit in NSAID_RD_EN / NSAID_WR_EN.
 * Two enabled regions ≥ 1 that both match an address are UNDEFINED in the TRM: we deny the access and
 * set OVERLAP, as a configuration bug (our choice, hardware.md §1.4). One filter unit is modelled.
 */
import type { TzcAction, World } from "./platform.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";

/** TZC_REGION_S_* — TFA tzc_common.h. */
export const TZC_REGION_S_NONE = 0;
export const TZC_REGION_S_RD = 1;
export const TZC_REGION_S_WR = 2;
export const TZC_REGION_S_RDWR = 3;

/** TZC_REGION_ACCESS_RD/WR(nsaid) — TFA tzc_common.h. */
export function tzcAccessRd(nsaid: number): number {
  return 1 << (nsaid & 0xf);
}
export function tzcAccessWr(nsaid: number): number {
  return (1 << (nsaid & 0xf)) << 16;
}
export function tzcAccessRdWr(nsaid: number): number {
  return tzcAccessRd(nsaid) | tzcAccessWr(nsaid);
}

export interface TzcRegionConfig {
  /** Region base, 4 KiB aligned. */
  readonly base: number;
  /** Region top, inclusive; top + 1 is 4 KiB aligned. */
  readonly top: number;
  /** TZC_REGION_S_* */
  readonly secAttr: number;
  /** NSAID_RD_EN in bits 15:0, NSAID_WR_EN in bits 31:16 (REGION_ID_ACCESS). */
  readonly nsDeviceAccess: number;
}

/** Outcome of a check: allowed, denied by permissions, or denied because regions overlap. */
export const TZC_ALLOWED = 0;
export const TZC_DENIED = 1;
export const TZC_OVERLAP = 2;

export interface Region {
  enabled: boolean;
  base: number;
  top: number;
  secAttr: number;
  access: number;
}

export class Tzc400 implements Snapshottable {
  /** Regions 0..nRegions; region 0 is the background. */
  readonly regions: Region[];
  readonly action: TzcAction;
  /** FAIL_ADDRESS / FAIL_CONTROL of the first failure since the last clear (INT_STATUS.STATUS). */
  fail: { address: number; write: boolean; nonSecure: boolean; id: number } | null = null;
  /** INT_STATUS.OVERRUN: a failure happened while `fail` was latched. */
  overrun = false;
  /** INT_STATUS.OVERLAP */
  overlap = false;
  /** Regions programmed (6 register writes each, TFA DEFINE_TZC_COMMON_CONFIGURE_REGION). */
  programmed = 0;
  /** Which region decided the last check (for traces). */
  lastRegion = 0;
  /** The most programmable regions enabled at once (region 0 not counted): what a platform must have. */
  peakEnabled = 0;
  #enabled: Region[] = [];
  /** Told before and after a programmable region changes (the speculation model's bookkeeping). */
  onChange: { before(): void; after(): void } | null = null;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#enabled = saved.enabled as Region[];
    }
    return { enabled: this.#enabled };
  }

  constructor(programmableRegions: number, action: TzcAction) {
    this.action = action;
    this.regions = [];
    // Region 0 spans the whole address space; TOP0 resets to the address-width limit.
    this.regions.push({
      enabled: true,
      base: 0,
      top: Number.MAX_SAFE_INTEGER,
      secAttr: TZC_REGION_S_NONE,
      access: 0,
    });
    for (let i = 1; i <= programmableRegions; i++) {
      this.regions.push({ enabled: false, base: 0, top: 0xfff, secAttr: 0, access: 0 });
    }
  }

  get programmableRegions(): number {
    return this.regions.length - 1;
  }

  /** tzc_configure_region0(): permissions only. */
  configureRegion0(secAttr: number, nsDeviceAccess: number): void {
    this.regions[0].secAttr = secAttr;
    this.regions[0].access = nsDeviceAccess >>> 0;
    this.programmed++;
  }

  /**
   * tzc_configure_region(): returns 0, or −22 (EINVAL) for what TFA asserts on: a region number out of
   * range, base or top+1 not 4 KiB aligned, base ≥ top.
   */
  configureRegion(n: number, cfg: TzcRegionConfig): number {
    if (n < 1 || n >= this.regions.length) return -22;
    if (cfg.base % 4096 !== 0 || (cfg.top + 1) % 4096 !== 0 || cfg.base >= cfg.top) return -22;
    this.onChange?.before();
    this.regions[n] = {
      enabled: true,
      base: cfg.base,
      top: cfg.top,
      secAttr: cfg.secAttr,
      access: cfg.nsDeviceAccess >>> 0,
    };
    this.programmed++;
    this.#refresh();
    this.onChange?.after();
    return 0;
  }

  /** Disables region n (filter enable bits cleared, as stm32mp_tzc_reset_region does with top = 0xfff). */
  disableRegion(n: number): void {
    if (n < 1 || n >= this.regions.length) return;
    this.onChange?.before();
    this.regions[n] = { enabled: false, base: 0, top: 0xfff, secAttr: 0, access: 0 };
    this.programmed++;
    this.#refresh();
    this.onChange?.after();
  }

  /**
   * The [start, end) segments of [lo, hi) where a transaction of `world`/`nsaid` would be denied, as
   * flat pairs: the verdict is constant between region boundaries (regions are 4 KiB aligned).
   */
  deniedSegments(world: World, nsaid: number, write: boolean, lo: number, hi: number): number[] {
    const cuts = new Set<number>([lo, hi]);
    for (const r of this.#enabled) {
      if (r.base > lo && r.base < hi) cuts.add(r.base);
      if (r.top + 1 > lo && r.top + 1 < hi) cuts.add(r.top + 1);
    }
    const at = [...cuts].sort((a, b) => a - b);
    const out: number[] = [];
    for (let k = 0; k + 1 < at.length; k++) {
      if (this.probe(world, nsaid, at[k], 4096, write) === TZC_ALLOWED) continue;
      const n = out.length;
      if (n > 0 && out[n - 1] === at[k]) out[n - 1] = at[k + 1];
      else out.push(at[k], at[k + 1]);
    }
    return out;
  }

  /** The enabled programmable regions (for models that reason about whole ranges). */
  get enabledRegions(): readonly Readonly<Region>[] {
    return this.#enabled;
  }

  /** The first free programmable region, or −1. */
  freeRegion(): number {
    for (let i = 1; i < this.regions.length; i++) if (!this.regions[i].enabled) return i;
    return -1;
  }

  #refresh(): void {
    this.#enabled = this.regions.slice(1).filter((r) => r.enabled);
    this.peakEnabled = Math.max(this.peakEnabled, this.#enabled.length);
  }

  static #permits(r: Region, world: World, nsaid: number, write: boolean): boolean {
    if (world === "s") return (r.secAttr & (write ? TZC_REGION_S_WR : TZC_REGION_S_RD)) !== 0;
    const bit = write ? tzcAccessWr(nsaid) : tzcAccessRd(nsaid);
    return (r.access & bit) !== 0;
  }

  /**
   * Checks a transaction on [pa, pa + length). Returns TZC_ALLOWED, TZC_DENIED or TZC_OVERLAP, and
   * latches the fail registers on a denial. Range checks stand for the bursts a long access is made of.
   */
  check(world: World, nsaid: number, pa: number, length: number, write: boolean): number {
    return this.#decide(world, nsaid, pa, length, write, true);
  }

  /** The verdict check() would give, without touching the fail or interrupt registers. */
  probe(world: World, nsaid: number, pa: number, length: number, write: boolean): number {
    const last = this.lastRegion;
    const v = this.#decide(world, nsaid, pa, length, write, false);
    this.lastRegion = last;
    return v;
  }

  #decide(world: World, nsaid: number, pa: number, length: number, write: boolean, latch: boolean): number {
    const end = pa + length - 1;
    const regs = this.#enabled;
    let covered = 0;
    let result = TZC_ALLOWED;
    this.lastRegion = 0;
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i];
      if (r.top < pa || r.base > end) continue;
      const lo = Math.max(pa, r.base);
      const hi = Math.min(end, r.top);
      // Another enabled region over the same bytes: UNDEFINED in the TRM.
      for (let j = i + 1; j < regs.length; j++) {
        const o = regs[j];
        if (o.top >= lo && o.base <= hi && Math.max(o.base, lo) <= Math.min(o.top, hi)) {
          if (latch) {
            this.overlap = true;
            this.#latch(Math.max(o.base, lo), world, nsaid, write);
          }
          return TZC_OVERLAP;
        }
      }
      covered += hi - lo + 1;
      this.lastRegion = this.regions.indexOf(r);
      if (!Tzc400.#permits(r, world, nsaid, write) && result === TZC_ALLOWED) {
        result = TZC_DENIED;
        if (latch) this.#latch(lo, world, nsaid, write);
      }
    }
    if (covered < length && result === TZC_ALLOWED) {
      if (!Tzc400.#permits(this.regions[0], world, nsaid, write)) {
        this.lastRegion = 0;
        result = TZC_DENIED;
        if (latch) this.#latch(pa, world, nsaid, write);
      }
    }
    return result;
  }

  #latch(address: number, world: World, nsaid: number, write: boolean): void {
    if (this.fail) {
      this.overrun = true;
      return;
    }
    this.fail = { address, write, nonSecure: world === "ns", id: nsaid };
  }

  /** tzc_int_clear() */
  intClear(): void {
    this.fail = null;
    this.overrun = false;
    this.overlap = false;
  }
}
