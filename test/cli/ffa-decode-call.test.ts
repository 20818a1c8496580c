import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeMemRegion, type MemRegionInput } from "../../src/abi/ffa/index.ts";
import { rstmem } from "../helpers/rstmem.ts";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** Linux's ffa_memory_lend(): VM 1 lends 16 pages RW to SP 0x8001, attributes left to the SPMC. */
const lend: MemRegionInput = {
  sender_id: 0x0001,
  attributes: 0,
  flags: 0,
  emads: [{ receiver_id: 0x8001, permissions: 0x2 }],
  constituents: [{ address: 0x8800_0000n, page_count: 16 }],
};

/** tf-a-tests ffa_hypervisor_retrieve_request_init(): 48 bytes, all zero but the handle. */
function hypervisorRequest(handle: bigint): string {
  const b = new Uint8Array(48);
  new DataView(b.buffer).setBigUint64(8, handle, true);
  return hex(b);
}

describe("rstmem ffa decode --call", () => {
  it("a valid LEND: exit 0, the decode as before, and both SPMCs' verdicts", async () => {
    const r = await rstmem("ffa", "decode", hex(encodeMemRegion(lend, "1.2")), "--call", "MEM_LEND");
    expect(r.code).toBe(0);
    expect(r.err).toBe("");
    const j = JSON.parse(r.out);
    expect(j.decoded).toBe(true);
    expect(j.emads[0].receiver_id).toBe("0x8001");
    expect(j.call).toMatchObject({
      name: "FFA_MEM_LEND_32",
      id: "0x84000072",
      decided_by: "hafnium",
      hafnium: { valid: true, problems: [] },
      tf_a: { valid: true, problems: [] },
    });
    expect(j.call.hafnium.not_checked.length).toBeGreaterThan(0);
    expect(j.problems).toEqual([]);
  });

  it("a LEND that gives the memory type attributes: the rule fires, exit 1", async () => {
    const bytes = encodeMemRegion({ ...lend, attributes: 0x2f }, "1.2");
    const r = await rstmem("ffa", "decode", hex(bytes), "--call", "FFA_MEM_LEND_64");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.call.name).toBe("FFA_MEM_LEND_64");
    expect(j.problems).toEqual([
      {
        field: "attributes",
        offset: 2,
        rule: "memory-type-given",
        why: "attributes 0x2f: the sender of a lend to a single borrower must not give the memory type",
        error: "FFA_INVALID_PARAMETERS",
        source: "ffa_memory_send_validate()",
      },
    ]);
    expect(j.call.tf_a.valid).toBe(true); // TF-A does not look at the memory type
  });

  it("a SHARE without the attributes is DENIED at Hafnium, exit 1", async () => {
    const r = await rstmem("ffa", "decode", hex(encodeMemRegion(lend, "1.2")), "--call", "mem_share");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.problems.map((p: { rule: string; error: string }) => [p.rule, p.error])).toEqual([
      ["attributes", "FFA_DENIED"],
    ]);
  });

  it("the hypervisor's retrieve request with no EMADs is valid, exit 0", async () => {
    const r = await rstmem("ffa", "decode", hypervisorRequest(0xffff_ffc0n), "--call", "MEM_RETRIEVE_REQ");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.header.emad_count).toBe(0);
    expect(j.problems).toEqual([]);
    expect(j.call.hafnium.notes[0]).toMatch(/^EMAD count 0: a hypervisor retrieve request/);
    // Without --call the codec's own checks still want a v1.2 EMAD size: today's behaviour.
    const plain = await rstmem("ffa", "decode", hypervisorRequest(0xffff_ffc0n));
    expect(plain.code).toBe(1);
    expect(JSON.parse(plain.out).call).toBeUndefined();
  });

  it("a retrieve with handle 0: TF-A's rule fires (it never hands out 0); Hafnium's index 0 is valid", async () => {
    const req = hypervisorRequest(0n);
    const r = await rstmem("ffa", "decode", req, "--call", "MEM_RETRIEVE_REQ");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.call.hafnium.notes.join(" ")).toMatch(/handle 0 is share-state index 0/);
    expect(j.call.tf_a.problems.map((p: { rule: string }) => p.rule)).toEqual(["handle-never-allocated"]);
    const tfa = await rstmem("ffa", "decode", req, "--call", "MEM_RETRIEVE_REQ", "--spmc", "tf-a");
    expect(tfa.code).toBe(1);
    expect(JSON.parse(tfa.out).problems[0]).toMatchObject({
      rule: "handle-never-allocated",
      field: "handle",
      offset: 8,
      error: "FFA_INVALID_PARAMETERS",
    });
  });

  it("a retrieve with FFA_MEMORY_HANDLE_INVALID fires Hafnium's handle rule, exit 1", async () => {
    const r = await rstmem(
      "ffa",
      "decode",
      hypervisorRequest(0xffff_ffff_ffff_ffffn),
      "--call",
      "MEM_RETRIEVE_REQ",
    );
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).problems[0]).toMatchObject({ rule: "handle-other-world", field: "handle" });
  });

  it("a v1.2 descriptor with 16-byte (v1.1) EMADs is accepted, from @FILE too", async () => {
    const v11Sized = encodeMemRegion(lend, "1.1"); // EMAD size 16, composite at 64
    const dir = mkdtempSync(join(tmpdir(), "rstmem-"));
    const f = join(dir, "lend.bin");
    writeFileSync(f, v11Sized);
    const r = await rstmem("ffa", "decode", `@${f}`, "--version", "1.2", "--call", "MEM_LEND");
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.header.emad_size).toBe(16);
    expect(j.problems).toEqual([]);
    expect(j.call.tf_a.valid).toBe(true);
    // The codec's own check (no --call) wants the v1.2 size, as before.
    const plain = await rstmem("ffa", "decode", `@${f}`, "--version", "1.2");
    expect(plain.code).toBe(1);
    expect(JSON.parse(plain.out).problems[0].rule).toBe("emad-size-for-version");
  });

  it("an unknown --call is a usage error: exit 2, one message, nothing on stdout", async () => {
    const r = await rstmem("ffa", "decode", "00", "--call", "MEM_LEASE");
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toBe(
      "rstmem: unknown --call MEM_LEASE: expected MEM_SHARE, MEM_LEND, MEM_DONATE, MEM_RETRIEVE_REQ, " +
        "MEM_RETRIEVE_RESP (FFA_ prefix and _32/_64 suffix optional)\n",
    );
    const reclaim = await rstmem("ffa", "decode", "00", "--call", "MEM_RECLAIM");
    expect(reclaim.code).toBe(2);
    expect(reclaim.err).toMatch(/^rstmem: unknown --call MEM_RECLAIM: /);
  });

  it("--call with --relinquish, or an unknown --spmc, is a usage error", async () => {
    const r = await rstmem("ffa", "decode", "00", "--relinquish", "--call", "MEM_LEND");
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      "rstmem: --call checks a memory transaction descriptor; it does not apply to --relinquish\n",
    );
    const s = await rstmem("ffa", "decode", "00", "--call", "MEM_LEND", "--spmc", "optee");
    expect(s.code).toBe(2);
    expect(s.err).toMatch(/--spmc/);
  });

  it("a descriptor that does not decode keeps its decode error, exit 1", async () => {
    const r = await rstmem("ffa", "decode", "00ff", "--call", "MEM_SHARE");
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out);
    expect(j.decoded).toBe(false);
    expect(j.call).toEqual({ name: "FFA_MEM_SHARE_32", id: "0x84000073", decided_by: "hafnium" });
    expect(j.problems[0].rule).toBe("header-in-bounds");
  });

  it("a retrieve response as Hafnium writes it, and one with the sender's tag (TF-A's copy)", async () => {
    const resp: MemRegionInput = {
      ...lend,
      attributes: 0x40,
      flags: 0x10,
      handle: 0xffff_ffc0n,
      emads: [{ receiver_id: 0x8001, permissions: 0x6 }],
    };
    const ok = await rstmem(
      "ffa",
      "decode",
      hex(encodeMemRegion(resp, "1.2")),
      "--call",
      "MEM_RETRIEVE_RESP",
    );
    expect(ok.code).toBe(0);
    const tagged = hex(encodeMemRegion({ ...resp, tag: 5n }, "1.2"));
    const hf = await rstmem("ffa", "decode", tagged, "--call", "MEM_RETRIEVE_RESP");
    expect(hf.code).toBe(1);
    expect(JSON.parse(hf.out).problems[0]).toMatchObject({ rule: "resp-tag-zero", error: null });
    const tfa = await rstmem("ffa", "decode", tagged, "--call", "MEM_RETRIEVE_RESP", "--spmc", "tf-a");
    expect(tfa.code).toBe(0);
  });
});
