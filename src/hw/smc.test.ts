import { describe, expect, it } from "vitest";
import { copyRegs, newRegs, smcRegs } from "./smc.ts";

describe("SMC register files", () => {
  it("are 18 zeroed words each, independent of every other (however many share a buffer)", () => {
    const all = Array.from({ length: 100 }, () => newRegs());
    for (const r of all) expect(r.length).toBe(18);
    all.forEach((r, i) => r.fill(BigInt(i + 1)));
    all.forEach((r, i) => expect([...r]).toEqual(new Array(18).fill(BigInt(i + 1))));
    const a = smcRegs(1, 2n, -1);
    expect([...a.subarray(0, 4)]).toEqual([1n, 2n, 0xffff_ffff_ffff_ffffn, 0n]);
    const b = copyRegs(a);
    b[0] = 9n;
    expect(a[0]).toBe(1n);
    expect(b[1]).toBe(2n);
  });
});
