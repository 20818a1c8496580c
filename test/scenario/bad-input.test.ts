import { resolvePolicy } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { describe, expect, it } from "vitest";
import { ScenarioError } from "../../src/scenario/errors.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";

/** Each bad input, and the exact message with file, line and column it must produce. */
const CASES: { name: string; file?: string; text: string; message: string }[] = [
  {
    name: "an op that is not read or write",
    text: "steps:\n  - access: { by: cpu-ns, address: 0x40000000, op: exec }\n",
    message: 's.yaml:2:52: steps[0].access.op: expected one of read, write, got "exec"',
  },
  {
    name: "a misspelt top-level key",
    text: "name: x\nplatfrom: tzc400-board\n",
    message:
      's.yaml:2:1: platfrom: unknown key "platfrom"; expected one of: name, description, platform, policy, seed, until, steps, tasks, workloads, compare, schedule, faults, expect',
  },
  {
    name: "an unknown preset",
    text: "platform: pixel\n",
    message: 's.yaml:1:11: platform: expected one of qemu-virt, tzc400-board, fvp-rme, got "pixel"',
  },
  {
    name: "a TZC override on a platform without a TZC",
    text: "platform: { preset: fvp-rme, firewall_action: err }\n",
    message: "s.yaml:1:30: platform.firewall_action: fvp-rme has no TZC-400 (its firewall is rme)",
  },
  {
    name: "a duration in an unknown unit",
    text: "steps:\n  - sleep: 10 parsecs\n",
    message: "s.yaml:2:12: steps[0].sleep: expected a duration such as 250ns, 10us, 10ms, 2s or 2min",
  },
  {
    name: "a misspelt step kind",
    text: "steps:\n  - acess: { by: cpu-ns }\n",
    message:
      's.yaml:2:5: steps[0].acess: unknown key "acess"; expected one of the keys sleep, access, ffa, proc, device, repeat',
  },
  {
    name: "an empty step",
    text: "steps:\n  - {}\n",
    message: "s.yaml:2:5: steps[0]: empty; expected one of the keys sleep, access, ffa, proc, device, repeat",
  },
  {
    name: "a step that is not a mapping",
    text: "steps:\n  - 42\n",
    message:
      "s.yaml:2:5: steps[0]: expected a mapping (sleep, access, ffa, proc, device, repeat), got number 42",
  },
  {
    name: "a bus master the platform does not have",
    text: "steps:\n  - access: { by: cpu-nss, address: 0x40000000, op: read }\n",
    message:
      's.yaml:2:19: steps[0].access.by: no bus master "cpu-nss" on qemu-virt; expected one of cpu-ns, cpu-s, video-decoder, display, gpu',
  },
  {
    name: "an unknown key inside a step",
    text: "steps:\n  - access: { by: cpu-ns, address: 0x40000000, op: read, colour: red }\n",
    message:
      's.yaml:2:58: steps[0].access.colour: unknown key "colour"; expected one of: by, address, length, op, expect, via',
  },
  {
    name: "a missing required key",
    text: "steps:\n  - access: { address: 0x40000000, op: read }\n",
    message: 's.yaml:2:13: steps[0].access: missing key "by" (expected a string)',
  },
  {
    name: "a negative seed",
    text: "seed: -3\n",
    message: "s.yaml:1:7: seed: expected a number ≥ 0, got number -3",
  },
  {
    name: "broken YAML",
    text: "steps: [\n",
    message:
      "s.yaml:2:1: not valid YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]",
  },
  {
    // The key schema's own message (helper-44: zod's "Invalid key in record" stood in for it).
    name: "a task name with a space",
    text: 'tasks:\n  "a b":\n    - sleep: 1ms\n',
    message: "s.yaml:2:3: tasks.a b: expected a task name (letters, digits, _ . -)",
  },
  {
    // It said `unknown key "proc"; expected one of: sleep`, though proc is a step's kind.
    name: "a step of two kinds",
    text: "steps:\n  - sleep: 1ms\n    proc: x\n",
    message:
      's.yaml:3:5: steps[0].proc: "sleep" and "proc" in one item: it takes one of the keys sleep, access, ffa, proc, device, repeat (make them two items)',
  },
  {
    // helper-46: policy: takes preset and pool together, so this is no "two kinds in one item".
    name: "a policy's preset and pool together, the preset unknown",
    text: "policy: { preset: nope, pool: dynamic }\n",
    message:
      's.yaml:1:19: policy.preset: expected one of upstream, safe, carveout, lend-pool, tegra-vpr, got "nope"',
  },
  {
    name: "an empty list where one item is needed",
    text: "tasks:\n  a:\n    - repeat: 2\n      steps: []\n",
    message: "s.yaml:4:14: tasks.a[0].steps: expected a list of length ≥ 1, got an empty list",
  },
  {
    name: "a fraction where a whole number is needed",
    text: "tasks:\n  a:\n    - repeat: 2.5\n      steps: [{ sleep: 1ms }]\n",
    message: "s.yaml:3:15: tasks.a[0].repeat: expected a whole number, got number 2.5",
  },
  {
    // It said "got number 9007199254740992", a number the user never wrote (helper-44).
    name: "a seed past 2^53, as written",
    text: "seed: 9007199254740993\nsteps: [{ sleep: 1ms }]\n",
    message:
      "s.yaml:1:7: seed: expected a number ≤ 9007199254740991, got 9007199254740993 (a number past 2^53: read as 9007199254740992)",
  },
  {
    // Keys 1 and "1": the value read is the last one's, and so is the text named (helper-48).
    name: "a number past 2^53 under a key given twice",
    text:
      "tasks: {1: [{repeat: 9007199254740995, steps: [{sleep: 1ms}]}], " +
      '"1": [{repeat: 9007199254740993, steps: [{sleep: 1ms}]}]}\n',
    message:
      "s.yaml:1:80: tasks.1[0].repeat: expected a number ≤ 9007199254740991, got 9007199254740993 (a number past 2^53: read as 9007199254740992)",
  },
  {
    // A "billion laughs" file: it said "internal error" with no position (helper-44).
    name: "aliases that expand without end",
    text:
      "name: bomb\n" +
      'a: &a ["x","x","x","x","x","x","x","x","x"]\n' +
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n" +
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
    message: "s.yaml:3:8: not a scenario: Excessive alias count indicates a resource exhaustion attack",
  },
  {
    name: "a duplicate key",
    text: "seed: 1\nseed: 2\n",
    message: "s.yaml:2:1: not valid YAML or JSON: Map keys must be unique",
  },
  {
    name: "a bad address in JSON",
    file: "s.json",
    text: '{"steps": [{"access": {"by": "cpu-ns", "address": "0xZZ", "op": "read"}}]}\n',
    message: "s.json:1:51: steps[0].access.address: expected an address such as 0x8c000000 or 2348810240",
  },
  {
    name: "a bad size",
    text: "steps:\n  - access: { by: cpu-ns, address: 0x40000000, length: 4GB, op: read }\n",
    message: "s.yaml:2:56: steps[0].access.length: expected a size such as 4096, 0x1000, 512KiB or 4GiB",
  },
  {
    name: "an unknown invariant id in expect",
    text: "expect:\n  findings: { bogus-id: 1 }\n",
    message:
      's.yaml:2:15: expect.findings.bogus-id: unknown key "bogus-id"; expected one of: conservation, protected-when-lent, ns-no-access, kernel-no-touch, no-speculation-hazard, no-dirty-lend, no-stale-tlb, break-before-make, scrub-before-return, pool-consistency, ffa-consistency, quiesce-clean, kernel-warn, hung-task',
  },
  {
    name: "a finding count that is not a count",
    text: 'expect:\n  findings: { ns-no-access: "about 3" }\n',
    message: 's.yaml:2:29: expect.findings.ns-no-access: expected a count: N, ">N" or "<N"',
  },
  {
    name: "a CMA area outside DRAM",
    text: "platform: { preset: qemu-virt, cma: [{name: x, base: 0x10000000, size: 64MiB}] }\n",
    message: "s.yaml:1:38: platform.cma[0]: CMA area x is not inside DRAM (0x40000000..0x140000000)",
  },
  {
    name: "a DRAM too small for the preset's carveouts",
    text: "platform: { preset: tzc400-board, dram_size: 512MiB }\n",
    message: "s.yaml:1:46: platform.dram_size: too small: the optee_core carveout ends at 0x80000000",
  },
  {
    name: "a document that is a list",
    text: "- 1\n- 2\n",
    message: "s.yaml:1:1: expected a mapping with keys such as name, platform, steps",
  },
];

describe("scenario errors name file, line, column and what was expected", () => {
  it.each(CASES)("$name", ({ file, text, message }) => {
    let err: unknown;
    try {
      loadScenarioText(text, file ?? "s.yaml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ScenarioError);
    expect((err as ScenarioError).message).toBe(message);
  });

  it("accepts sizes, durations and addresses in every documented form", () => {
    const sc = loadScenarioText(
      [
        "until: 2min",
        "steps:",
        "  - sleep: 10ms",
        "  - sleep: 1500",
        "  - access: { by: cpu-ns, address: 0x40000000, length: 4KiB, op: read }",
        "  - access: { by: cpu-ns, address: '1073741824', length: 12441600, op: write }",
        "  - access: { by: cpu-ns, address: 1073741824, length: 0x1000, op: read }",
      ].join("\n"),
      "ok.yaml",
    );
    expect(sc.untilNs).toBe(120e9);
    const specs = sc.steps.map((s) => s.spec);
    expect(specs[0]).toEqual({ sleep: 10e6 });
    expect(specs[1]).toEqual({ sleep: 1500 });
    expect(specs[2]).toMatchObject({ access: { address: 0x40000000, length: 4096 } });
    expect(specs[3]).toMatchObject({ access: { address: 0x40000000, length: 12441600 } });
    expect(specs[4]).toMatchObject({ access: { length: 4096 } });
    expect(sc.steps.map((s) => s.line)).toEqual([3, 4, 5, 6, 7]);
  });

  it("takes a background rate as the issue writes it (200MiB/s) or as a bare size", () => {
    const rate = (r: string) => {
      const sc = loadScenarioText(`workloads:\n  - background: { movable: { rate: ${r} } }\n`, "r.yaml");
      return (sc.workloads[0].spec as { movable: { rate: number } }).movable.rate;
    };
    expect(rate("200MiB/s")).toBe(200 * 2 ** 20);
    expect(rate("64MiB")).toBe(64 * 2 ** 20);
    expect(() => rate("64MiB/min")).toThrow(/r.yaml:2:36: .*expected a rate such as 64MiB\/s/);
  });

  it("applies platform overrides to the preset", () => {
    const sc = loadScenarioText(
      "platform: { preset: tzc400-board, ffa_version: '1.1', firewall_action: none, spec_fills_per_ms: 0, costs: { smc_round_trip_ns: 700 } }\n",
      "o.yaml",
    );
    expect(sc.platform.ffaVersion).toBe("1.1");
    expect(sc.platform.firewall).toEqual({ kind: "tzc400", regions: 8, action: "none" });
    expect(sc.platform.caches.specFillsPerMs).toBe(0);
    expect(sc.platform.costs.smcRoundTripNs).toBe(700);
  });
});

describe("policy", () => {
  const UPSTREAM = {
    name: "upstream",
    pool: "dynamic",
    unmap: "none",
    cache: "none",
    scrub: "none",
    optee_retrieve: "upstream",
    chunk: 0,
    max: 512 * 1024 * 1024,
    idle_release: 5_000_000_000,
  };

  it("defaults to upstream: dynamic pool, no unmap, no cache maintenance, no scrub", () => {
    const sc = loadScenarioText("name: x\n", "p.yaml");
    expect(sc.policy).toEqual(UPSTREAM);
  });

  const tzc = PRESETS["tzc400-board"];

  it("takes a preset with overrides, or the fields themselves", () => {
    expect(resolvePolicy({ preset: "upstream", unmap: "pte" }, tzc)).toEqual({
      ...UPSTREAM,
      name: "upstream+custom",
      unmap: "pte",
    });
    expect(resolvePolicy({ cache: "clean-invalidate" }, tzc).cache).toBe("clean-invalidate");
    expect(loadScenarioText("policy: upstream\n", "p.yaml").policy.name).toBe("upstream");
    expect(
      loadScenarioText("policy: { preset: upstream, scrub: secure-on-release }\n", "p.yaml").policy,
    ).toEqual({
      ...UPSTREAM,
      name: "upstream+custom",
      scrub: "secure-on-release",
    });
    expect(resolvePolicy({ preset: "upstream", unmap: "none" }, tzc).name).toBe("upstream");
  });

  it("resolves safe's unmap per platform and takes growable's sizes", () => {
    expect(resolvePolicy("safe", tzc)).toMatchObject({
      name: "safe",
      pool: "growable",
      unmap: "pte",
      cache: "clean-invalidate",
    });
    expect(resolvePolicy({ preset: "safe", chunk: 64 * 1024 * 1024, idle_release: 2e9 }, tzc)).toMatchObject({
      name: "safe+custom",
      chunk: 64 * 1024 * 1024,
      idle_release: 2_000_000_000,
    });
  });

  it("a policy the SMC-ABI driver cannot carry out is refused at load time, at its position", () => {
    const smc = "platform: { preset: tzc400-board, optee_abi: smc }\n";
    expect(() => loadScenarioText(smc + "policy: { scrub: ffa-clear }\n", "p.yaml")).toThrow(
      "p.yaml:2:18: policy.scrub: ffa-clear needs FF-A; with optee_abi: smc there is no FFA_MEM_RECLAIM to carry the clear flag",
    );
    expect(() => loadScenarioText(smc + "policy: safe\n", "p.yaml")).toThrow(
      "p.yaml:2:9: policy: pool: growable needs the FF-A driver; with optee_abi: smc only upstream's pool: dynamic runs (smc_abi.c builds its own pool)",
    );
  });

  it("a carveout that cannot fit is refused at load time", () => {
    // The carveout must fit at the top of DRAM, clear of the CMA area.
    expect(() =>
      loadScenarioText(
        "platform: { preset: tzc400-board, cma: [{ name: reserved, base: 0x130000000, size: 256MiB }] }\npolicy: carveout\n",
        "p.yaml",
      ),
    ).toThrow(
      "p.yaml:2:9: policy: the 320 MiB protected carveout at the top of DRAM (0x12c000000) would overlap reserved",
    );
  });

  it("an unmap strategy the platform cannot support is refused at load time, naming what is missing", () => {
    expect(() =>
      loadScenarioText("platform: tzc400-board\npolicy: { unmap: hypervisor }\n", "p.yaml"),
    ).toThrow(
      "p.yaml:2:18: policy.unmap: `hypervisor` needs an EL2 hypervisor owning the host's stage 2 (platform hypervisor: pkvm) on tzc400-board",
    );
    expect(() =>
      loadScenarioText(
        "platform: { preset: tzc400-board, rodata_full: false }\npolicy: { unmap: pte }\n",
        "p.yaml",
      ),
    ).toThrow(/p\.yaml:2:18: policy\.unmap: `pte` needs rodata_full on tzc400-board/);
    const ok = loadScenarioText(
      "platform: { preset: tzc400-board, hypervisor: pkvm }\npolicy: safe\n",
      "p.yaml",
    );
    expect(ok.policy.unmap).toBe("hypervisor");
  });

  it("an unknown policy value is an error at its position", () => {
    expect(() => loadScenarioText("policy: { unmap: sometimes }\n", "p.yaml")).toThrow(
      'p.yaml:1:18: policy.unmap: expected one of none, pte, lend-pool, device-remap, linear-remove, boot-pte-region, hypervisor, got "sometimes"',
    );
  });
});

describe("platform protmem sizes", () => {
  it("override OP-TEE's per-use-case sizes", () => {
    const sc = loadScenarioText(
      "platform: { preset: tzc400-board, protmem: { secure-video: 64MiB } }\n",
      "m.yaml",
    );
    expect(sc.platform.protmemSizes).toEqual({ 1: 64 * 1024 * 1024 });
  });

  it("must be whole pages", () => {
    expect(() =>
      loadScenarioText("platform: { preset: tzc400-board, protmem: { trusted-ui: 1000 } }\n", "m.yaml"),
    ).toThrow("m.yaml:1:58: platform.protmem.trusted-ui: expected a non-zero multiple of 4 KiB");
  });
});
