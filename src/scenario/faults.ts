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
 *   - kill: { proc: player, at: 5, anywhere: true }  # …at its 5th scheduling point, in user space too
 *   - rx_busy: { nth: 1 }            # the 1st call that writes an RX buffer finds it owned: BUSY
 *   - ffa: { call: RXTX_MAP, error: NO_MEMORY, boot: true }  # at the arm_ffa probe: no FF-A driver
 *   # Hafnium: the 1st send completed by its last FFA_MEM_FRAG_TX cannot prepare the sender's page
 *   # tables; the share state is freed
 *   - ffa: { call: MEM_FRAG_TX, in: ffa_memory_send_complete, error: NO_MEMORY, nth: 1 }
 * ```
 * `nth` defaults to 1. Each `error:` must be one the real SPMC or OP-TEE can give for that call or
 * command (firmware/spmc/faults.ts, secure/optee/faults.ts say which and why); another is refused at
 * its line and column.
 */
import { z } from "zod";
import { FFA_ERROR_NAMES } from "../abi/ffa/index.ts";
import {
  FFA_BOOT_CALLS,
  FFA_FAULT_ERRORS,
  FFA_FAULT_FLAVORS,
  FFA_FAULT_SITES,
  RETRY_CALLS_WHY,
} from "../firmware/spmc/faults.ts";
import { OPTEE_FAULT_ERRORS } from "../secure/optee/faults.ts";
import { isInjected, markInjected, type FaultSpec } from "../sim/faults.ts";
import type { SourceMap } from "./errors.ts";

/** Every TEE_Result name an `optee:` fault may give (which fits which command is checked after). */
const TEE_ERROR_NAMES = [...new Set(Object.values(OPTEE_FAULT_ERRORS).flat())] as unknown as [
  string,
  ...string[],
];

/** OP-TEE commands the normal world sends while its drivers probe (optee_ffa_protmem_pool_init()). */
const OPTEE_BOOT_CMDS: ReadonlySet<string> = new Set(["GET_PROTMEM_CONFIG"]);

const boot = z
  .literal(true)
  .optional()
  .describe(
    "strike while the normal world's drivers probe at boot (nth counts from there), not once the run started",
  );

const injected = z
  .literal(true)
  .optional()
  .describe(
    "a fault the scenario does not plan for (the explorer's --faults records its faults so): once it struck, " +
      "a step with one expected outcome is not judged, and the run is judged on what a fault must not do",
  );

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
          boot,
          injected,
          in: z
            .enum(Object.keys(FFA_FAULT_SITES) as [string, ...string[]])
            .optional()
            .describe(
              "strike inside the call, where this real function fails (ffa_memory_send_complete: Hafnium's " +
                "last FFA_MEM_FRAG_TX, the share state freed), not at its entry; nth counts those points",
            ),
        }),
      })
      .describe("an FF-A call answered with an error by the SPMC"),
    z
      .strictObject({
        optee: z.strictObject({
          cmd: z.enum(Object.keys(OPTEE_FAULT_ERRORS) as [string, ...string[]]).describe("the command"),
          error: z.enum(TEE_ERROR_NAMES).describe("the TEE_Result OP-TEE fails it with"),
          nth,
          boot,
          injected,
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
          injected,
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
            .describe(
              "its how-many-th scheduling point inside a system call (1-based), or anywhere with `anywhere`",
            ),
          anywhere: z
            .literal(true)
            .optional()
            .describe(
              "count every scheduling point of the process: in user space too (between its steps, in a sleep)",
            ),
          injected,
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

/**
 * A fault the real stack never meets where it says: an `error:` the real firmware never gives for that
 * call (RETRY: where it does come from), a failure only another SPMC flavor has, or a `boot:` fault on a
 * call the probes do not make. Where, and why. `flavor`: the platform's SPMC, when known.
 */
function unrealistic(f: FaultParsed, flavor?: string): { at: string[]; why: string } | null {
  const booted =
    "ffa" in f ? { kind: "ffa", body: f.ffa } : "optee" in f ? { kind: "optee", body: f.optee } : null;
  if (booted?.body.boot && booted.body.injected)
    return {
      at: [booted.kind, "injected"],
      why: "a boot fault is the scenario's own: `injected` marks a fault struck once the run started",
    };
  if ("ffa" in f) {
    const { call, error } = f.ffa;
    if (f.ffa.in !== undefined) {
      const site = FFA_FAULT_SITES[f.ffa.in];
      if (call !== site.call)
        return {
          at: ["ffa", "in"],
          why: `${f.ffa.in} is reached only by ${site.call}, not ${call}; expected call: ${site.call}`,
        };
      if (!site.errors.includes(error))
        return {
          at: ["ffa", "error"],
          why: `${f.ffa.in} fails only with ${site.errors.join(", ")}, not ${error} (firmware/spmc/faults.ts)`,
        };
      if (flavor !== undefined && !site.flavors.includes(flavor))
        return {
          at: ["ffa", "in"],
          why: `the ${flavor} SPMC has no ${f.ffa.in} (only ${site.flavors.join(", ")}: firmware/spmc/faults.ts)`,
        };
    }
    if (!FFA_FAULT_ERRORS[call].includes(error))
      return {
        at: ["ffa", "error"],
        why:
          `no real SPMC answers ${call} with ${error}; expected one of ${FFA_FAULT_ERRORS[call].join(", ")}` +
          (error === "RETRY" ? ` (${RETRY_CALLS_WHY})` : ""),
      };
    const flavors = FFA_FAULT_FLAVORS[call];
    if (flavor !== undefined && flavors && !flavors.includes(flavor))
      return {
        at: ["ffa", "call"],
        why: `the ${flavor} SPMC never fails ${call} with ${error} (only ${flavors.join(", ")} does: firmware/spmc/faults.ts)`,
      };
    if (f.ffa.boot && !FFA_BOOT_CALLS.has(call))
      return {
        at: ["ffa", "boot"],
        why: `the normal world does not call ${call} while its drivers probe; boot faults: ${[...FFA_BOOT_CALLS].join(", ")}`,
      };
  }
  if ("optee" in f) {
    const { cmd, error } = f.optee;
    if (!OPTEE_FAULT_ERRORS[cmd].includes(error))
      return {
        at: ["optee", "error"],
        why: `OP-TEE does not fail ${cmd} with ${error}; expected one of ${OPTEE_FAULT_ERRORS[cmd].join(", ")}`,
      };
    if (f.optee.boot && !OPTEE_BOOT_CMDS.has(cmd))
      return {
        at: ["optee", "boot"],
        why: `${cmd} is not sent while the drivers probe; boot faults: ${[...OPTEE_BOOT_CMDS].join(", ")}`,
      };
    if (!f.optee.boot && OPTEE_BOOT_CMDS.has(cmd))
      return {
        at: ["optee", "cmd"],
        why: `${cmd} is sent only while the OP-TEE driver probes (optee_ffa_protmem_pool_init()): add \`boot: true\``,
      };
  }
  return null;
}

/** The parsed fault as a FaultSpec, its defaults filled (and its `injected` mark kept). */
function toSpec(f: FaultParsed): FaultSpec {
  const spec = plannedSpec(f);
  return isInjected(f as FaultSpec) ? markInjected(spec) : spec;
}

function plannedSpec(f: FaultParsed): FaultSpec {
  if ("ffa" in f)
    return {
      ffa: {
        call: f.ffa.call,
        ...(f.ffa.in !== undefined ? { in: f.ffa.in } : {}),
        error: f.ffa.error,
        nth: f.ffa.nth ?? 1,
        ...(f.ffa.boot ? { boot: true } : {}),
      },
    };
  if ("optee" in f)
    return {
      optee: {
        cmd: f.optee.cmd,
        error: f.optee.error,
        nth: f.optee.nth ?? 1,
        ...(f.optee.boot ? { boot: true } : {}),
      },
    };
  if ("cma" in f) return { cma: { pinned: f.cma.pinned ?? 1, nth: f.cma.nth ?? 1 } };
  if ("kill" in f)
    return { kill: { proc: f.kill.proc, at: f.kill.at, ...(f.kill.anywhere ? { anywhere: true } : {}) } };
  return { rx_busy: { nth: f.rx_busy.nth ?? 1 } };
}

/**
 * The parsed `faults:` as FaultSpecs; an unrealistic fault is refused at its line and column. `flavor`:
 * the platform's SPMC (`hafnium`, `optee-sel1`).
 */
export function resolveFaults(
  list: readonly FaultParsed[] | undefined,
  map: SourceMap,
  flavor?: string,
): FaultSpec[] {
  return (list ?? []).map((f, i) => {
    const bad = unrealistic(f, flavor);
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
