/**
 * Dotted paths into a scenario's data, as a sweep's `grid:` and the sizing search name the knobs they
 * turn: `policy`, `platform.dram_size`, `workloads[0].secure-video.sessions`, `policy.max`.
 */

export type DataPath = readonly (string | number)[];

const KEY = "[A-Za-z_][A-Za-z0-9_-]*";
/** A key, then `.key` or `[index]` any number of times. */
export const PATH_PATTERN = `^${KEY}(\\.${KEY}|\\[\\d+\\])*$`;
export const PATH_EXPECTED =
  "a dotted path into the scenario, such as policy, platform.dram_size or workloads[0].secure-video.sessions";

/** `workloads[0].secure-video.sessions` → ["workloads", 0, "secure-video", "sessions"], or null. */
export function parsePath(s: string): DataPath | null {
  if (!new RegExp(PATH_PATTERN).test(s)) return null;
  const out: (string | number)[] = [];
  for (const m of s.matchAll(new RegExp(`(${KEY})|\\[(\\d+)\\]`, "g"))) {
    out.push(m[1] !== undefined ? m[1] : Number(m[2]));
  }
  return out;
}

const isMapping = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Sets `value` at `path` in `data` (changed in place). Missing mappings and lists on the way are
 * created; a preset named by a string (`platform: tzc400-board`, `policy: safe`) becomes
 * `{preset: NAME}` so that one of its fields can be set; an entry given as `- secure-video:` (null)
 * becomes a mapping. Returns why the path cannot be set, or null.
 */
export function setPath(data: Record<string, unknown>, path: DataPath, value: unknown): string | null {
  let node: unknown = data;
  for (let i = 0; i < path.length; i++) {
    const k = path[i];
    const last = i === path.length - 1;
    const next = path[i + 1];
    const fresh = () => (typeof next === "number" ? [] : {});
    if (typeof k === "number") {
      if (!Array.isArray(node)) return `${describe(path.slice(0, i))} is not a list`;
      if (k > node.length)
        return `index ${k} is past the end of ${describe(path.slice(0, i))} (${node.length} entries)`;
      if (last) node[k] = value;
      else {
        node[k] = wrap(node[k], next) ?? fresh();
        node = node[k];
      }
      continue;
    }
    if (!isMapping(node)) return `${describe(path.slice(0, i))} is not a mapping`;
    if (last) node[k] = value;
    else {
      node[k] = wrap(node[k], next) ?? fresh();
      node = node[k];
    }
  }
  return null;
}

/** A value on the way to a deeper key: a preset name becomes {preset}, null becomes nothing (to create). */
function wrap(v: unknown, next: string | number | undefined): unknown {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string" && typeof next === "string") return { preset: v };
  return v;
}

function describe(path: DataPath): string {
  if (path.length === 0) return "the scenario";
  let s = "";
  for (const p of path) s += typeof p === "number" ? `[${p}]` : s === "" ? p : `.${p}`;
  return s;
}
