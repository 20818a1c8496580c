/**
 * The `proc:` scenario step: its run() on a System with a booted kernel, the loader's errors for bad
 * proc steps (file:line:column), and the test/scenarios/proc-*.yaml files end to end.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PRESETS } from "../../src/scenario/presets.ts";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { procStep, type ProcSpec } from "../../src/scenario/steps/proc.ts";
import type { StepContext, StepOutcomeCore } from "../../src/scenario/steps/types.ts";
import type { System } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { smallPlatform } from "../kernel/mm-fixture.ts";
import { extraMapsTotal, run, stepContext, systemWithKernel } from "./fixture.ts";
import { runWithKernel } from "./scenario-helper.ts";
import { runScenario } from "../../src/scenario/runner.ts";

function setup(): { sim: Sim; ctx: StepContext; system: ReturnType<typeof systemWithKernel> } {
  const sim = new Sim(1);
  const system = systemWithKernel(sim, smallPlatform());
  return { sim, ctx: stepContext(system), system };
}

/** Parses a step as the loader would (schema only) and runs it. */
function step(sim: Sim, ctx: StepContext, input: Record<string, unknown>): StepOutcomeCore {
  const spec = procStep.schema.parse(input) as ProcSpec;
  return run(sim, () => procStep.run(ctx, spec));
}

describe("proc step: run()", () => {
  it("opens, allocates, maps, closes and exits, saving fds and addresses as $NAME values", () => {
    const { sim, ctx, system } = setup();
    expect(step(sim, ctx, { proc: "player", open: "/dev/dma_heap/system", save: "heap" })).toEqual({
      got: "ok",
      expected: null,
      ok: true,
      detail: "fd 3",
    });
    expect(ctx.vars.get("heap")).toBe(3n);
    const alloc = step(sim, ctx, {
      proc: "player",
      ioctl: {
        fd: "$heap",
        request: "DMA_HEAP_IOCTL_ALLOC",
        arg: { len: "4MiB", fd_flags: ["O_RDWR", "O_CLOEXEC"], heap_flags: 0 },
      },
      save: "frame0",
      expect: "ok",
    });
    expect(alloc).toEqual({ got: "ok", expected: "ok", ok: true, detail: "returned 0; fd=4" });
    expect(ctx.vars.get("frame0")).toBe(4n);
    const m = step(sim, ctx, { proc: "player", mmap: { fd: "$frame0", length: 4096 }, save: "m" });
    expect(m.ok).toBe(true);
    expect(extraMapsTotal(system.machine)).toBe(1);
    expect(step(sim, ctx, { proc: "player", close: "$frame0", expect: "ok" }).ok).toBe(true);
    expect(system.kernel.dmaBufs.live.size).toBe(1); // the mapping holds it
    expect(step(sim, ctx, { proc: "player", exit: true }).ok).toBe(true);
    expect(system.kernel.dmaBufs.live.size).toBe(0);
    expect(extraMapsTotal(system.machine)).toBe(0);
    expect(system.kernel.mm.conservation().ok).toBe(true);
  });

  it("an errno as expected passes; an unexpected one fails and says which rule fired", () => {
    const { sim, ctx } = setup();
    step(sim, ctx, { proc: "p", open: "/dev/dma_heap/system", save: "heap" });
    const arg = { len: 4096, heap_flags: 0x111111 };
    const ioctl = { fd: "$heap", request: "DMA_HEAP_IOCTL_ALLOC", arg };
    expect(step(sim, ctx, { proc: "p", ioctl, expect: "EINVAL" }).ok).toBe(true);
    expect(step(sim, ctx, { proc: "p", ioctl, expect: "ok" })).toEqual({
      got: "EINVAL",
      expected: "ok",
      ok: false,
      detail: "heap_flags 0x111111 outside DMA_HEAP_VALID_HEAP_FLAGS (none) [dma-heap-heap-flags]",
    });
  });

  it("one step run again reads its $NAME fields anew and gets a fresh argument each time", () => {
    // The step's spec is compiled once (proc.ts): what a run resolves must not be kept with it.
    const { sim, ctx, system } = setup();
    step(sim, ctx, { proc: "p", open: "/dev/dma_heap/system", save: "heap" });
    const spec = procStep.schema.parse({
      proc: "p",
      ioctl: { fd: "$heap", request: "DMA_HEAP_IOCTL_ALLOC", arg: { len: "$size" } },
      save: "buf",
      expect: ["ok", "EINVAL"],
    }) as ProcSpec;
    const again = () => run(sim, () => procStep.run(ctx, spec));
    ctx.vars.set("size", 8192n);
    expect(again()).toEqual({ got: "ok", expected: "ok|EINVAL", ok: true, detail: "returned 0; fd=4" });
    ctx.vars.set("size", 4096n);
    expect(again()).toEqual({ got: "ok", expected: "ok|EINVAL", ok: true, detail: "returned 0; fd=5" });
    // All constants: the same bytes each time, in a buffer of the call's own (dma_heap_ioctl_allocate()
    // refuses a struct whose fd the last call filled in).
    const fixed = procStep.schema.parse({
      proc: "p",
      ioctl: { fd: "$heap", request: "DMA_HEAP_IOCTL_ALLOC", arg: { len: 4096 } },
      expect: "ok",
    }) as ProcSpec;
    for (const fd of [6, 7])
      expect(run(sim, () => procStep.run(ctx, fixed))).toMatchObject({
        ok: true,
        detail: `returned 0; fd=${fd}`,
      });
    const sizes = [...system.kernel.dmaBufs.live].map((b) => b.size).sort((a, b) => a - b);
    expect(sizes).toEqual([4096, 4096, 4096, 8192]);
    ctx.vars.delete("size");
    expect(again()).toEqual({
      got: "error",
      expected: "ok|EINVAL",
      ok: false,
      detail: '$size is not set: no earlier step saved a value under "size"',
    });
  });

  it("a raw request number with raw bytes: the older 16-byte struct allocates", () => {
    const { sim, ctx, system } = setup();
    step(sim, ctx, { proc: "p", open: "/dev/dma_heap/system", save: "heap" });
    const o = step(sim, ctx, {
      proc: "p",
      ioctl: { fd: "$heap", request: 0xc0104800, arg_hex: "0010000000000000 00000000 02000800" },
      save: "old",
      expect: "ok",
    });
    expect(o.ok).toBe(true);
    expect(ctx.vars.get("old")).toBe(4n); // the fd field of the known layout, read from the 16 bytes
    expect(system.kernel.dmaBufs.live.size).toBe(1);
  });

  it("an unset $NAME fails the step and names the variable; nothing is called", () => {
    const { sim, ctx, system } = setup();
    const o = step(sim, ctx, { proc: "p", close: "$frame9", expect: "ok" });
    expect(o).toEqual({
      got: "error",
      expected: "ok",
      ok: false,
      detail: '$frame9 is not set: no earlier step saved a value under "frame9"',
    });
    expect(system.sim.now).toBe(0);
  });

  it('a step without expect that cannot do its work fails saying so, not "expected null"', () => {
    const sc = loadScenarioText(
      "name: undef\nplatform: qemu-virt\nsteps:\n  - proc: a\n    close: $nope\n",
      "u.yaml",
    );
    const r = runScenario(sc);
    expect(r.passed).toBe(false);
    expect(r.failure).toBe(
      'step 0 (u.yaml:4, proc) failed: error ($nope is not set: no earlier step saved a value under "nope")',
    );
  });

  it("save: needs the call to succeed unless a failure was expected", () => {
    const { sim, ctx } = setup();
    const o = step(sim, ctx, { proc: "p", open: "/dev/dma_heap/nope", save: "h" });
    expect(o.ok).toBe(false);
    expect(o.detail).toBe(
      'cannot save "h": the call failed with ENOENT (no device node /dev/dma_heap/nope [vfs-no-such-node])',
    );
    expect(ctx.vars.has("h")).toBe(false);
    expect(step(sim, ctx, { proc: "p", open: "/dev/dma_heap/nope", save: "h", expect: "ENOENT" }).ok).toBe(
      true,
    );
  });

  it("a process name used after its exit names a new process", () => {
    const { sim, ctx, system } = setup();
    step(sim, ctx, { proc: "p", exit: true });
    step(sim, ctx, { proc: "p", open: "/dev/null", save: "n" });
    const all = userSpaceOf(system.kernel).all;
    expect(all.map((p) => [p.name, p.exited])).toEqual([
      ["p", true],
      ["p", false],
    ]);
    expect(all[1].pid).toBe(all[0].pid + 1);
  });

  it("without a kernel in the System it throws a clear error", () => {
    const sim = new Sim(1);
    const ctx: StepContext = { system: { sim } as unknown as System, vars: new Map(), file: "x" };
    const spec = procStep.schema.parse({ proc: "p", exit: true }) as ProcSpec;
    expect(() => run(sim, () => procStep.run(ctx, spec))).toThrow(/proc steps need a booted kernel/);
  });
});

/** Each bad proc step and the exact message, with file, line and column, the loader gives. */
const BAD: { name: string; text: string; message: string }[] = [
  {
    name: "an unknown request name",
    text: "steps:\n  - proc: player\n    ioctl: { fd: 3, request: DMA_HEAP_IOCTL_ALOC, arg: { len: 4096 } }\n",
    message:
      's.yaml:3:30: steps[0].ioctl.request: expected one of DMA_HEAP_IOCTL_ALLOC, DMA_BUF_IOCTL_SYNC, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, TEE_IOC_VERSION, TEE_IOC_SHM_ALLOC, TEE_IOC_SHM_REGISTER_FD, TEE_IOC_SHM_REGISTER, FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC, got "DMA_HEAP_IOCTL_ALOC"',
  },
  {
    name: "an unknown errno in expect",
    text: "steps:\n  - proc: player\n    close: 3\n    expect: EFOO\n",
    message:
      's.yaml:4:13: steps[0].expect: expected one of ok, EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, EBADF, EAGAIN, ENOMEM, EACCES, EFAULT, EBUSY, EEXIST, ENODEV, EINVAL, ENFILE, EMFILE, ENOTTY, ENOSPC, ERANGE, ENOSYS, ENODATA, EOVERFLOW, EOPNOTSUPP, ETIMEDOUT, ECANCELED, killed, got "EFOO"',
  },
  {
    name: "two actions in one step",
    text: "steps:\n  - proc: player\n    open: /dev/dma_heap/system\n    close: 3\n",
    message:
      "s.yaml:4:5: steps[0].close: one action per step, but this step has open and close; expected exactly one of open, ioctl, mmap, munmap, close, dup, exit, delete_module",
  },
  {
    name: "no action",
    text: "steps:\n  - proc: player\n    save: x\n",
    message:
      "s.yaml:2:5: steps[0].proc: no action; a proc step needs exactly one of open, ioctl, mmap, munmap, close, dup, exit, delete_module",
  },
  {
    name: "an unknown field of the argument struct",
    text: "steps:\n  - proc: player\n    ioctl: { fd: $heap, request: DMA_HEAP_IOCTL_ALLOC, arg: { lenn: 4096 } }\n",
    message:
      's.yaml:3:63: steps[0].ioctl.arg.lenn: unknown field "lenn" of struct dma_heap_allocation_data; expected one of: len, fd, fd_flags, heap_flags',
  },
  {
    name: "a misspelt flag name",
    text: "steps:\n  - proc: p\n    ioctl: { fd: 3, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1, fd_flags: [O_RDWR, O_CLOEXECC] } }\n",
    message:
      's.yaml:3:77: steps[0].ioctl.arg.fd_flags: unknown flag "O_CLOEXECC"; expected a number or names from O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND, O_NONBLOCK, O_NDELAY, O_DSYNC, FASYNC, O_DIRECTORY, O_NOFOLLOW, O_DIRECT, O_LARGEFILE, O_NOATIME, O_CLOEXEC, O_SYNC, O_PATH',
  },
  {
    name: "both arg and arg_hex",
    text: "steps:\n  - proc: p\n    ioctl: { fd: 3, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 1 }, arg_hex: '00' }\n",
    message:
      "s.yaml:3:69: steps[0].ioctl.arg_hex: give the argument either as arg (fields) or as arg_hex (bytes), not both",
  },
  {
    name: "named fields for a request whose struct is unknown",
    text: "steps:\n  - proc: p\n    ioctl: { fd: 3, request: 0x12345678, arg: { len: 4096 } }\n",
    message:
      "s.yaml:3:42: steps[0].ioctl.arg: no struct layout is known for request 0x12345678; give arg_hex instead",
  },
  {
    name: "a missing required field",
    text: "steps:\n  - proc: p\n    ioctl: { fd: 3, request: DMA_HEAP_IOCTL_ALLOC }\n",
    message: 's.yaml:3:12: steps[0].ioctl: missing field "len" of struct dma_heap_allocation_data',
  },
  {
    name: "a saved name without its $",
    text: "steps:\n  - proc: p\n    close: heap\n",
    message:
      's.yaml:3:12: steps[0].close: expected an integer such as 3 or 0x10, or $NAME, got "heap" (a saved value is read as $heap)',
  },
  {
    name: "a size in an unknown unit",
    text: "steps:\n  - proc: p\n    mmap: { fd: 4, length: 4 parsecs }\n",
    message:
      's.yaml:3:28: steps[0].mmap.length: expected a size such as 4096, 0x1000, 512KiB or 4GiB, or $NAME, got "4 parsecs"',
  },
  {
    name: "save on close",
    text: "steps:\n  - proc: p\n    close: 4\n    save: y\n",
    message: "s.yaml:4:5: steps[0].save: close returns no value to save",
  },
  {
    name: "an unknown key",
    text: "steps:\n  - proc: p\n    open: /dev/null\n    colour: red\n",
    message:
      's.yaml:4:5: steps[0].colour: unknown key "colour"; expected one of: proc, open, ioctl, mmap, munmap, close, dup, exit, delete_module, save, expect',
  },
  {
    name: "odd hex",
    text: "steps:\n  - proc: p\n    ioctl: { fd: 3, request: DMA_HEAP_IOCTL_ALLOC, arg_hex: '0g' }\n",
    message: "s.yaml:3:61: steps[0].ioctl.arg_hex: expected hex bytes, an even number of digits 0-9 a-f",
  },
];

describe("proc step: load-time errors", () => {
  for (const c of BAD) {
    it(`${c.name} is rejected with its position`, () => {
      let message = "(no error)";
      try {
        loadScenarioText(c.text, "s.yaml");
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(c.message);
    });
  }
});

describe("proc scenarios (test/scenarios/proc-*.yaml) on a System with a kernel", () => {
  const dir = join(import.meta.dirname, "..", "scenarios");
  const files = readdirSync(dir).filter((f) => /^proc-.*\.ya?ml$/.test(f));

  it("exist", () => {
    expect(files.sort()).toEqual(["proc-mmap.yaml", "proc-selftest-errors.yaml", "proc-system-heap.yaml"]);
  });

  for (const f of files) {
    it(`${f} passes and leaves every page back where it was at boot`, () => {
      const sc = loadScenarioText(readFileSync(join(dir, f), "utf8"), f);
      expect(sc.platform).toBe(PRESETS["qemu-virt"]);
      const r = runWithKernel(sc);
      expect(r.failure).toBeNull();
      expect(r.steps.length).toBe(sc.steps.length);
      const k = r.system.kernel;
      expect(k.dmaBufs.live.size).toBe(0);
      expect(extraMapsTotal(r.system.machine)).toBe(0);
      expect(k.mm.conservation().ok).toBe(true);
      expect(k.vfs.files.nrFiles).toBe(0);
    });
  }

  for (const f of files) {
    it(`${f} passes through the scenario runner, with the whole stack booted`, () => {
      const r = runScenario(loadScenarioText(readFileSync(join(dir, f), "utf8"), f));
      expect(r.failure).toBeNull();
      expect(r.passed).toBe(true);
      expect(r.findings["quiesce-clean"]).toBe(0);
      expect(r.findings["conservation"]).toBe(0);
    });
  }

  it("runs are deterministic: same outcomes, same virtual time", () => {
    const sc = loadScenarioText(readFileSync(join(dir, "proc-system-heap.yaml"), "utf8"), "x.yaml");
    const a = runWithKernel(sc);
    const b = runWithKernel(sc);
    expect(a.steps).toEqual(b.steps);
    expect(a.simTimeNs).toBe(b.simTimeNs);
    expect(a.simTimeNs).toBeGreaterThan(0);
  });
});
