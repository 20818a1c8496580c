/**
 * A kernel oops — what a BUG()/BUG_ON(), a NULL-pointer dereference or another fatal fault in kernel
 * code does (arch/arm64/kernel/traps.c die() → make_task_dead(), kernel/exit.c; linux-kernel.md §4.9):
 * the message is printed, and the current task is killed in place. Nothing unwinds: the mutexes it
 * holds stay held, the memory, CMA ranges and lent chunks it holds stay where they are, and the code
 * after the fault in that function never runs.
 *
 * The model throws an `Oops` out of the faulting code; the scheduler catches it where it resumed the
 * task and ends the task there (Scheduler.#step). Kernel code must therefore never catch it, and never
 * use `finally` for a release (a finally block would "unwind" what the real kernel leaves held).
 * With `panic_on_oops` the machine stops instead.
 */
export class Oops extends Error {
  override name = "Oops";

  constructor(
    /** The kernel function that faulted, e.g. "gen_pool_destroy". */
    readonly fn: string,
    /** The line the kernel prints, e.g. "kernel BUG at lib/genalloc.c!". */
    readonly what: string,
  ) {
    super(what.includes(`${fn}()`) ? what : `${what} in ${fn}()`);
  }
}
