/**
 * The FF-A conformance suite: every scenario in test/conformance/ffa/ is one rule of an SPMC flavor
 * (Hafnium at S-EL2 on fvp-rme, OP-TEE as its own SPMC on qemu-virt and tzc400-board), run end to
 * end through the scenario runner. Each file starts with a comment naming the rule and its source.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const dir = fileURLToPath(new URL("./ffa/", import.meta.url));
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

describe("FF-A conformance", () => {
  it("has at least 40 cases", () => {
    expect(files.length).toBeGreaterThanOrEqual(40);
  });

  for (const f of files) {
    it(f.replace(/\.yaml$/, ""), () => {
      const text = readFileSync(join(dir, f), "utf8");
      expect(text.startsWith("#"), `${f} must start with a comment naming the rule and its source`).toBe(
        true,
      );
      const result = runScenario(loadScenarioText(text, `test/conformance/ffa/${f}`));
      expect(result.failure).toBeNull();
      expect(result.passed).toBe(true);
    });
  }
});
