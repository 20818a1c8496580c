/**
 * The scenario format: one zod schema, the single source of truth for validation, for the error
 * messages the loader turns into file:line:column, and for the JSON Schema `rstmem schema` prints.
 * Keys are snake_case and public (ARCHITECTURE.md §7): add, never rename.
 */
import { z } from "zod";
import { INVARIANT_IDS } from "../check/invariants.ts";
import { COST_NAMES } from "../hw/costs.ts";
import { PRESET_NAMES } from "./presets.ts";
import { faultsSchema } from "./faults.ts";
import { addressSchema, durationSchema, sizeSchema } from "./schema-units.ts";
import { policySchema } from "./policies.ts";
import { STEP_DEFS } from "./steps/index.ts";
import { workloadsSchema } from "./workloads.ts";

export { addressSchema, durationSchema, sizeSchema };

// ---- Steps: each kind is an object with its kind's key; the loader picks the kind by that key ----

/** Step kinds by their key, in the order the union lists them. */
export const STEP_KINDS = STEP_DEFS.map((d) => d.kind);
export type StepKind = string;

/** `repeat: N` with `steps: [...]`: its steps N times, in order, in the task that reaches it. */
export const REPEAT_KIND = "repeat";

export const stepSchema: z.ZodType = z
  .union([
    ...(STEP_DEFS.map((d) => d.schema) as unknown as [z.ZodType, ...z.ZodType[]]),
    z
      .strictObject({
        repeat: z.number().int().min(1).max(1_000_000),
        get steps() {
          return z.array(stepSchema).min(1);
        },
      })
      .describe("Run these steps N times, in order."),
  ])
  .meta({ id: "step", description: "one step: an object with one kind's key" });

// ---- Platform ----

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

export const COST_KEYS = Object.fromEntries(COST_NAMES.map((n) => [snake(n), n])) as Record<
  string,
  (typeof COST_NAMES)[number]
>;

const costsSchema = z.strictObject(
  Object.fromEntries(Object.keys(COST_KEYS).map((k) => [k, z.number().nonnegative().optional()])),
);

const deniedEffect = z.enum(["ignored", "external-abort", "serror", "serror-hang"]);

export const platformOverrideSchema = z.strictObject({
  preset: z.enum(PRESET_NAMES as [string, ...string[]]),
  dram_size: sizeSchema.optional(),
  spmc: z.enum(["hafnium", "optee-sel1"]).optional(),
  ffa_version: z.enum(["1.0", "1.1", "1.2"]).optional(),
  firewall_action: z.enum(["none", "err", "int", "err-int"]).optional(),
  tzc_regions: z.number().int().min(1).max(8).optional(),
  rodata_full: z.boolean().optional(),
  bbml2: z.boolean().optional(),
  bbml3: z
    .boolean()
    .optional()
    .describe("every CPU has BBML3: live block mappings change without break-before-make"),
  hypervisor: z
    .enum(["none", "pkvm"])
    .optional()
    .describe("an EL2 hypervisor owning the host's stage 2 (pkvm), for `unmap: hypervisor`; default none"),
  cont_hint: z.boolean().optional(),
  spec_fills_per_ms: z.number().nonnegative().optional(),
  cache_size: sizeSchema.optional(),
  denied_fill: deniedEffect.optional(),
  denied_writeback: deniedEffect.optional(),
  max_order: z.number().int().min(1).max(12).optional(),
  rxtx_buffer_size: sizeSchema.optional(),
  cma: z
    .array(
      z.strictObject({
        name: z.string(),
        base: addressSchema,
        size: sizeSchema,
        ll_map: z
          .boolean()
          .optional()
          .describe("mapped with 4 KiB pages from boot (the lend pool's `ll-map;`)"),
      }),
    )
    .optional(),
  costs: costsSchema.optional(),
  protmem: z
    .strictObject({
      "secure-video": sizeSchema.optional(),
      "trusted-ui": sizeSchema.optional(),
      "secure-video-record": sizeSchema.optional(),
    })
    .optional()
    .describe("OP-TEE's protected-memory size per use case (plat_get_protmem_config)"),
  optee_abi: z
    .enum(["ffa", "smc"])
    .optional()
    .describe("how Linux's OP-TEE driver reaches OP-TEE: FF-A (default) or OP-TEE's SMC ABI"),
  static_protmem: z
    .strictObject({ base: addressSchema, size: sizeSchema })
    .optional()
    .describe(
      "a static protected carveout (no-map) OP-TEE reports with OPTEE_SMC_GET_PROTMEM_CONFIG (optee_abi: smc)",
    ),
  spmc_limits: z
    .strictObject({
      share_states: z.number().int().min(1).optional(),
      fragments: z.number().int().min(1).optional(),
      receivers: z.number().int().min(1).optional(),
    })
    .optional()
    .describe(
      "the SPMC's table limits (Hafnium: 100 share states, 20 fragments, 2 receivers; OP-TEE: 64 cookies)",
    ),
  tee: z
    .boolean()
    .optional()
    .describe("boot OP-TEE's handler and the kernel's TEE drivers (default true); false: firmware alone"),
  panic_on_oops: z
    .boolean()
    .optional()
    .describe(
      "the kernel's panic_on_oops: an oops stops the machine instead of killing its task (default false)",
    ),
  hung_task_timeout_secs: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe("khungtaskd's timeout in seconds of virtual time (default 120; 0 disables it)"),
});

export const platformSchema = z.union([
  z.enum(PRESET_NAMES as [string, ...string[]]).describe("a preset name"),
  platformOverrideSchema,
]);

// ---- Expectations ----

export const findingCountSchema = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\s*[<>]\s*\d+\s*$/, { message: 'expected a count: N, ">N" or "<N"' }),
]);

/**
 * `findings: {ID: N | ">N" | "<N"}` and `metrics: {NAME: N | ">N" | "<N"}`; when a scenario runs under
 * several policies (`compare:`), either may also hold a block per policy (`metrics: {safe: {…}}`) that
 * applies to that policy's run only. Keys and values are checked by the loader, at their positions.
 */
export const expectSchema = z.strictObject({
  findings: z
    .record(z.string(), z.unknown())
    .optional()
    .describe(`finding counts per invariant (${INVARIANT_IDS.join(", ")}), or a block per compared policy`),
  metrics: z
    .record(z.string(), z.unknown())
    .optional()
    .describe("bounds on metrics (see the README's metric list), or a block per compared policy"),
});

// ---- The scenario ----

export const scenarioSchema = z.strictObject({
  name: z.string().optional(),
  description: z.string().optional(),
  platform: platformSchema.optional().describe("preset name or {preset, ...overrides}; default qemu-virt"),
  policy: policySchema
    .optional()
    .describe("policy preset name, {preset, ...overrides} or the fields; default upstream"),
  seed: z.number().int().nonnegative().optional().describe("PRNG seed, default 1"),
  until: durationSchema
    .optional()
    .describe("no step starts after this virtual time (the one in flight completes)"),
  steps: z.array(stepSchema).optional().describe("run in order, as one task"),
  tasks: z
    .record(
      z.string().regex(/^[A-Za-z0-9_.-]+$/, { message: "expected a task name (letters, digits, _ . -)" }),
      z.array(stepSchema),
    )
    .optional()
    .describe("named step lists, each run as its own task, concurrently with `steps` and with each other"),
  workloads: workloadsSchema,
  compare: z
    .array(z.string())
    .min(1)
    .optional()
    .describe("run under each of these named policies side by side (rstmem compare); overrides `policy`"),
  schedule: z
    .string()
    .optional()
    .describe("a recorded schedule (as `rstmem run` prints it) to replay; --schedule overrides it"),
  faults: faultsSchema,
  expect: expectSchema.optional(),
});

export type ScenarioInput = z.input<typeof scenarioSchema>;
export type ScenarioParsed = z.output<typeof scenarioSchema>;
/** One step as parsed: an object with one kind's key (or `repeat` with its `steps`). */
export type StepParsed = Record<string, unknown>;

/** The JSON Schema of the format, for editors (`rstmem schema`). */
export function scenarioJsonSchema(): Record<string, unknown> {
  const js = z.toJSONSchema(scenarioSchema, { io: "input", unrepresentable: "any" }) as Record<
    string,
    unknown
  >;
  return { ...js, title: "rstmem scenario", $id: "https://rstmem.dev/schema/scenario.json" };
}
