/**
 * The fault matrix over scenarios/ and scenarios/faults/ (test/helpers/fault-matrix.ts): each file under
 * every policy its platform runs, explored with faults; a run made again after faulted ones is the same. Split from
 * fault-matrix-tests.test.ts so the two run side by side.
 */
import { afterAll, describe, expect } from "vitest";
import { faultMatrix, newTally, scenarioFiles } from "../helpers/fault-matrix.ts";

describe("the fault matrix: shipped scenarios", () => {
  const tally = newTally();
  faultMatrix(scenarioFiles(["scenarios", "scenarios/faults"]), tally);
  afterAll(() => {
    // The matrix made runs on many pairs, and the injected faults struck in a good share of them (a scenario's own faults: list strikes too), of every kind
    // the chooser draws from on these scenarios.
    expect(tally.pairs).toBeGreaterThan(80);
    expect(tally.struck).toBeGreaterThan(tally.runs / 3);
    expect([...tally.kinds].sort()).toEqual(
      expect.arrayContaining(["cma", "ffa", "kill", "optee", "rx_busy"]),
    );
  });
});
