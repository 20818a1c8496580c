/** `rstmem ffa …`: FF-A tools. */
import { readFileSync } from "node:fs";
import { Option, type Command } from "commander";
import {
  FFA_MEM_CALL_NAMES,
  FFA_SPMCS,
  describeDescriptor,
  describeDescriptorForCall,
  describeRelinquish,
  isFfaVersion,
  parseHexOrBytes,
  parseMemCall,
} from "../abi/ffa/index.ts";
import { registerFuzz } from "./ffa_fuzz.ts";
import { UsageError, type Io, type SetCode } from "./io.ts";

export function register(program: Command, io: Io, setCode: SetCode): void {
  const ffa = program.command("ffa").description("FF-A tools");
  registerFuzz(ffa, io, setCode);
  ffa
    .command("decode")
    .description(
      "decode an FF-A memory transaction descriptor (or, with --relinquish, a relinquish descriptor) and " +
        "print every field and every validation problem as JSON; exit 1 when it has problems. With --call, " +
        "the problems are that call's rules as the SPMC applies them",
    )
    .argument("<bytes>", "hex bytes (spaces and 0x prefixes allowed), or @FILE holding hex text or raw bytes")
    .addOption(new Option("--version <v>", "descriptor layout").choices(["1.0", "1.1", "1.2"]).default("1.2"))
    .option("--relinquish", "decode an ffa_mem_relinquish descriptor instead")
    .option(
      "--call <name>",
      `check with this call's rules at Hafnium and TF-A: ${FFA_MEM_CALL_NAMES.join(", ")} ` +
        "(FFA_ prefix and _32/_64 suffix optional)",
    )
    .addOption(
      new Option("--spmc <name>", "with --call: whose rules give the problems and the exit status")
        .choices(FFA_SPMCS)
        .default("hafnium"),
    )
    .action((input: string, opts: { version: string; relinquish?: boolean; call?: string; spmc: string }) => {
      const call = opts.call === undefined ? undefined : parseMemCall(opts.call);
      if (opts.call !== undefined && call === undefined) {
        throw new UsageError(
          `unknown --call ${opts.call}: expected ${FFA_MEM_CALL_NAMES.join(", ")} (FFA_ prefix and _32/_64 suffix optional)`,
        );
      }
      if (call !== undefined && opts.relinquish) {
        throw new UsageError(
          "--call checks a memory transaction descriptor; it does not apply to --relinquish",
        );
      }
      let raw: string | Uint8Array = input;
      if (input.startsWith("@")) {
        try {
          raw = new Uint8Array(readFileSync(input.slice(1)));
        } catch (e) {
          throw new UsageError(
            `${input.slice(1)}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(e)}`,
          );
        }
      }
      const bytes = parseHexOrBytes(raw);
      if (!bytes.ok) throw new UsageError(`not hex bytes: ${bytes.error.why}`);
      if (!isFfaVersion(opts.version)) throw new UsageError(`unknown FF-A version ${opts.version}`);
      const spmc = opts.spmc === "tf-a" ? "tf-a" : "hafnium";
      const out = opts.relinquish
        ? describeRelinquish(bytes.value)
        : call !== undefined
          ? describeDescriptorForCall(bytes.value, opts.version, call, spmc)
          : describeDescriptor(bytes.value, opts.version);
      io.out(JSON.stringify(out, null, 2) + "\n");
      const problems = out.problems;
      setCode(Array.isArray(problems) && problems.length > 0 ? 1 : 0);
    });
}
