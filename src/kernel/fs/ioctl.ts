/**
 * ioctl(2) — fs/ioctl.c: SYSCALL_DEFINE3(ioctl) → do_vfs_ioctl() → vfs_ioctl().
 *
 * The generic requests every file understands (FIOCLEX, FIONCLEX, FIONBIO, FIOASYNC) are handled
 * first; everything else goes to the file's ->unlocked_ioctl, and a file without one answers
 * −ENOTTY. The driver copies its argument from and to user memory itself (uaccess.ts), with the
 * sizes its own rules choose.
 */
import { EBADF, EFAULT, ENOTTY } from "../../abi/uapi/errno.ts";
import { FASYNC, O_NONBLOCK } from "../../abi/uapi/fcntl.ts";
import { FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX, ioctlHex } from "../../abi/uapi/ioctl.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { fput, type File } from "./file.ts";
import { reject, type TaskStruct } from "./task.ts";
import { getUserU32, type UserPtr } from "./uaccess.ts";

/** -ENOIOCTLCMD — include/linux/errno.h: kernel-internal "no such ioctl", turned into −ENOTTY here. */
export const ENOIOCTLCMD = 515;

/** vfs_ioctl(): the driver's ->unlocked_ioctl, or −ENOTTY. */
export function* vfsIoctl(current: TaskStruct, file: File, cmd: number, arg: UserPtr): Sleeps<number> {
  const ioctl = file.fOp.unlockedIoctl;
  if (!ioctl) return reject(current, ENOTTY, "vfs-no-ioctl", `${file.inode.name} has no ioctl handler`);
  const rc = yield* ioctl.call(file.fOp, file, cmd >>> 0, arg, current);
  return rc === -ENOIOCTLCMD ? -ENOTTY : rc;
}

/** do_vfs_ioctl() */
export function* doVfsIoctl(
  current: TaskStruct,
  file: File,
  fd: number,
  cmd: number,
  arg: UserPtr,
): Sleeps<number> {
  switch (cmd >>> 0) {
    case FIOCLEX:
      current.files.setCloseOnExec(fd, true);
      return 0;
    case FIONCLEX:
      current.files.setCloseOnExec(fd, false);
      return 0;
    case FIONBIO: {
      const on = getUserU32(arg);
      if (on === null) return reject(current, EFAULT, "uaccess", "FIONBIO argument not readable");
      file.fFlags = on !== 0 ? file.fFlags | O_NONBLOCK : file.fFlags & ~O_NONBLOCK;
      return 0;
    }
    case FIOASYNC: {
      const on = getUserU32(arg);
      if (on === null) return reject(current, EFAULT, "uaccess", "FIOASYNC argument not readable");
      // No file in the model has ->fasync: changing the FASYNC state is −ENOTTY.
      if (((on !== 0 ? FASYNC : 0) ^ file.fFlags) & FASYNC)
        return reject(current, ENOTTY, "vfs-no-fasync", `${file.inode.name} has no fasync`);
      return 0;
    }
    default:
      return yield* vfsIoctl(current, file, cmd, arg);
  }
}

/** ksys_ioctl(fd, cmd, arg): −EBADF for a descriptor that is not open. */
export function* ksysIoctl(current: TaskStruct, fd: number, cmd: number, arg: UserPtr): Sleeps<number> {
  const file = current.files.fget(fd);
  if (!file) return reject(current, EBADF, "bad-fd", `fd ${fd} is not open (ioctl ${ioctlHex(cmd)})`);
  const rc = yield* doVfsIoctl(current, file, fd, cmd, arg);
  yield* fput(file);
  return rc;
}
