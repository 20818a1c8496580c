/**
 * The `ffa` step's schema: one raw FF-A call, its descriptor (typed fields, raw overrides for
 * malformed ones, or `hex:` bytes), its register arguments, fragmentation and expectations.
 */
import { FFA_ERROR_NAMES } from "../../abi/ffa/index.ts";
import { z } from "zod";
import { addressSchema, sizeSchema } from "../schema-units.ts";
import { stepExpectSchema } from "./expect.ts";

/** The calls the step can make: the spec name without `FFA_`. */
export const FFA_STEP_FUNCTIONS = [
  "MEM_LEND",
  "MEM_SHARE",
  "MEM_DONATE",
  "MEM_RETRIEVE_REQ",
  "MEM_RELINQUISH",
  "MEM_RECLAIM",
  "MEM_FRAG_TX",
  "MEM_FRAG_RX",
  "RXTX_MAP",
  "RXTX_UNMAP",
  "RX_RELEASE",
  "VERSION",
  "ID_GET",
  "FEATURES",
  "PARTITION_INFO_GET",
  "MSG_SEND_DIRECT_REQ",
] as const;
export type FfaStepFunction = (typeof FFA_STEP_FUNCTIONS)[number];

/** What a call can answer with (function names without `FFA_`, error names without `FFA_`). */
export const FFA_STEP_RESULTS = [
  "SUCCESS",
  "MEM_FRAG_RX",
  "MEM_FRAG_TX",
  "MEM_RETRIEVE_RESP",
  "MSG_SEND_DIRECT_RESP",
  ...FFA_ERROR_NAMES,
] as const;

const VALUE_PATTERN = /^(\$[A-Za-z_][A-Za-z0-9_]*|0[xX][0-9a-fA-F_]+|[0-9]+)$/;
const VALUE_EXPECTED = "expected a number, 0x… hex, or a saved $NAME";

/** A register or field value: a number, a hex/decimal string (for values beyond 2^53), or `$NAME`. */
export const valueSchema = z.union([
  z
    .number({ message: VALUE_EXPECTED })
    .int({ message: VALUE_EXPECTED })
    .nonnegative({ message: VALUE_EXPECTED }),
  z.string().regex(VALUE_PATTERN, { message: VALUE_EXPECTED }),
]);
export type ValueSpec = z.output<typeof valueSchema>;

export const accessSchema = z.union([
  z.number().int().min(0).max(0xff),
  z.strictObject({
    data: z.enum(["ro", "rw", "not-specified"]).optional(),
    instruction: z.enum(["x", "nx", "not-specified"]).optional(),
  }),
]);

export const attributesSchema = z.union([
  z.number().int().min(0).max(0xffff),
  z
    .strictObject({
      type: z.enum(["normal", "device", "not-specified"]),
      cacheability: z.enum(["write-back", "non-cacheable"]).optional(),
      device: z.enum(["nGnRnE", "nGnRE", "nGRE", "GRE"]).optional(),
      shareability: z.enum(["inner", "outer", "non-shareable"]).optional(),
      ns: z.boolean().optional(),
    })
    .describe("typed memory region attributes; normal defaults to write-back, inner shareable"),
]);

export const flagsSchema = z.union([
  z.number().int().min(0).max(0xffff_ffff),
  z.strictObject({
    zero_memory: z.boolean().optional(),
    time_slicing: z.boolean().optional(),
    zero_after_relinquish: z.boolean().optional(),
    transaction_type: z.enum(["unspecified", "share", "lend", "donate"]).optional(),
    alignment_hint: z.number().int().min(0).max(15).optional(),
    alignment_hint_valid: z.boolean().optional(),
    bypass_borrowers_check: z.boolean().optional(),
  }),
]);

export const receiverSchema = z.strictObject({
  id: valueSchema,
  access: accessSchema.optional().describe("default: RW for share and lend, not specified otherwise"),
  flags: z.number().int().min(0).max(0xff).optional(),
  impdef: z.tuple([valueSchema, valueSchema]).optional(),
  composite_offset: z.number().int().nonnegative().optional(),
});

export const constituentSchema = z.strictObject({
  address: addressSchema,
  pages: z.number().int().min(0).max(0xffff_ffff),
  repeat: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .optional()
    .describe("this many constituents, `stride` bytes apart"),
  stride: sizeSchema.optional().describe("default: pages × 4 KiB (contiguous)"),
});

export const descriptorSchema = z
  .strictObject({
    version: z
      .enum(["1.0", "1.1", "1.2"])
      .optional()
      .describe("layout; default the caller's negotiated version"),
    sender: valueSchema.optional(),
    attributes: attributesSchema.optional(),
    flags: flagsSchema.optional(),
    handle: valueSchema.optional(),
    tag: valueSchema.optional(),
    receivers: z.array(receiverSchema).optional(),
    constituents: z.array(constituentSchema).optional(),
    emad_size: z.number().int().nonnegative().optional(),
    emad_count: z.number().int().nonnegative().optional(),
    emad_offset: z.number().int().nonnegative().optional(),
    composite_offset: z.number().int().nonnegative().optional(),
    total_page_count: z.number().int().nonnegative().optional(),
    address_range_count: z.number().int().nonnegative().optional(),
    reserved: z.array(z.number().int().nonnegative()).max(3).optional(),
    emad_reserved: valueSchema.optional(),
    endpoints: z
      .array(valueSchema)
      .optional()
      .describe("MEM_RELINQUISH: the endpoints (default: the caller)"),
    hex: z.string().optional().describe("raw descriptor bytes instead of the fields"),
  })
  .describe("the descriptor written into the caller's TX buffer");
export type DescriptorSpec = z.output<typeof descriptorSchema>;

const regsSchema = z.strictObject({
  w1: valueSchema.optional(),
  w2: valueSchema.optional(),
  w3: valueSchema.optional(),
  w4: valueSchema.optional(),
  w5: valueSchema.optional(),
  w6: valueSchema.optional(),
  w7: valueSchema.optional(),
});

export const ffaStepSchema = z
  .strictObject({
    ffa: z.enum(FFA_STEP_FUNCTIONS),
    as: z
      .union([z.string(), z.number().int().nonnegative()])
      .optional()
      .describe("calling endpoint: normal, optee, sp2 or an ID"),
    smc64: z.boolean().optional().describe("use the 64-bit function ID"),
    descriptor: descriptorSchema.optional(),
    handle: valueSchema.optional(),
    flags: z.number().int().min(0).max(0xffff_ffff).optional(),
    total_length: z.number().int().nonnegative().optional(),
    fragment_length: z.number().int().nonnegative().optional(),
    offset: z.number().int().nonnegative().optional(),
    args: regsSchema.optional().describe("registers set directly (override everything else)"),
    fragment: z
      .strictObject({ bytes: z.number().int().min(1), stop_after: z.number().int().min(1).optional() })
      .optional()
      .describe("send the descriptor in N-byte fragments (the rest with MEM_FRAG_TX)"),
    expect: stepExpectSchema(FFA_STEP_RESULTS).optional(),
    expect_regs: regsSchema.optional().describe("register values the answer must hold"),
    save: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional()
      .describe("keep the returned handle as $NAME"),
  })
  .describe("One raw FF-A call from an endpoint.");
export type FfaStepSpec = z.output<typeof ffaStepSchema>;
