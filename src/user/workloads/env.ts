/**
 * What a workload generator runs against (ARCHITECTURE.md §6): the booted kernel, a way to ask whether
 * the run is ending, and the devices' DMA engines. The devices are handed in by the layer that builds
 * the run (the scenario runner gives the video decoder and display of secure/ta/decoder.ts): user space
 * reaches a device only through a driver, and the drivers' DMA is hardware, not user code.
 *
 * Metrics: every workload records its allocation latencies, failures by errno and frames shown here;
 * the summary is what RunResult.workloads reports.
 */
import type { Kernel } from "../../kernel/kernel.ts";
import type { Sleeps } from "../../sim/scheduler.ts";

/** A device's DMA over [pa, pa + length): the machine's access code (ACCESS_OK or a fault). */
export type DeviceDma = (master: string, pa: number, length: number) => Sleeps<number>;

export interface WorkloadEnv {
  readonly kernel: Kernel;
  /** True once the run is ending (`until` passed): no new frame or session starts. */
  stopping(): boolean;
  /** The scenario's `until` (virtual ns), or null: no wait need last past it. */
  readonly untilNs: number | null;
  /** A device writes a frame (the decoder's output, a camera's capture). */
  readonly deviceWrite: DeviceDma;
  /** A device reads a frame (the display's scan-out, an encoder's input). */
  readonly deviceRead: DeviceDma;
}

/** p50 / p99 / max of a set of latencies, ns (nearest rank); zeros when there are none. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /**
   * The distribution, for a CDF plot: every latency in ascending order when there are at most
   * CDF_POINTS, else the nearest-rank percentiles at k / (CDF_POINTS − 1), k = 0 … CDF_POINTS − 1
   * (min to max). Point k of n sits at cumulative fraction (k + 1) / n. Empty when there are none.
   */
  readonly cdf: readonly number[];
}

/** Points of LatencySummary.cdf at most. */
export const CDF_POINTS = 101;

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { count: 0, p50: 0, p99: 0, max: 0, cdf: [] };
  const s = [...values].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)];
  const cdf =
    s.length <= CDF_POINTS ? s : Array.from({ length: CDF_POINTS }, (_, k) => rank(k / (CDF_POINTS - 1)));
  return { count: s.length, p50: rank(0.5), p99: rank(0.99), max: s[s.length - 1], cdf };
}

/** One workload's metrics as RunResult.workloads reports them. */
export interface WorkloadReport {
  /** "secure-video#0": the kind and its index in `workloads:`. */
  readonly name: string;
  readonly kind: string;
  /** Line of the entry in the scenario file. */
  readonly line: number;
  /** Sessions that started (a player process opened the heap or tried to). */
  readonly sessions: number;
  /** Allocation latency of each session's first frame buffer, ns. */
  readonly firstFrameAllocNs: LatencySummary;
  /** Allocation latency of every buffer (frames, bitstream, reallocations after seeks), ns. */
  readonly allocNs: LatencySummary;
  /** Failed opens and allocations by errno name (ENOENT: the heap is not registered). */
  readonly allocFailures: Readonly<Record<string, number>>;
  /** Why the first failure happened (the kernel's rejection), or null. */
  readonly firstFailure: string | null;
  /** Frames the reading device (display, encoder) read successfully. */
  readonly framesShown: number;
  /** Device DMAs the machine refused (a fault on a frame). */
  readonly deviceFaults: number;
  /** Kind-specific counters (background: pages allocated, pins, …). */
  readonly extra: Readonly<Record<string, number>>;
}

/** Collects one workload's metrics while it runs. */
export class WorkloadMetrics {
  sessions = 0;
  framesShown = 0;
  deviceFaults = 0;
  firstFailure: string | null = null;
  readonly first: number[] = [];
  readonly all: number[] = [];
  readonly failures: Record<string, number> = {};
  readonly extra: Record<string, number> = {};
  /** Each session's [start, end) in virtual ns, flat: [s0, e0, s1, e1, …]. */
  readonly spans: number[] = [];

  constructor(
    readonly name: string,
    readonly kind: string,
    readonly line: number,
  ) {}

  alloc(latencyNs: number, firstOfSession: boolean): void {
    this.all.push(latencyNs);
    if (firstOfSession) this.first.push(latencyNs);
  }

  /** A session starts at `now`; `sessionEnd` closes it. */
  sessionStart(now: number): void {
    this.sessions++;
    this.spans.push(now, now);
  }

  sessionEnd(now: number): void {
    this.spans[this.spans.length - 1] = now;
  }

  fail(errno: string, why: string | null): void {
    this.failures[errno] = (this.failures[errno] ?? 0) + 1;
    this.firstFailure ??= why ? `${errno}: ${why}` : errno;
  }

  count(key: string, n = 1): void {
    this.extra[key] = (this.extra[key] ?? 0) + n;
  }

  report(): WorkloadReport {
    const sorted = <T>(r: Record<string, T>) =>
      Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return {
      name: this.name,
      kind: this.kind,
      line: this.line,
      sessions: this.sessions,
      firstFrameAllocNs: summarize(this.first),
      allocNs: summarize(this.all),
      allocFailures: sorted(this.failures),
      firstFailure: this.firstFailure,
      framesShown: this.framesShown,
      deviceFaults: this.deviceFaults,
      extra: sorted(this.extra),
    };
  }
}
