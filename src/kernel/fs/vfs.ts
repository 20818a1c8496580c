/**
 * The model's VFS: a namespace of device nodes that drivers register (the dma-heap framework adds
 * /dev/dma_heap/<name>, the TEE subsystem /dev/tee0 and /dev/teepriv0), and open(2) on it —
 * do_sys_open() in fs/open.c, chrdev_open() in fs/char_dev.c.
 *
 * There is no file system beyond /dev: a path that no driver registered does not exist (−ENOENT),
 * directories included. /dev/null is registered at boot (drivers/char/mem.c) and backs every new
 * process's stdin, stdout and stderr.
 */
import { EEXIST, ENOENT } from "../../abi/uapi/errno.ts";
import type { Sleeps } from "../../sim/scheduler.ts";
import type { Sim } from "../../sim/sim.ts";
import { File, FileTable, type FileOperations, type Inode } from "./file.ts";
import type { FilesStruct } from "./fdtable.ts";
import { reject, type TaskStruct } from "./task.ts";
import { hiddenState, type Snapshottable } from "../../sim/snapshot.ts";

/** null_fops — drivers/char/mem.c: no ioctl (−ENOTTY), no mmap (−ENODEV). */
export const NULL_FOPS: FileOperations = { name: "null" };

export class Vfs implements Snapshottable {
  readonly files: FileTable;
  readonly #nodes = new Map<string, Inode>();

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](): Record<string, unknown> {
    return { nodes: this.#nodes };
  }

  constructor(readonly sim: Sim) {
    this.files = new FileTable(sim);
    this.registerDevice("/dev/null", NULL_FOPS, null);
  }

  /**
   * Adds a device node (device_create() + devtmpfs). Returns its inode, or −EEXIST when the path is
   * taken (device_add() fails on the duplicate sysfs name the same way).
   */
  registerDevice(path: string, fops: FileOperations, iPrivate: unknown): Inode | number {
    const p = normalize(path);
    if (this.#nodes.has(p)) return -EEXIST;
    const inode: Inode = { ino: this.files.nextIno(), name: p, fops, iPrivate };
    this.#nodes.set(p, inode);
    if (this.sim.trace.listening) this.sim.trace.emit("kernel", "device_create", { path: p });
    return inode;
  }

  /** device_destroy(): the node disappears; files already open stay valid. */
  unregisterDevice(path: string): boolean {
    return this.#nodes.delete(normalize(path));
  }

  lookup(path: string): Inode | null {
    return this.#nodes.get(normalize(path)) ?? null;
  }

  /** The names in a directory of device nodes (readdir of /dev/dma_heap), sorted. */
  readdir(dir: string): string[] {
    const prefix = normalize(dir).replace(/\/$/, "") + "/";
    const out: string[] = [];
    for (const p of this.#nodes.keys()) {
      if (!p.startsWith(prefix)) continue;
      const rest = p.slice(prefix.length);
      const name = rest.split("/")[0];
      if (!out.includes(name)) out.push(name);
    }
    return out.sort();
  }

  /** do_filp_open() on a device node: a new file, opened by the driver, or −errno. */
  *filpOpen(current: TaskStruct, path: string, flags: number): Sleeps<File | number> {
    const inode = this.lookup(path);
    if (!inode) return reject(current, ENOENT, "vfs-no-such-node", `no device node ${path}`);
    const file = new File(this.files, inode, inode.fops, flags);
    if (inode.fops.open) {
      const rc = yield* inode.fops.open(inode, file, current);
      if (rc < 0) {
        // do_dentry_open() failure: the file is dropped without ->release.
        file.released = true;
        this.files.nrFiles--;
        return rc;
      }
    }
    return file;
  }

  /** do_sys_open(): reserve the lowest descriptor first, then open, then install. fd or −errno. */
  *open(current: TaskStruct, path: string, flags: number): Sleeps<number> {
    const files: FilesStruct = current.files;
    const fd = files.getUnusedFdFlags(flags);
    if (fd < 0) return reject(current, -fd, "fd-table-full", `RLIMIT_NOFILE is ${files.rlimitNofile}`);
    const f = yield* this.filpOpen(current, path, flags);
    if (typeof f === "number") {
      files.putUnusedFd(fd);
      return f;
    }
    files.fdInstall(fd, f);
    return fd;
  }
}

/** Collapses repeated slashes: "/dev//dma_heap/system" → "/dev/dma_heap/system". */
function normalize(path: string): string {
  // Most paths have no repeated slash: no regex then (every open and every new process looks one up).
  return path.includes("//") ? path.replace(/\/+/g, "/") : path;
}
