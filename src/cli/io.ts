/**
 * What every command shares: where output goes, the usage error (exit status 2), and the parsers of
 * option values. Kept free of the simulator so `rstmem --version` loads nothing else.
 */
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { InvalidArgumentError } from "commander";
import { parseDuration } from "../scenario/units.ts";
import { FAULT_KINDS, type FaultKind } from "../sim/faults.ts";

/** An error that ends the command with exit status 2 and this message. */
export class UsageError extends Error {}

/**
 * Readies a file a command writes at the end (`--html FILE`): its directory made (makeOutputDir()), and
 * the path not a directory itself — refused now, not after the run. Returns the path.
 */
export function prepareOutputFile(file: string, option: string): string {
  if (file === "") throw new UsageError(`${option} "": expected a file path`);
  makeOutputDir(dirname(resolve(file)), option);
  let isDir = false;
  try {
    isDir = statSync(file).isDirectory();
  } catch {
    // not there yet: it will be written
  }
  if (isDir) throw new UsageError(`${option} ${file}: is a directory (expected a file path)`);
  return file;
}

/**
 * Makes the directory a command writes into (`--corpus DIR`, `--out DIR`, an `--html` file's), with its
 * missing parents, before the command's work: a path that cannot be one is a usage error naming the
 * option, not an internal error after the run. One level at a time, not mkdirSync's `recursive`: Node 20
 * loops forever on a path under /proc with it. Returns the path.
 */
export function makeOutputDir(dir: string, option: string): string {
  const bad = (why: string): never => {
    throw new UsageError(`${option} ${dir === "" ? '""' : dir}: ${why}`);
  };
  if (dir === "") bad("expected a directory path");
  const missing: string[] = [];
  let at = resolve(dir);
  for (;;) {
    let st;
    try {
      st = statSync(at);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") bad(`cannot use ${at} (${code})`);
      missing.push(at);
      const up = dirname(at);
      if (up === at) bad(`no such file system root`);
      at = up;
      continue;
    }
    if (!st.isDirectory()) bad(`${at} is not a directory`);
    break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      bad(`cannot make directory ${d} (${(e as NodeJS.ErrnoException).code})`);
    }
  }
  try {
    accessSync(resolve(dir), constants.W_OK);
  } catch (e) {
    bad(`cannot write there (${(e as NodeJS.ErrnoException).code})`);
  }
  return dir;
}

export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stderr is a terminal (progress bars). */
  errIsTty: boolean;
}

export const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  errIsTty: process.stderr.isTTY === true,
};

/** Sets the command's exit status. */
export type SetCode = (code: number) => void;

/** The largest integer an option takes: 2^53 − 1, exact in a JS number. */
const INT_MAX_TEXT = "9007199254740991 (2^53 − 1)";

export function parseSeed(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError("expected a non-negative integer");
  if (!Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`too large: at most ${INT_MAX_TEXT}`);
  return Number(v);
}

export function parsePositive(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError("expected a positive integer");
  if (!Number.isSafeInteger(Number(v))) throw new InvalidArgumentError(`too large: at most ${INT_MAX_TEXT}`);
  return Number(v);
}

/**
 * parsePositive() for an option whose number is optional (`--faults [n]`): it takes the next word when
 * that is not an option, so `--faults pool-race` reads the scenario as its number — say how to write it.
 */
export function parseOptionalPositive(option: string): (v: string) => number {
  return (v) => {
    // A word that is no number at all (a number that is not a positive integer gets the plain message).
    if (!/^[-+]?[\d.]/.test(v))
      throw new InvalidArgumentError(
        `expected a positive integer (${option} takes the word after it as its number: put the scenario before ${option}, or give the number)`,
      );
    return parsePositive(v);
  };
}

export function parseDurationArg(v: string): number {
  const d = parseDuration(v);
  if (!d.ok) throw new InvalidArgumentError(d.why);
  return d.value;
}

/**
 * A wall-clock budget (`--time`): a duration with its unit, above zero. A bare number would be
 * nanoseconds, as virtual-time durations are (`--time 5` stopped a search after one run).
 */
export function parseWallTimeArg(v: string): number {
  if (/^\s*[\d.]+\s*$/.test(v))
    throw new InvalidArgumentError("expected a duration with its unit, such as 30s or 5min");
  const ns = parseDurationArg(v);
  if (!(ns > 0)) throw new InvalidArgumentError("expected a duration above zero");
  return ns;
}

/** A shell word: the schedule and paths in the printed commands. */
export const shellQuote = (s: string): string =>
  /^[A-Za-z0-9_./:,*=-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`;

/**
 * `--fault-kinds ffa,kill`: the kinds of fault `--faults` may strike (sim/faults.ts FAULT_KINDS), each
 * once, in the order given.
 */
export function parseFaultKinds(v: string): FaultKind[] {
  const kinds = v.split(",").map((k) => k.trim());
  for (const k of kinds)
    if (!(FAULT_KINDS as readonly string[]).includes(k))
      throw new InvalidArgumentError(
        `${k === "" ? "an empty kind" : `"${k}"`}: expected a comma-separated list of ${FAULT_KINDS.join(", ")}`,
      );
  if (new Set(kinds).size !== kinds.length) throw new InvalidArgumentError("a kind is named twice");
  return kinds as FaultKind[];
}

/** `--faults` alone is a budget of 1 fault per run; `--faults N` is N; absent, none. */
export function faultBudget(v: number | boolean | undefined): number {
  return v === undefined || v === false ? 0 : v === true ? 1 : v;
}
