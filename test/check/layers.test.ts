/**
 * The dependency rule of ARCHITECTURE.md §1, over every import in src/: arrows point only down the
 * stack, and the normal world (user, kernel) and the secure side (firmware, secure) never import each
 * other. The firmware does not import OP-TEE (secure/): what they share is in abi/optee.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../../src");

/** Layers each layer may not import. */
const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  sim: ["hw", "abi", "firmware", "secure", "kernel", "user", "check", "scenario", "explore", "report", "cli"],
  abi: ["hw", "firmware", "secure", "kernel", "user", "check", "scenario", "explore", "report", "cli"],
  hw: ["firmware", "secure", "kernel", "user", "check", "scenario", "explore", "report", "cli"],
  firmware: ["secure", "kernel", "user", "check", "scenario", "explore", "report", "cli"],
  secure: ["kernel", "user", "check", "scenario", "explore", "report", "cli"],
  kernel: ["firmware", "secure", "user", "check", "scenario", "explore", "report", "cli"],
  user: ["firmware", "secure", "check", "scenario", "explore", "report", "cli"],
};

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* tsFiles(p);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) yield p;
  }
}

function layerOf(file: string): string {
  return relative(SRC, file).split("/")[0];
}

/** Every breach of the rule, as "from → to". */
function breaches(): string[] {
  const out: string[] = [];
  for (const file of tsFiles(SRC)) {
    const from = layerOf(file);
    const forbidden = FORBIDDEN[from];
    if (!forbidden) continue;
    for (const m of readFileSync(file, "utf8").matchAll(/\bfrom\s+"(\.[^"]+)"/g)) {
      const to = layerOf(resolve(dirname(file), m[1]));
      if (forbidden.includes(to)) out.push(`${relative(SRC, file)} → ${m[1]}`);
    }
  }
  return out;
}

describe("the dependency rule (ARCHITECTURE.md §1)", () => {
  it("no layer imports a layer above it, and the normal world and the secure side never import each other", () => {
    expect(breaches()).toEqual([]);
  });
});
