/**
 * `proc: NAME` with one action — a system call as a user process (ARCHITECTURE.md §6, §7):
 *
 * ```yaml
 * - proc: player                                  # created on first use
 *   open: /dev/dma_heap/system                    # or {path, flags}
 *   save: heap                                    # the fd, later `$heap`
 * - proc: player
 *   ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 4MiB, fd_flags: [O_RDWR, O_CLOEXEC] } }
 *   save: buf                                     # the fd the kernel wrote into the struct
 *   expect: ok                                    # or an errno name, or killed (an oops), or a
 *                                                 #   list of those accepted: [ok, ENOMEM, EINVAL]
 * - proc: player
 *   mmap: { fd: $buf, length: 4096 }              # prot default PROT_READ|PROT_WRITE, flags MAP_SHARED
 * - proc: admin
 *   delete_module: optee                          # or {name, flags}; flags default O_NONBLOCK (rmmod's)
 *   expect: ok                                    # EAGAIN (EWOULDBLOCK) while in use; O_TRUNC forces
 * ```
 * Actions: open, ioctl (`request` by name or number; `arg` the struct by field names, or `arg_hex`
 * raw bytes), mmap, munmap, close, dup, exit, delete_module. Numbers take `$NAME` from an earlier `save:`.
 * Without `expect` any result passes, but a `save:` needs the call to succeed — or to fail as `expect`
 * accepts, which binds `$NAME` to -1.
 */
import { z } from "zod";
import { ERRNO, errnoName } from "../../abi/uapi/errno.ts";
import { O_FLAG_NAMES, O_NONBLOCK, O_RDWR } from "../../abi/uapi/fcntl.ts";
import { _IOC_SIZE, ioctlHex } from "../../abi/uapi/ioctl.ts";
import { MAP_NAMES, MAP_SHARED, PROT_NAMES, PROT_READ, PROT_WRITE } from "../../abi/uapi/mman.ts";
import type { Kernel } from "../../kernel/kernel.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { userSpaceOf, type Process } from "../../user/process.ts";
import {
  encodeStruct,
  IOCTL_REQUEST_NAMES,
  IOCTL_REQUESTS,
  requestDefFor,
  type StructDef,
  type StructField,
} from "../../user/requests.ts";
import {
  lastRejection,
  sysClose,
  sysDeleteModule,
  sysDup,
  sysExit,
  sysIoctl,
  sysMmap,
  sysMunmap,
  sysOpen,
} from "../../user/syscalls.ts";
import type { SourceMap } from "../errors.ts";
import { parseSize, SIZE_EXPECTED } from "../units.ts";
import { acceptsFailure, afterInjectedFault, expectedText, expectMet, stepExpectSchema } from "./expect.ts";
import { defineStep, type StepContext, type StepOutcomeCore } from "./types.ts";
import { getUnalignedLe32, getUnalignedLe64 } from "../../abi/unaligned.ts";

export const PROC_ACTIONS = [
  "open",
  "ioctl",
  "mmap",
  "munmap",
  "close",
  "dup",
  "exit",
  "delete_module",
] as const;
type Action = (typeof PROC_ACTIONS)[number];

const scalar = z.union([z.number(), z.string()]);
const flagsValue = z.union([z.number(), z.string(), z.array(z.union([z.string(), z.number()]))]);

const schema = z
  .strictObject({
    proc: z.string().min(1).describe("process name; the process is created on first use"),
    open: z
      .union([z.string(), z.strictObject({ path: z.string(), flags: flagsValue.optional() })])
      .optional()
      .describe("a device path, or {path, flags}; flags default O_RDWR"),
    ioctl: z
      .strictObject({
        fd: scalar,
        request: z.union([z.number().int().nonnegative().max(0xffffffff), z.enum(IOCTL_REQUEST_NAMES)]),
        arg: z.record(z.string(), flagsValue).optional().describe("the argument struct by field names"),
        arg_hex: z.string().optional().describe("the argument as raw bytes, in hex"),
      })
      .optional(),
    mmap: z
      .strictObject({
        fd: scalar,
        length: scalar,
        offset: scalar.optional(),
        prot: flagsValue.optional().describe("default [PROT_READ, PROT_WRITE]"),
        flags: flagsValue.optional().describe("default MAP_SHARED"),
      })
      .optional(),
    munmap: z.strictObject({ addr: scalar, length: scalar }).optional(),
    close: scalar.optional(),
    dup: scalar.optional(),
    exit: z.literal(true).optional(),
    delete_module: z
      .union([z.string().min(1), z.strictObject({ name: z.string().min(1), flags: flagsValue.optional() })])
      .optional()
      .describe("delete_module(2): a module name, or {name, flags}; flags default O_NONBLOCK (as rmmod)"),
    save: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
        message: "expected a name such as heap or frame0 (without $: later steps read it as $NAME)",
      })
      .optional(),
    // `killed`: the call oopses in the kernel and its task dies there (sim/oops.ts), or a `kill` fault
    // sent the process SIGKILL during the call.
    expect: stepExpectSchema(["ok", ...Object.keys(ERRNO), "killed"] as [string, ...string[]]).optional(),
  })
  .describe("A system call as a user process.");

export type ProcSpec = z.output<typeof schema>;

// ---- Values: integers, sizes and flags, each possibly `$NAME` ----

/** A parsed value: a number, or a reference to a saved variable. */
type Val = bigint | { readonly ref: string };

const INT_EXPECTED = "an integer such as 3 or 0x10, or $NAME";
const VAR = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

function parseScalar(raw: unknown, kind: "int" | "size"): Val | string {
  const what = kind === "size" ? `${SIZE_EXPECTED}, or $NAME` : INT_EXPECTED;
  if (typeof raw === "number") {
    if (!Number.isSafeInteger(raw))
      return `expected ${what}; ${raw} is not exact (write it as a "0x…" string)`;
    if (kind === "size" && raw < 0) return `expected ${what}, got ${raw}`;
    return BigInt(raw);
  }
  if (typeof raw !== "string") return `expected ${what}`;
  const t = raw.trim();
  const v = VAR.exec(t);
  if (v) return { ref: v[1] };
  if (/^-?0x[0-9a-f]+$/i.test(t)) return t.startsWith("-") ? -BigInt(t.slice(1)) : BigInt(t);
  if (/^-?\d+$/.test(t)) return BigInt(t);
  if (kind === "size") {
    const p = parseSize(t);
    if (p.ok) return BigInt(p.value);
  }
  const hint = /^[A-Za-z_][A-Za-z0-9_]*$/.test(t) ? ` (a saved value is read as $${t})` : "";
  return `expected ${what}, got "${raw}"${hint}`;
}

function parseFlags(raw: unknown, names: Readonly<Record<string, number | bigint>>): Val | string {
  const items = Array.isArray(raw)
    ? raw
    : typeof raw === "string" && !VAR.test(raw.trim())
      ? raw.split("|")
      : [raw];
  if (items.length === 1 && !Array.isArray(raw) && typeof raw !== "string") return parseScalar(raw, "int");
  let acc = 0n;
  for (const it of items) {
    const s = typeof it === "string" ? it.trim() : it;
    if (typeof s === "string" && s in names) {
      acc |= BigInt(names[s]);
      continue;
    }
    const v = parseScalar(s, "int");
    if (typeof v === "string")
      return `unknown flag ${JSON.stringify(it)}; expected a number or names from ${Object.keys(names).join(", ")}`;
    if (typeof v !== "bigint") {
      if (items.length > 1) return `$NAME cannot be combined with other flags`;
      return v;
    }
    acc |= v;
  }
  return acc;
}

function parseField(f: StructField, raw: unknown): Val | string {
  return f.kind === "flags" ? parseFlags(raw, f.flagNames ?? {}) : parseScalar(raw, f.kind);
}

/** Hex bytes, whitespace allowed: "0010 0000 …". */
function parseHex(s: string): Uint8Array | string {
  const t = s.replace(/\s+/g, "");
  if (!/^([0-9a-fA-F]{2})*$/.test(t)) return "expected hex bytes, an even number of digits 0-9 a-f";
  return Uint8Array.from(t.match(/../g) ?? [], (b) => parseInt(b, 16));
}

function actionsOf(spec: ProcSpec): Action[] {
  return PROC_ACTIONS.filter((a) => spec[a] !== undefined);
}

/** Checks every value of a step; `fail(path, message)` throws at the first problem. */
function checkValues(
  spec: ProcSpec,
  fail: (path: (string | number)[], what: string, key?: boolean) => never,
): void {
  const need = (path: (string | number)[], v: Val | string): void => {
    if (typeof v === "string") fail(path, v);
  };
  const a = actionsOf(spec)[0];
  if (a === "open" && typeof spec.open === "object" && spec.open.flags !== undefined)
    need(["open", "flags"], parseFlags(spec.open.flags, O_FLAG_NAMES));
  if (a === "close" || a === "dup") need([a], parseScalar(spec[a], "int"));
  if (
    a === "delete_module" &&
    typeof spec.delete_module === "object" &&
    spec.delete_module.flags !== undefined
  )
    need(["delete_module", "flags"], parseFlags(spec.delete_module.flags, O_FLAG_NAMES));
  if (a === "munmap") {
    need(["munmap", "addr"], parseScalar(spec.munmap!.addr, "int"));
    need(["munmap", "length"], parseScalar(spec.munmap!.length, "size"));
  }
  if (a === "mmap") {
    const m = spec.mmap!;
    need(["mmap", "fd"], parseScalar(m.fd, "int"));
    need(["mmap", "length"], parseScalar(m.length, "size"));
    if (m.offset !== undefined) need(["mmap", "offset"], parseScalar(m.offset, "size"));
    if (m.prot !== undefined) need(["mmap", "prot"], parseFlags(m.prot, PROT_NAMES));
    if (m.flags !== undefined) need(["mmap", "flags"], parseFlags(m.flags, MAP_NAMES));
  }
  if (a === "ioctl") {
    const io = spec.ioctl!;
    need(["ioctl", "fd"], parseScalar(io.fd, "int"));
    const request = typeof io.request === "string" ? IOCTL_REQUESTS[io.request].request : io.request;
    const def = requestDefFor(request);
    if (io.arg !== undefined && io.arg_hex !== undefined)
      fail(
        ["ioctl", "arg_hex"],
        "give the argument either as arg (fields) or as arg_hex (bytes), not both",
        true,
      );
    if (io.arg_hex !== undefined) {
      const h = parseHex(io.arg_hex);
      if (typeof h === "string") fail(["ioctl", "arg_hex"], h);
    }
    const st = def?.struct ?? null;
    if (io.arg !== undefined && !st)
      fail(
        ["ioctl", "arg"],
        `no struct layout is known for request ${ioctlHex(request)}; give arg_hex instead`,
        true,
      );
    if (st && io.arg_hex === undefined) {
      const given = io.arg ?? {};
      for (const [k, v] of Object.entries(given)) {
        const f = st.fields.find((x) => x.name === k);
        if (!f)
          fail(
            ["ioctl", "arg", k],
            `unknown field "${k}" of struct ${st.name}; expected one of: ${st.fields.map((x) => x.name).join(", ")}`,
            true,
          );
        need(["ioctl", "arg", k], parseField(f, v));
      }
      const missing = st.fields.find((f) => f.required && !(f.name in given));
      if (missing)
        fail(io.arg ? ["ioctl", "arg"] : ["ioctl"], `missing field "${missing.name}" of struct ${st.name}`);
    }
  }
}

// ---- Running ----

class StepValueError extends Error {}

function resolve(v: Val | string, vars: ReadonlyMap<string, bigint>): bigint {
  if (typeof v === "string") throw new StepValueError(v); // unreachable after check(); a clear failure anyway
  if (typeof v === "bigint") return v;
  const x = vars.get(v.ref);
  if (x === undefined)
    throw new StepValueError(`$${v.ref} is not set: no earlier step saved a value under "${v.ref}"`);
  return x;
}

/** An fd as the kernel's `unsigned int fd` sees it: out-of-range values become an invalid descriptor. */
function toFd(x: bigint): number {
  return x >= -0x80000000n && x <= 0xffffffffn ? Number(BigInt.asIntN(32, x)) : -1;
}

function kernelOf(ctx: StepContext): Kernel {
  const k = (ctx.system as unknown as { kernel?: Kernel }).kernel;
  if (!k)
    throw new Error("proc steps need a booted kernel: this System has none (bootKernel was not called)");
  return k;
}

/**
 * A step's call compiled once (procCall()): the action and everything that does not depend on run-time
 * values — values parsed (a `$NAME` stays a reference, resolved when the step runs), the request's
 * struct layout, argument bytes that are all constants, the fields shown after the call.
 */
type ProcCall =
  | { readonly action: "open"; readonly path: string; readonly flags: Val | string | null }
  | { readonly action: "close" | "dup"; readonly fd: Val | string }
  | { readonly action: "exit" }
  | { readonly action: "delete_module"; readonly name: string; readonly flags: Val | string | null }
  | { readonly action: "munmap"; readonly addr: Val | string; readonly length: Val | string }
  | {
      readonly action: "mmap";
      readonly fd: Val | string;
      readonly length: Val | string;
      readonly offset: Val | string | null;
      readonly prot: Val | string | null;
      readonly flags: Val | string | null;
    }
  | {
      readonly action: "ioctl";
      readonly fd: Val | string;
      readonly request: number;
      readonly st: StructDef | null;
      /** The argument's bytes when no value is `$NAME` (each call gets a copy: the kernel writes into it). */
      readonly bytes: Uint8Array | null;
      /** The struct's given fields when some are `$NAME`: encoded at each call. */
      readonly fields: readonly (readonly [string, Val | string])[] | null;
      /** The argument's size: the struct's, or the one the request number encodes. */
      readonly size: number;
      /** Out fields that lie wholly inside the argument: shown after the call. */
      readonly shownFields: readonly StructField[];
      /** The out field `save:` keeps, when the request has one and it lies inside the argument. */
      readonly saveField: StructField | null;
    }
  | { readonly action: undefined };

interface Compiled {
  readonly call: ProcCall;
  readonly expected: string | null;
}

/** Compiled steps by spec: specs are scenario data, never changed once loaded (and never model state). */
const COMPILED = new WeakMap<ProcSpec, Compiled>();

function compiled(spec: ProcSpec): Compiled {
  let c = COMPILED.get(spec);
  if (!c) {
    c = { call: procCall(spec), expected: expectedText(spec.expect) };
    COMPILED.set(spec, c);
  }
  return c;
}

function procCall(spec: ProcSpec): ProcCall {
  const int = (raw: unknown) => parseScalar(raw, "int");
  const size = (raw: unknown) => parseScalar(raw, "size");
  const action = actionsOf(spec)[0];
  switch (action) {
    case "open": {
      const o = spec.open!;
      const flags = typeof o === "object" && o.flags !== undefined ? parseFlags(o.flags, O_FLAG_NAMES) : null;
      return { action, path: typeof o === "string" ? o : o.path, flags };
    }
    case "close":
    case "dup":
      return { action, fd: int(spec[action]) };
    case "exit":
      return { action };
    case "delete_module": {
      const d = spec.delete_module!;
      const flags = typeof d === "object" && d.flags !== undefined ? parseFlags(d.flags, O_FLAG_NAMES) : null;
      return { action, name: typeof d === "string" ? d : d.name, flags };
    }
    case "munmap":
      return { action, addr: int(spec.munmap!.addr), length: size(spec.munmap!.length) };
    case "mmap": {
      const m = spec.mmap!;
      return {
        action,
        fd: int(m.fd),
        length: size(m.length),
        offset: m.offset === undefined ? null : size(m.offset),
        prot: m.prot === undefined ? null : parseFlags(m.prot, PROT_NAMES),
        flags: m.flags === undefined ? null : parseFlags(m.flags, MAP_NAMES),
      };
    }
    case "ioctl": {
      const io = spec.ioctl!;
      const request = typeof io.request === "string" ? IOCTL_REQUESTS[io.request].request : io.request;
      const def = requestDefFor(request);
      const exact = def !== null && def.request === request;
      const st = def?.struct ?? null;
      let bytes: Uint8Array | null = null;
      let fields: (readonly [string, Val | string])[] | null = null;
      let size = _IOC_SIZE(request);
      if (io.arg_hex !== undefined) {
        // check() refused bad hex at load time.
        bytes = parseHex(io.arg_hex) as Uint8Array;
        size = bytes.length;
      } else if (st) {
        size = exact ? st.size : size;
        fields = Object.entries(io.arg ?? {}).map(
          ([key, raw]) =>
            [
              key,
              parseField(
                st.fields.find((f) => f.name === key)!,
                raw,
              ),
            ] as const,
        );
        if (fields.every(([, v]) => typeof v === "bigint")) {
          bytes = encodeStruct(st, new Map(fields as [string, bigint][]), size);
          fields = null;
        }
      }
      // decodeStruct() reads the fields that lie wholly inside the argument.
      const inside = (f: StructField) => f.offset + f.size <= size;
      return {
        action,
        fd: int(io.fd),
        request,
        st,
        bytes,
        fields,
        size,
        shownFields: st ? st.fields.filter((f) => f.out && inside(f)) : [],
        saveField: (st && st.fields.find((f) => f.name === def?.saveField && inside(f))) ?? null,
      };
    }
    default:
      return { action };
  }
}

/** The ioctl's argument buffer for this call (null: a NULL argument). */
function ioctlArg(
  c: Extract<ProcCall, { action: "ioctl" }>,
  vars: ReadonlyMap<string, bigint>,
): Uint8Array | null {
  if (c.bytes) return c.bytes.slice();
  if (c.fields) {
    const values = new Map<string, bigint>();
    for (const [key, v] of c.fields) values.set(key, resolve(v, vars));
    return encodeStruct(c.st!, values, c.size);
  }
  return c.size > 0 ? new Uint8Array(c.size) : null;
}

/** A field of the argument after the call, as decodeStruct() reads it. */
function fieldOf(f: StructField, buf: Uint8Array): bigint {
  const raw = f.size === 8 ? getUnalignedLe64(buf, f.offset) : BigInt(getUnalignedLe32(buf, f.offset));
  return f.signed ? BigInt.asIntN(f.size * 8, raw) : raw;
}

/**
 * Starts the call other than ioctl: resolves its values (a StepValueError for a `$NAME` not set) and
 * returns the system call.
 */
function startCall(c: ProcCall, p: Process, vars: ReadonlyMap<string, bigint>): Sleeps<number> {
  const size = (v: Val | string) => Number(resolve(v, vars));
  switch (c.action) {
    case "open":
      return sysOpen(p, c.path, c.flags === null ? O_RDWR : Number(resolve(c.flags, vars)));
    case "close":
      return sysClose(p, toFd(resolve(c.fd, vars)));
    case "dup":
      return sysDup(p, toFd(resolve(c.fd, vars)));
    case "exit":
      return sysExit(p);
    case "delete_module":
      return sysDeleteModule(p, c.name, c.flags === null ? O_NONBLOCK : Number(resolve(c.flags, vars)));
    case "munmap":
      return sysMunmap(p, Number(resolve(c.addr, vars)), size(c.length));
    case "mmap": {
      const prot = c.prot === null ? PROT_READ | PROT_WRITE : Number(resolve(c.prot, vars));
      const flags = c.flags === null ? MAP_SHARED : Number(resolve(c.flags, vars));
      const off = c.offset === null ? 0 : size(c.offset);
      return sysMmap(p, toFd(resolve(c.fd, vars)), size(c.length), prot, flags, off);
    }
    case "ioctl":
    case undefined:
      break;
  }
  throw new Error(`proc step without an action (${p.name})`);
}

/** What a successful call shows. */
function shown(c: ProcCall, rc: number, p: Process, buf: Uint8Array | null): string {
  switch (c.action) {
    case "open":
    case "dup":
      return `fd ${rc}`;
    case "close":
      return "closed";
    case "exit":
      return `pid ${p.pid} exited`;
    case "delete_module":
      return `module ${c.name} removed`;
    case "munmap":
      return "unmapped";
    case "mmap":
      return `at 0x${rc.toString(16)}`;
    case "ioctl": {
      let s = `returned ${rc}`;
      if (buf) for (const f of c.shownFields) s += `; ${f.name}=${fieldOf(f, buf)}`;
      return s;
    }
  }
  return "";
}

export const procStep = defineStep({
  kind: "proc",
  schema,

  check(spec, _platform, path, map: SourceMap) {
    const actions = actionsOf(spec);
    const list = PROC_ACTIONS.join(", ");
    if (actions.length === 0)
      throw map.error([...path, "proc"], `no action; a proc step needs exactly one of ${list}`, true);
    if (actions.length > 1)
      throw map.error(
        [...path, actions[1]],
        `one action per step, but this step has ${actions.join(" and ")}; expected exactly one of ${list}`,
        true,
      );
    if (
      spec.save !== undefined &&
      (actions[0] === "close" ||
        actions[0] === "munmap" ||
        actions[0] === "exit" ||
        actions[0] === "delete_module")
    )
      throw map.error([...path, "save"], `${actions[0]} returns no value to save`, true);
    checkValues(spec, (p, what, key = false) => {
      throw map.error([...path, ...p], what, key);
    });
  },

  *run(ctx, spec): Sleeps<StepOutcomeCore> {
    const k = kernelOf(ctx);
    const users = userSpaceOf(k);
    const vars = ctx.vars;
    const p = users.getOrSpawn(spec.proc);
    const { call, expected } = compiled(spec);
    let rc: number;
    let buf: Uint8Array | null = null;
    try {
      if (call.action === "ioctl") {
        buf = ioctlArg(call, vars);
        rc = yield* sysIoctl(p, toFd(resolve(call.fd, vars)), call.request, buf);
      } else rc = yield* startCall(call, p, vars);
    } catch (e) {
      if (!(e instanceof StepValueError)) throw e;
      return { got: "error", expected, ok: false, detail: e.message };
    }
    // A `kill` fault: the call ended as the kernel ended it, then its thread died on the way out (the
    // process's other threads, another task's calls on it, too; the last one out closed its files).
    // (An exit() is the process's own end, not its death by a signal, even when it killed other threads.)
    const killed = p.sigkill && call.action !== "exit";
    const got = killed ? "killed" : rc < 0 ? errnoName(rc) : "ok";
    const why = rc < 0 ? lastRejection(p) : null;
    let detail = killed
      ? `SIGKILL; the call returned ${rc < 0 ? errnoName(rc) : rc}`
      : rc < 0
        ? why
          ? `${why.detail} [${why.rule}]`
          : null
        : shown(call, rc, p, buf);
    let ok = expectMet(spec.expect, got);
    if (spec.save !== undefined) {
      if (rc >= 0)
        vars.set(
          spec.save,
          call.action === "ioctl" && call.saveField && buf ? fieldOf(call.saveField, buf) : BigInt(rc),
        );
      // A failure the step accepts binds -1, as C's `int fd = -1` left unset by the failed call: a
      // later close($NAME) answers EBADF instead of closing a stale fd of an earlier iteration.
      else if (acceptsFailure(spec.expect, got)) vars.set(spec.save, -1n);
      else {
        // After a fault the scenario did not plan, a miss of one expected outcome is not judged
        // (runner.ts): the -1 is bound all the same, and the miss still reported for the runner to mark.
        if (afterInjectedFault(ctx.system.sim.faults, spec.expect)) vars.set(spec.save, -1n);
        if (expected === null) {
          ok = false;
          detail = `cannot save "${spec.save}": the call failed with ${got}${detail ? ` (${detail})` : ""}`;
        }
      }
    }
    return { got, expected, ok, detail };
  },
});
