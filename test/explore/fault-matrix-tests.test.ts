/**
 * The fault matrix over scenarios/upstream/, test/scenarios/ and test/mutants/
 * (test/helpers/fault-matrix.ts): each file under every policy its platform runs, explored with
 * faults; a run made again after faulted ones is the same; policies the platform cannot run are refused with why.
 */
import { afterAll, describe, expect } from "vitest";
import { faultMatrix, newTally, scenarioFiles } from "../helpers/fault-matrix.ts";

describe("the fault matrix: upstream's, the tests' and the mutants' scenarios", () => {
  const tally = newTally();
  faultMatrix(scenarioFiles(["scenarios/upstream", "test/scenarios", "test/mutants"]), tally);
  afterAll(() => {
    expect(tally.pairs).toBeGreaterThan(80);
    expect(tally.struck).toBeGreaterThan(tally.runs / 3);
    expect([...tally.kinds].sort()).toEqual(
      expect.arrayContaining(["cma", "ffa", "kill", "optee", "rx_busy"]),
    );
  });
});
