/**
 * protected-when-lent under `unmap: hypervisor`: a host stage 2 hides lent pages from the CPU only. On
 * a platform without a memory firewall a normal-world device the use case does not allow (the GPU) can
 * still read them, and the invariant says so; behind a TZC-400 region it cannot.
 */
import { describe, expect, it } from "vitest";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const run = (platform: string) =>
  runScenario(
    loadScenarioText(
      `platform: ${platform}
policy: safe
steps:
  - proc: p
    open: /dev/dma_heap/protected,secure-video
    save: h
  - proc: p
    ioctl: { fd: $h, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 4096, fd_flags: [O_RDWR, O_CLOEXEC], heap_flags: 0 } }
    expect: ok
`,
      "s.yaml",
    ),
  );

describe("a hypervisor's stage 2 and the normal world's devices", () => {
  it("without a firewall, a device outside the use case still reaches lent pages: protected-when-lent names it", () => {
    const r = run("{ preset: qemu-virt, hypervisor: pkvm }");
    expect(r.findings["protected-when-lent"]).toBe(1);
    expect(r.findingDetails.find((d) => d.id === "protected-when-lent")?.message).toMatch(
      /host stage 2 hides them from the CPU, but gpu can still read them/,
    );
  });

  it("behind a TZC-400 region only the use case's devices reach them: nothing found", () => {
    const r = run("{ preset: tzc400-board, hypervisor: pkvm }");
    expect(r.findings["protected-when-lent"]).toBe(0);
    expect(r.machine.stage2Hypercalls).toBe(2);
  });
});
