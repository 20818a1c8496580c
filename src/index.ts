/**
 * rstmem's public API: load and run scenarios, build machines, and the engine underneath.
 */
export { INVARIANTS, INVARIANT_IDS, type InvariantId } from "./check/invariants.ts";
export {
  Machine,
  ACCESS_OK,
  FAULT_DENIED,
  FAULT_UNMAPPED,
  FAULT_NO_MEMORY,
  type AccessOp,
} from "./hw/machine.ts";
export { DirectMap } from "./hw/mmu.ts";
export { costModel, DEFAULT_COSTS, type CostModel } from "./hw/costs.ts";
export type { PlatformDesc, MasterDesc, FirewallDesc, ReservedMemDesc, CmaAreaDesc } from "./hw/platform.ts";
export { PRESETS, PRESET_NAMES } from "./scenario/presets.ts";
export { loadScenarioFile, loadScenarioText, type Scenario, type ScenarioStep } from "./scenario/loader.ts";
export { ScenarioError } from "./scenario/errors.ts";
export { runScenario, type RunResult, type RunOptions, type StepOutcome } from "./scenario/runner.ts";
export { scenarioJsonSchema } from "./scenario/schema.ts";
export { summaryText, summaryLine, summaryJson } from "./report/summary.ts";
export { chromeTrace } from "./report/chrome-trace.ts";
export * as sim from "./sim/index.ts";
export { main } from "./cli/main.ts";
