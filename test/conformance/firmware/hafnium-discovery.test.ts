/**
 * Hafnium v2.15.0 answers what Linux 6.18's ffa_init() asks before any memory moves:
 * FFA_PARTITION_INFO_GET_REGS_64 (src/api.c api_ffa_partition_info_get_regs(), the x1..x3 decode in
 * src/arch/aarch64/hypervisor/handler.c), FFA_PARTITION_INFO_GET's 48-byte descriptors
 * (send_versioned_partition_info_descriptors()), FFA_NOTIFICATION_BITMAP_CREATE / _DESTROY from the
 * normal world (api_ffa_notification_bitmap_create() / _destroy(), src/ffa/spmc/notifications.c,
 * src/ffa/spmc/vm.c), and FFA_FEATURES (ffa_features_function() / _feature()).
 */
import { describe, expect, it } from "vitest";
import {
  FFA_DENIED,
  FFA_ERROR_32,
  FFA_FEATURES_32,
  FFA_INVALID_PARAMETERS,
  FFA_NO_MEMORY,
  FFA_NOT_SUPPORTED,
  FFA_NOTIFICATION_BITMAP_CREATE_32,
  FFA_NOTIFICATION_BITMAP_DESTROY_32,
  FFA_NOTIFICATION_INFO_GET_64,
  FFA_PARTITION_INFO_GET_32,
  FFA_PARTITION_INFO_GET_REGS_64,
  FFA_RETRY,
  FFA_RX_ACQUIRE_32,
  FFA_SECONDARY_EP_REGISTER_64,
  FFA_SUCCESS_32,
  FFA_SUCCESS_64,
  FFA_VERSION_1_0,
  FFA_VERSION_1_2,
  FFA_YIELD_32,
} from "../../../src/abi/ffa/index.ts";
import { HafniumSpmc } from "../../../src/firmware/hafnium/hafnium.ts";
import { HF_MAX_VMS } from "../../../src/firmware/hafnium/notifications.ts";
import { OPTEE_UUID_WORDS, SP2_UUID_WORDS } from "../../../src/firmware/spmc/endpoint.ts";
import { smcRegs, type SmcRegs } from "../../../src/hw/smc.ts";
import { boot, call, run, w } from "./testing.ts";

type Sys = ReturnType<typeof boot>;

function hf(sys: Sys): HafniumSpmc {
  expect(sys.spmc).toBeInstanceOf(HafniumSpmc);
  return sys.spmc as HafniumSpmc;
}

const u64 = (lo: number, hi: number) => (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
const NIL = [0, 0, 0, 0] as const;

function regsCall(sys: Sys, who: string, regs: SmcRegs): SmcRegs {
  return run(sys, () => call(sys, who, regs));
}

/** FFA_PARTITION_INFO_GET_REGS_64(uuid, start | tag << 16). */
function regsGet(sys: Sys, who: string, uuid: readonly number[], start: number, tag = 0): SmcRegs {
  return regsCall(
    sys,
    who,
    smcRegs(
      FFA_PARTITION_INFO_GET_REGS_64,
      u64(uuid[0], uuid[1]),
      u64(uuid[2], uuid[3]),
      start | (tag << 16),
    ),
  );
}

const errorOf = (r: SmcRegs) => (w(r, 0) === FFA_ERROR_32 ? w(r, 2) | 0 : 0);

/** The rule Hafnium named for the last call (null for an answer without one). */
const ruleOf = (sys: Sys) => sys.spmc.lastRejection?.rule ?? null;

describe("FFA_PARTITION_INFO_GET_REGS_64 (api_ffa_partition_info_get_regs())", () => {
  it("nil UUID from the normal world: both partitions in one answer, six registers each, size 48", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "normal", NIL, 0);
    expect(w(r, 0)).toBe(FFA_SUCCESS_64);
    expect(r[1]).toBe(0n);
    // last index 1, current index 1, tag 0, descriptor size 48.
    expect(r[2]).toBe((48n << 48n) | (1n << 16n) | 1n);
    // OP-TEE: id | vcpu_count << 16 | properties << 32 — a VM sees the receive bit and AArch64 only.
    expect(r[3]).toBe(0x8001n | (8n << 16n) | (0x101n << 32n));
    expect([r[4], r[5]]).toEqual([
      u64(OPTEE_UUID_WORDS[0], OPTEE_UUID_WORDS[1]),
      u64(OPTEE_UUID_WORDS[2], OPTEE_UUID_WORDS[3]),
    ]);
    expect([r[6], r[7]]).toEqual([0n, 0n]); // no image UUID (no live activation)
    expect(r[8]).toBe(BigInt(FFA_VERSION_1_2)); // partition_ffa_version
    expect(r[9]).toBe(0x8002n | (1n << 16n) | (0x101n << 32n));
    expect([r[10], r[11]]).toEqual([
      u64(SP2_UUID_WORDS[0], SP2_UUID_WORDS[1]),
      u64(SP2_UUID_WORDS[2], SP2_UUID_WORDS[3]),
    ]);
    expect([r[12], r[13], r[14]]).toEqual([0n, 0n, BigInt(FFA_VERSION_1_2)]);
    expect([r[15], r[16], r[17]]).toEqual([0n, 0n, 0n]);
    // No RX buffer involved.
    expect(sys.spmc.endpoint(0)!.rxFull).toBe(false);
    expect(sys.spmc.rejections.size).toBe(0);
  });

  it("a partition asking sees the send bits too (ffa_setup_partition_properties())", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "sp2", NIL, 0);
    expect(r[3] >> 32n).toBe(0x103n);
    expect(r[9] >> 32n).toBe(0x103n);
  });

  it("from start index 1: sp2 alone, in x3..x8", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "normal", NIL, 1);
    expect(r[2]).toBe((48n << 48n) | (1n << 16n) | 1n);
    expect(r[3] & 0xffffn).toBe(0x8002n);
    expect(r[9]).toBe(0n);
  });

  it("a UUID: only the matching partition, with its protocol UUID left zero", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "normal", OPTEE_UUID_WORDS, 0);
    expect(r[2]).toBe(48n << 48n); // last 0, current 0
    expect(r[3] & 0xffffn).toBe(0x8001n);
    expect([r[4], r[5], r[6], r[7]]).toEqual([0n, 0n, 0n, 0n]);
    expect(r[9]).toBe(0n);
  });

  it("at most two descriptors per call: a third partition needs a second call from index 2", () => {
    const sys = boot("fvp-rme");
    const optee = sys.spmc.endpoint(0x8001)!.desc;
    const third = sys.spmc.addEndpoint({ ...optee, id: 0x8003, name: "sp3", uuid: [3, 3, 3, 3] });
    third.version = FFA_VERSION_1_2;
    const first = regsGet(sys, "normal", NIL, 0);
    expect(first[2]).toBe((48n << 48n) | (1n << 16n) | 2n); // current 1, last 2
    expect(first[15]).toBe(0n);
    const second = regsGet(sys, "normal", NIL, 2);
    expect(second[2]).toBe((48n << 48n) | (2n << 16n) | 2n);
    expect(second[3] & 0xffffn).toBe(0x8003n);
    expect(second[9]).toBe(0n);
  });

  it("a start index at the count is INVALID_PARAMETERS, and changes nothing", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "normal", NIL, 2);
    expect(errorOf(r)).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("partition-info-regs-start-index");
    expect(sys.spmc.endpoint(0)!.rxFull).toBe(false);
  });

  it("a UUID info tag is RETRY (tags unsupported), checked before the UUID", () => {
    const sys = boot("fvp-rme");
    const r = regsGet(sys, "normal", [1, 2, 3, 4], 0, 1);
    expect(errorOf(r)).toBe(FFA_RETRY);
    expect(ruleOf(sys)).toBe("partition-info-regs-tag");
  });

  it("an unknown UUID is INVALID_PARAMETERS", () => {
    const sys = boot("fvp-rme");
    expect(errorOf(regsGet(sys, "normal", [1, 2, 3, 4], 0))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("partition-info-uuid");
  });

  it("the caller's FF-A version is not checked: a v1.0 normal world gets the same answer", () => {
    const sys = boot("fvp-rme", { ffaVersion: "1.0" });
    expect(sys.spmc.endpoint(0)!.version).toBe(FFA_VERSION_1_0);
    const r = regsGet(sys, "normal", NIL, 0);
    expect(w(r, 0)).toBe(FFA_SUCCESS_64);
    expect(r[2] >> 48n).toBe(48n);
  });
});

describe("FFA_PARTITION_INFO_GET's descriptors (send_versioned_partition_info_descriptors())", () => {
  it("48 bytes above v1.0: id, vcpu count, properties, protocol UUID, image UUID, version", () => {
    const sys = boot("fvp-rme");
    const r = regsCall(sys, "normal", smcRegs(FFA_PARTITION_INFO_GET_32));
    expect([w(r, 0), w(r, 2), w(r, 3)]).toEqual([FFA_SUCCESS_32, 2, 48]);
    const rx = sys.machine.bytes.read(sys.spmc.endpoint(0)!.rx!, 96);
    const d = new DataView(rx.buffer, rx.byteOffset, rx.byteLength);
    expect([d.getUint16(0, true), d.getUint16(2, true), d.getUint32(4, true)]).toEqual([0x8001, 8, 0x101]);
    expect([0, 1, 2, 3].map((k) => d.getUint32(8 + 4 * k, true))).toEqual([...OPTEE_UUID_WORDS]);
    expect([0, 1, 2, 3].map((k) => d.getUint32(24 + 4 * k, true))).toEqual([0, 0, 0, 0]);
    expect([d.getUint32(40, true), d.getUint32(44, true)]).toEqual([FFA_VERSION_1_2, 0]);
    expect(d.getUint16(48, true)).toBe(0x8002);
  });

  it("8 bytes at v1.0, properties cut to bits[2:0]", () => {
    const sys = boot("fvp-rme", { ffaVersion: "1.0" });
    const r = regsCall(sys, "normal", smcRegs(FFA_PARTITION_INFO_GET_32));
    expect([w(r, 0), w(r, 2), w(r, 3)]).toEqual([FFA_SUCCESS_32, 2, 8]);
    const rx = sys.machine.bytes.read(sys.spmc.endpoint(0)!.rx!, 16);
    const d = new DataView(rx.buffer, rx.byteOffset, rx.byteLength);
    expect([d.getUint16(0, true), d.getUint32(4, true), d.getUint16(8, true)]).toEqual([0x8001, 1, 0x8002]);
  });

  it("flags bits[31:1] are INVALID_PARAMETERS", () => {
    const sys = boot("fvp-rme");
    const r = regsCall(sys, "normal", smcRegs(FFA_PARTITION_INFO_GET_32, 0, 0, 0, 0, 2));
    expect(errorOf(r)).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("partition-info-flags");
  });
});

describe("FFA_NOTIFICATION_BITMAP_CREATE / _DESTROY at Hafnium's SPMC", () => {
  const create = (sys: Sys, vm: number, who = "normal") =>
    regsCall(sys, who, smcRegs(FFA_NOTIFICATION_BITMAP_CREATE_32, vm, 1));
  const destroy = (sys: Sys, vm: number, who = "normal") =>
    regsCall(sys, who, smcRegs(FFA_NOTIFICATION_BITMAP_DESTROY_32, vm));

  it("the normal world's own bitmap (VM 0): created once, a second create DENIED, destroyed once", () => {
    const sys = boot("fvp-rme");
    const n = hf(sys).nwdNotifications;
    expect(w(create(sys, 0), 0)).toBe(FFA_SUCCESS_32);
    expect(n.otherWorldEnabled).toBe(true);
    expect(errorOf(create(sys, 0))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bitmap-exists");
    expect(n.otherWorldEnabled).toBe(true);
    expect(w(destroy(sys, 0), 0)).toBe(FFA_SUCCESS_32);
    expect(n.otherWorldEnabled).toBe(false);
    expect(errorOf(destroy(sys, 0))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bitmap-disabled");
  });

  it("Linux's ffa_init() created VM 0's bitmap at boot: another create is DENIED", () => {
    const sys = boot("fvp-rme", {}, { tee: true });
    expect(hf(sys).nwdNotifications.otherWorldEnabled).toBe(true);
    expect(errorOf(create(sys, 0))).toBe(FFA_DENIED);
  });

  it("only the hypervisor (the normal world's instance) may call: from a partition NOT_SUPPORTED", () => {
    const sys = boot("fvp-rme");
    expect(errorOf(create(sys, 0, "optee"))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("notification-bitmap-caller");
    expect(errorOf(destroy(sys, 0, "sp2"))).toBe(FFA_NOT_SUPPORTED);
    expect(hf(sys).nwdNotifications.otherWorldEnabled).toBe(false);
  });

  it("an SP ID is not a VM ID: INVALID_PARAMETERS", () => {
    const sys = boot("fvp-rme");
    expect(errorOf(create(sys, 0x8001))).toBe(FFA_INVALID_PARAMETERS);
    expect(ruleOf(sys)).toBe("notification-bitmap-vm-id");
    expect(errorOf(destroy(sys, 0x8001))).toBe(FFA_INVALID_PARAMETERS);
  });

  it(`other VM IDs take one of ${HF_MAX_VMS} nwd_vms slots: the next is NO_MEMORY until one is destroyed`, () => {
    const sys = boot("fvp-rme");
    const n = hf(sys).nwdNotifications;
    for (let vm = 1; vm <= HF_MAX_VMS; vm++) expect(w(create(sys, vm), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(create(sys, HF_MAX_VMS + 1))).toBe(FFA_NO_MEMORY);
    expect(ruleOf(sys)).toBe("notification-bitmap-no-slot");
    expect(n.vms.size).toBe(HF_MAX_VMS);
    // An existing one is DENIED even with the table full; VM 0 needs no slot.
    expect(errorOf(create(sys, 3))).toBe(FFA_DENIED);
    expect(w(create(sys, 0), 0)).toBe(FFA_SUCCESS_32);
    expect(w(destroy(sys, 5), 0)).toBe(FFA_SUCCESS_32);
    expect(w(create(sys, HF_MAX_VMS + 1), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(destroy(sys, 5))).toBe(FFA_DENIED);
    expect(ruleOf(sys)).toBe("notification-bitmap-not-created");
  });
});

describe("FFA_FEATURES at Hafnium: who may use what", () => {
  const features = (sys: Sys, who: string, id: number) => regsCall(sys, who, smcRegs(FFA_FEATURES_32, id));

  it("the schedule-receiver interrupt for the normal world; the notification-pending one not, silently", () => {
    const sys = boot("fvp-rme");
    const sri = features(sys, "normal", 2);
    expect([w(sri, 0), w(sri, 2)]).toEqual([FFA_SUCCESS_32, 8]);
    expect(errorOf(features(sys, "normal", 1))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBeNull();
    const npi = features(sys, "optee", 1);
    expect([w(npi, 0), w(npi, 2)]).toEqual([FFA_SUCCESS_32, 5]);
    // An interface Hafnium does not have is an answer, not a refusal: nothing is counted.
    expect(errorOf(features(sys, "normal", 0x8400_0066))).toBe(FFA_NOT_SUPPORTED);
    expect(sys.spmc.rejections.size).toBe(0);
  });

  it("the bitmap calls and the register-form discovery are listed; a malformed feature query is refused", () => {
    const sys = boot("fvp-rme");
    for (const id of [
      FFA_NOTIFICATION_BITMAP_CREATE_32,
      FFA_NOTIFICATION_BITMAP_DESTROY_32,
      FFA_PARTITION_INFO_GET_REGS_64,
      FFA_SUCCESS_64,
    ])
      expect(w(features(sys, "normal", id), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(features(sys, "normal", 0x100))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("feature-id-invalid");
  });

  it("primary-scheduler, secure-instance and multi-vCPU interfaces per caller", () => {
    const sys = boot("fvp-rme");
    expect(w(features(sys, "normal", FFA_RX_ACQUIRE_32), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(features(sys, "optee", FFA_RX_ACQUIRE_32))).toBe(FFA_NOT_SUPPORTED);
    expect(w(features(sys, "normal", FFA_NOTIFICATION_INFO_GET_64), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(features(sys, "sp2", FFA_NOTIFICATION_INFO_GET_64))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("feature-primary-only");
    expect(errorOf(features(sys, "normal", FFA_YIELD_32))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("feature-secure-only");
    expect(w(features(sys, "optee", FFA_YIELD_32), 0)).toBe(FFA_SUCCESS_32);
    expect(w(features(sys, "optee", FFA_SECONDARY_EP_REGISTER_64), 0)).toBe(FFA_SUCCESS_32);
    expect(errorOf(features(sys, "sp2", FFA_SECONDARY_EP_REGISTER_64))).toBe(FFA_NOT_SUPPORTED);
    expect(ruleOf(sys)).toBe("feature-mp-sp-only");
  });
});
