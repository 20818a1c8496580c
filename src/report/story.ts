/**
 * A run's story: its trace events one by one — time, task, layer, call, and what the call touched
 * (pages, addresses, handles, results). `rstmem replay` prints it line by line, and its `--html` report
 * shows the same events as a table.
 */
import { ffaFuncName } from "../abi/ffa/func.ts";
import { opteeMsgCmdName } from "../abi/optee/msg.ts";
import {
  OPTEE_SMC_CALL_WITH_ARG,
  OPTEE_SMC_EXCHANGE_CAPABILITIES,
  OPTEE_SMC_GET_PROTMEM_CONFIG,
} from "../abi/optee/smc.ts";
import { O_ACCMODE, O_FLAG_NAMES } from "../abi/uapi/fcntl.ts";
import type { TraceEvent } from "../sim/trace.ts";
import { requestDefFor } from "../user/requests.ts";

export interface StoryEvent {
  /** Virtual time, ns. */
  readonly t: number;
  readonly task: string;
  readonly layer: string;
  readonly call: string;
  /**
   * The event's arguments as `key=value`, addresses in hex, function IDs, ioctl requests, open flags and
   * OP-TEE commands by their names (`fid=FFA_MEM_LEND_64(0xc4000072)`), long values cut at 80 characters.
   */
  readonly what: string;
}

/** Argument names whose numbers read as addresses (hex above 0xffff). */
const ADDRESS_ARG = /(^pa$|addr|base|pfn|handle)/i;

/** OP-TEE's SMC function IDs (its ABI without FF-A), by value. */
const OPTEE_SMC_NAMES = new Map<number, string>([
  [OPTEE_SMC_CALL_WITH_ARG, "OPTEE_SMC_CALL_WITH_ARG"],
  [OPTEE_SMC_EXCHANGE_CAPABILITIES, "OPTEE_SMC_EXCHANGE_CAPABILITIES"],
  [OPTEE_SMC_GET_PROTMEM_CONFIG, "OPTEE_SMC_GET_PROTMEM_CONFIG"],
]);

/** open(2) flags as the header names them: the access mode, then each other bit set (unnamed bits in hex). */
function openFlags(flags: number): string {
  const mode = flags & O_ACCMODE;
  const names = [mode === 0 ? "O_RDONLY" : mode === 1 ? "O_WRONLY" : mode === 2 ? "O_RDWR" : "O_ACCMODE"];
  let rest = flags & ~O_ACCMODE;
  for (const [name, bit] of Object.entries(O_FLAG_NAMES)) {
    // Single bits only (O_SYNC is two, O_NDELAY is O_NONBLOCK again).
    if (bit <= O_ACCMODE || (bit & (bit - 1)) !== 0 || name === "O_NDELAY" || (rest & bit) === 0) continue;
    names.push(name);
    rest &= ~bit;
  }
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.join("|");
}

/**
 * A number the reader knows by its name in the real headers — an SMC's function ID, an ioctl's request,
 * open(2)'s flags, an OP-TEE message's command — as `NAME(0xhex)`; undefined for any other argument.
 */
function named(e: TraceEvent, key: string, v: number): string | undefined {
  const hex = `0x${(v >>> 0).toString(16)}`;
  const known = (name: string | undefined) => (name === undefined ? hex : `${name}(${hex})`);
  if (e.layer === "hw" && e.name === "smc" && key === "fid")
    return known(ffaFuncName(v) ?? OPTEE_SMC_NAMES.get(v >>> 0));
  if (e.layer === "user" && e.name === "ioctl" && key === "request") return known(requestDefFor(v)?.name);
  if (e.layer === "user" && e.name === "open" && key === "flags") return openFlags(v);
  if (e.layer === "secure" && e.name.startsWith("yielding-call") && key === "cmd") {
    const name = opteeMsgCmdName(v);
    return name === undefined ? String(v) : `${name}(${v})`;
  }
  return undefined;
}

export function storyEvent(e: TraceEvent): StoryEvent {
  const what = Object.entries(e.args ?? {})
    .map(([k, v]) => {
      const text =
        (typeof v === "number" ? named(e, k, v) : undefined) ??
        (typeof v === "number" && ADDRESS_ARG.test(k) && v > 0xffff
          ? `0x${v.toString(16)}`
          : typeof v === "object"
            ? JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `0x${x.toString(16)}` : x))
            : String(v));
      return `${k}=${text.length > 80 ? text.slice(0, 77) + "..." : text}`;
    })
    .join(" ");
  return { t: e.t, task: e.task, layer: e.layer, call: e.name, what };
}

/**
 * A part of a long story past its first events (cli/explore.ts storyGaps()): the events around the
 * finding a violation is about, or the last ones — as `rstmem replay` prints it and the HTML report
 * shows it.
 */
export interface StoryPart {
  /** Events not shown before this part, and what the line that says so adds. */
  readonly skipped: number;
  readonly why: string;
  readonly heading: string | null;
  readonly events: readonly StoryEvent[];
}

/** The event as a line of `rstmem replay`'s story. */
export function storyLine(s: StoryEvent): string {
  const t = (s.t / 1e6).toFixed(6).padStart(13);
  return `  ${t} ms  ${s.task.padEnd(14)} ${s.layer.padEnd(8)} ${s.call.padEnd(22)} ${s.what}\n`;
}
