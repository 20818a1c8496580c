import { FuzzRig } from "../../src/explore/fuzz/rig.ts";

/**
 * A planted bug that only a rare refusal trips (Hafnium's 21st fragment: rule too-many-fragments): the
 * refused call still marks the normal world's RX buffer full. Returns what takes it out again.
 */
export function plantRxFullOnTooManyFragments(): () => void {
  const call = FuzzRig.prototype.call;
  FuzzRig.prototype.call = function (this: FuzzRig, by, x) {
    const r = call.call(this, by, x);
    if (this.spmc.lastRejection?.rule === "too-many-fragments") this.spmc.endpoint(0)!.rxFull = true;
    return r;
  };
  return () => {
    FuzzRig.prototype.call = call;
  };
}
