/** An assertion on the model's own invariants: failing means a bug in rstmem, not in the scenario. */
export class ModelBug extends Error {
  override name = "ModelBug";
}

export function assert(cond: unknown, why: string): asserts cond {
  if (!cond) throw new ModelBug(why);
}

/**
 * A model invariant failed: throws ModelBug. For hot paths whose message is a template, written
 * `if (!cond) fail(`…`)` so that the message is built only when the check fails (an assert()'s
 * argument is built on every call).
 */
export function fail(why: string): never {
  throw new ModelBug(why);
}
