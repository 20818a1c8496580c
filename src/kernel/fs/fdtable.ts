/**
 * A process's file descriptor table — struct files_struct / struct fdtable, fs/file.c.
 *
 * get_unused_fd_flags() reserves the lowest free descriptor (POSIX), fd_install() points it at a file,
 * and close removes it (file_close_fd()) before the caller fput()s the file. close-on-exec is a
 * per-descriptor flag, as in fdt->close_on_exec. The table's limit is RLIMIT_NOFILE: a process may
 * not hold a descriptor ≥ the limit (−EMFILE). The table starts with NR_OPEN_DEFAULT slots (the
 * fdtable embedded in files_struct) and doubles when a descriptor past it is needed (expand_files();
 * Linux's own growth rounds to 128-slot steps, which nothing here can observe), never past the limit.
 */
import { EMFILE, EBADF } from "../../abi/uapi/errno.ts";
import { O_CLOEXEC } from "../../abi/uapi/fcntl.ts";
import { fail } from "../../sim/assert.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import { fput, getFile, type File } from "./file.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** INR_OPEN_CUR — include/uapi/linux/fs.h: the default soft RLIMIT_NOFILE. */
export const INR_OPEN_CUR = 1024;

/** NR_OPEN_DEFAULT = BITS_PER_LONG: the slots of the fdtable embedded in files_struct. */
const NR_OPEN_DEFAULT = 64;

/** A descriptor reserved by get_unused_fd_flags() but not yet installed. */
const RESERVED = 1;
const INSTALLED = 2;

export class FilesStruct implements Snapshottable {
  /** RLIMIT_NOFILE (soft). */
  readonly rlimitNofile: number;
  #fd: (File | null)[];
  /** open_fds: 0 free, RESERVED, INSTALLED. */
  #open: Uint8Array;
  #closeOnExec: Uint8Array;
  /** fdt->max_fds: slots the table has now (≤ the limit). */
  #maxFds: number;
  /** files->next_fd: no free descriptor below it. */
  #nextFd = 0;
  #count = 0;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextFd = saved.nextFd as number;
      this.#count = saved.count as number;
      // A table expanded since is a new one: the old one comes back.
      this.#fd = saved.fd as (File | null)[];
      this.#open = saved.open as Uint8Array;
      this.#closeOnExec = saved.closeOnExec as Uint8Array;
      this.#maxFds = saved.maxFds as number;
    }
    return {
      fd: this.#fd,
      open: this.#open,
      closeOnExec: this.#closeOnExec,
      nextFd: this.#nextFd,
      count: this.#count,
      maxFds: this.#maxFds,
    };
  }

  constructor(rlimitNofile = INR_OPEN_CUR) {
    if (!(Number.isInteger(rlimitNofile) && rlimitNofile > 0)) fail(`RLIMIT_NOFILE ${rlimitNofile}`);
    this.rlimitNofile = rlimitNofile;
    this.#maxFds = Math.min(NR_OPEN_DEFAULT, rlimitNofile);
    this.#fd = new Array<File | null>(this.#maxFds).fill(null);
    this.#open = new Uint8Array(this.#maxFds);
    this.#closeOnExec = new Uint8Array(this.#maxFds);
  }

  /** expand_files(): room for descriptor fd (< the limit), the table doubled as often as needed. */
  #expand(fd: number): void {
    let n = this.#maxFds;
    while (n <= fd) n *= 2;
    n = Math.min(n, this.rlimitNofile);
    const open = new Uint8Array(n);
    open.set(this.#open);
    const cloexec = new Uint8Array(n);
    cloexec.set(this.#closeOnExec);
    this.#fd = [...this.#fd, ...new Array<File | null>(n - this.#maxFds).fill(null)];
    this.#open = open;
    this.#closeOnExec = cloexec;
    this.#maxFds = n;
  }

  /** Descriptors in use (installed or reserved). */
  get count(): number {
    return this.#count;
  }

  /** get_unused_fd_flags(flags): the lowest free descriptor, reserved, or −EMFILE. */
  getUnusedFdFlags(flags: number): number {
    let fd = this.#nextFd;
    while (fd < this.#maxFds && this.#open[fd] !== 0) fd++;
    if (fd >= this.rlimitNofile) return -EMFILE;
    if (fd >= this.#maxFds) this.#expand(fd);
    this.#open[fd] = RESERVED;
    this.#closeOnExec[fd] = (flags & O_CLOEXEC) !== 0 ? 1 : 0;
    this.#nextFd = fd + 1;
    this.#count++;
    return fd;
  }

  /** put_unused_fd(): gives back a reserved descriptor that was never installed. */
  putUnusedFd(fd: number): void {
    if (this.#open[fd] !== RESERVED) fail(`put_unused_fd(${fd}) of a descriptor that is not reserved`);
    this.#release(fd);
  }

  /** fd_install(fd, file): the reserved descriptor now refers to file; the caller's reference moves to it. */
  fdInstall(fd: number, file: File): void {
    if (this.#open[fd] !== RESERVED) fail(`fd_install(${fd}) of a descriptor that is not reserved`);
    if (file.released) fail(`fd_install of released file ${file.inode.name}#${file.id}`);
    this.#fd[fd] = file;
    this.#open[fd] = INSTALLED;
  }

  #valid(fd: number): boolean {
    return Number.isInteger(fd) && fd >= 0 && fd < this.#maxFds && this.#open[fd] === INSTALLED;
  }

  /** files_lookup_fd_raw(): the file behind fd without taking a reference, or null. */
  lookup(fd: number): File | null {
    return this.#valid(fd) ? this.#fd[fd] : null;
  }

  /** fget(fd): the file with a reference taken, or null (the caller returns −EBADF). */
  fget(fd: number): File | null {
    const f = this.lookup(fd);
    return f ? getFile(f) : null;
  }

  /** file_close_fd(fd): removes fd and returns its file (whose reference the caller now owns), or null. */
  closeFd(fd: number): File | null {
    if (!this.#valid(fd)) return null;
    const f = this.#fd[fd]!;
    this.#release(fd);
    return f;
  }

  #release(fd: number): void {
    this.#fd[fd] = null;
    this.#open[fd] = 0;
    this.#closeOnExec[fd] = 0;
    this.#count--;
    if (fd < this.#nextFd) this.#nextFd = fd;
  }

  /** set_close_on_exec(fd, flag) */
  setCloseOnExec(fd: number, on: boolean): void {
    if (this.#valid(fd)) this.#closeOnExec[fd] = on ? 1 : 0;
  }

  /** close_on_exec(fd, fdt) */
  closeOnExec(fd: number): boolean {
    return this.#valid(fd) && this.#closeOnExec[fd] !== 0;
  }

  /** The installed descriptors, ascending. */
  fds(): number[] {
    const out: number[] = [];
    for (let fd = 0; fd < this.#maxFds; fd++) if (this.#open[fd] === INSTALLED) out.push(fd);
    return out;
  }
}

/** close(fd) — fs/open.c: file_close_fd() then filp_close() (fput). 0 or −EBADF. */
export function* closeFd(files: FilesStruct, fd: number): Sleeps<number> {
  const f = files.closeFd(fd);
  if (!f) return -EBADF;
  yield* fput(f);
  return 0;
}

/** exit_files() → close_files() — fs/file.c: every descriptor, lowest first. */
export function* exitFiles(files: FilesStruct): Sleeps {
  for (const fd of files.fds()) yield* closeFd(files, fd);
}
