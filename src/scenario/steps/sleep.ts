/** `sleep: DURATION` — lets virtual time pass. */
import { z } from "zod";
import { sleep, elapse } from "../../sim/scheduler.ts";
import { durationSchema } from "../schema-units.ts";
import { defineStep } from "./types.ts";

export const sleepStep = defineStep({
  kind: "sleep",
  schema: z.strictObject({ sleep: durationSchema }).describe("Let virtual time pass."),
  *run(_ctx, spec) {
    if (!elapse(spec.sleep)) yield sleep(spec.sleep);
    return { got: "ok", expected: null, ok: true, detail: null };
  },
});
