import { describe, expect, it } from "vitest";
import { FFA_DENIED, FFA_ERROR_32 } from "../../abi/ffa/index.ts";
import { CallCtx } from "./regs.ts";

describe("CallCtx.reject", () => {
  it("builds a refusal's text once, when it is first read, and answers FFA_ERROR with the code", () => {
    const ctx = new CallCtx();
    let built = 0;
    const r = ctx.reject(FFA_DENIED, "rx-empty", () => {
      built++;
      return `mailbox of 0x${(0x8001).toString(16)} is empty`;
    });
    expect(r[0]).toBe(BigInt(FFA_ERROR_32));
    expect(Number(r[2] & 0xffff_ffffn) | 0).toBe(FFA_DENIED);
    expect(built).toBe(0);
    expect(ctx.rejection?.rule).toBe("rx-empty");
    expect(ctx.rejection?.why).toBe("mailbox of 0x8001 is empty");
    expect(ctx.rejection?.why).toBe("mailbox of 0x8001 is empty");
    expect(built).toBe(1);
    expect(JSON.parse(JSON.stringify(ctx.rejection))).toEqual({
      code: FFA_DENIED,
      rule: "rx-empty",
      why: "mailbox of 0x8001 is empty",
    });
  });
});
