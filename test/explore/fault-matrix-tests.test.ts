/**
 * The fault matrix over scenarios/upstream/, test/scenarios/ and test/mutants/
 * (test/helpers/fault-matrix.ts): each file under every policy its platform runs, explored with
 * faults; a run made again after faulted ones is the same; policies the platform cannot run are
 * refused with why.
 */
import { describe } from "vitest";
import { faultMatrix } from "../helpers/fault-matrix.ts";

describe("the fault matrix: upstream's, the tests' and the mutants' scenarios", () => {
  faultMatrix(["scenarios/upstream", "test/scenarios", "test/mutants"]);
});
