/**
 * ffa_memory_permissions_to_mode() — Hafnium src/ffa_memory.c: FF-A access permissions to stage-2
 * MM_MODE_* bits; "not specified" takes the default mode's bits.
 */
import { unpackMemAccessPermissions } from "../../abi/ffa/index.ts";
import { MM_MODE_R, MM_MODE_W, MM_MODE_X } from "../spmc/page_state.ts";

export function permissionsToMode(permissions: number, defaultMode: number): number {
  const p = unpackMemAccessPermissions(permissions);
  let mode = 0;
  if (p.data === "ro") mode = MM_MODE_R;
  else if (p.data === "rw") mode = MM_MODE_R | MM_MODE_W;
  else mode = defaultMode & (MM_MODE_R | MM_MODE_W);
  if (p.instruction === "x") mode |= MM_MODE_X;
  else if (p.instruction === "not-specified") mode |= defaultMode & MM_MODE_X;
  return mode;
}
