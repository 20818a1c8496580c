/**
 * A step's `expect:` — one outcome (`expect: ok`), or a list of the outcomes it accepts
 * (`expect: [ok, ENOMEM, EINVAL]`): the step passes when what it got is any of them. A list lets a
 * scenario under fault injection say "this allocation may fail cleanly", so that the explorer hunts
 * leaks and findings instead of reporting every injected errno as a violation.
 *
 * Outcomes (StepOutcomeCore.expected, the JSON's `expected`) keep one string either way: a list is
 * written with `|` between its names (`ok|ENOMEM|EINVAL`), which no outcome name contains.
 */
import { z } from "zod";
import type { FaultPlan } from "../../sim/faults.ts";

/** What `expect:` holds once parsed: one name, or the names it accepts. */
export type StepExpect = string | readonly string[];

/**
 * The schema of `expect:` over a kind's outcome names: one of them, or a non-empty list of them.
 * The list comes first in the union so that a bad name inside a list is reported at its own position.
 */
export function stepExpectSchema<T extends readonly [string, ...string[]]>(
  names: T,
): z.ZodType<T[number] | T[number][]> {
  const one = z.enum(names);
  return z
    .union([z.array(one).min(1), one])
    .describe(
      `one outcome (${names.length > 6 ? `${names.slice(0, 6).join(", ")}, …` : names.join(", ")}), or a list of the outcomes accepted`,
    ) as unknown as z.ZodType<T[number] | T[number][]>;
}

/** The expectation as the outcome reports it: the name, the names joined with `|`, or null for none. */
export function expectedText(e: StepExpect | null | undefined): string | null {
  if (e === undefined || e === null) return null;
  return typeof e === "string" ? e : e.join("|");
}

/** Whether `got` meets the expectation (no expectation: anything does). */
export function expectMet(e: StepExpect | null | undefined, got: string): boolean {
  if (e === undefined || e === null) return true;
  return typeof e === "string" ? e === got : e.includes(got);
}

/** Whether the expectation accepts a failure: anything but `ok` (no expectation accepts none). */
export function acceptsFailure(e: StepExpect | null | undefined, got: string): boolean {
  return got !== "ok" && e !== undefined && e !== null && expectMet(e, got);
}

/**
 * Whether the expectation stands aside once a fault the scenario did not plan has struck in the run
 * (an injected fault, sim/faults.ts isInjected(): the explorer's `--faults`). One outcome, or none, is
 * what the scenario expects of a run without that fault, so the step is then not judged; a list is the
 * scenario's own word on what faults may do, and is judged as written.
 */
export function yieldsToInjectedFault(e: StepExpect | null | undefined): boolean {
  return !Array.isArray(e);
}

/**
 * Whether a step that missed `e` goes unjudged: a fault the scenario did not plan has struck in the run
 * (`faults`: the run's plan, FaultPlan.injectedStruck()) and the expectation yields to it
 * (yieldsToInjectedFault()). Such a run is judged on what a fault must not do: leaks, a stuck pool,
 * warnings, hangs (the findings, scenario/runner.ts judgeFindings()). A step that saves goes on as for
 * an accepted failure.
 */
export function afterInjectedFault(faults: FaultPlan, e: StepExpect | null | undefined): boolean {
  return yieldsToInjectedFault(e) && faults.injectedStruck();
}
