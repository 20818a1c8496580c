/**
 * The TEE subsystem's uAPI — include/uapi/linux/tee.h (TEE_IOC_SHM_REGISTER_FD from the v12 series,
 * "tee: new ioctl to a register tee_shm from a dmabuf file descriptor"; linux-kernel.md §1.6).
 * Request numbers and the byte layouts of the argument structs, little-endian (arm64).
 */
import { _IOR, _IOWR } from "./ioctl.ts";

export const TEE_IOC_MAGIC = 0xa4;
export const TEE_IOC_BASE = 0;

/** _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 0, struct tee_ioctl_version_data) = 0x800ca400 */
export const TEE_IOC_VERSION = _IOR(TEE_IOC_MAGIC, TEE_IOC_BASE + 0, 12);
/** _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 1, struct tee_ioctl_shm_alloc_data) = 0xc010a401 */
export const TEE_IOC_SHM_ALLOC = _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 1, 16);
/** _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 8, struct tee_ioctl_shm_register_fd_data) = 0xc018a408 */
export const TEE_IOC_SHM_REGISTER_FD = _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 8, 24);
/** _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 9, struct tee_ioctl_shm_register_data) = 0xc018a409 */
export const TEE_IOC_SHM_REGISTER = _IOWR(TEE_IOC_MAGIC, TEE_IOC_BASE + 9, 24);

/** TEE_IMPL_ID_OPTEE and the capability bits of struct tee_ioctl_version_data. */
export const TEE_IMPL_ID_OPTEE = 1;
export const TEE_OPTEE_CAP_TZ = 1 << 0;
export const TEE_GEN_CAP_GP = 1 << 0;
export const TEE_GEN_CAP_PRIVILEGED = 1 << 1;
export const TEE_GEN_CAP_REG_MEM = 1 << 2;
export const TEE_GEN_CAP_MEMREF_NULL = 1 << 3;

/** struct tee_ioctl_version_data { __u32 impl_id; __u32 impl_caps; __u32 gen_caps; } */
export interface TeeIoctlVersionData {
  readonly impl_id: number;
  readonly impl_caps: number;
  readonly gen_caps: number;
}
export const TEE_IOCTL_VERSION_DATA_SIZE = 12;

export function encodeTeeVersionData(v: TeeIoctlVersionData): Uint8Array {
  const b = new Uint8Array(TEE_IOCTL_VERSION_DATA_SIZE);
  const d = new DataView(b.buffer);
  d.setUint32(0, v.impl_id >>> 0, true);
  d.setUint32(4, v.impl_caps >>> 0, true);
  d.setUint32(8, v.gen_caps >>> 0, true);
  return b;
}

export function decodeTeeVersionData(b: Uint8Array): TeeIoctlVersionData {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { impl_id: d.getUint32(0, true), impl_caps: d.getUint32(4, true), gen_caps: d.getUint32(8, true) };
}

/** struct tee_ioctl_shm_register_fd_data { __s64 fd; __u64 size; __u32 flags; __s32 id; } (24 bytes) */
export interface TeeIoctlShmRegisterFdData {
  readonly fd: bigint;
  readonly size: bigint;
  readonly flags: number;
  readonly id: number;
}
export const TEE_IOCTL_SHM_REGISTER_FD_DATA_SIZE = 24;

export function encodeShmRegisterFdData(v: TeeIoctlShmRegisterFdData): Uint8Array {
  const b = new Uint8Array(TEE_IOCTL_SHM_REGISTER_FD_DATA_SIZE);
  const d = new DataView(b.buffer);
  d.setBigInt64(0, BigInt.asIntN(64, v.fd), true);
  d.setBigUint64(8, BigInt.asUintN(64, v.size), true);
  d.setUint32(16, v.flags >>> 0, true);
  d.setInt32(20, v.id | 0, true);
  return b;
}

export function decodeShmRegisterFdData(b: Uint8Array): TeeIoctlShmRegisterFdData {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return {
    fd: d.getBigInt64(0, true),
    size: d.getBigUint64(8, true),
    flags: d.getUint32(16, true),
    id: d.getInt32(20, true),
  };
}
