/** An assertion on the model's own invariants: failing means a bug in rstmem, not in the scenario. */
export class ModelBug extends Error {
  override name = "ModelBug";
}

export function assert(cond: unknown, why: string): asserts cond {
  if (!cond) throw new ModelBug(why);
}
