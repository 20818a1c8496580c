/**
 * `rstmem explore --faults` on Hafnium reaches the fault point inside the last FFA_MEM_FRAG_TX
 * (`in: ffa_memory_send_complete`): a run where the chooser struck there fails the send with NO_MEMORY
 * (a violation: the steps expect `[SUCCESS]`, a list, judged after an injected fault too) and leaves
 * nothing behind, replay.json records the fault with `in:`, `rstmem replay` reproduces it,
 * and the same seed finds the same run.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";

/** A raw FF-A lend of 20 separate pages in 112-byte fragments (four: MEM_LEND, then three FRAG_TX). */
const SCENARIO = `name: fragmented-lend
platform: fvp-rme
steps:
  - ffa: MEM_LEND
    descriptor:
      receivers: [{ id: 0x8001 }]
      constituents: [{ address: 0x90000000, pages: 1, repeat: 20, stride: 0x2000 }]
    fragment: { bytes: 112 }
    expect: [SUCCESS]
    save: h
  - ffa: MEM_RECLAIM
    handle: $h
    expect: [SUCCESS]
`;

const AT_SEND_COMPLETE = {
  ffa: { call: "MEM_FRAG_TX", in: "ffa_memory_send_complete", error: "NO_MEMORY", nth: 1, injected: true },
};

describe("explore --faults at the last fragment's ffa_memory_send_complete()", () => {
  it("some seed's violation is that fault; replay.json keeps it with `in:` and replays it; the same seed finds it again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-fragfault-"));
    const file = join(dir, "fragmented-lend.yaml");
    writeFileSync(file, SCENARIO);
    // Every run meets five fault points before the reclaim (MEM_LEND, three FRAG_TX entries, the
    // completion); at 1 in 8 each, the completion is the one that strikes in about one run in fifteen.
    let found: { seed: number; replay: string } | null = null;
    for (let seed = 1; seed <= 40 && !found; seed++) {
      const out = join(dir, `s${seed}`);
      const r = await rstmem(
        "explore",
        file,
        "--faults",
        "--runs",
        "40",
        "--seed",
        String(seed),
        "--out",
        out,
      );
      expect(r.code).toBe(1);
      const replay = readFileSync(join(out, "replay.json"), "utf8");
      if (JSON.stringify(JSON.parse(replay).faults) === JSON.stringify([AT_SEND_COMPLETE]))
        found = { seed, replay };
    }
    expect(found).not.toBeNull();
    const { seed, replay } = found!;
    const rf = JSON.parse(replay);
    expect(rf.failed).toMatch(/expected SUCCESS, got NO_MEMORY .*in ffa_memory_send_complete/);

    const replayed = await rstmem("replay", join(dir, `s${seed}`, "replay.json"));
    expect(replayed.out).toContain(
      "faults     ffa MEM_FRAG_TX in ffa_memory_send_complete NO_MEMORY #1 (injected)",
    );
    // The share state was freed: the end of the run has no finding (quiesce-clean included).
    expect(replayed.out).toMatch(/^findings {3}none$/m);
    expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);

    const again = join(dir, "again");
    await rstmem("explore", file, "--faults", "--runs", "40", "--seed", String(seed), "--out", again);
    expect(readFileSync(join(again, "replay.json"), "utf8")).toBe(replay);
  });
});
