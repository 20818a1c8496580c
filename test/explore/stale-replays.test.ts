/**
 * A search that writes its replay files into an --out an earlier search used removes that search's
 * replay-K.json past its own (read beside them, an earlier replay-5.json passes for one of this
 * search's failures), and only replay files: anything else named so stays.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";

describe("explore --out with an earlier search's replay files", () => {
  it("removes the replay-K.json past this search's, names them, and keeps files that are not replay files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-stale-replays-"));
    const first = await rstmem("explore", "pool-race", "--policy", "upstream", "--runs", "6", "--out", dir);
    expect(first.code).toBe(1);
    const earlier = readFileSync(join(dir, "replay.json"), "utf8");
    for (const k of [2, 3, 5]) writeFileSync(join(dir, `replay-${k}.json`), earlier);
    writeFileSync(join(dir, "replay-4.json"), '{"notes": "mine"}\n');
    const again = await rstmem("explore", "pool-race", "--policy", "upstream", "--runs", "6", "--out", dir);
    expect(again.code).toBe(1);
    expect(again.out).toContain(
      "removed    replay-2.json, replay-3.json, replay-5.json (an earlier search's, past this one's)",
    );
    for (const k of [2, 3, 5]) expect(existsSync(join(dir, `replay-${k}.json`))).toBe(false);
    expect(readFileSync(join(dir, "replay-4.json"), "utf8")).toBe('{"notes": "mine"}\n');
    expect(existsSync(join(dir, "replay.json"))).toBe(true);
  });
});
