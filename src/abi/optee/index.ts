export * from "./ffa.ts";
export * from "./msg.ts";
export * from "./smc.ts";
export * from "./tee_result.ts";
