/**
 * open(2) flags as arm64 defines them — arch/arm64/include/uapi/asm/fcntl.h overrides O_DIRECTORY,
 * O_NOFOLLOW, O_DIRECT and O_LARGEFILE, the rest come from include/uapi/asm-generic/fcntl.h.
 * (Values are octal in the headers; written here in octal too.)
 */

export const O_ACCMODE = 0o3;
export const O_RDONLY = 0o0;
export const O_WRONLY = 0o1;
export const O_RDWR = 0o2;
export const O_CREAT = 0o100;
export const O_EXCL = 0o200;
export const O_NOCTTY = 0o400;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DSYNC = 0o10000;
export const FASYNC = 0o20000;
/** arm64: 040000 (asm-generic has O_DIRECT there). */
export const O_DIRECTORY = 0o40000;
/** arm64: 0100000 (asm-generic: O_LARGEFILE). */
export const O_NOFOLLOW = 0o100000;
/** arm64: 0200000 (asm-generic: O_DIRECTORY). */
export const O_DIRECT = 0o200000;
/** arm64: 0400000 (asm-generic: O_NOFOLLOW). */
export const O_LARGEFILE = 0o400000;
export const O_NOATIME = 0o1000000;
export const O_CLOEXEC = 0o2000000;
export const __O_SYNC = 0o4000000;
export const O_SYNC = __O_SYNC | O_DSYNC;
export const O_PATH = 0o10000000;
export const O_NDELAY = O_NONBLOCK;

/** FD_CLOEXEC for F_GETFD / F_SETFD. */
export const FD_CLOEXEC = 1;

/** Names a scenario may use in `flags:` / `fd_flags:`, with their values. */
export const O_FLAG_NAMES: Readonly<Record<string, number>> = {
  O_RDONLY,
  O_WRONLY,
  O_RDWR,
  O_ACCMODE,
  O_CREAT,
  O_EXCL,
  O_NOCTTY,
  O_TRUNC,
  O_APPEND,
  O_NONBLOCK,
  O_NDELAY,
  O_DSYNC,
  FASYNC,
  O_DIRECTORY,
  O_NOFOLLOW,
  O_DIRECT,
  O_LARGEFILE,
  O_NOATIME,
  O_CLOEXEC,
  O_SYNC,
  O_PATH,
};
