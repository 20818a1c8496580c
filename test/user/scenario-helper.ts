/**
 * Runs a loaded scenario the way src/scenario/runner.ts does (steps in order as one task, stop at the
 * first failed step, then the finding expectations), on a System that has a booted kernel. The
 * runner itself will do this once buildSystem boots the kernel; until then proc scenarios run here.
 */
import type { Scenario } from "../../src/scenario/loader.ts";
import { stepDef } from "../../src/scenario/steps/index.ts";
import type { StepOutcomeCore } from "../../src/scenario/steps/types.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { stepContext, systemWithKernel } from "./fixture.ts";

export interface KernelRun {
  readonly steps: readonly (StepOutcomeCore & { line: number; kind: string })[];
  readonly failure: string | null;
  readonly findings: Readonly<Record<string, number>>;
  readonly vars: ReadonlyMap<string, bigint>;
  readonly system: ReturnType<typeof systemWithKernel>;
  readonly simTimeNs: number;
}

export function runWithKernel(sc: Scenario): KernelRun {
  const sim = new Sim(sc.seed);
  const system = systemWithKernel(sim, sc.platform);
  const ctx = stepContext(system, sc.file);
  const steps: (StepOutcomeCore & { line: number; kind: string })[] = [];
  let failure: string | null = null;
  sim.sched.spawn("steps", function* () {
    for (const step of sc.steps) {
      const o = yield* stepDef(step.kind).run(ctx, step.spec);
      steps.push({ ...o, line: step.line, kind: step.kind });
      if (!o.ok) {
        failure = `${sc.file}:${step.line} (${step.kind}) expected ${o.expected}, got ${o.got}${o.detail ? ` (${o.detail})` : ""}`;
        return;
      }
    }
    // The end of a run: every process exits.
    yield* userSpaceOf(system.kernel).exitAll();
  });
  const end = sim.sched.run({ untilNs: sc.untilNs ?? undefined });
  if (failure === null && end === "deadlock") failure = "deadlock";
  const findings = sim.findings.counts();
  if (failure === null) {
    const bad = sc.expectFindings.find((e) => {
      const n = findings[e.id] ?? 0;
      return e.op === "=" ? n !== e.n : e.op === ">" ? n <= e.n : n >= e.n;
    });
    if (bad) failure = `expected ${bad.op}${bad.n} ${bad.id} findings, got ${findings[bad.id] ?? 0}`;
  }
  return { steps, failure, findings, vars: ctx.vars, system, simTimeNs: sim.now };
}
