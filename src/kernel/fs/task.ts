/**
 * The parts of struct task_struct (include/linux/sched.h) that the fs, mm and driver code of this
 * model use: the task's open files (current->files) and address space (current->mm).
 *
 * Linux reaches these through the implicit `current`; the model passes the calling task explicitly
 * to every file operation that may need it (open, ioctl, mmap), because one simulator task (a
 * scenario's step runner) may issue system calls for several processes.
 *
 * Every rejection a system call meets is recorded here with the rule that applied (STYLE.md
 * "Boundaries and errors"), so a scenario step can say why a call failed, and is traced.
 */
import type { Sim } from "../../sim/sim.ts";
import { errnoName } from "../../abi/uapi/errno.ts";
import type { FilesStruct } from "./fdtable.ts";
import type { MmStruct } from "./mmap.ts";

export interface Rejection {
  /** Positive errno value. */
  readonly errno: number;
  /** A short id of the rule that applied, e.g. "dma-heap-fd-flags". */
  readonly rule: string;
  readonly detail: string;
}

export class TaskStruct {
  /** The last rejection since the current system call began (cleared at syscall entry). */
  lastReject: Rejection | null = null;

  constructor(
    readonly sim: Sim,
    readonly pid: number,
    /** task->comm: the process name. */
    readonly comm: string,
    readonly files: FilesStruct,
    readonly mm: MmStruct,
  ) {}
}

/**
 * Returns −errno after recording why: `return reject(current, EINVAL, "dma-heap-len-zero", "...")`.
 * The first rejection of a call is the one kept (inner rules fire first, then callers pass it up).
 */
export function reject(current: TaskStruct, errno: number, rule: string, detail: string): number {
  if (current.lastReject === null) current.lastReject = { errno, rule, detail };
  const trace = current.sim.trace;
  if (trace.listening)
    trace.emit("kernel", "reject", { pid: current.pid, errno: errnoName(errno), rule, detail });
  return -errno;
}
