/**
 * Scenario errors: every problem with a scenario names file, line, column and what was expected.
 * Turns zod issues into such messages, locating each issue's path in the YAML/JSON source.
 */
import type { z } from "zod";
import { readFileSync } from "node:fs";
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  visit,
  type Document,
  type Node,
} from "yaml";

export class ScenarioError extends Error {
  override name = "ScenarioError";
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    readonly where: string,
    readonly what: string,
  ) {
    super(`${line > 0 ? `${file}:${line}:${column}` : file}: ${where ? `${where}: ` : ""}${what}`);
  }
}

type Path = readonly PropertyKey[];

/** `steps[0].access.op` */
export function formatPath(path: Path): string {
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? String(p) : `.${String(p)}`;
  return s;
}

/** Positions of nodes in a parsed YAML document. */
export class SourceMap {
  constructor(
    readonly file: string,
    readonly doc: Document,
    readonly lines: LineCounter,
    /** The parsed text, for what a value was written as (written()). */
    readonly text = "",
  ) {}

  #pos(offset: number): { line: number; col: number } {
    return this.lines.linePos(offset);
  }

  /**
   * The node at `path` (with `key`, the key node of its last step), or the deepest ancestor that exists;
   * `whole` when the path was found to its end.
   */
  #find(path: Path, key = false): { node: unknown; whole: boolean } {
    let node: unknown = this.doc.contents;
    let best: unknown = node;
    for (let i = 0; i < path.length; i++) {
      const p = path[i];
      if (isMap(node)) {
        // The last pair of a key: the one toJS() keeps when a mapping names a key twice (1 and "1").
        const pair = node.items.findLast(
          (it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(p),
        );
        if (!pair) return { node: best, whole: false };
        if (key && i === path.length - 1) return { node: pair.key, whole: true };
        node = pair.value;
      } else if (isSeq(node) && typeof p === "number") {
        node = node.items[p];
      } else return { node: best, whole: false };
      if (!node) return { node: best, whole: false };
      best = node;
    }
    return { node: best, whole: true };
  }

  /** The node at path, or the deepest ancestor that exists; with `key`, the key node of the last step. */
  locate(path: Path, key = false): { line: number; col: number } {
    const range = (this.#find(path, key).node as Node | null)?.range;
    return range ? this.#pos(range[0]) : { line: 1, col: 1 };
  }

  /** The text a scalar at exactly `path` was written as, or null (no such scalar). */
  written(path: Path): string | null {
    const { node, whole } = this.#find(path);
    if (!whole || !isScalar(node) || !node.range) return null;
    return this.text.slice(node.range[0], node.range[1]);
  }

  error(path: Path, what: string, key = false): ScenarioError {
    const { line, col } = this.locate(path, key);
    return new ScenarioError(this.file, line, col, formatPath(path), what);
  }
}

function typeName(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return v.length === 0 ? "an empty list" : `a list of ${v.length}`;
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return `"${v}"`;
  return `${typeof v} ${String(v)}`;
}

/**
 * typeName() of the value at `path`; for an integer past 2^53, which a JavaScript number cannot hold
 * exactly, what the file wrote and what it was read as (9007199254740993 reads as …992).
 */
function gotNumber(map: SourceMap, data: unknown, path: Path): string {
  const v = valueAt(data, path);
  const big = typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v);
  const text = big ? map.written(path)?.trim() : undefined;
  // The text only if it is an integer that reads as this number (not another key's) and is not it exactly.
  if (text === undefined || !/^[+-]?\d+$/.test(text) || Number(text) !== v || BigInt(text) === BigInt(v))
    return typeName(v);
  return `${text} (a number past 2^53: read as ${String(v)})`;
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p as string];
  }
  return v;
}

// zod internals we walk to find a path's schema: object shapes, array elements, wrappers.
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  options?: z.ZodType[];
  innerType?: z.ZodType;
  in?: z.ZodType;
  valueType?: z.ZodType;
  keyType?: z.ZodType;
  entries?: Record<string, string>;
}
function def(s: z.ZodType): Def {
  return (s as unknown as { _zod: { def: Def } })._zod.def;
}
function unwrap(s: z.ZodType): z.ZodType {
  for (;;) {
    const d = def(s);
    if (d.innerType && (d.type === "optional" || d.type === "default" || d.type === "nullable"))
      s = d.innerType;
    else if (d.type === "pipe" && d.in) s = d.in;
    else return s;
  }
}

function isOptional(s: z.ZodType): boolean {
  const t = def(s).type;
  return t === "optional" || t === "default";
}

/** Which union option the input meant: the object option sharing most keys with it, else the first whose type fits. */
function chooseOption(
  options: z.ZodType[],
  input: unknown,
  errors?: readonly (readonly z.core.$ZodIssue[])[],
): number {
  if (input !== null && typeof input === "object" && !Array.isArray(input)) {
    let best = -1;
    let bestScore = -Infinity;
    let anyShared = false;
    options.forEach((o, i) => {
      const d = def(unwrap(o));
      if (d.type !== "object" || !d.shape) return;
      // Keys the input shares with the option, less the option's required keys it lacks.
      const shape = d.shape;
      const missing = Object.entries(shape).filter(([k, v]) => !(k in input) && !isOptional(v)).length;
      const score = Object.keys(input).filter((k) => k in shape).length - missing;
      if (Object.keys(input).some((k) => k in shape)) anyShared = true;
      if (score > bestScore) {
        best = i;
        bestScore = score;
      }
    });
    if (best >= 0 && anyShared) return best;
    // A mapping that names no option's key: no option fits (the caller lists the kinds).
    if (options.some((o) => def(unwrap(o)).type === "object")) return -1;
  }
  if (errors) {
    const fits = errors.findIndex(
      (errs) => !errs.some((e) => e.code === "invalid_type" && e.path.length === 0),
    );
    if (fits >= 0) return fits;
  }
  return -1;
}

/**
 * The schema at a path, choosing union options as the input does; with resolveLast false, a union
 * at the path itself is returned as the union.
 */
function schemaAt(root: z.ZodType, data: unknown, path: Path, resolveLast = true): z.ZodType | null {
  let s: z.ZodType | null = root;
  for (let i = 0; i <= path.length && s; i++) {
    s = unwrap(s);
    const d = def(s);
    if (d.type === "union" && d.options) {
      if (i === path.length && !resolveLast) return s;
      const k = chooseOption(d.options, valueAt(data, path.slice(0, i)));
      s = k >= 0 ? d.options[k] : null;
      i--;
      continue;
    }
    if (i === path.length) break;
    const p = path[i];
    if (d.type === "object" && d.shape) s = d.shape[String(p)] ?? null;
    else if (d.type === "array" && d.element) s = d.element;
    else if (d.type === "record" && d.valueType) s = d.valueType;
    else s = null;
  }
  return s ? unwrap(s) : null;
}

function knownKeys(root: z.ZodType, data: unknown, path: Path): string[] {
  const s = schemaAt(root, data, path);
  if (!s) return [];
  const d = def(s);
  if (d.type === "object" && d.shape) return Object.keys(d.shape);
  if (d.type === "record" && d.keyType) {
    const k = def(unwrap(d.keyType));
    if (k.type === "enum" && k.entries) return Object.values(k.entries);
  }
  return [];
}

/** A union's options that are objects, each with its keys in order (its first: the kind it names). */
function objectOptions(options: readonly z.ZodType[]): { schema: z.ZodType; keys: string[] }[] {
  return options.flatMap((schema) => {
    const d = def(unwrap(schema));
    return d.type === "object" && d.shape ? [{ schema, keys: Object.keys(d.shape) }] : [];
  });
}

/** zod's type names as a scenario author says them. */
function expectedName(t: string): string {
  const names: Record<string, string> = {
    object: "a mapping",
    record: "a mapping",
    array: "a list",
    int: "a whole number",
    number: "a number",
    string: "a string",
    boolean: "true or false",
  };
  return names[t] ?? t;
}

/** The first zod issue, as a ScenarioError at its place in the source. */
export function issueToError(
  map: SourceMap,
  schema: z.ZodType,
  data: unknown,
  issue: z.core.$ZodIssue,
  base: Path = [],
): ScenarioError {
  const path = [...base, ...issue.path];
  switch (issue.code) {
    case "invalid_union": {
      const input = valueAt(data, path);
      const u = schemaAt(schema, data, path, false);
      const options = u && def(u).type === "union" ? (def(u).options ?? []) : [];
      const k = chooseOption(options, input, issue.errors);
      if (k >= 0 && issue.errors[k]?.length) return issueToError(map, schema, data, issue.errors[k][0], path);
      const expected = issue.errors
        .map((errs) => errs.find((e) => e.code === "invalid_type" && e.path.length === 0))
        .filter((e): e is z.core.$ZodIssueInvalidType => !!e)
        .map((e) => e.expected);
      const kinds = objectOptions(options).map((o) => o.keys[0]);
      if (input !== null && typeof input === "object" && !Array.isArray(input) && kinds.length > 0) {
        const first = Object.keys(input)[0];
        if (first === undefined)
          return map.error(path, `empty; expected one of the keys ${kinds.join(", ")}`);
        return map.error(
          [...path, first],
          `unknown key "${first}"; expected one of the keys ${kinds.join(", ")}`,
          true,
        );
      }
      const names = [...new Set(expected.map(expectedName))].join(" or ") || "something else";
      return map.error(
        path,
        `expected ${names}${kinds.length ? ` (${kinds.join(", ")})` : ""}, got ${typeName(input)}`,
      );
    }
    case "unrecognized_keys": {
      const known = knownKeys(schema, data, path);
      const k = issue.keys[0];
      // A key that names another option of the union here (a step's kind beside another kind): say so,
      // rather than that the key is unknown to the option chosen.
      const u = schemaAt(schema, data, path, false);
      const options = objectOptions(u && def(u).type === "union" ? (def(u).options ?? []) : []);
      const shapes = options.map((o) => o.keys);
      const kinds = shapes.map((keys) => keys[0]);
      const input = valueAt(data, path);
      const mine =
        input !== null && typeof input === "object" ? kinds.find((x) => x !== k && x in input) : undefined;
      // Only when no option takes both keys (policy: takes preset and pool together).
      if (
        kinds.includes(k) &&
        mine !== undefined &&
        !shapes.some((keys) => keys.includes(k) && keys.includes(mine))
      )
        return map.error(
          [...path, k],
          `"${mine}" and "${k}" in one item: it takes one of the keys ${kinds.join(", ")} (make them two items)`,
          true,
        );
      // A key another option of the union takes, with every other key of the input: that option is the
      // one meant, and what it refuses is the error (policy: { preset: nope, pool: … } said the key
      // preset was unknown).
      if (input !== null && typeof input === "object") {
        const meant = options.find((o) => Object.keys(input).every((x) => o.keys.includes(x)));
        const inner = meant?.schema.safeParse(input).error?.issues[0];
        if (inner && inner.code !== "unrecognized_keys")
          return issueToError(map, schema, data, {
            ...inner,
            path: [...path, ...inner.path],
          } as z.core.$ZodIssue);
      }
      const hint = known.length ? `; expected one of: ${known.join(", ")}` : "";
      return map.error([...path, k], `unknown key "${k}"${hint}`, true);
    }
    case "invalid_type": {
      const got = valueAt(data, path);
      if (got === undefined) {
        return map.error(
          path.slice(0, -1),
          `missing key "${String(path[path.length - 1])}" (expected ${expectedName(issue.expected)})`,
        );
      }
      return map.error(path, `expected ${expectedName(issue.expected)}, got ${typeName(got)}`);
    }
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const rel = issue.code === "too_small" ? (issue.inclusive ? "≥" : ">") : issue.inclusive ? "≤" : "<";
      const what =
        issue.origin === "array"
          ? "a list of length"
          : issue.origin === "string"
            ? "a string of length"
            : "a number";
      return map.error(path, `expected ${what} ${rel} ${String(bound)}, got ${gotNumber(map, data, path)}`);
    }
    case "invalid_value":
      return map.error(
        path,
        `expected one of ${issue.values.map((v) => String(v)).join(", ")}, got ${typeName(valueAt(data, path))}`,
      );
    case "invalid_key":
      // The key schema's own message (a task name's), not zod's "Invalid key in record".
      return map.error(path, issue.issues[0]?.message ?? issue.message, true);
    default:
      return map.error(path, issue.message);
  }
}

/** A scenario or sweep file's text; a file that cannot be read is a ScenarioError naming `display`. */
export function readInputFile(path: string, display: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ScenarioError(
      display,
      0,
      0,
      "",
      code === "ENOENT" ? "no such file" : `cannot read: ${code ?? String(e)}`,
    );
  }
}

/**
 * YAML (or JSON, parsed as YAML 1.2 so both keep positions) with a SourceMap for positioned errors;
 * a syntax error is a ScenarioError at its line and column.
 */
export function parseYamlWithPositions(text: string, file: string): { data: unknown; map: SourceMap } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const pos = lines.linePos(e.pos[0]);
    const what = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
    throw new ScenarioError(file, pos.line, pos.col, "", `not valid YAML or JSON: ${what}`);
  }
  let data: unknown;
  try {
    // The yaml library refuses aliases that would expand past its limit (a "billion laughs" file).
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (e) {
    let at = 0;
    visit(doc, {
      Alias(_key, node) {
        at = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    const pos = lines.linePos(at);
    throw new ScenarioError(file, pos.line, pos.col, "", `not a scenario: ${(e as Error).message}`);
  }
  return { data, map: new SourceMap(file, doc, lines, text) };
}

/** The yaml library's own default: aliases may expand to at most so many nodes. */
const MAX_ALIAS_COUNT = 100;
