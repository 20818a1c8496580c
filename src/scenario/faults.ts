/**
 * A scenario's `faults:` list (public contract, ARCHITECTURE.md §7): which fault points strike in a
 * run — the same list a run records of the faults that struck (RunResult.faults, replay.json), so any
 * run's faults can be pasted back into a scenario.
 *
 * ```yaml
 * faults:
 *   - ffa: { call: MEM_LEND, error: NO_MEMORY, nth: 1 }   # the 1st FFA_MEM_LEND answers NO_MEMORY
 *   - optee: { cmd: ASSIGN_PROTMEM, error: TEE_ERROR_OUT_OF_MEMORY, nth: 2 }
 *   - cma: { pinned: 1, nth: 1 }     # the 1st cma_alloc() meets a pinned page in its first window
 *   - kill: { proc: player, at: 3 }  # SIGKILL at player's 3rd scheduling point inside a system call
 *   - rx_busy: { nth: 1 }            # the 1st call that writes an RX buffer finds it owned: BUSY
 * ```
 * `nth` defaults to 1. Each `error:` must be one the real SPMC or OP-TEE can give for that call or
 * command (firmware/spmc/faults.ts, secure/optee/faults.ts say which and why); another is refused at
 * its line and column.
 */
import { z } from "zod";
import { FFA_ERROR_NAMES } from "../abi/ffa/index.ts";
import { FFA_FAULT_ERRORS } from "../firmware/spmc/faults.ts";
import { OPTEE_FAULT_ERRORS } from "../secure/optee/faults.ts";
import type { FaultSpec } from "../sim/faults.ts";
import type { SourceMap } from "./errors.ts";

/** Every TEE_Result name an `optee:` fault may give (which fits which command is checked after). */
const TEE_ERROR_NAMES = [...new Set(Object.values(OPTEE_FAULT_ERRORS).flat())] as unknown as [
  string,
  ...string[],
];

const nth = z
  .number()
  .int()
  .min(1)
  .optional()
  .describe("the how-many-th time the point is reached in the run (1-based; default 1)");

export const faultSchema = z
  .union([
    z
      .strictObject({
        ffa: z.strictObject({
          call: z.enum(Object.keys(FFA_FAULT_ERRORS) as [string, ...string[]]).describe("the FF-A call"),
          error: z.enum(FFA_ERROR_NAMES).describe("the FF-A error the SPMC answers with"),
          nth,
        }),
      })
      .describe("an FF-A call answered with an error by the SPMC"),
    z
      .strictObject({
        optee: z.strictObject({
          cmd: z.enum(Object.keys(OPTEE_FAULT_ERRORS) as [string, ...string[]]).describe("the command"),
          error: z.enum(TEE_ERROR_NAMES).describe("the TEE_Result OP-TEE fails it with"),
          nth,
        }),
      })
      .describe("OP-TEE fails a protected-memory command"),
    z
      .strictObject({
        cma: z.strictObject({
          pinned: z
            .union([z.number().int().min(1), z.literal("all")])
            .optional()
            .describe("windows, from the first, that meet a pinned page (default 1); all: every window"),
          nth,
        }),
      })
      .describe("cma_alloc() meets a pinned page: alloc_contig_range() fails with -EBUSY there"),
    z
      .strictObject({
        kill: z.strictObject({
          proc: z.string().min(1).describe("the process"),
          at: z
            .number()
            .int()
            .min(1)
            .describe("its how-many-th scheduling point inside a system call (1-based)"),
        }),
      })
      .describe("SIGKILL to a process at one of its scheduling points"),
    z
      .strictObject({ rx_busy: z.strictObject({ nth }) })
      .describe("a call that writes an RX buffer finds it owned by the other world: BUSY"),
  ])
  .meta({ id: "fault", description: "one fault: an object with one kind's key" });

export const faultsSchema = z
  .array(faultSchema)
  .optional()
  .describe("faults that strike in the run (also what a run records of the faults that struck)");

type FaultParsed = z.output<typeof faultSchema>;

/** A fault whose `error:` the real firmware never gives for its call: where, and why. */
function unrealistic(f: FaultParsed): { at: string[]; why: string } | null {
  if ("ffa" in f && !FFA_FAULT_ERRORS[f.ffa.call].includes(f.ffa.error))
    return {
      at: ["ffa", "error"],
      why: `no real SPMC answers ${f.ffa.call} with ${f.ffa.error}; expected one of ${FFA_FAULT_ERRORS[f.ffa.call].join(", ")}`,
    };
  if ("optee" in f && !OPTEE_FAULT_ERRORS[f.optee.cmd].includes(f.optee.error))
    return {
      at: ["optee", "error"],
      why: `OP-TEE does not fail ${f.optee.cmd} with ${f.optee.error}; expected one of ${OPTEE_FAULT_ERRORS[f.optee.cmd].join(", ")}`,
    };
  return null;
}

/** The parsed fault as a FaultSpec, its defaults filled. */
function toSpec(f: FaultParsed): FaultSpec {
  if ("ffa" in f) return { ffa: { call: f.ffa.call, error: f.ffa.error, nth: f.ffa.nth ?? 1 } };
  if ("optee" in f) return { optee: { cmd: f.optee.cmd, error: f.optee.error, nth: f.optee.nth ?? 1 } };
  if ("cma" in f) return { cma: { pinned: f.cma.pinned ?? 1, nth: f.cma.nth ?? 1 } };
  if ("kill" in f) return { kill: { proc: f.kill.proc, at: f.kill.at } };
  return { rx_busy: { nth: f.rx_busy.nth ?? 1 } };
}

/** The parsed `faults:` as FaultSpecs; an unrealistic `error:` is refused at its line and column. */
export function resolveFaults(list: readonly FaultParsed[] | undefined, map: SourceMap): FaultSpec[] {
  return (list ?? []).map((f, i) => {
    const bad = unrealistic(f);
    if (bad) throw map.error(["faults", i, ...bad.at], bad.why);
    return toSpec(f);
  });
}

/** Reads a `faults` list from JSON (replay.json): the FaultSpecs, or a sentence saying what is wrong. */
export function parseFaultList(data: unknown): FaultSpec[] | string {
  const r = z.array(faultSchema).safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    return `faults.${issue.path.join(".")}: ${issue.message}`;
  }
  for (const [i, f] of r.data.entries()) {
    const bad = unrealistic(f);
    if (bad) return `faults.${i}.${bad.at.join(".")}: ${bad.why}`;
  }
  return r.data.map(toSpec);
}
