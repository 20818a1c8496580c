/** The `ffa` step itself: load-time errors with file:line:column, and run-time input errors. */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

function loadError(text: string): string {
  try {
    loadScenarioText(text, "s.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as ScenarioError).message;
  }
  throw new Error("expected a load error");
}

describe("the ffa step", () => {
  it("names an endpoint the platform does not have, with its position", () => {
    expect(loadError("platform: qemu-virt\nsteps:\n  - ffa: ID_GET\n    as: sp2\n")).toBe(
      's.yaml:4:9: steps[0].as: no endpoint "sp2" on qemu-virt (optee-sel1); expected one of normal, optee',
    );
  });

  it("refuses smc64 for a call that has no 64-bit function ID", () => {
    expect(loadError("steps:\n  - ffa: VERSION\n    smc64: true\n")).toBe(
      "s.yaml:3:12: steps[0].smc64: FFA_VERSION has no 64-bit function ID",
    );
  });

  it("refuses fragment for a call that is not a send", () => {
    expect(loadError("steps:\n  - ffa: MEM_RECLAIM\n    fragment: { bytes: 16 }\n")).toMatch(
      /^s\.yaml:3:15: steps\[0\]\.fragment: fragment: only for MEM_LEND/,
    );
  });

  it("refuses an unknown function name and an unknown expectation", () => {
    expect(loadError("steps:\n  - ffa: MEM_BORROW\n")).toMatch(
      /^s\.yaml:2:10: steps\[0\]\.ffa: expected one of MEM_LEND/,
    );
    expect(loadError("steps:\n  - ffa: ID_GET\n    expect: GREAT\n")).toMatch(
      /^s\.yaml:3:13: steps\[0\]\.expect: expected one of SUCCESS/,
    );
  });

  it("fails the step (not the run) on a $NAME nothing saved", () => {
    const r = runScenario(
      loadScenarioText("steps:\n  - ffa: MEM_RECLAIM\n    handle: $nope\n    expect: SUCCESS\n", "s.yaml"),
    );
    expect(r.passed).toBe(false);
    expect(r.steps[0].detail).toBe("no saved value $nope");
  });

  it("fails the step on bytes that are not hex", () => {
    const r = runScenario(
      loadScenarioText("steps:\n  - ffa: MEM_LEND\n    descriptor: { hex: zz }\n", "s.yaml"),
    );
    expect(r.steps[0].got).toBe("error");
    expect(r.steps[0].detail).toMatch(/^descriptor\.hex: /);
  });

  it("reports the SPMC's rule with the code, and keeps saved handles for later steps", () => {
    const r = runScenario(
      loadScenarioText(
        [
          "platform: { preset: fvp-rme, tee: false }",
          "steps:",
          "  - ffa: MEM_LEND",
          "    descriptor: { receivers: [{ id: 0x8001 }], constituents: [{ address: 0x90000000, pages: 1 }] }",
          "    save: h",
          "  - ffa: MEM_LEND",
          "    descriptor: { receivers: [{ id: 0x8001 }], constituents: [{ address: 0x90000000, pages: 1 }] }",
          "    expect: DENIED",
          "  - { ffa: MEM_RECLAIM, handle: $h, expect: SUCCESS }",
        ].join("\n"),
        "s.yaml",
      ),
    );
    expect(r.passed).toBe(true);
    expect(r.steps[1].detail).toMatch(
      /^rule sender-not-exclusive-owner: page 0x90000000 is not owned exclusively by 0x0 \(lend 0x0\)/,
    );
  });
});
