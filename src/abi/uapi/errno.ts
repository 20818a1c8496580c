/**
 * errno values — include/uapi/asm-generic/errno-base.h and errno.h (arm64 uses the generic table).
 * Kernel functions return −E…; syscalls hand user space the positive value.
 */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENFILE: 23,
  EMFILE: 24,
  ENOTTY: 25,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ENODATA: 61,
  EOVERFLOW: 75,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ECANCELED: 125,
} as const;

export type ErrnoName = keyof typeof ERRNO;

export const EPERM = ERRNO.EPERM;
export const ENOENT = ERRNO.ENOENT;
export const ESRCH = ERRNO.ESRCH;
export const EINTR = ERRNO.EINTR;
export const EIO = ERRNO.EIO;
export const ENXIO = ERRNO.ENXIO;
export const EBADF = ERRNO.EBADF;
export const EAGAIN = ERRNO.EAGAIN;
/** EWOULDBLOCK — include/uapi/asm-generic/errno.h: #define EWOULDBLOCK EAGAIN. */
export const EWOULDBLOCK = EAGAIN;
export const ENOMEM = ERRNO.ENOMEM;
export const EACCES = ERRNO.EACCES;
export const EFAULT = ERRNO.EFAULT;
export const EBUSY = ERRNO.EBUSY;
export const EEXIST = ERRNO.EEXIST;
export const ENODEV = ERRNO.ENODEV;
export const EINVAL = ERRNO.EINVAL;
export const EMFILE = ERRNO.EMFILE;
export const ENOTTY = ERRNO.ENOTTY;
export const EOVERFLOW = ERRNO.EOVERFLOW;
export const ENOSYS = ERRNO.ENOSYS;
export const EOPNOTSUPP = ERRNO.EOPNOTSUPP;

const BY_VALUE = new Map<number, ErrnoName>(Object.entries(ERRNO).map(([k, v]) => [v, k as ErrnoName]));

/** "EBUSY" for 16 or −16; "E<n>" for an unknown value. */
export function errnoName(e: number): string {
  return BY_VALUE.get(Math.abs(e)) ?? `E${Math.abs(e)}`;
}
