/**
 * The listing commands: `presets`, `schema`, `policies`, `invariants`. What only one command needs (the
 * schema, the policies, the policy table's runs) is loaded by that command, so the others start fast.
 */
import type { Command } from "commander";
import { INVARIANTS } from "../check/invariants.ts";
import { PRESET_NAMES, PRESETS } from "../scenario/presets.ts";
import { formatSize } from "../scenario/units.ts";
import { UsageError, type Io } from "./io.ts";

export function register(program: Command, io: Io): void {
  program
    .command("presets")
    .description("list the platform presets")
    .option("--json", "print the full platform descriptions as JSON")
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        io.out(JSON.stringify(Object.values(PRESETS), null, 2) + "\n");
        return;
      }
      for (const p of Object.values(PRESETS)) {
        const cma = p.cma.map((c) => `${formatSize(c.size)} @ 0x${c.base.toString(16)}`).join(", ");
        const fw =
          p.firewall.kind === "tzc400"
            ? `tzc400 (${p.firewall.regions} regions, action ${p.firewall.action})`
            : p.firewall.kind;
        io.out(
          `${p.name}\n  ${p.description}\n  DRAM ${formatSize(p.dram.size)} @ 0x${p.dram.base.toString(16)}; CMA ${cma}; ` +
            `firewall ${fw}; SPMC ${p.spmc}; FF-A ${p.ffaVersion}\n`,
        );
      }
    });

  program
    .command("schema")
    .description("print the scenario format's JSON Schema (for editor completion)")
    .action(async () => {
      const { scenarioJsonSchema } = await import("../scenario/schema.ts");
      io.out(JSON.stringify(scenarioJsonSchema(), null, 2) + "\n");
    });

  program
    .command("policies")
    .description("list the named policies and their fields (safe's unmap depends on the platform)")
    .option("--json", "print them as JSON")
    .option("--platform <name>", "resolve per-platform fields on this preset", "tzc400-board")
    .option(
      "--table",
      "run one secure-video session under each policy on each platform: findings and costs (Markdown)",
    )
    .action(async (opts: { json?: boolean; platform: string; table?: boolean }) => {
      if (opts.table) {
        const { policyTable, policyTableMarkdown } = await import("../report/policy_table.ts");
        io.out(policyTableMarkdown(policyTable()));
        return;
      }
      const platform = PRESETS[opts.platform];
      if (!platform)
        throw new UsageError(
          `unknown platform "${opts.platform}"; expected one of ${PRESET_NAMES.join(", ")}`,
        );
      const { NAMED_POLICIES, namedPolicy, POLICY_PRESET_NAMES } = await import("../scenario/policies.ts");
      const all = POLICY_PRESET_NAMES.map((n) => ({
        ...namedPolicy(n, platform),
        summary: NAMED_POLICIES[n].summary,
      }));
      if (opts.json) {
        io.out(JSON.stringify(all, null, 2) + "\n");
        return;
      }
      for (const p of all) {
        io.out(
          `${p.name}\n  ${p.summary}\n  pool ${p.pool}; unmap ${p.unmap}; cache ${p.cache}; scrub ${p.scrub}; ` +
            `optee_retrieve ${p.optee_retrieve}` +
            (p.pool === "growable"
              ? `; chunk ${p.chunk ? formatSize(p.chunk) : "min_size"}, max ${formatSize(p.max)}, idle_release ${p.idle_release / 1e9} s`
              : "") +
            "\n",
        );
      }
    });

  program
    .command("invariants")
    .description("list the invariants every run checks")
    .action(() => {
      for (const [id, text] of Object.entries(INVARIANTS)) io.out(`${id.padEnd(22)} ${text}\n`);
    });
}
