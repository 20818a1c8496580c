/**
 * User processes: a name, a pid, and the kernel task behind it (its fd table and address space).
 * A new process has stdin, stdout and stderr open on /dev/null (fds 0–2), so its first open()
 * returns 3 as on a real system, and an ioctl on fd 0 meets a file without ioctls (−ENOTTY), as
 * the dmabuf-heap selftest's first error case expects.
 *
 * `UserSpace` holds the processes of one booted kernel by name; a scenario's `proc: NAME` creates
 * its process on first use, and a name whose process exited names a new process next time.
 */
import { O_RDWR } from "../abi/uapi/fcntl.ts";
import { FilesStruct, INR_OPEN_CUR } from "../kernel/fs/fdtable.ts";
import { File } from "../kernel/fs/file.ts";
import { MmStruct } from "../kernel/fs/mmap.ts";
import { TaskStruct } from "../kernel/fs/task.ts";
import type { Kernel } from "../kernel/kernel.ts";
import { assert } from "../sim/assert.ts";
import type { Sleeps } from "../sim/scheduler.ts";
import { sysExit } from "./syscalls.ts";

export interface SpawnOptions {
  /** Open fds 0, 1, 2 on /dev/null (default true). */
  readonly stdio?: boolean;
  /** RLIMIT_NOFILE (default 1024). */
  readonly rlimitNofile?: number;
}

export class Process {
  exited = false;
  /** Exit status (0: exit() was called). */
  exitCode: number | null = null;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly task: TaskStruct,
  ) {}

  get pid(): number {
    return this.task.pid;
  }
}

export class UserSpace {
  readonly #byName = new Map<string, Process>();
  /** Every process ever created, in creation order. */
  readonly all: Process[] = [];
  #nextPid = 100;

  constructor(readonly kernel: Kernel) {}

  /** fork()+exec() of a fresh process. Synchronous: creating a process takes no simulated work here. */
  spawn(name: string, opts: SpawnOptions = {}): Process {
    const k = this.kernel;
    const files = new FilesStruct(opts.rlimitNofile ?? INR_OPEN_CUR);
    const task = new TaskStruct(k.sim, this.#nextPid++, name, files, new MmStruct(k.machine));
    if (opts.stdio ?? true) {
      const devNull = k.vfs.lookup("/dev/null");
      assert(devNull, "/dev/null is registered at boot");
      for (let fd = 0; fd < 3; fd++) {
        const got = files.getUnusedFdFlags(O_RDWR);
        assert(got === fd, `stdio fd ${fd} came out as ${got}`);
        files.fdInstall(fd, new File(k.vfs.files, devNull, devNull.fops, O_RDWR));
      }
    }
    const p = new Process(k, name, task);
    this.#byName.set(name, p);
    this.all.push(p);
    return p;
  }

  /** The live process of that name, or null. */
  get(name: string): Process | null {
    const p = this.#byName.get(name);
    return p && !p.exited ? p : null;
  }

  /** The live process of that name, created if there is none. */
  getOrSpawn(name: string, opts: SpawnOptions = {}): Process {
    return this.get(name) ?? this.spawn(name, opts);
  }

  /** Processes that have not exited. */
  live(): Process[] {
    return this.all.filter((p) => !p.exited);
  }

  /** Every live process exits (the end of a run). */
  *exitAll(): Sleeps {
    for (const p of this.live()) yield* sysExit(p);
  }
}

const SPACES = new WeakMap<Kernel, UserSpace>();

/** The processes of a booted kernel (one UserSpace per kernel). */
export function userSpaceOf(kernel: Kernel): UserSpace {
  let u = SPACES.get(kernel);
  if (!u) {
    u = new UserSpace(kernel);
    SPACES.set(kernel, u);
  }
  return u;
}
