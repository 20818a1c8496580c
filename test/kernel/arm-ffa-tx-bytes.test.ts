/**
 * ffa_setup_and_transmit() (drivers/firmware/arm_ffa/driver.c, torvalds/linux v6.18) writes the
 * descriptor into the TX buffer field by field; bytes it does not store keep the buffer's old bytes.
 * Below v1.2 the EMAD stride is 16 while `ep_mem_access->reserved = 0` stores 8 bytes at offset 24 of
 * the 32-byte struct: the first EMAD's bytes 8-15 (its `reserved`, MBZ) are never written (reference/
 * ffa.md §6; fixed after 6.18 by "firmware: arm_ffa: Fix out-of-bound writes in
 * ffa_setup_and_transmit()", CVE-2026-68401). A previous raw call leaves 0xA5 bytes in the TX buffer;
 * the first protected allocation's FFA_MEM_LEND then carries them.
 */
import { afterEach, describe, expect, it } from "vitest";
import {
  decodeMemRegion,
  FFA_MEM_LEND_32,
  FFA_MEM_LEND_64,
  FFA_MEM_RW,
  mtdHeaderSize,
  type FfaVersion,
} from "../../src/abi/ffa/index.ts";
import { EINVAL } from "../../src/abi/uapi/errno.ts";
import { O_RDONLY } from "../../src/abi/uapi/fcntl.ts";
import { POLICY_PRESETS } from "../../src/scenario/policies.ts";
import { PRESETS } from "../../src/scenario/presets.ts";
import { buildSystem, type System } from "../../src/scenario/system.ts";
import { Sim } from "../../src/sim/sim.ts";
import { userSpaceOf } from "../../src/user/process.ts";
import { sysOpen } from "../../src/user/syscalls.ts";
import { recordSmcs, w } from "./ffa-fixture.ts";
import { heapAlloc, MiB, run, SECURE_VIDEO } from "./tee-fixture.ts";

const JUNK = 0xa5;

let stop: (() => void) | null = null;
afterEach(() => {
  stop?.();
  stop = null;
});

/**
 * Boots `platform` at FF-A `version`, fills the normal world's TX buffer with JUNK through the raw-call
 * harness (what an `ffa:` step's descriptor leaves there), makes the first protected allocation and
 * returns the allocation's result and the bytes the SPMC found in the TX buffer at FFA_MEM_LEND.
 */
function lendAfterJunk(platform: string, version: FfaVersion): { fd: number; sent: Uint8Array; sys: System } {
  let sys: System | null = null;
  let sent: Uint8Array | null = null;
  const rec = recordSmcs((r) => {
    const f = w(r.regs, 0);
    if (sys && (f === FFA_MEM_LEND_64 || f === FFA_MEM_LEND_32))
      sent = sys.machine.bytes.read(sys.kernel.armFfa!.probe.txPa, w(r.regs, 2)); // w2 = fragment length
  });
  stop = rec.stop;
  const sim = new Sim(1);
  sys = buildSystem(
    sim,
    { ...PRESETS[platform], ffaVersion: version },
    {
      policy: { ...POLICY_PRESETS.upstream, optee_retrieve: "fixed" },
    },
  );
  expect(sys.kernel.armFfa!.version).toBe(version);
  expect(sys.ffa.endpoint("normal")!.writeTx(new Uint8Array(4096).fill(JUNK))).toBe(0);
  const p = userSpaceOf(sys.kernel).spawn("player");
  const fd = run(sim, function* () {
    const heap = yield* sysOpen(p, SECURE_VIDEO, O_RDONLY);
    return yield* heapAlloc(p, heap, MiB);
  });
  if (!sent) throw new Error("no FFA_MEM_LEND was made");
  return { fd, sent, sys };
}

describe("the TX buffer after ffa_setup_and_transmit() (6.18)", () => {
  for (const version of ["1.0", "1.1"] as const) {
    it(`v${version}: bytes 8-15 of the EMAD keep the old TX bytes, every other byte is stored`, () => {
      const { fd, sent } = lendAfterJunk("tzc400-board", version);
      const emad = mtdHeaderSize(version); // 32 at v1.0, 48 (ep_mem_offset) at v1.1
      const stale = [...sent.keys()].filter((i) => sent[i] === JUNK);
      expect(stale).toEqual([8, 9, 10, 11, 12, 13, 14, 15].map((k) => emad + k));
      const d = decodeMemRegion(sent, version);
      if (!d.ok) throw new Error(d.error.rule);
      expect(d.value.emads.map((e) => [e.receiver_id, e.permissions, e.flags])).toEqual([
        [0x8001, FFA_MEM_RW, 0],
      ]);
      expect(d.value.emads[0].reserved).toBe(0xa5a5_a5a5_a5a5_a5a5n);
      expect(d.value.composite?.total_page_count).toBe((320 * MiB) / 4096);
      // OP-TEE as the SPMC (spmc_read_mem_transaction()) does not look at the EMAD's reserved field.
      expect(fd).toBeGreaterThan(0);
    });
  }

  it("v1.2: the 32-byte EMAD is stored whole (impdef_val and reserved zero)", () => {
    const { fd, sent } = lendAfterJunk("tzc400-board", "1.2");
    expect([...sent].filter((b) => b === JUNK)).toEqual([]);
    const d = decodeMemRegion(sent, "1.2");
    if (!d.ok) throw new Error(d.error.rule);
    expect(d.value.emads[0].reserved).toBe(0n);
    expect(fd).toBeGreaterThan(0);
  });

  it("v1.1 on Hafnium: the stale reserved bytes get the lend refused (reserved-mbz → EINVAL) — a 6.18 finding", () => {
    const { fd, sys } = lendAfterJunk("fvp-rme", "1.1");
    expect(fd).toBe(-EINVAL);
    expect(
      [...sys.spmc.rejections.keys()].filter((k) => /^FFA_MEM_LEND_64: .*reserved/.test(k)),
    ).toHaveLength(1);
  });
});
