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
import { assert, fail } from "../sim/assert.ts";
import type { Oops } from "../sim/oops.ts";
import { KILL_ANYWHERE } from "../sim/faults.ts";
import type { Sleeps, Task } from "../sim/scheduler.ts";
import { doExit, sysExit } from "./syscalls.ts";
import { hiddenState, type Snapshottable } from "../sim/snapshot.ts";
import { SideTable } from "../sim/side_table.ts";

/** SIGSEGV: the status make_task_dead() passes to do_exit() after an oops. */
export const SIGSEGV = 11;
/** SIGKILL: the exit status of a process a `kill` fault ended (sim/faults.ts). */
export const SIGKILL = 9;

const SIGKILL_ONLY: readonly string[] = ["SIGKILL"];
/** A point counted, where nothing may strike (no list made per scheduling point). */
const NOTHING: readonly string[] = [];

export interface SpawnOptions {
  /** Open fds 0, 1, 2 on /dev/null (default true). */
  readonly stdio?: boolean;
  /** RLIMIT_NOFILE (default 1024). */
  readonly rlimitNofile?: number;
}

export class Process {
  exited = false;
  /** In do_exit(): no new system call starts. */
  exiting = false;
  /** Exit status (0: exit() was called; SIGSEGV: an oops killed it). */
  exitCode: number | null = null;
  /** The simulator task of the process's last system call (its thread while in the kernel). */
  thread: Task | null = null;
  /**
   * Its threads inside a system call now (between syscall entry and the return to user space): the
   * simulator tasks that play it there. Usually one; two when two scenario tasks use one process, as
   * two threads of one program do.
   */
  readonly inKernel: Task[] = [];
  /**
   * SIGKILL is pending: each call in flight completes (or gives up at a killable wait) and its thread
   * dies on the way out; the last thread out runs do_exit()'s release of the files and the mm.
   */
  sigkill = false;
  /**
   * do_exit() is due when the last of its threads leaves the kernel, with this exit status: one thread
   * oopsed (SIGSEGV) or called exit() (0) while another was in a call, which keeps the files open
   * until it is out (the files_struct is put by the last). Null: none due.
   */
  pendingExit: number | null = null;
  /** The key its kill points anywhere count under (name + KILL_ANYWHERE), made once: each scheduling point asks. */
  readonly anywhereKey: string;
  /**
   * The fault plan's slots (FaultPlan.slot()) its kill points count in, under its name and under
   * anywhereKey; −1 until its first point. A process respawned under the same name gets the same slots.
   */
  killSlot = -1;
  anywhereSlot = -1;

  constructor(
    readonly kernel: Kernel,
    readonly name: string,
    readonly task: TaskStruct,
  ) {
    this.anywhereKey = name + KILL_ANYWHERE;
  }

  get pid(): number {
    return this.task.pid;
  }

  /** A thread of it is inside a system call. */
  get inSyscall(): boolean {
    return this.inKernel.length > 0;
  }
}

export class UserSpace implements Snapshottable {
  readonly #byName = new Map<string, Process>();
  /**
   * schedPoint() as the scheduler's onSchedPoint hook, made once. A hook made per run (an arrow in the
   * runner) held the runner's whole context — the run's steps, outcomes, tasks — from the scheduler, an
   * old-space object, and every explored run's objects then survived the young GC (~0.9 MB promoted at
   * each scavenge of a --faults search, against ~25 KB without faults).
   */
  readonly schedPointHook = (t: Task): void => this.schedPoint(t);
  /** Every process ever created, in creation order. */
  readonly all: Process[] = [];
  #nextPid = 100;

  /** Snapshot support (sim/snapshot.ts): the private state. */
  [hiddenState](saved?: Readonly<Record<string, unknown>>): Record<string, unknown> {
    if (saved) {
      this.#nextPid = saved.nextPid as number;
    }
    return { byName: this.#byName, nextPid: this.#nextPid };
  }

  constructor(readonly kernel: Kernel) {
    kernel.sim.onOops((t, oops) => this.#oopsed(t, oops));
  }

  /**
   * An oops killed task `t`. The process whose thread it was dies with it: make_task_dead() goes on to
   * do_exit(SIGSEGV) on the same CPU, which closes the process's files (their releases may hit the
   * same broken state again), but nothing the faulting kernel code held is released. An oops inside
   * do_exit() itself is a recursive fault: the task is left dead and the rest of its files stay open
   * ("Fixing recursive fault but reboot is needed!").
   */
  #oopsed(t: Task, oops: Oops): void {
    for (const p of this.all) {
      // The process whose call the task was in (a task in user space serves none).
      const i = p.inKernel.indexOf(t);
      if (p.exited || i < 0) continue;
      p.inKernel.splice(i, 1);
      const trace = this.kernel.sim.trace;
      if (trace.listening) trace.emit("kernel", "oops", { pid: p.pid, comm: p.name, what: oops.message });
      if (p.exiting && p.pendingExit === null) {
        p.exited = true;
        p.exitCode = SIGSEGV;
        continue;
      }
      p.exiting = true;
      // Another thread of it is in a call: it finishes, and the last one out releases the files.
      if (p.inKernel.length > 0) {
        p.pendingExit ??= SIGSEGV;
        continue;
      }
      p.pendingExit = null;
      this.kernel.sim.sched.spawn(`do_exit:${p.name}`, () => doExit(p, SIGSEGV));
    }
  }

  /**
   * A scheduling point of task `t` (the scheduler's onSchedPoint, installed by the runner when `kill`
   * faults can strike). For a process whose thread `t` is, it is a kill point anywhere (`kill:
   * {anywhere: true}`, counted under its name + KILL_ANYWHERE): inside a system call, or in user space
   * — between its steps, in a sleep, holding whatever fds and dma-bufs it has. Inside a system call it
   * is also the process's next in-syscall kill point (`kill: {at}`, counted under its name). SIGKILL
   * in user space ends the process at once: do_exit() closes its fds, and a dma-buf whose last fd goes
   * is released to its pool.
   */
  schedPoint(t: Task): void {
    const faults = this.kernel.sim.faults;
    const choosing = faults.choosing();
    for (const p of this.all) {
      if (p.thread !== t || p.sigkill || p.exiting || p.exited) continue;
      if (p.inSyscall) {
        if (p.killSlot < 0) p.killSlot = faults.slot("kill", p.name);
        if (faults.atSlot(p.killSlot, "kill", p.name, SIGKILL_ONLY) !== null) {
          this.kill(p);
          continue;
        }
      }
      // A fault chooser strikes here only in user space: inside a system call it was asked just above,
      // under the process's name. The point is counted all the same, so that a kill it records with
      // `anywhere` (the n-th point of either kind) replays at the same point.
      const anywhere = p.anywhereKey;
      if (!choosing && !faults.hasScripted("kill", anywhere)) continue;
      if (p.anywhereSlot < 0) p.anywhereSlot = faults.slot("kill", anywhere);
      if (faults.atSlot(p.anywhereSlot, "kill", anywhere, p.inSyscall ? NOTHING : SIGKILL_ONLY) !== null)
        this.kill(p);
    }
  }

  /**
   * kill -9: complete_signal() sets SIGKILL pending on the thread and wakes it from a killable sleep
   * (TASK_KILLABLE; none is on the paths modelled: protmem's mutexes and OP-TEE's waits are
   * TASK_UNINTERRUPTIBLE, so a thread sleeping there sleeps on). Kernel code that checks
   * fatal_signal_pending() gives up (alloc_contig_range() with −EINTR); the call then returns, and on
   * the way to user space the signal is delivered: do_exit(SIGKILL), which closes every fd. A process
   * in user space (no call in flight) exits at once.
   */
  kill(p: Process): void {
    if (p.exiting || p.exited || p.sigkill) return;
    p.sigkill = true;
    const sim = this.kernel.sim;
    // trace_signal_generate() (include/trace/events/signal.h): sig=9 errno=0 code=0 comm= pid= grp=1 res=0
    if (sim.trace.listening)
      sim.trace.emit("kernel", "signal_generate", { sig: SIGKILL, comm: p.name, pid: p.pid, grp: 1, res: 0 });
    // Every thread in a call: fatal_signal_pending() from now on (complete_signal() signals the group).
    if (p.inSyscall) {
      for (const t of p.inKernel) t.fatalSignal = true;
      return;
    }
    p.exiting = true;
    sim.sched.spawn(`do_exit:${p.name}`, () => doExit(p, SIGKILL));
  }

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
        if (got !== fd) fail(`stdio fd ${fd} came out as ${got}`);
        files.fdInstall(fd, new File(k.vfs.files, devNull, devNull.fops, O_RDWR));
      }
    }
    const p = new Process(k, name, task);
    this.#byName.set(name, p);
    this.all.push(p);
    return p;
  }

  /**
   * The live process of that name, or null (one SIGKILL struck is gone already, even while a thread of it
   * finishes a call: a step after that runs in a new process of the name).
   */
  get(name: string): Process | null {
    const p = this.#byName.get(name);
    return p && !p.exited && !p.sigkill ? p : null;
  }

  /** The live process of that name, created if there is none. */
  getOrSpawn(name: string, opts: SpawnOptions = {}): Process {
    return this.get(name) ?? this.spawn(name, opts);
  }

  /** Processes that have not exited (nor begun to). */
  live(): Process[] {
    return this.all.filter((p) => !p.exited && !p.exiting);
  }

  /** Every live process exits (the end of a run). */
  *exitAll(): Sleeps {
    for (const p of this.live()) yield* sysExit(p);
  }
}

const SPACES = new SideTable<Kernel, UserSpace>();

/** The processes of a booted kernel (one UserSpace per kernel). */
export function userSpaceOf(kernel: Kernel): UserSpace {
  let u = SPACES.get(kernel);
  if (!u) {
    u = new UserSpace(kernel);
    SPACES.set(kernel, u);
  }
  return u;
}
