/** `access: {by, address, length, op, expect, via}` — one memory access through the machine's checkpoint. */
import { z } from "zod";
import { ACCESS_OK, FAULT_NAMES } from "../../hw/machine.ts";
import { sleep, elapse } from "../../sim/scheduler.ts";
import { addressSchema, sizeSchema } from "../schema-units.ts";
import { expectedText, expectMet, stepExpectSchema } from "./expect.ts";
import { defineStep } from "./types.ts";

export const accessStep = defineStep({
  kind: "access",
  schema: z
    .strictObject({
      access: z.strictObject({
        by: z.string().describe("bus master: cpu-ns, cpu-s, video-decoder, display, gpu"),
        address: addressSchema,
        length: sizeSchema.optional().describe("bytes, default 8"),
        op: z.enum(["read", "write"]),
        expect: stepExpectSchema(["ok", "fault"]).optional(),
        via: z
          .enum(["physical", "direct-map"])
          .optional()
          .describe(
            "physical (default): a bus transaction; direct-map: a CPU access through the kernel's linear map",
          ),
      }),
    })
    .describe("One memory access through the machine's checkpoint."),

  check(spec, platform, path, map) {
    const masters = platform.masters.map((m) => m.name);
    if (!masters.includes(spec.access.by)) {
      throw map.error(
        [...path, "access", "by"],
        `no bus master "${spec.access.by}" on ${platform.name}; expected one of ${masters.join(", ")}`,
      );
    }
  },

  *run(ctx, spec) {
    const a = spec.access;
    const m = ctx.system.machine;
    const length = a.length ?? 8;
    const code = m.access(m.masterIndex(a.by), a.address, length, a.op, {
      viaDirectMap: a.via === "direct-map",
    });
    const got = code === ACCESS_OK ? "ok" : "fault";
    const detail =
      code !== ACCESS_OK
        ? `${FAULT_NAMES[code]}: ${m.lastFault?.why ?? ""}`
        : m.lastSilentDenial
          ? "denied by the firewall, answered OKAY (reads return zeros, writes are dropped)"
          : null;
    // An access takes a bus round trip; a few ns of virtual time keeps steps ordered (assumption).
    const costNs = Math.ceil(length / m.costs.memcpyBytesPerNs) + 10;
    if (!elapse(costNs)) yield sleep(costNs);
    return { got, expected: expectedText(a.expect), ok: expectMet(a.expect, got), detail };
  },
});
