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
import { sleep, type Sleeps, elapse } from "../sim/scheduler.ts";
import { SIGKILL, type Process } from "./process.ts";

/**
 * Entry to and exit from the kernel for one system call (SVC, el0_svc, invoke_syscall, ERET), ns.
 * Assumption: a null system call costs 0.1–0.3 µs on Cortex-A72-class cores.
 */
export const SYSCALL_NS = 200;

/** The time syscall entry and exit take, one frozen op for every call (the scheduler only reads it). */
const SYSCALL_SLEEP = Object.freeze(sleep(SYSCALL_NS));

/**
 * Syscall entry: false for a process that already exited (its calls return −ESRCH). The caller opens
 * the call's span on the trace when it listens (traceEnter(): the arguments are built only then), and
 * sleeps SYSCALL_SLEEP. Plain functions around the call, not generators: every call passes here.
 */
function enter(p: Process): boolean {
  // A process SIGKILL struck makes no new call: its thread dies on its way back to user space first.
  if (p.exited || p.exiting || p.sigkill) return false;
  p.task.lastReject = null;
  // The simulator task that runs this call is the process's thread for as long as it is in the
  // kernel: an oops there kills the process (user/process.ts).
  const t = p.kernel.sim.sched.current;
  p.thread = t;
  if (t) {
    p.inKernel.push(t);
    // One simulator task may play several processes in turn (a scenario's steps): its pending signal
    // is the process's.
    t.fatalSignal = false;
  }
  return true;
}

/** The current thread is out of the kernel. */
function left(p: Process): void {
  const t = p.kernel.sim.sched.current;
  const i = t ? p.inKernel.indexOf(t) : -1;
  if (i >= 0) p.inKernel.splice(i, 1);
}

/** The start of the call's span on the trace (sys_enter). */
function traceEnter(p: Process, name: string, args: Record<string, unknown>): void {
  p.kernel.sim.trace.emit("user", name, { pid: p.pid, comm: p.name, ...args }, "B");
}

/**
 * The return to user space (exit_to_user_mode()): a pending SIGKILL is delivered there —
 * do_exit(SIGKILL) — and the call's result goes nowhere. True when a SIGKILL is to be delivered: the
 * caller then returns through deliverSigkill(); otherwise the call returns `rc` as it is.
 */
function leave(p: Process, name: string, rc: number): boolean {
  left(p);
  // The end of the call's span on the trace (sys_exit), before any signal is delivered.
  const trace = p.kernel.sim.trace;
  if (trace.listening) trace.emit("user", name, { pid: p.pid, ret: rc }, "E");
  const t = p.kernel.sim.sched.current;
  if (p.sigkill && !p.exited) return true;
  if (t) t.fatalSignal = false;
  // The last thread out of a process whose do_exit() waited for it (pendingExit).
  return p.pendingExit !== null && p.inKernel.length === 0 && !p.exited;
}

/**
 * SIGKILL delivered on the way back to user space (leave()): the thread dies, and its call's result goes
 * nowhere. The last of the process's threads out of the kernel runs do_exit(SIGKILL)'s release of what
 * they share — the files, the mm (exit_files() puts the files_struct: the last reference closes every
 * fd); a thread still in a call (another task's, on the same process) keeps them until it is out too.
 * Returns `rc`.
 */
function* deliverSigkill(p: Process, rc: number): Sleeps<number> {
  const t = p.kernel.sim.sched.current;
  if (!p.exited && p.inKernel.length === 0 && (p.pendingExit !== null || !p.exiting)) {
    // The exit another thread began (an oops, exit()) and left to the last one out, or SIGKILL's.
    const code = p.pendingExit ?? SIGKILL;
    p.pendingExit = null;
    yield* doExit(p, code);
  }
  if (t) t.fatalSignal = false;
  return rc;
}

/** Why the process's last call failed, if it did. */
export function lastRejection(p: Process): Rejection | null {
  return p.task.lastReject;
}

/** open(path, flags): the new fd, or −errno (−ENOENT for a node no driver registered). */
export function* sysOpen(p: Process, path: string, flags: number): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "open", { path, flags });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const rc = yield* p.kernel.vfs.open(p.task, path, flags);
  return leave(p, "open", rc) ? yield* deliverSigkill(p, rc) : rc;
}

/** close(fd): 0, or −EBADF. */
export function* sysClose(p: Process, fd: number): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "close", { fd });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  let rc = yield* closeFd(p.task.files, fd);
  if (rc === -EBADF) rc = reject(p.task, EBADF, "bad-fd", `fd ${fd} is not open (close)`);
  return leave(p, "close", rc) ? yield* deliverSigkill(p, rc) : rc;
}

/** dup(fd): a second descriptor for the same file (close-on-exec clear), or −errno. */
export function* sysDup(p: Process, fd: number): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "dup", { fd });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const files = p.task.files;
  const file = files.fget(fd);
  if (!file) {
    const rc = reject(p.task, EBADF, "bad-fd", `fd ${fd} is not open (dup)`);
    return leave(p, "dup", rc) ? yield* deliverSigkill(p, rc) : rc;
  }
  const nfd = files.getUnusedFdFlags(0);
  if (nfd < 0) {
    yield* fput(file);
    const rc = reject(p.task, -nfd, "fd-table-full", `RLIMIT_NOFILE is ${files.rlimitNofile}`);
    return leave(p, "dup", rc) ? yield* deliverSigkill(p, rc) : rc;
  }
  files.fdInstall(nfd, file);
  return leave(p, "dup", nfd) ? yield* deliverSigkill(p, nfd) : nfd;
}

/**
 * ioctl(fd, request, arg): `arg` is the user buffer the argument pointer addresses (null: NULL);
 * the kernel reads and writes it in place, with the sizes the driver chooses. Value or −errno.
 */
export function* sysIoctl(p: Process, fd: number, request: number, arg: Uint8Array | null): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "ioctl", { fd, request });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const rc = yield* ksysIoctl(p.task, fd, request >>> 0, userPtr(arg));
  return leave(p, "ioctl", rc) ? yield* deliverSigkill(p, rc) : rc;
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
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "mmap", { fd, length, prot, flags, offset });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const rc = yield* ksysMmap(p.task, length, prot, flags, fd, offset);
  return leave(p, "mmap", rc) ? yield* deliverSigkill(p, rc) : rc;
}

/** munmap(addr, length): 0, or −errno. */
export function* sysMunmap(p: Process, addr: number, length: number): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "munmap", { addr, length });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const rc = yield* doMunmap(p.task, addr, length);
  return leave(p, "munmap", rc) ? yield* deliverSigkill(p, rc) : rc;
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
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "delete_module", { name, flags });
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  const r = yield* deleteModule(p.kernel, name.slice(0, MODULE_NAME_LEN - 1), flags);
  const rc = r.rc < 0 ? reject(p.task, -r.rc, r.rule ?? "delete-module", r.why ?? "") : 0;
  return leave(p, "delete_module", rc) ? yield* deliverSigkill(p, rc) : rc;
}

/** exit(0): do_exit(). */
export function* sysExit(p: Process): Sleeps<number> {
  if (!enter(p)) return -ESRCH;
  if (p.kernel.sim.trace.listening) traceEnter(p, "exit", {});
  if (!elapse(SYSCALL_NS)) yield SYSCALL_SLEEP;
  if (p.inKernel.length > 1) {
    // exit_group() while another thread is in a call (zap_other_threads()): that thread finishes its
    // call and dies on its way out, and the last one out releases the files and the mm (deliverSigkill()).
    const me = p.kernel.sim.sched.current;
    p.exiting = true;
    p.sigkill = true;
    p.pendingExit = 0;
    for (const o of p.inKernel) if (o !== me) o.fatalSignal = true;
  } else yield* doExit(p, 0);
  return leave(p, "exit", 0) ? yield* deliverSigkill(p, 0) : 0;
}

/**
 * do_exit() — kernel/exit.c: exit_mm() then exit_files(): every mapping goes, then every fd is closed
 * (each dma-buf whose last reference that was is released). `code` is the exit status: 0 for exit(0),
 * SIGSEGV when an oops killed the process's thread (make_task_dead() → do_exit(SIGSEGV)).
 */
export function* doExit(p: Process, code: number): Sleeps {
  p.exiting = true;
  const t = p.kernel.sim.sched.current;
  p.thread = t;
  if (t) p.inKernel.push(t);
  yield* exitMmap(p.task.mm);
  yield* exitFiles(p.task.files);
  p.exited = true;
  p.exitCode = code;
  left(p);
}
