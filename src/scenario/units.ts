/**
 * Units in scenarios: sizes (`4GiB`, `12441600`, `0x1000`), durations (`10ms`, `2min`, bare numbers are
 * ns), addresses (hex or decimal). Each parser returns a number or an error message saying what was expected.
 */

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
};

const DURATION_UNITS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  min: 60e9,
  h: 3600e9,
};

export const SIZE_PATTERN = "^\\s*(0x[0-9a-fA-F]+|\\d+(\\.\\d+)?\\s*([kKmMgGtT](i[bB])?|[bB])?)\\s*$";
export const DURATION_PATTERN = "^\\s*\\d+(\\.\\d+)?\\s*(ns|us|µs|ms|s|min|h)?\\s*$";
export const ADDRESS_PATTERN = "^\\s*(0x[0-9a-fA-F]+|\\d+)\\s*$";

/** A rate in bytes per second: a size with an optional `/s` (`200MiB/s`, or `200MiB`). */
export const RATE_PATTERN =
  "^\\s*(0x[0-9a-fA-F]+|\\d+(\\.\\d+)?\\s*([kKmMgGtT](i[bB])?|[bB])?)\\s*(/\\s*s)?\\s*$";
export const RATE_EXPECTED = "a rate such as 64MiB/s or 1GiB/s";

export const SIZE_EXPECTED = "a size such as 4096, 0x1000, 512KiB or 4GiB";
export const DURATION_EXPECTED = "a duration such as 250ns, 10us, 10ms, 2s or 2min";
export const ADDRESS_EXPECTED = "an address such as 0x8c000000 or 2348810240";

export type Parsed = { ok: true; value: number } | { ok: false; why: string };

function checked(v: number, what: string): Parsed {
  if (!Number.isSafeInteger(v) || v < 0)
    return { ok: false, why: `expected ${what} (non-negative, below 2^53)` };
  return { ok: true, value: v };
}

export function parseSize(input: number | string): Parsed {
  if (typeof input === "number") return checked(input, SIZE_EXPECTED);
  const t = input.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return checked(parseInt(t, 16), SIZE_EXPECTED);
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(t);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return { ok: false, why: `expected ${SIZE_EXPECTED}, got "${input}"` };
  const v = parseFloat(m[1]) * unit;
  if (!Number.isInteger(v)) return { ok: false, why: `"${input}" is not a whole number of bytes` };
  return checked(v, SIZE_EXPECTED);
}

export function parseRate(input: number | string): Parsed {
  if (typeof input === "number") return checked(input, RATE_EXPECTED);
  const p = parseSize(input.trim().replace(/\s*\/\s*s$/, ""));
  return p.ok ? p : { ok: false, why: `expected ${RATE_EXPECTED}, got "${input}"` };
}

export function parseDuration(input: number | string): Parsed {
  if (typeof input === "number") return checked(input, DURATION_EXPECTED);
  const m = /^(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|min|h)?$/.exec(input.trim());
  if (!m) return { ok: false, why: `expected ${DURATION_EXPECTED}, got "${input}"` };
  const v = parseFloat(m[1]) * DURATION_UNITS[m[2] ?? "ns"];
  return checked(Math.round(v), DURATION_EXPECTED);
}

export function parseAddress(input: number | string): Parsed {
  if (typeof input === "number") return checked(input, ADDRESS_EXPECTED);
  const t = input.trim();
  if (/^0x[0-9a-f]+$/i.test(t)) return checked(parseInt(t, 16), ADDRESS_EXPECTED);
  if (/^\d+$/.test(t)) return checked(parseInt(t, 10), ADDRESS_EXPECTED);
  return { ok: false, why: `expected ${ADDRESS_EXPECTED}, got "${input}"` };
}

/** 12441600 → "11.87 MiB"; for summaries. */
export function formatSize(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${Number.isInteger(v) ? v : v.toFixed(2)} ${units[u]}`;
}

/** 1234567 ns → "1.235 ms"; for summaries. */
export function formatDuration(ns: number): string {
  if (ns < 1e3) return `${ns} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(3)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(3)} ms`;
  return `${(ns / 1e9).toFixed(3)} s`;
}
