/** The booted platform every explored run starts from (explore.ts, walk.ts, the worker threads). */
import { bootScenario, runOnSystem, type RunOptions, type RunResult } from "../scenario/runner.ts";
import type { Scenario } from "../scenario/loader.ts";
import type { System } from "../scenario/system.ts";
import type { Chooser } from "../sim/scheduler.ts";
import { Snapshot } from "../sim/snapshot.ts";
import type { TraceEvent } from "../sim/trace.ts";

/**
 * The scenario's platform booted once (after firmware boot and driver probe, before any scenario task
 * exists) and kept as a snapshot: every run restores it and runs from there, which is exactly a run
 * from a fresh boot (test/explore/snapshot.test.ts compares them byte for byte) at a fraction of the cost.
 */
export class BootedScenario {
  readonly system: System;
  readonly snapshot: Snapshot;

  constructor(readonly scenario: Scenario) {
    this.system = bootScenario(scenario, scenario.seed);
    // The boot baseline quiesce-clean compares against is never written after boot: no copy needed.
    this.snapshot = Snapshot.take(this.system, { skip: [this.system.boot] });
  }

  /** One run under `chooser` (and the fault chooser, if any), from the booted state. */
  run(chooser: Chooser, faults?: RunOptions["faults"]): RunResult {
    this.snapshot.restore();
    return this.runOnSystem(chooser, undefined, faults);
  }

  /** One run on the system as it stands (restored by the caller), with an optional trace listener. */
  readonly runOnSystem = (
    chooser: Chooser,
    trace?: (e: TraceEvent) => void,
    faults?: RunOptions["faults"],
  ): RunResult => runOnSystem(this.scenario, this.system, { chooser, trace, faults });
}
