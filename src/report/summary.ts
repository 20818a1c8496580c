/**
 * The run summary: text for the terminal, one line per run for batches, JSON for machines.
 */
import { isInjected, type FaultSpec } from "../sim/faults.ts";
import { INVARIANTS } from "../check/invariants.ts";
import type { RunResult } from "../scenario/runner.ts";
import { formatDuration, formatSize } from "../scenario/units.ts";

function findingsLine(r: RunResult): string {
  const nonzero = Object.entries(r.findings).filter(([, n]) => n > 0);
  return nonzero.length === 0 ? "none" : nonzero.map(([id, n]) => `${id} ${n}`).join(", ");
}

/** Steps that missed their expectation after an injected fault, and so went unjudged. */
const unjudgedSteps = (r: RunResult): number => r.steps.filter((s) => s.afterInjectedFault).length;

/**
 * `PASS  file  (platform, 5/5 steps, 1.2 µs, findings: none)`; with `, 3 not judged` after the steps when
 * steps missed their expectation after an injected fault (StepOutcome.afterInjectedFault).
 */
/**
 * The run's verdict and why: its failed expectation, or — `violation`, the explorer's verdict — why the
 * explorer counts a run that met its expectations as a violation (a scenario with no `expect` and
 * findings: ARCHITECTURE.md §8).
 */
function verdictOf(r: RunResult, violation: string | null): { passed: boolean; why: string | null } {
  return r.passed && violation !== null
    ? { passed: false, why: violation }
    : { passed: r.passed, why: r.failure };
}

export function summaryLine(r: RunResult, violation: string | null = null): string {
  const unjudged = unjudgedSteps(r);
  const v = verdictOf(r, violation);
  return (
    `${v.passed ? "PASS" : "FAIL"}  ${r.file}  (${r.platform}, ${r.steps.length}/${r.stepsTotal} steps, ` +
    (unjudged > 0 ? `${unjudged} not judged, ` : "") +
    `${formatDuration(r.simTimeNs)}, findings: ${findingsLine(r)})` +
    (v.why ? `\n      ${v.why}` : "")
  );
}

/** Finding details printed per invariant id. */
const DETAILS_PER_ID = 6;

export function summaryText(r: RunResult, violation: string | null = null): string {
  const out: string[] = [];
  out.push(`scenario   ${r.scenario}  (${r.file})`);
  out.push(`platform   ${r.platform}   seed ${r.seed}`);
  out.push(
    `time       ${formatDuration(r.simTimeNs)} simulated, ${r.taskSwitches} task switches, ended: ${r.end}`,
  );
  const failed = r.steps.filter((s) => !s.ok).length;
  const unjudged = unjudgedSteps(r);
  out.push(
    `steps      ${r.steps.length}/${r.stepsTotal} run, ${failed} failed` +
      (unjudged > 0 ? `, ${unjudged} not judged (~: missed their expectation after an injected fault)` : ""),
  );
  for (const s of r.steps) {
    const exp = s.expected ? ` (expected ${s.expected})` : "";
    const task = s.task === "steps" ? "" : `[${s.task}] `;
    const mark = s.afterInjectedFault ? "~" : s.ok ? " " : "✗";
    out.push(
      `  ${mark} ${task}#${s.index} line ${s.line} ${s.kind}: ${s.got}${exp}${s.detail ? ` — ${s.detail}` : ""}`,
    );
  }
  for (const k of r.killed)
    out.push(`killed     ${k.task}${k.line !== null ? ` (at line ${k.line})` : ""}: ${k.what}`);
  for (const b of r.blocked) out.push(`blocked    ${b.task} on ${b.on} since ${formatDuration(b.sinceNs)}`);
  if (r.panic) out.push(`panic      ${r.panic}`);
  const m = r.machine;
  out.push(
    `machine    ${m.accesses} accesses, ${m.faults} faults, ${m.specFills} speculative fills (${m.deniedFills} denied), ` +
      `${m.writebacks} write-backs (${m.deniedWritebacks} denied), ${m.smcCalls} SMCs`,
  );
  const ffa = Object.entries(r.ffaCalls);
  const lends = ffa.filter(([n]) => /^FFA_MEM_(LEND|DONATE)/.test(n)).reduce((a, [, n]) => a + n, 0);
  const reclaims = ffa.filter(([n]) => /^FFA_MEM_RECLAIM/.test(n)).reduce((a, [, n]) => a + n, 0);
  out.push(
    `FF-A       ${ffa.reduce((a, [, n]) => a + n, 0)} calls, ${lends} lends, ${reclaims} reclaims` +
      (ffa.length ? ` (${ffa.map(([n, c]) => `${n.replace(/^FFA_/, "")} ${c}`).join(", ")})` : ""),
  );
  if (r.protmem) {
    const p = r.protmem;
    out.push(
      `pool       ${p.lends} chunks lent, ${p.reclaims} reclaimed${p.stuck ? `, ${p.stuck} stuck lent` : ""}; ` +
        `${formatSize(p.peakLentBytes)} lent at peak; worst lend ${formatDuration(p.lendNsMax)}, worst reclaim ${formatDuration(p.reclaimNsMax)}`,
    );
  }
  const rejected = Object.entries(r.ffaRejections);
  if (rejected.length)
    out.push(`refused    ${rejected.map(([n, c]) => `${n.replace(/^FFA_/, "")} ×${c}`).join(", ")}`);
  if (r.faults.length) out.push(`faults     ${r.faults.map(faultText).join(", ")}`);
  const errnos = Object.entries(r.errnos);
  if (errnos.length) out.push(`errnos     ${errnos.map(([n, c]) => `${n} ${c}`).join(", ")}`);
  out.push(`findings   ${findingsLine(r)}`);
  for (const [id, n] of Object.entries(r.findings)) {
    if (n > 0) out.push(`  ${id}: ${n} — ${INVARIANTS[id as keyof typeof INVARIANTS] ?? ""}`);
  }
  // The first few of each id, so a flood of one kind does not hide another.
  const shown = new Map<string, number>();
  for (const f of r.findingDetails) {
    const n = shown.get(f.id) ?? 0;
    if (n >= DETAILS_PER_ID) continue;
    shown.set(f.id, n + 1);
    out.push(`    at ${formatDuration(f.t)} [${f.task}] ${f.id}: ${f.message}`);
  }
  for (const e of r.expectations) {
    const read = e.afterInjectedFault
      ? ` (after an injected fault: ${e.expected.startsWith(">") ? "any" : `≤ ${e.expected}`})`
      : "";
    out.push(`expect     ${e.id} ${e.expected}${read}: ${e.actual} ${e.ok ? "ok" : "✗"}`);
  }
  if (r.hung) out.push(`hung       ${r.hung}`);
  const v = verdictOf(r, violation);
  out.push(`result     ${v.passed ? "PASS" : `FAIL: ${v.why}`}`);
  return out.join("\n");
}

/** JSON with sorted keys at the top level is stable across runs (same inputs, same bytes). */
export function summaryJson(r: RunResult | readonly RunResult[]): string {
  return JSON.stringify(r, null, 2);
}

/**
 * One fault that struck, as the scenario's `faults:` would say it: `ffa MEM_LEND NO_MEMORY #1`, and
 * ` (injected)` after a fault the scenario did not plan (the explorer's).
 */
export function faultText(f: FaultSpec): string {
  return plannedFaultText(f) + (isInjected(f) ? " (injected)" : "");
}

function plannedFaultText(f: FaultSpec): string {
  if ("ffa" in f)
    return `ffa ${f.ffa.call}${f.ffa.in ? ` in ${f.ffa.in}` : ""} ${f.ffa.error} #${f.ffa.nth}${f.ffa.boot ? " at boot" : ""}`;
  if ("optee" in f)
    return `optee ${f.optee.cmd} ${f.optee.error} #${f.optee.nth}${f.optee.boot ? " at boot" : ""}`;
  if ("cma" in f) return `cma pinned ${f.cma.pinned} #${f.cma.nth}`;
  if ("kill" in f) return `kill ${f.kill.proc} at ${f.kill.at}${f.kill.anywhere ? " (anywhere)" : ""}`;
  return `rx_busy #${f.rx_busy.nth}`;
}
