/**
 * The policy table: the same secure-video session under each named policy on each platform preset,
 * with what each run found and what it cost. `rstmem policies --table` prints it; docs/policies.md
 * holds its output (generated, never typed: test/report/policy-table.test.ts keeps the two equal).
 */
import { loadScenarioText } from "../scenario/loader.ts";
import { ScenarioError } from "../scenario/errors.ts";
import { POLICY_PRESET_NAMES } from "../scenario/policies.ts";
import { PRESET_NAMES } from "../scenario/presets.ts";
import { runScenario, type RunResult } from "../scenario/runner.ts";

/** The session every cell runs: 8 frames of 4K NV12 decoded and shown, the player exits, the pool idles. */
export function sessionScenario(platform: string, policy: string): string {
  return `name: ${policy}-on-${platform}
description: One secure-video session (8 4K NV12 frames), then 6 s idle, under ${policy} on ${platform}
platform: ${platform}
policy: ${policy}
steps:
  - proc: player
    open: /dev/dma_heap/protected,secure-video
    save: heap
  - repeat: 8
    steps:
      - proc: player
        ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 12441600, fd_flags: [O_RDWR, O_CLOEXEC], heap_flags: 0 } }
        save: frame
      - device: { by: video-decoder, buffer: { proc: player, fd: $frame }, op: write }
      - device: { by: display, buffer: { proc: player, fd: $frame }, op: read }
  - proc: player
    exit: true
  - sleep: 6s
`;
}

export interface PolicyTableRow {
  readonly policy: string;
  readonly platform: string;
  /** Why the policy cannot run there (load-time refusal), or null. */
  readonly refused: string | null;
  readonly result: RunResult | null;
}

/** Runs every (policy, platform) cell. */
export function policyTable(
  policies: readonly string[] = POLICY_PRESET_NAMES,
  platforms: readonly string[] = PRESET_NAMES,
): PolicyTableRow[] {
  const rows: PolicyTableRow[] = [];
  for (const policy of policies) {
    for (const platform of platforms) {
      try {
        const sc = loadScenarioText(sessionScenario(platform, policy), `${policy}-on-${platform}.yaml`);
        rows.push({ policy, platform, refused: null, result: runScenario(sc) });
      } catch (e) {
        if (!(e instanceof ScenarioError)) throw e;
        rows.push({ policy, platform, refused: e.what, result: null });
      }
    }
  }
  return rows;
}

function mib(bytes: number): string {
  return bytes === 0 ? "0" : `${(bytes / 1048576).toFixed(1)} MiB`;
}

/** Markdown: one row per cell; findings as `id n`, costs as counts. */
export function policyTableMarkdown(rows: readonly PolicyTableRow[]): string {
  const head =
    "| policy | platform | allocations failed | chunks lent / reclaimed | lent at peak | findings | splits (4 KiB entries) | TLB flushes | cleaned | stage-2 calls | attribute changes |\n" +
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  const body = rows.map((row) => {
    if (!row.result)
      return `| ${row.policy} | ${row.platform} | not supported: ${row.refused!.replace(/\|/g, "\\|")} | | | | | | | | |`;
    const r = row.result;
    const m = r.machine;
    const failed = Object.values(r.errnos).reduce((a, n) => a + n, 0);
    const findings =
      Object.entries(r.findings)
        .filter(([, n]) => n > 0)
        .map(([id, n]) => `${id} ${n}`)
        .join(", ") || "none";
    return (
      `| ${row.policy} | ${row.platform} | ${failed} | ${r.protmem ? `${r.protmem.lends} / ${r.protmem.reclaims}` : "-"} ` +
      `| ${r.protmem ? mib(r.protmem.peakLentBytes) : "-"} ` +
      `| ${findings} | ${m.directMapSplits} (${m.directMapSplitPtes}) | ${m.tlbFlushRange + m.tlbFlushAll} | ${mib(m.bytesCleaned)} ` +
      `| ${m.stage2Hypercalls} | ${m.directMapAttrChanges} |`
    );
  });
  return head + body.join("\n") + "\n";
}
