/**
 * What a step kind is: its key, its schema (a strict object holding that key), a check against the
 * platform at load time, and how it runs. Each kind lives in its own file in this folder and is
 * listed once in steps/index.ts; the schema, the loader and the runner take them from there.
 */
import type { z } from "zod";
import type { PlatformDesc } from "../../hw/platform.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { SourceMap } from "../errors.ts";
import type { System } from "../system.ts";

export interface StepOutcomeCore {
  /** What happened: "ok", "fault", an FF-A or errno name, … */
  readonly got: string;
  /** What the step expected, or null when it expected nothing. */
  readonly expected: string | null;
  readonly ok: boolean;
  readonly detail: string | null;
}

/** Running state one scenario's steps share. */
export interface StepContext {
  readonly system: System;
  /** Values saved by `save: NAME`, read back as `$NAME`. */
  readonly vars: Map<string, bigint>;
  readonly file: string;
}

export interface StepDef<S extends z.ZodType = z.ZodType> {
  /** The key that names the kind in a step (`sleep`, `access`, …). */
  readonly kind: string;
  readonly schema: S;
  /** Load-time checks the schema cannot make (e.g. a master the platform lacks); throw map.error(...). */
  check?(spec: z.output<S>, platform: PlatformDesc, path: (string | number)[], map: SourceMap): void;
  run(ctx: StepContext, spec: z.output<S>): Sleeps<StepOutcomeCore>;
}

/** Defines a step kind with its spec type inferred from the schema. */
export function defineStep<S extends z.ZodType>(def: StepDef<S>): StepDef<S> {
  return def;
}
