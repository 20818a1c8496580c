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

/** A platform column: a preset, or a preset with overrides (its YAML), under a label. */
export interface TablePlatform {
  readonly label: string;
  readonly yaml: string;
}

/**
 * The table's platforms: the three presets; tzc400-board with BBML2 (its linear map keeps blocks and
 * splits them at run time), where unmapping costs TLB reach; and tzc400-board under a pKVM-style
 * hypervisor, where `safe` unmaps at stage 2.
 */
export const TABLE_PLATFORMS: readonly TablePlatform[] = [
  ...PRESET_NAMES.map((n) => ({ label: n, yaml: n })),
  { label: "tzc400-board+bbml2", yaml: "{ preset: tzc400-board, bbml2: true }" },
  { label: "tzc400-board+pkvm", yaml: "{ preset: tzc400-board, hypervisor: pkvm }" },
];

/** The session every cell runs: 8 frames of 4K NV12 decoded and shown, the player exits, the pool idles. */
export function sessionScenario(platform: string, policy: string, label = platform): string {
  return `name: ${JSON.stringify(`${policy}-on-${label}`)}
description: ${JSON.stringify(`One secure-video session (8 4K NV12 frames), then 6 s idle, under ${policy} on ${label}`)}
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
  platforms: readonly TablePlatform[] = TABLE_PLATFORMS,
): PolicyTableRow[] {
  const rows: PolicyTableRow[] = [];
  for (const policy of policies) {
    for (const { label, yaml } of platforms) {
      try {
        const sc = loadScenarioText(sessionScenario(yaml, policy, label), `${policy}-on-${label}.yaml`);
        rows.push({ policy, platform: label, refused: null, result: runScenario(sc) });
      } catch (e) {
        if (!(e instanceof ScenarioError)) throw e;
        rows.push({ policy, platform: label, refused: e.what, result: null });
      }
    }
  }
  return rows;
}

function mib(bytes: number): string {
  return bytes === 0 ? "0" : `${(bytes / 1048576).toFixed(1)} MiB`;
}

function us(ns: number): string {
  return ns === 0 ? "0" : `${(ns / 1000).toFixed(ns < 10_000 ? 1 : 0)} µs`;
}

const COLUMNS = [
  "policy",
  "platform",
  "allocations failed",
  "chunks lent / reclaimed",
  "lent at peak",
  "worst lend / reclaim",
  "findings",
  "block splits",
  "TLB flushes",
  "cleaned",
  "zeroed",
  "stage-2 calls",
  "attribute changes",
  "kernel slowdown (est.)",
];

/** Markdown: one row per cell; findings as `id n`, costs as counts. */
export function policyTableMarkdown(rows: readonly PolicyTableRow[]): string {
  const head = `| ${COLUMNS.join(" | ")} |\n|${COLUMNS.map(() => " --- |").join("")}\n`;
  const body = rows.map((row) => {
    if (!row.result) {
      const cells = [row.policy, row.platform, `not supported: ${row.refused!.replace(/\|/g, "\\|")}`];
      return `| ${[...cells, ...COLUMNS.slice(cells.length).map(() => "")].join(" | ")} |`;
    }
    const r = row.result;
    const m = r.machine;
    const p = r.protmem;
    const findings =
      Object.entries(r.findings)
        .filter(([, n]) => n > 0)
        .map(([id, n]) => `${id} ${n}`)
        .join(", ") || "none";
    const cells = [
      row.policy,
      row.platform,
      String(Object.values(r.errnos).reduce((a, n) => a + n, 0)),
      p ? `${p.lends} / ${p.reclaims}` : "-",
      p ? mib(p.peakLentBytes) : "-",
      p ? `${us(p.lendNsMax)} / ${us(p.reclaimNsMax)}` : "-",
      findings,
      `${m.directMapSplits} (${m.directMapSplitPtes} × 4 KiB)`,
      String(m.tlbFlushRange + m.tlbFlushAll),
      mib(m.bytesCleaned),
      mib(m.bytesZeroed),
      String(m.stage2Hypercalls),
      String(m.directMapAttrChanges),
      `${m.estimatedKernelSlowdownPct}%`,
    ];
    return `| ${cells.join(" | ")} |`;
  });
  return head + body.join("\n") + "\n";
}
