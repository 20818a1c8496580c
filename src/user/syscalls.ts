/**
 * System calls as a process issues them: open, close, dup, ioctl, mmap, munmap, delete_module, exit.
 *
 * Each is a generator that takes virtual time (entry and exit, plus whatever the kernel does) and
 * returns what the raw system call returns: a value ≥ 0, or −errno — never an exception for bad
 * input. Why a call failed is in `lastRejection(p)` until the process's next call.
 */
import { EBADF, ESRCH } from "../abi/uapi/errno.ts";
import { closeFd, exitFiles } from "../kernel/fs/fdtable.ts";
import { fput } from "../kernel/fs/file.ts";
import { ksysIoctl } from "../kernel/fs/ioctl.ts";
import { doMunmap, exitMmap, ksysMmap } from "../kernel/fs/mmap.ts";
import { deleteModule } from "../kernel/kernel.ts";
import { reject, type Rejection } from "../kernel/fs/task.ts";
import { userPtr } from "../kernel/fs/uaccess.ts";
import { sleep, type Sleeps } from "../sim/scheduler.ts";
import { SIGKILL, type Process } from "./process.ts";

/**
 * Entry to and exit from the kernel for one system call (SVC, el0_svc, invoke_syscall, ERET), ns.
 * Assumption: a null system call costs 0.1–0.3 µs on Cortex-A72-class cores.
 */
export const SYSCALL_NS = 200;

/** Syscall entry: false for a process that already exited (its calls return −ESRCH). */
function* enter(p: Process, name: string, args: Record<string, unknown>): Sleeps<boolean> {
  if (p.exited || p.exiting) return false;
  p.task.lastReject = null;
  // The simulator task that runs this call is the process's thread for as long as it is in the
  // kernel: an oops there kills the process (user/process.ts).
  p.thread = p.kernel.sim.sched.current;
  p.inSyscall = true;
  // One simulator task may play several processes in turn (a scenario's steps): its pending signal is
  // the process's.
  if (p.thread) p.thread.fatalSignal = p.sigkill;
  const trace = p.kernel.sim.trace;
  if (trace.listening) trace.emit("user", name, { pid: p.pid, comm: p.name, ...args }, "B");
  yield sleep(SYSCALL_NS);
  return true;
}

/**
 * The return to user space (exit_to_user_mode()): a pending SIGKILL is delivered there —
 * do_exit(SIGKILL) — and the call's result goes nowhere. Returns `rc`.
 */
function* leave(p: Process, name: string, rc: number): Sleeps<number> {
  p.inSyscall = false;
  // The end of the call's span on the trace (sys_exit), before any signal is delivered.
  const trace = p.kernel.sim.trace;
  if (trace.listening) trace.emit("user", name, { pid: p.pid, ret: rc }, "E");
  if (p.sigkill && !p.exiting && !p.exited) yield* doExit(p, SIGKILL);
  if (p.thread) p.thread.fatalSignal = false;
  return rc;
}

/** Why the process's last call failed, if it did. */
export function lastRejection(p: Process): Rejection | null {
  return p.task.lastReject;
}

/** open(path, flags): the new fd, or −errno (−ENOENT for a node no driver registered). */
export function* sysOpen(p: Process, path: string, flags: number): Sleeps<number> {
  if (!(yield* enter(p, "open", { path, flags }))) return -ESRCH;
  return yield* leave(p, "open", yield* p.kernel.vfs.open(p.task, path, flags));
}

/** close(fd): 0, or −EBADF. */
export function* sysClose(p: Process, fd: number): Sleeps<number> {
  if (!(yield* enter(p, "close", { fd }))) return -ESRCH;
  const rc = yield* closeFd(p.task.files, fd);
  return yield* leave(
    p,
    "close",
    rc === -EBADF ? reject(p.task, EBADF, "bad-fd", `fd ${fd} is not open (close)`) : rc,
  );
}

/** dup(fd): a second descriptor for the same file (close-on-exec clear), or −errno. */
export function* sysDup(p: Process, fd: number): Sleeps<number> {
  if (!(yield* enter(p, "dup", { fd }))) return -ESRCH;
  const files = p.task.files;
  const file = files.fget(fd);
  if (!file) return yield* leave(p, "dup", reject(p.task, EBADF, "bad-fd", `fd ${fd} is not open (dup)`));
  const nfd = files.getUnusedFdFlags(0);
  if (nfd < 0) {
    yield* fput(file);
    return yield* leave(
      p,
      "dup",
      reject(p.task, -nfd, "fd-table-full", `RLIMIT_NOFILE is ${files.rlimitNofile}`),
    );
  }
  files.fdInstall(nfd, file);
  return yield* leave(p, "dup", nfd);
}

/**
 * ioctl(fd, request, arg): `arg` is the user buffer the argument pointer addresses (null: NULL);
 * the kernel reads and writes it in place, with the sizes the driver chooses. Value or −errno.
 */
export function* sysIoctl(p: Process, fd: number, request: number, arg: Uint8Array | null): Sleeps<number> {
  if (!(yield* enter(p, "ioctl", { fd, request }))) return -ESRCH;
  return yield* leave(p, "ioctl", yield* ksysIoctl(p.task, fd, request >>> 0, userPtr(arg)));
}

/** mmap(NULL, length, prot, flags, fd, offset): the address, or −errno. */
export function* sysMmap(
  p: Process,
  fd: number,
  length: number,
  prot: number,
  flags: number,
  offset = 0,
): Sleeps<number> {
  if (!(yield* enter(p, "mmap", { fd, length, prot, flags, offset }))) return -ESRCH;
  return yield* leave(p, "mmap", yield* ksysMmap(p.task, length, prot, flags, fd, offset));
}

/** munmap(addr, length): 0, or −errno. */
export function* sysMunmap(p: Process, addr: number, length: number): Sleeps<number> {
  if (!(yield* enter(p, "munmap", { addr, length }))) return -ESRCH;
  return yield* leave(p, "munmap", yield* doMunmap(p.task, addr, length));
}

/** MODULE_NAME_LEN — include/linux/module.h (64 - sizeof(unsigned long)). */
const MODULE_NAME_LEN = 56;

/**
 * delete_module(name, flags): 0, or −errno — kernel/module/main.c as kernel.ts deleteModule() models
 * it (−ENOENT, −EWOULDBLOCK = −EAGAIN while in use unless O_TRUNC forces, −EBUSY). The name is read
 * as strncpy_from_user(name, name_user, MODULE_NAME_LEN - 1). The call sleeps while the module's exit
 * runs (e.g. until a removed TEE device's last user lets go).
 */
export function* sysDeleteModule(p: Process, name: string, flags: number): Sleeps<number> {
  if (!(yield* enter(p, "delete_module", { name, flags }))) return -ESRCH;
  const r = yield* deleteModule(p.kernel, name.slice(0, MODULE_NAME_LEN - 1), flags);
  if (r.rc < 0)
    return yield* leave(p, "delete_module", reject(p.task, -r.rc, r.rule ?? "delete-module", r.why ?? ""));
  return yield* leave(p, "delete_module", 0);
}

/** exit(0): do_exit(). */
export function* sysExit(p: Process): Sleeps<number> {
  if (!(yield* enter(p, "exit", {}))) return -ESRCH;
  yield* doExit(p, 0);
  return yield* leave(p, "exit", 0);
}

/**
 * do_exit() — kernel/exit.c: exit_mm() then exit_files(): every mapping goes, then every fd is closed
 * (each dma-buf whose last reference that was is released). `code` is the exit status: 0 for exit(0),
 * SIGSEGV when an oops killed the process's thread (make_task_dead() → do_exit(SIGSEGV)).
 */
export function* doExit(p: Process, code: number): Sleeps {
  p.exiting = true;
  p.inSyscall = true;
  p.thread = p.kernel.sim.sched.current;
  yield* exitMmap(p.task.mm);
  yield* exitFiles(p.task.files);
  p.exited = true;
  p.exitCode = code;
  p.inSyscall = false;
}
