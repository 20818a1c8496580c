/**
 * The booted kernel: memory management, the VFS, the dma-buf and dma-heap frameworks and the heaps
 * registered at boot. start_kernel() → mm_core_init(), then the initcalls in their levels:
 * dma_heap_init() (subsys_initcall), system_heap_create() (module_init).
 *
 * Later subsystems (the TEE core, the OP-TEE driver and its protected heaps) plug in the same way:
 * an initcall that receives the Kernel, registers device nodes in `vfs` and heaps in `dmaHeaps`,
 * and keeps its own state in a field it adds to this interface.
 */
import type { Machine } from "../hw/machine.ts";
import type { Sim } from "../sim/sim.ts";
import { DmaBufList } from "./dma-buf/dma_buf.ts";
import { DmaHeaps, type DmaHeap } from "./dma-buf/dma_heap.ts";
import { systemHeapCreate } from "./dma-buf/heaps/system_heap.ts";
import { Vfs } from "./fs/vfs.ts";
import { Mm } from "./mm/mm.ts";
import type { ArmFfaDriver } from "./firmware/arm_ffa/driver.ts";
import type { Optee } from "./optee/optee.ts";
import type { TeeSubsys } from "./tee/tee_core.ts";

export interface Kernel {
  readonly sim: Sim;
  readonly machine: Machine;
  readonly mm: Mm;
  readonly vfs: Vfs;
  /** db_list: every live dma-buf. */
  readonly dmaBufs: DmaBufList;
  /** heap_list and the heap minors. */
  readonly dmaHeaps: DmaHeaps;
  /** The "system" heap, or null when it was left out (BootOptions.systemHeap = false). */
  readonly systemHeap: DmaHeap | null;
  /** The arm_ffa driver (drivers/firmware/arm_ffa), once its initcall ran. */
  armFfa?: ArmFfaDriver;
  /** The TEE subsystem (drivers/tee): devices and the protected dma-heaps. */
  tee?: TeeSubsys;
  /** The OP-TEE driver instance (drivers/tee/optee), once it probed. */
  optee?: Optee;
}

/** An initcall: runs once at boot, after the core is up; a negative return is logged, as the kernel does. */
export type Initcall = (k: Kernel) => number | void;

export interface BootOptions {
  /** Register the "system" heap (CONFIG_DMABUF_HEAPS_SYSTEM); default true. */
  readonly systemHeap?: boolean;
  /** Further initcalls, run in order after the built-in ones (the TEE subsystem, drivers). */
  readonly initcalls?: readonly Initcall[];
}

/** Boots the kernel on a machine: synchronous, as boot runs before any task. */
export function bootKernel(sim: Sim, machine: Machine, opts: BootOptions = {}): Kernel {
  const mm = new Mm(sim, machine);
  const vfs = new Vfs(sim);
  const dmaBufs = new DmaBufList(sim, vfs.files);
  const dmaHeaps = new DmaHeaps(sim, vfs);
  let systemHeap: DmaHeap | null = null;
  if (opts.systemHeap ?? true) {
    const h = systemHeapCreate(dmaHeaps, { mm, machine, dmaBufs });
    if (typeof h === "number") throw new Error(`system_heap_create failed: ${h}`);
    systemHeap = h;
  }
  const kernel: Kernel = { sim, machine, mm, vfs, dmaBufs, dmaHeaps, systemHeap };
  for (const call of opts.initcalls ?? []) {
    const rc = call(kernel);
    if (typeof rc === "number" && rc < 0 && sim.trace.listening)
      sim.trace.emit("kernel", "initcall_failed", { initcall: call.name, rc });
  }
  return kernel;
}
