/**
 * Schemas of the scenario format's units (sizes, durations, addresses), shared by the top-level
 * schema and by each step kind's schema.
 */
import { z } from "zod";
import {
  ADDRESS_EXPECTED,
  ADDRESS_PATTERN,
  DURATION_EXPECTED,
  DURATION_PATTERN,
  parseAddress,
  parseDuration,
  parseRate,
  parseSize,
  RATE_EXPECTED,
  RATE_PATTERN,
  SIZE_EXPECTED,
  SIZE_PATTERN,
  type Parsed,
} from "./units.ts";

function unit(pattern: string, expected: string, parse: (v: number | string) => Parsed) {
  return z
    .union([
      z
        .number({ message: `expected ${expected}` })
        .int({ message: `expected ${expected}` })
        .nonnegative({ message: `expected ${expected}` }),
      z.string().regex(new RegExp(pattern), { message: `expected ${expected}` }),
    ])
    .transform((v, ctx) => {
      const p = parse(v);
      if (!p.ok) {
        ctx.addIssue({ code: "custom", message: p.why });
        return z.NEVER;
      }
      return p.value;
    });
}

export const sizeSchema = unit(SIZE_PATTERN, SIZE_EXPECTED, parseSize);
export const durationSchema = unit(DURATION_PATTERN, DURATION_EXPECTED, parseDuration);
export const addressSchema = unit(ADDRESS_PATTERN, ADDRESS_EXPECTED, parseAddress);
export const rateSchema = unit(RATE_PATTERN, RATE_EXPECTED, parseRate);
