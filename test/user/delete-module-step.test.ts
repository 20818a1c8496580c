/**
 * The `delete_module:` proc action (src/scenario/steps/proc.ts → sysDeleteModule()): its forms, its
 * flags, its load-time errors, and its results in a run.
 */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const HEAD = "platform: tzc400-board\nsteps:\n";

function loadError(text: string): string {
  try {
    loadScenarioText(text, "s.yaml");
  } catch (e) {
    expect(e).toBeInstanceOf(ScenarioError);
    return (e as Error).message;
  }
  return "no error";
}

describe("proc: delete_module", () => {
  it("removes optee (rmmod's O_NONBLOCK by default); a second one is ENOENT", () => {
    const r = runScenario(
      loadScenarioText(
        HEAD +
          "  - { proc: admin, delete_module: optee, expect: ok }\n" +
          "  - { proc: admin, delete_module: { name: optee, flags: [O_NONBLOCK, O_TRUNC] }, expect: ENOENT }\n",
        "s.yaml",
      ),
    );
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.detail)).toEqual([
      "module optee removed",
      'no module "optee" is loaded [module-not-found]',
    ]);
  });

  it("while /dev/tee0 is open: EAGAIN with the rule; the open process's exit lets the end of the run settle", () => {
    const r = runScenario(
      loadScenarioText(
        HEAD +
          "  - { proc: client, open: /dev/tee0, save: tee }\n" +
          "  - { proc: admin, delete_module: optee, expect: EAGAIN }\n",
        "s.yaml",
      ),
    );
    expect(r.failure).toBeNull();
    expect(r.steps[1].detail).toBe('"optee" has 1 reference(s) (module_refcount) [module-in-use]');
    expect(r.findings["quiesce-clean"] ?? 0).toBe(0);
  });

  it("flags are checked at load time, and there is no value to save", () => {
    expect(loadError(HEAD + "  - { proc: admin, delete_module: { name: optee, flags: O_NOPE } }\n")).toMatch(
      /^s\.yaml:3:57: steps\[0\]\.delete_module\.flags: unknown flag "O_NOPE"/,
    );
    expect(loadError(HEAD + "  - { proc: admin, delete_module: optee, save: x }\n")).toBe(
      "s.yaml:3:42: steps[0].save: delete_module returns no value to save",
    );
    expect(loadError(HEAD + "  - { proc: admin, delete_module: '' }\n")).toMatch(/^s\.yaml:3:/);
  });
});
