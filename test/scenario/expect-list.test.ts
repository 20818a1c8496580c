/**
 * A step's `expect:` may list the outcomes it accepts (`expect: [ok, ENOMEM]`): the step passes when
 * what it got is any of them, fails naming the list otherwise; a `save:` whose call failed as the list
 * allows binds -1, so a later close($NAME) answers EBADF.
 */
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

/** qemu-virt's secure-video pool is OP-TEE's 1 MiB default: a 4K frame gets ENOMEM there. */
function frameAlloc(expectText: string, after = ""): string {
  return [
    "platform: qemu-virt",
    "steps:",
    "  - proc: player",
    "    open: /dev/dma_heap/protected,secure-video",
    "    save: heap",
    "  - proc: player",
    "    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 12441600, fd_flags: [O_RDWR, O_CLOEXEC] } }",
    "    save: frame",
    `    expect: ${expectText}`,
    after,
  ].join("\n");
}

describe("a step's expect may be a list of accepted outcomes", () => {
  it("an allocation that fails with an errno the list names passes", () => {
    const r = runScenario(loadScenarioText(frameAlloc("[ok, ENOMEM]"), "s.yaml"));
    expect(r.failure).toBeNull();
    expect(r.steps[1]).toMatchObject({ got: "ENOMEM", expected: "ok|ENOMEM", ok: true });
  });

  it("an outcome the list does not name fails the step, and the failure names the list", () => {
    const r = runScenario(loadScenarioText(frameAlloc("[ok, EINVAL, EBUSY]"), "s.yaml"));
    expect(r.exitCode).toBe(1);
    expect(r.steps[1]).toMatchObject({ got: "ENOMEM", expected: "ok|EINVAL|EBUSY", ok: false });
    expect(r.failure).toMatch(/^step 1 \(s\.yaml:6, proc\) expected ok\|EINVAL\|EBUSY, got ENOMEM/);
  });

  it("a save whose call failed as accepted binds -1: closing it answers EBADF", () => {
    const after = ["  - proc: player", "    close: $frame", "    expect: EBADF"].join("\n");
    const r = runScenario(loadScenarioText(frameAlloc("[ok, ENOMEM]", after), "s.yaml"));
    expect(r.failure).toBeNull();
    expect(r.steps.map((s) => s.got)).toEqual(["ok", "ENOMEM", "EBADF"]);
  });

  it("a list with one name behaves as the name alone", () => {
    const one = runScenario(loadScenarioText(frameAlloc("ENOMEM"), "s.yaml"));
    const list = runScenario(loadScenarioText(frameAlloc("[ENOMEM]"), "s.yaml"));
    expect(list.steps.map((s) => [s.got, s.ok])).toEqual(one.steps.map((s) => [s.got, s.ok]));
    expect(list.passed).toBe(true);
  });

  it("access steps take a list too", () => {
    const text = [
      "platform: tzc400-board",
      "steps:",
      "  - access: { by: cpu-ns, address: 0x7e000000, op: read, expect: [ok, fault] }",
      "  - access: { by: cpu-ns, address: 0x7e000000, op: read, expect: [ok] }",
    ].join("\n");
    const r = runScenario(loadScenarioText(text, "s.yaml"));
    expect(r.steps.map((s) => [s.got, s.expected, s.ok])).toEqual([
      ["fault", "ok|fault", true],
      ["fault", "ok", false],
    ]);
  });

  it("a step a kill fault ends passes when its list names killed, and fails when it does not", () => {
    const text = (list: string) =>
      [
        "platform: qemu-virt",
        "faults:",
        "  - kill: { proc: player, at: 1 }",
        "steps:",
        "  - proc: player",
        "    open: /dev/dma_heap/protected,secure-video",
        `    expect: ${list}`,
      ].join("\n");
    const accepted = runScenario(loadScenarioText(text("[ok, killed]"), "s.yaml"));
    expect(accepted.steps.map((s) => [s.got, s.ok])).toEqual([["killed", true]]);
    const refused = runScenario(loadScenarioText(text("[ok, ENOMEM]"), "s.yaml"));
    expect(refused.steps.map((s) => [s.got, s.ok])).toEqual([["killed", false]]);
  });

  it.each([
    {
      name: "an unknown name inside a list is reported at its position",
      expectText: "[ok, ENOMEMM]",
      message: /^s\.yaml:9:18: steps\[1\]\.expect\[1\]: expected one of ok, EPERM, .*got "ENOMEMM"$/,
    },
    {
      name: "an empty list is refused",
      expectText: "[]",
      message: /^s\.yaml:9:13: steps\[1\]\.expect: expected a list of length ≥ 1/,
    },
  ])("$name", ({ expectText, message }) => {
    let err: unknown;
    try {
      loadScenarioText(frameAlloc(expectText), "s.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as ScenarioError).message).toMatch(message);
  });
});
