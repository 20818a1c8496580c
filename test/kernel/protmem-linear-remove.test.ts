/**
 * `unmap: linear-remove` (memtrace's arch_remove_linear_mapping()) needs whole 128 MiB sections: the
 * growable and per-buffer pools take section-sized, section-aligned chunks for it; upstream's dynamic
 * pool (min_size, 1 MiB aligned) cannot, and is refused at load time.
 */
import { describe, expect, it } from "vitest";
import { loadScenarioText } from "../../src/scenario/loader.ts";
import { runScenario } from "../../src/scenario/runner.ts";

const SECTION = 128 * 1024 * 1024;

function session(policy: string): string {
  return `platform: tzc400-board
policy: ${policy}
steps:
  - proc: p
    open: /dev/dma_heap/protected,secure-video
    save: h
  - proc: p
    ioctl: { fd: $h, request: DMA_HEAP_IOCTL_ALLOC, arg: { len: 12441600, fd_flags: [O_RDWR, O_CLOEXEC], heap_flags: 0 } }
    save: f
    expect: ok
  - device: { by: video-decoder, buffer: { proc: p, fd: $f }, op: write, expect: ok }
  - access: { by: cpu-ns, address: 0xc0000000, via: direct-map, op: read, expect: fault }
  - proc: p
    exit: true
  - sleep: 6s
`;
}

describe("unmap: linear-remove", () => {
  for (const pool of ["growable", "per-buffer"]) {
    it(`${pool}: chunks are whole sections, out of the linear map while lent, back after, nothing found`, () => {
      const r = runScenario(
        loadScenarioText(session(`{ preset: safe, pool: ${pool}, unmap: linear-remove }`), "s.yaml"),
      );
      expect(r.failure).toBeNull();
      expect(r.protmem!.peakLentBytes % SECTION).toBe(0);
      expect(r.protmem).toMatchObject({ lends: 1, reclaims: 1, lentBytes: 0 });
      expect(Object.entries(r.findings).filter(([, n]) => n > 0)).toEqual([]);
    });
  }

  it("upstream's dynamic pool cannot give it sections: refused at load time", () => {
    expect(() =>
      loadScenarioText("platform: tzc400-board\npolicy: { unmap: linear-remove }\n", "p.yaml"),
    ).toThrow(
      "p.yaml:2:18: policy.unmap: `linear-remove` removes whole 128 MiB sections: it needs a pool that takes section-aligned chunks (growable or per-buffer), not dynamic",
    );
  });
});
