/** The booted platform every explored run starts from (explore.ts, walk.ts, the worker threads). */
import {
  bootScenario,
  runOnSystem,
  runVerdictOnSystem,
  type RunOptions,
  type RunResult,
  type RunVerdict,
} from "../scenario/runner.ts";
import type { Scenario } from "../scenario/loader.ts";
import type { System } from "../scenario/system.ts";
import { replayChooser, type Chooser } from "../sim/scheduler.ts";
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

  /**
   * The same run, its verdict alone (RunVerdict): the explorer's runs. A verdict that matters is made
   * into its whole result by madeAgain().
   */
  verdict(chooser: Chooser, faults?: RunOptions["faults"]): RunVerdict {
    this.snapshot.restore();
    return runVerdictOnSystem(this.scenario, this.system, { chooser, faults });
  }

  /**
   * The whole result of the run a verdict came from: made again from its schedule and exactly its faults
   * (the scenario's own `faults:` too only as far as the list holds them: a shrink may drop them).
   */
  madeAgain(v: Pick<RunVerdict, "schedule" | "faults">): RunResult {
    return this.run(replayChooser(v.schedule), { list: v.faults });
  }

  /** One run on the system as it stands (restored by the caller), with an optional trace listener. */
  readonly runOnSystem = (
    chooser: Chooser,
    trace?: (e: TraceEvent) => void,
    faults?: RunOptions["faults"],
  ): RunResult => runOnSystem(this.scenario, this.system, { chooser, trace, faults });
}
