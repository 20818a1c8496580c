/**
 * struct file, struct inode and struct file_operations — include/linux/fs.h, fs/file_table.c.
 *
 * A file is reference counted (f_count): every fd that points to it, every mapping of it (vm_file)
 * and every kernel reference (get_file(), e.g. get_dma_buf()) holds one. fput() of the last one
 * runs __fput(): the file's release operation, then the file is gone.
 *
 * Linux defers __fput() to task_work (run before the system call returns to user space) or to a
 * workqueue; the model runs it at the point of the last fput(). Both happen before the caller's
 * system call returns, which is all a user can observe.
 */
import { O_ACCMODE } from "../../abi/uapi/fcntl.ts";
import { fail } from "../../sim/assert.ts";
import { Refcount } from "../../sim/refcount.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import type { Vma } from "./mmap.ts";
import type { TaskStruct } from "./task.ts";
import type { UserPtr } from "./uaccess.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** fmode_t bits — include/linux/fs.h. */
export const FMODE_READ = 0x1;
export const FMODE_WRITE = 0x2;

/** OPEN_FMODE(flag): O_RDONLY → READ, O_WRONLY → WRITE, O_RDWR → both, 3 → neither ("ioctl only"). */
export function OPEN_FMODE(flags: number): number {
  return (flags + 1) & O_ACCMODE;
}

/**
 * struct file_operations, the operations this model's drivers implement. Each gets the calling task
 * explicitly where Linux uses `current` (task.ts). Results are Linux's: ≥ 0, or −errno.
 */
export interface FileOperations {
  /** For traces and messages: the driver, e.g. "dma_heap", "dma_buf", "tee". */
  readonly name: string;
  /** ->open(inode, file): 0 or −errno (the open fails and the file is dropped). */
  open?(inode: Inode, file: File, current: TaskStruct): Sleeps<number>;
  /** ->unlocked_ioctl(file, cmd, arg) */
  unlockedIoctl?(file: File, cmd: number, arg: UserPtr, current: TaskStruct): Sleeps<number>;
  /** ->mmap(file, vma): populates the VMA (remap_pfn_range) or fails. */
  mmap?(file: File, vma: Vma, current: TaskStruct): Sleeps<number>;
  /** ->release(inode, file): the last reference went. */
  release?(inode: Inode, file: File): Sleeps<void>;
}

/** struct inode, as far as the model needs one: a device node or an anonymous (pseudo-fs) inode. */
export interface Inode {
  readonly ino: number;
  /** The device path ("/dev/dma_heap/system"), or the pseudo file's name ("dmabuf", "tee_shm"). */
  readonly name: string;
  readonly fops: FileOperations;
  /** i_private / the cdev's owner: the driver's object behind the node (a dma_heap, a tee_device). */
  readonly iPrivate: unknown;
}

/** Counts of files, as fs/file_table.c's files_stat (nr_files), for leak checks. */
export class FileTable implements Snapshottable {
  nrFiles = 0;
  /** Files ever allocated. */
  allocated = 0;
  #nextIno = 1;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextIno = saved.nextIno as number;
    }
    return { nextIno: this.#nextIno };
  }

  constructor(readonly sim: Sim) {}

  nextIno(): number {
    return this.#nextIno++;
  }
}

export class File {
  readonly id: number;
  /** f_count: fds, mappings and kernel references. */
  readonly fCount: Refcount;
  /** f_mode: FMODE_READ | FMODE_WRITE. */
  readonly fMode: number;
  /** f_flags: the open flags kept after open (O_ACCMODE, O_NONBLOCK, O_APPEND, …). */
  fFlags: number;
  /** private_data: the driver's per-open state (the heap, the dma_buf, the tee_context). */
  privateData: unknown = null;
  /** Set once __fput() ran; a released file must never be used again. */
  released = false;

  constructor(
    readonly table: FileTable,
    readonly inode: Inode,
    readonly fOp: FileOperations,
    flags: number,
  ) {
    this.id = ++table.allocated;
    this.fMode = OPEN_FMODE(flags);
    this.fFlags = flags;
    this.fCount = new Refcount(table.sim, `file:${inode.name}#${this.id}`, 1);
    table.nrFiles++;
  }
}

/** alloc_file_pseudo() / anon_inode_getfile(): a file on an anonymous inode, holding one reference. */
export function allocFilePseudo(
  table: FileTable,
  name: string,
  fops: FileOperations,
  flags: number,
  privateData: unknown,
): File {
  const inode: Inode = { ino: table.nextIno(), name, fops, iPrivate: null };
  const f = new File(table, inode, fops, flags);
  f.privateData = privateData;
  return f;
}

/** get_file(): one more reference to a file someone already holds. */
export function getFile(file: File): File {
  if (file.released) fail(`get_file on released ${file.inode.name}#${file.id}`);
  file.fCount.inc();
  return file;
}

/** fput(): drops a reference; the last one releases the file (__fput()). */
export function* fput(file: File): Sleeps {
  if (!file.fCount.decAndTest()) return;
  if (file.released) fail(`__fput twice on ${file.inode.name}#${file.id}`);
  if (file.fOp.release) yield* file.fOp.release(file.inode, file);
  file.released = true;
  file.table.nrFiles--;
  const trace = file.table.sim.trace;
  if (trace.listening) trace.emit("kernel", "__fput", { file: file.inode.name, id: file.id });
}
