/**
 * Sizing (issue 10, "Sizing"): the smallest pool, chunk and CMA sizes under a policy that let a
 * scenario's workloads run with no allocation failure and a first-frame allocation latency (p99) within
 * a target — found by binary search over runs, one size knob at a time, as vendors find them today by
 * trial on boards.
 *
 * The knobs per pool (scenario/policies.ts, scenario/platform.ts):
 * - dynamic (upstream, lend-pool): OP-TEE's secure-video size (`platform.protmem.secure-video`, the one
 *   chunk protmem.c lends on first use), then the CMA area it comes from (`platform.cma[0].size`);
 * - static (carveout): the secure-video size, which is the carveout's size; CMA plays no part;
 * - growable (safe, tegra-vpr): the chunk (`policy.chunk`), then the most lent at once (`policy.max`),
 *   then the CMA area;
 * - per-buffer: the CMA area.
 * Each knob is searched with the ones after it at their upper bound (the scenario's own CMA size: a
 * scenario sets the search's range by giving a CMA area large enough), then fixed at its answer.
 *
 * The search assumes monotone behaviour and checks it. A pool or chunk knob: more memory never makes an
 * allocation fail, and the first frame waits longer for a larger chunk (it is taken from CMA and lent
 * whole) — so the search finds the smallest size with no failure, and if the target is missed there,
 * no larger size meets it. A capacity knob (max, CMA): more never hurts, so the target is part of the
 * search. After each search, sizes above the answer are run too; one that fails (or, for a pool knob,
 * that is faster than the answer) is reported as "not monotone", with its run.
 */
import type { Scenario } from "../scenario/loader.ts";
import { formatDuration, formatSize } from "../scenario/units.ts";
import type { PoolKind } from "../scenario/policies.ts";

const MiB = 1024 * 1024;
/** Sizes are searched in steps of this: CMA areas are multiples of 4 MiB (cma_init_reserved_mem). */
export const SIZE_GRANULE = 4 * MiB;

export type KnobId = "protmem" | "chunk" | "max" | "cma";

export interface SizeKnob {
  readonly id: KnobId;
  /** What it sizes, for a person. */
  readonly label: string;
  /** Where it is in a scenario (a dotted path, as a sweep names it). */
  readonly path: string;
  readonly lo: number;
  readonly hi: number;
  /** Pool knobs: the first frame waits longer the larger the size (see the file comment). */
  readonly latencyGrows: boolean;
}

/** What one run at a size gave. */
export interface SizeRun {
  readonly size: number;
  readonly firstFrameP99Ns: number;
  readonly failures: number;
  /** The first failed allocation with the kernel's reason, or a hang / panic / killed task, or null. */
  readonly why: string | null;
  /** No failure, nothing broken. */
  readonly works: boolean;
  /** Works and meets the latency target. */
  readonly meets: boolean;
}

export interface KnobResult {
  readonly knob: SizeKnob;
  /** The smallest size that passes, or null. */
  readonly answer: number | null;
  /** The largest size that failed and the smallest that passed: the runs that bound the answer. */
  readonly failing: SizeRun | null;
  readonly passing: SizeRun | null;
  /** Why there is no answer, or null. */
  readonly none: string | null;
  /** A run that contradicts the monotone assumption, as a sentence, or null. */
  readonly notMonotone: string | null;
  /** Every run of the search, by size. */
  readonly runs: readonly SizeRun[];
}

export interface PolicySizing {
  readonly policy: string;
  readonly pool: PoolKind;
  readonly knobs: readonly KnobResult[];
  /** Every knob's answer, when each has one. */
  readonly answer: Readonly<Partial<Record<KnobId, number>>> | null;
}

export interface SizingResult {
  readonly scenario: string;
  readonly file: string;
  readonly platform: string;
  readonly targetP99Ns: number;
  readonly policies: readonly PolicySizing[];
}

/** Runs the scenario under `policy` with these knob values; the caller memoizes nothing. */
export type RunAt = (
  policy: string,
  sizes: Readonly<Partial<Record<KnobId, number>>>,
) => Promise<{
  firstFrameP99Ns: number;
  failures: number;
  why: string | null;
  broken: boolean;
}>;

/**
 * The largest secure-video size OP-TEE can report: GET_PROTMEM_CONFIG returns min_size in a 32-bit
 * value (secure/optee/entry_std.ts), so 4 GiB and above wrap and Linux registers no heap.
 */
const PROTMEM_SIZE_MAX = 4 * 1024 * MiB - SIZE_GRANULE;

const down = (n: number) => Math.floor(n / SIZE_GRANULE) * SIZE_GRANULE;

/** Room for a static carveout at the top of DRAM, above every carveout and CMA area. */
function roomAtTop(sc: Scenario): number {
  const end = sc.platform.dram.base + sc.platform.dram.size;
  const below = [...sc.platform.reserved, ...sc.platform.cma]
    .map((r) => r.base + r.size)
    .filter((e) => e <= end);
  return down(end - Math.max(sc.platform.dram.base, ...below));
}

/** The knobs a pool kind has on this scenario's platform, in search order. */
export function sizeKnobs(sc: Scenario, pool: PoolKind): SizeKnob[] {
  const cmaHi = sc.platform.cma[0] ? down(sc.platform.cma[0].size) : 0;
  const knob = (id: KnobId, hi: number, latencyGrows: boolean): SizeKnob => ({
    id,
    label: {
      protmem:
        pool === "static"
          ? "the carveout, OP-TEE's secure-video size"
          : "OP-TEE's secure-video size, the chunk lent on first use",
      chunk: "chunk lent at a time",
      max: "most lent at once",
      cma: "CMA area",
    }[id],
    path: {
      protmem: "platform.protmem.secure-video",
      chunk: "policy.chunk",
      max: "policy.max",
      cma: "platform.cma[0].size",
    }[id],
    lo: SIZE_GRANULE,
    hi,
    latencyGrows,
  });
  const cma = cmaHi >= SIZE_GRANULE ? [knob("cma", cmaHi, false)] : [];
  switch (pool) {
    case "dynamic":
      return [knob("protmem", Math.min(cmaHi, PROTMEM_SIZE_MAX), true), ...cma];
    case "static":
      return [knob("protmem", Math.min(roomAtTop(sc), PROTMEM_SIZE_MAX), true)];
    case "growable":
      return [knob("chunk", cmaHi, true), knob("max", cmaHi, false), ...cma];
    case "per-buffer":
      return cma;
  }
}

/** A searched size, exact: 1680 MiB (1.64 GiB), never rounded to look like its neighbour. */
export function formatSearchedSize(bytes: number): string {
  if (bytes % MiB !== 0) return formatSize(bytes);
  return bytes >= 1024 * MiB ? `${bytes / MiB} MiB (${formatSize(bytes)})` : `${bytes / MiB} MiB`;
}

function runLine(r: SizeRun): string {
  return (
    `${formatSearchedSize(r.size)}: first-frame p99 ${r.works ? formatDuration(r.firstFrameP99Ns) : "-"}, ` +
    `${r.failures} failure${r.failures === 1 ? "" : "s"}` +
    (r.why ? ` (${r.why})` : "")
  );
}

/** Searches one knob with the others fixed. */
async function searchKnob(
  knob: SizeKnob,
  at: (size: number) => Promise<SizeRun>,
  targetNs: number,
): Promise<KnobResult> {
  const runs = new Map<number, SizeRun>();
  const run = async (size: number) => {
    const r = runs.get(size) ?? (await at(size));
    runs.set(size, r);
    return r;
  };
  // Pool knobs search for "works" (the target is checked after); capacity knobs for "meets".
  const ok = (r: SizeRun) => (knob.latencyGrows ? r.works : r.meets);
  const done = (o: Omit<KnobResult, "knob" | "runs" | "notMonotone">): KnobResult => {
    const all = [...runs.values()].sort((a, b) => a.size - b.size);
    return { knob, ...o, notMonotone: monotoneProblem(knob, all, ok), runs: all };
  };
  if (knob.hi < knob.lo)
    return done({ answer: null, failing: null, passing: null, none: "no room to search" });
  const top = await run(knob.hi);
  if (!ok(top)) {
    const what = knob.latencyGrows ? "works" : "works within the target";
    return done({
      answer: null,
      failing: top,
      passing: null,
      none: `no size up to ${formatSearchedSize(knob.hi)} ${what}: ${runLine(top)}`,
    });
  }
  let lo = knob.lo;
  let hi = knob.hi;
  let failing: SizeRun | null = null;
  const bottom = await run(lo);
  if (ok(bottom)) hi = lo;
  else {
    failing = bottom;
    while (hi - lo > SIZE_GRANULE) {
      const mid = down(lo + (hi - lo) / 2);
      const r = await run(mid);
      if (ok(r)) hi = mid;
      else {
        lo = mid;
        failing = r;
      }
    }
  }
  const passing = runs.get(hi)!;
  // Check the assumption above the answer: a third and two thirds of the way to the top.
  for (const f of [1 / 3, 2 / 3]) {
    const s = down(hi + (knob.hi - hi) * f);
    if (s > hi && s < knob.hi) await run(s);
  }
  if (knob.latencyGrows && !passing.meets) {
    return done({
      answer: null,
      failing,
      passing,
      none:
        `the smallest size that works, ${formatSearchedSize(hi)}, takes ${formatDuration(passing.firstFrameP99Ns)} ` +
        `to the first frame (p99), over the ${formatDuration(targetNs)} target; a larger one takes longer`,
    });
  }
  return done({ answer: hi, failing, passing, none: null });
}

/** A run that contradicts the knob's monotone assumption, or null. */
function monotoneProblem(
  knob: SizeKnob,
  runs: readonly SizeRun[],
  ok: (r: SizeRun) => boolean,
): string | null {
  for (let i = 0; i < runs.length; i++) {
    for (let j = i + 1; j < runs.length; j++) {
      const [a, b] = [runs[i], runs[j]];
      if (ok(a) && !ok(b))
        return `${formatSearchedSize(b.size)} fails though ${formatSearchedSize(a.size)} passes (${runLine(b)})`;
      if (knob.latencyGrows && a.works && b.works && b.firstFrameP99Ns < a.firstFrameP99Ns)
        return (
          `the first frame is faster at ${formatSearchedSize(b.size)} (${formatDuration(b.firstFrameP99Ns)}) than at ` +
          `${formatSearchedSize(a.size)} (${formatDuration(a.firstFrameP99Ns)})`
        );
    }
  }
  return null;
}

/** Sizes one policy: its knobs in order, each fixed at its answer before the next is searched. */
export async function sizePolicy(
  sc: Scenario,
  policy: string,
  pool: PoolKind,
  targetNs: number,
  runAt: RunAt,
): Promise<PolicySizing> {
  const knobs = sizeKnobs(sc, pool);
  const fixed: Partial<Record<KnobId, number>> = {};
  for (const k of knobs) fixed[k.id] = k.hi;
  const results: KnobResult[] = [];
  for (const k of knobs) {
    const r = await searchKnob(
      k,
      async (size) => {
        const o = await runAt(policy, { ...fixed, [k.id]: size });
        const works = o.failures === 0 && !o.broken;
        return {
          size,
          firstFrameP99Ns: o.firstFrameP99Ns,
          failures: o.failures,
          why: o.why,
          works,
          meets: works && o.firstFrameP99Ns <= targetNs,
        };
      },
      targetNs,
    );
    results.push(r);
    if (r.answer === null) return { policy, pool, knobs: results, answer: null };
    fixed[k.id] = r.answer;
  }
  return { policy, pool, knobs: results, answer: fixed };
}

/** The answer and its bounding runs, for a person. */
export function sizingText(res: SizingResult): string {
  const lines = [
    `size       ${res.scenario} (${res.file}) on ${res.platform}: no allocation failure, ` +
      `first-frame allocation p99 ≤ ${formatDuration(res.targetP99Ns)}`,
  ];
  for (const p of res.policies) {
    const summary =
      p.answer === null
        ? "no size meets the target"
        : p.knobs.map((k) => `${k.knob.id} ${formatSearchedSize(k.answer!)}`).join(", ") || "nothing to size";
    lines.push("", `${p.policy.padEnd(10)} ${p.pool} pool: ${summary}`);
    for (const k of p.knobs) {
      lines.push(
        `  ${k.knob.label} (${k.knob.path}): ` +
          (k.answer !== null ? formatSearchedSize(k.answer) : "none") +
          ` — ${k.runs.length} runs`,
      );
      if (k.failing) lines.push(`    largest failing   ${runLine(k.failing)}`);
      if (k.passing) lines.push(`    smallest passing  ${runLine(k.passing)}`);
      if (k.none) lines.push(`    no answer: ${k.none}`);
      if (k.notMonotone) lines.push(`    NOT MONOTONE: ${k.notMonotone}`);
    }
  }
  return lines.join("\n") + "\n";
}
