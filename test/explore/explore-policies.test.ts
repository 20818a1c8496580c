/**
 * `rstmem explore FILE --policies a,b,…`: the same search under each named policy in turn, each printed as
 * `--policy P` prints it, then a verdict per policy; each policy's replay files in DIR/POLICY/. Exit 1 when
 * any policy's search violated; a policy that cannot run on the platform, or a bad list, is refused before
 * any search (exit 2).
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rstmem } from "../helpers/rstmem.ts";

const SESSION = join(import.meta.dirname, "..", "..", "scenarios", "secure-video-session.yaml");
const SEARCH = [SESSION, "--faults", "2", "--runs", "30"];

/** A search's JSON without what the wall clock or the output directory decides. */
function facts(j: Record<string, unknown>): Record<string, unknown> {
  const { seconds: _s, schedulesPerSecond: _r, statesPerSecond: _t, violations, ...rest } = j;
  return {
    ...rest,
    violations: (violations as Record<string, unknown>[]).map(({ replayFile: _f, replay: _c, ...v }) => v),
  };
}

describe("rstmem explore --policies", () => {
  it("searches under each policy in turn, ends with a verdict per policy, and writes DIR/POLICY/replay.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-explore-policies-"));
    const html = join(dir, "report.html");
    const r = await rstmem(
      "explore",
      ...SEARCH,
      "--policies",
      "upstream,carveout",
      "--out",
      dir,
      "--html",
      html,
    );
    expect(r.code).toBe(1);
    const searched = [...r.out.matchAll(/^explore {4}secure-video-session .*, policy (\w+),/gm)].map(
      (m) => m[1],
    );
    expect(searched).toEqual(["upstream", "carveout"]);
    const upstreamReplay = join(dir, "upstream", "replay.json");
    expect(r.out).toMatch(
      new RegExp(
        `\\n\\npolicy {5}upstream {2}VIOLATION {2}run \\d+: expected 0 quiesce-clean findings .* → ${upstreamReplay}\\n` +
          `policy {5}carveout {2}clean {6}30 runs\\nhtml {7}`,
      ),
    );
    expect(existsSync(join(dir, "carveout"))).toBe(false);
    const rf = JSON.parse(readFileSync(upstreamReplay, "utf8"));
    expect(rf.policy).toBe("upstream");
    // --html: the violating run, shrunk, as `rstmem replay --html` shows it, in one report.
    expect(r.out).toContain(`html       ${html}: 1 violating run, event by event\n`);
    const page = readFileSync(html, "utf8");
    // (booleans: a miss would print the whole page)
    expect(page.includes(`"label":"upstream, run ${rf.found.run}"`)).toBe(true);
    expect(page.includes(`rstmem replay ${upstreamReplay}`)).toBe(true);
    // The story: OP-TEE refused RELEASE_PROTMEM, and the chunk went back to CMA.
    expect(page.includes('"release-protmem"')).toBe(true);
    expect(page.includes('"cma_release"')).toBe(true);
    const replayed = await rstmem("replay", upstreamReplay);
    expect(replayed.code).toBe(1);
    expect(replayed.out).toContain(`replay     reproduced: ${rf.failed}`);
  });

  it("each policy's search is the one --policy P makes alone; --json prints them as an array", async () => {
    const both = await rstmem(
      "explore",
      ...SEARCH,
      "--policies",
      "upstream,carveout",
      "--json",
      "--out",
      mkdtempSync(join(tmpdir(), "rstmem-")),
    );
    expect(both.code).toBe(1);
    const arr = JSON.parse(both.out) as Record<string, unknown>[];
    expect(arr.map((j) => j.policy)).toEqual(["upstream", "carveout"]);
    for (const [i, p] of ["upstream", "carveout"].entries()) {
      const alone = await rstmem(
        "explore",
        ...SEARCH,
        "--policy",
        p,
        "--json",
        "--out",
        mkdtempSync(join(tmpdir(), "rstmem-")),
      );
      expect(alone.code).toBe(p === "upstream" ? 1 : 0);
      expect(facts(arr[i])).toEqual(facts(JSON.parse(alone.out)));
    }
  });

  it("--html with no violation writes no report, says so, and removes a report an earlier search left, never another file", async () => {
    const html = join(mkdtempSync(join(tmpdir(), "rstmem-")), "none.html");
    const r = await rstmem("explore", ...SEARCH, "--policy", "carveout", "--html", html);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`html       no violation: ${html} not written\n`);
    expect(existsSync(html)).toBe(false);
    writeFileSync(html, '<script type="application/json" id="rstmem-data">{}</script>');
    const again = await rstmem("explore", ...SEARCH, "--policy", "carveout", "--html", html, "--json");
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out).html).toBeNull();
    expect(existsSync(html)).toBe(false);
    // A file of the user's at that path is not an rstmem report: it stays (helper-44's review).
    writeFileSync(html, "<html>mine</html>");
    const mine = await rstmem("explore", ...SEARCH, "--policy", "carveout", "--html", html);
    expect(mine.code).toBe(0);
    expect(mine.out).toContain("not written (the file there is not an rstmem report: left as it is)");
    expect(readFileSync(html, "utf8")).toBe("<html>mine</html>");
  });

  it("--html makes its directory before the search, and --json names the report", async () => {
    const html = join(mkdtempSync(join(tmpdir(), "rstmem-")), "new", "dir", "r.html");
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    const r = await rstmem(
      "explore",
      ...SEARCH,
      "--policy",
      "upstream",
      "--out",
      dir,
      "--html",
      html,
      "--json",
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).html).toBe(html);
    expect(existsSync(html)).toBe(true);
  });

  it("refuses a bad list before any search: exit 2, one line, nothing on stdout", async () => {
    const cases: [string[], RegExp][] = [
      [["--policies", "safe,safe"], /^rstmem: --policies names safe twice\n$/],
      [["--policies", "safe,nope"], /unknown policy "nope"/],
      [["--policies", "upstream,"], /--policies: name the policies as a,b/],
      [["--policy", "safe", "--policies", "upstream"], /--policy and --policies: give one of them/],
    ];
    for (const [args, err] of cases) {
      const r = await rstmem("explore", ...SEARCH, ...args);
      expect(r).toMatchObject({ code: 2, out: "" });
      expect(r.err).toMatch(err);
    }
    // carveout cannot fit pool-race's board: refused before upstream's search runs.
    const carve = await rstmem("explore", "pool-race", "--policies", "upstream,carveout");
    expect(carve).toMatchObject({ code: 2, out: "" });
    expect(carve.err).toMatch(/--policies carveout on tzc400-board: /);
  });
});
