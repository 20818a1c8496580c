import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeMemRegion } from "../../src/abi/ffa/index.ts";
import { rstmem } from "../helpers/rstmem.ts";

const S = (name: string) => join(import.meta.dirname, "..", "scenarios", name);

describe("rstmem run", () => {
  it("runs a built-in scenario by name and passes", async () => {
    const r = await rstmem("run", "secure-video-session");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^scenario {3}secure-video-session/);
    expect(r.out).toMatch(/result {5}PASS/);
    expect(r.err).toBe("");
  });

  it("a normal-world read of a protected page gets fault", async () => {
    const r = await rstmem("run", "--json", S("protected-read.yaml"));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.steps.map((s: { got: string }) => s.got)).toEqual(["fault", "ok"]);
    expect(j.steps[0].detail).toMatch(/TZC region 1 denies it/);
  });

  it("a failed step expectation stops the steps, names the step and its line, and exits 1", async () => {
    const r = await rstmem("run", S("wrong-expectation.yaml"));
    expect(r.code).toBe(1);
    expect(r.out).toContain("result     FAIL: step 1 (");
    expect(r.out).toContain("wrong-expectation.yaml:6, access) expected ok, got fault");
    expect(r.out).toContain("steps      2/3 run, 1 failed");
  });

  it("several files run one after another, a line each, and the exit status is the worst", async () => {
    const r = await rstmem(
      "run",
      S("protected-read.yaml"),
      S("wrong-expectation.yaml"),
      S("qemu-unprotected.yaml"),
    );
    expect(r.code).toBe(1);
    const lines = r.out
      .trim()
      .split("\n")
      .filter((l) => /^(PASS|FAIL)/.test(l));
    expect(lines.map((l) => l.slice(0, 4))).toEqual(["PASS", "FAIL", "PASS"]);
  });

  it("the same scenario and seed give byte-identical JSON", async () => {
    const a = await rstmem("run", "secure-video-session", "--json", "--seed", "7");
    const b = await rstmem("run", "secure-video-session", "--json", "--seed", "7");
    expect(b.out).toBe(a.out);
    expect(JSON.parse(a.out).seed).toBe(7);
  });

  it("--out writes the summary, the schedule and a Chrome trace", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    const r = await rstmem("run", "secure-video-session", "--out", dir);
    expect(r.code).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, "secure-video-session", "summary.json"), "utf8"));
    expect(summary.passed).toBe(true);
    const trace = JSON.parse(readFileSync(join(dir, "secure-video-session", "trace.json"), "utf8"));
    expect(trace.displayTimeUnit).toBe("ns");
    // The CPU's read of a frame faults: an instant on its thread.
    expect(
      trace.traceEvents.some(
        (e: { ph: string; cat?: string; args?: { result?: string } }) =>
          e.ph === "i" && e.cat === "hw" && e.args?.result === "denied",
      ),
    ).toBe(true);
    expect(readFileSync(join(dir, "secure-video-session", "schedule.txt"), "utf8").trim()).toBe(
      summary.schedule,
    );
  });

  it("replays a recorded schedule", async () => {
    const a = JSON.parse((await rstmem("run", "secure-video-session", "--json")).out);
    const b = JSON.parse(
      (await rstmem("run", "secure-video-session", "--json", "--schedule", a.schedule)).out,
    );
    expect(b).toEqual(a);
  });
});

describe("bad input and usage exit 2 with one clear message", () => {
  it("a missing file", async () => {
    const r = await rstmem("run", "nope.yaml");
    expect(r.code).toBe(2);
    expect(r.err).toBe("rstmem: nope.yaml: no such file\n");
  });

  it("an unknown command", async () => {
    const r = await rstmem("frobnicate");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown command 'frobnicate'/);
    expect(r.err).not.toMatch(/at .*\.ts:\d+/);
  });

  it("a bad seed", async () => {
    const r = await rstmem("run", "--seed", "minus-one");
    expect(r.code).toBe(2);
    expect(r.err).toMatch(
      /option '--seed <n>' argument 'minus-one' is invalid. expected a non-negative integer/,
    );
  });

  it("an integer past 2^53 − 1 is refused as too large, naming the limit", async () => {
    for (const [flag, bad] of [
      ["--runs", "99999999999999999999"],
      ["--seed", "9007199254740993"],
    ]) {
      const r = await rstmem("explore", "pool-race", flag, bad);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`argument '${bad}' is invalid. too large: at most 9007199254740991 (2^53 − 1)`);
    }
  });

  it("PCT's bound past a double's range is a power of ten, not 0.00", async () => {
    const r = await rstmem("explore", "pool-race", "--strategy", "pct", "--depth", "1000", "--runs", "2");
    expect(r.out).toMatch(/with probability ≥ 1\/\(n·k\^\(d−1\)\) = 10\^-\d{3,}\n/);
  });

  it("--time is a wall-clock duration with its unit, above zero (a bare 5 was 5 ns)", async () => {
    const bare = await rstmem("explore", "pool-race", "--time", "5");
    expect(bare.code).toBe(2);
    expect(bare.err).toContain("expected a duration with its unit, such as 30s or 5min");
    const zero = await rstmem("explore", "pool-race", "--time", "0s");
    expect(zero.err).toContain("expected a duration above zero");
  });

  it("a count that must be positive says so, whether it is zero or not a number", async () => {
    for (const bad of ["0", "x", "-3"]) {
      const r = await rstmem("explore", "pool-race", "--jobs", bad);
      expect(r.code).toBe(2);
      expect(r.err).toContain(
        `option '--jobs <n>' argument '${bad}' is invalid. expected a positive integer`,
      );
    }
  });

  it("validate reports the position of the problem", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    const f = join(dir, "bad.yaml");
    execFileSync("sh", ["-c", `printf 'steps:\\n  - sleep: soon\\n' > ${f}`]);
    const r = await rstmem("validate", f);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      `rstmem: ${f}:2:12: steps[0].sleep: expected a duration such as 250ns, 10us, 10ms, 2s or 2min\n`,
    );
  });
});

describe("rstmem ffa decode", () => {
  // v1.1, sender 0, attributes 0x2f, one receiver 0x8001 RW, one constituent of 16 pages at 0x8c000000.
  const V11 = Buffer.from(
    encodeMemRegion(
      {
        sender_id: 0,
        attributes: 0x2f,
        flags: 0,
        emads: [{ receiver_id: 0x8001, permissions: 0x6, flags: 0 }],
        constituents: [{ address: 0x8c000000n, page_count: 16 }],
      },
      "1.1",
    ),
  ).toString("hex");

  it("prints every field of a valid descriptor and exits 0", async () => {
    const r = await rstmem("ffa", "decode", V11, "--version", "1.1");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.decoded).toBe(true);
    expect(j.header.emad_offset).toBe(48);
    expect(j.emads[0].receiver_id).toBe("0x8001");
    expect(j.emads[0].composite_offset).toBe(64);
    expect(j.problems).toEqual([]);
  });

  it("reads @FILE and reports problems with exit 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    const f = join(dir, "d.hex");
    execFileSync("sh", ["-c", `printf '00ff' > ${f}`]);
    const r = await rstmem("ffa", "decode", `@${f}`);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).problems[0].rule).toBe("header-in-bounds");
  });

  it("input that is not hex is a usage error", async () => {
    const r = await rstmem("ffa", "decode", "zz");
    expect(r.code).toBe(2);
    expect(r.err).toBe('rstmem: not hex bytes: character "z" at 0 is not a hex digit\n');
  });
});

describe("other commands", () => {
  it("validate accepts a good scenario", async () => {
    const r = await rstmem("validate", S("protected-read.yaml"));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/ok \(protected-read, platform tzc400-board, 2 steps\)/);
  });

  it("run --policy NAME runs a scenario under a named policy instead of its own", async () => {
    const r = await rstmem("run", "secure-video-session", "--policy", "safe");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^findings {3}none$/m);
    const bad = await rstmem("run", "--policy", "nope");
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      'rstmem: --policy: unknown policy "nope"; expected one of upstream, safe, carveout, lend-pool, tegra-vpr\n',
    );
  });

  it("policies lists the named policies with their fields, resolved per platform", async () => {
    const r = await rstmem("policies");
    expect(r.code).toBe(0);
    for (const n of ["upstream", "safe", "carveout", "lend-pool", "tegra-vpr"])
      expect(r.out).toMatch(new RegExp(`^${n}$`, "m"));
    const j = JSON.parse((await rstmem("policies", "--json", "--platform", "fvp-rme")).out);
    expect(j.find((p: { name: string }) => p.name === "safe")).toMatchObject({
      pool: "growable",
      unmap: "pte",
    });
    const bad = await rstmem("policies", "--platform", "nope");
    expect(bad.code).toBe(2);
    expect(bad.err).toBe(
      'rstmem: unknown platform "nope"; expected one of qemu-virt, tzc400-board, fvp-rme\n',
    );
  });

  it("presets lists the three presets", async () => {
    const r = await rstmem("presets");
    expect(r.code).toBe(0);
    for (const p of ["qemu-virt", "tzc400-board", "fvp-rme"]) expect(r.out).toContain(p);
    const j = JSON.parse((await rstmem("presets", "--json")).out);
    expect(j.map((p: { name: string }) => p.name)).toEqual(["qemu-virt", "tzc400-board", "fvp-rme"]);
  });

  it("schema prints a JSON Schema that closes unknown keys and lists the step kinds", async () => {
    const r = await rstmem("schema");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.type).toBe("object");
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties)).toEqual([
      "name",
      "description",
      "platform",
      "policy",
      "seed",
      "until",
      "steps",
      "tasks",
      "workloads",
      "compare",
      "schedule",
      "faults",
      "expect",
    ]);
    // Steps nest (repeat), so the step is a named definition.
    expect(s.properties.steps.items.$ref).toBe("#/$defs/step");
    const kinds = s.$defs.step.anyOf.map((o: { required: string[] }) => o.required[0]);
    expect(kinds).toEqual(["sleep", "access", "ffa", "proc", "device", "repeat"]);
    const workloads = s.$defs.workload.anyOf.map((o: { required: string[] }) => o.required[0]);
    expect(workloads).toEqual(["secure-video", "trusted-ui", "secure-video-record", "background"]);
    // The published schema lists the fault kinds, each with its realistic calls and commands.
    const faults = s.$defs.fault.anyOf.map((o: { required: string[] }) => o.required[0]);
    expect(faults).toEqual(["ffa", "optee", "cma", "kill", "rx_busy"]);
  });

  it("the rstmem bin works from a checkout (npx rstmem), compiled or from the sources", () => {
    const bin = join(import.meta.dirname, "..", "..", "bin", "rstmem.js");
    for (const RSTMEM_SOURCES of ["0", "1"]) {
      const env = { ...process.env, RSTMEM_SOURCES };
      const out = execFileSync("node", [bin, "presets"], { encoding: "utf8", env });
      expect(out).toContain("tzc400-board");
      // A built-in found from the module's URL, compiled: from the bundle (dist/bundle/, scripts/build.mjs).
      const explored = execFileSync("node", [bin, "explore", "pool-race", "--runs", "3", "--out", tmpdir()], {
        encoding: "utf8",
        env,
      });
      expect(explored).toMatch(/^explored {3}3 schedules/m);
      // A directory of that name where it runs is no scenario: the name still means the built-in.
      const cwd = mkdtempSync(join(tmpdir(), "rstmem-cwd-"));
      mkdirSync(join(cwd, "pool-race"));
      const shadowed = execFileSync("node", [bin, "explore", "pool-race", "--runs", "2", "--out", cwd], {
        encoding: "utf8",
        env,
        cwd,
      });
      expect(shadowed).toMatch(/^explored {3}2 schedules/m);
    }
  });

  it("a reader that closes the pipe early (rstmem schema | head) ends the output without a stack trace", () => {
    const bin = join(import.meta.dirname, "..", "..", "bin", "rstmem.js");
    // The schema (~88 KB) outgrows the pipe's buffer, so the write after `head` exits meets EPIPE.
    const r = spawnSync("sh", ["-c", `node '${bin}' schema | head -c 1 >/dev/null`], {
      encoding: "utf8",
    });
    expect(r.stderr).toBe("");
  });

  it("--version prints the package's version; a subcommand's own --version is its option", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "package.json"), "utf8"));
    const r = await rstmem("--version");
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(pkg.version);
  });
});

describe("--out traces", () => {
  it("the Chrome trace has a slice per step and a counter of restricted memory; the ftrace text has the cma tracepoints", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    expect((await rstmem("run", "secure-video-session", "--out", dir)).code).toBe(0);
    const trace = JSON.parse(readFileSync(join(dir, "secure-video-session", "trace.json"), "utf8"));
    const slices = trace.traceEvents.filter(
      (e: { ph: string; name: string }) => e.ph === "X" && e.name.startsWith("step "),
    );
    expect(slices.length).toBe(52);
    const counter = trace.traceEvents.filter(
      (e: { ph: string; name: string }) => e.ph === "C" && e.name === "restricted memory",
    );
    expect(counter.map((e: { args: { pages: number } }) => e.args.pages)).toEqual([81920, 0]);
    const ftrace = readFileSync(join(dir, "secure-video-session", "trace.txt"), "utf8");
    expect(ftrace).toMatch(/^# tracer: nop/);
    expect(ftrace).toMatch(
      /cma_alloc_start: name=reserved request_count=81920 available_count=262144 total_count=262144 align=8/,
    );
    expect(ftrace).toMatch(
      /cma_alloc_finish: name=reserved pfn=0xc0000 page=[0-9a-f]{16} count=81920 align=8 errorno=0/,
    );
    expect(ftrace).toMatch(/cma_release: name=reserved pfn=0xc0000 page=[0-9a-f]{16} count=81920/);
  });
});
