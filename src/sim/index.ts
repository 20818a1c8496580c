export { assert, ModelBug } from "./assert.ts";
export { Findings, type Finding } from "./findings.ts";
export { Mutex } from "./mutex.ts";
export {
  MUTATIONS,
  MUTATION_IDS,
  NO_MUTATIONS,
  mutations,
  type MutationId,
  type Mutations,
} from "./mutations.ts";
export { Oops } from "./oops.ts";
export { Prng, RandomStream } from "./prng.ts";
export { Refcount, REFCOUNT_SATURATED } from "./refcount.ts";
export {
  Scheduler,
  Task,
  WaitList,
  defaultChooser,
  replayChooser,
  randomChooser,
  encodeSchedule,
  decodeSchedule,
  sleep,
  preempt,
  ScheduleDivergence,
  type Chooser,
  type Op,
  type Sleeps,
  type RunEnd,
} from "./scheduler.ts";
export { Sim } from "./sim.ts";
export { TraceBus, type TraceEvent, type Layer } from "./trace.ts";
export { WaitQueue, Completion } from "./waitqueue.ts";
