/**
 * The fault matrix over scenarios/ and scenarios/faults/ (test/helpers/fault-matrix.ts): each file
 * under every policy its platform runs, explored with faults; a run made again after faulted ones is
 * the same. Split from fault-matrix-tests.test.ts so the two run side by side.
 */
import { describe } from "vitest";
import { faultMatrix } from "../helpers/fault-matrix.ts";

describe("the fault matrix: shipped scenarios", () => {
  faultMatrix(["scenarios", "scenarios/faults"]);
});
