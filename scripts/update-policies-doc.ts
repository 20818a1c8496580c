/**
 * Regenerates the table in docs/policies.md from `rstmem policies --table` (npm run docs:policies).
 * The table is generated, never typed: test/report/policy-table.test.ts fails when it is stale.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { policyTable, policyTableMarkdown } from "../src/report/policy_table.ts";
import { spliceTable } from "../src/report/policy_doc.ts";

const file = join(import.meta.dirname, "..", "docs", "policies.md");
writeFileSync(file, spliceTable(readFileSync(file, "utf8"), policyTableMarkdown(policyTable())));
console.log(`updated ${file}`);
