/** Every step kind, in the order the schema's union lists them. Add a kind here, once. */
import { accessStep } from "./access.ts";
import { deviceStep } from "./device.ts";
import { ffaStep } from "./ffa.ts";
import { procStep } from "./proc.ts";
import { sleepStep } from "./sleep.ts";
import type { StepDef } from "./types.ts";

export const STEP_DEFS: readonly StepDef[] = [
  sleepStep as StepDef,
  accessStep as StepDef,
  ffaStep as StepDef,
  procStep as StepDef,
  deviceStep as StepDef,
];

const BY_KIND = new Map(STEP_DEFS.map((d) => [d.kind, d]));

export function stepDef(kind: string): StepDef {
  const d = BY_KIND.get(kind);
  if (!d) throw new Error(`no step kind ${kind}`);
  return d;
}
