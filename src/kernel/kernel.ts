/**
 * The booted kernel: memory management, the VFS, the dma-buf and dma-heap frameworks and the heaps
 * registered at boot. start_kernel() → mm_core_init(), then the initcalls in their levels:
 * dma_heap_init() (subsys_initcall), system_heap_create() (module_init).
 *
 * Later subsystems (the TEE core, the OP-TEE driver and its protected heaps) plug in the same way:
 * an initcall that receives the Kernel, registers device nodes in `vfs` and heaps in `dmaHeaps`,
 * and keeps its own state in a field it adds to this interface.
 *
 * Loadable modules (kernel/module/main.c, as far as delete_module(2) needs them): a driver built as a
 * module registers a `struct module` with its exit function in `modules` when its initcall runs (the
 * model loads modules at boot, as modprobe from the initramfs would). The configuration modelled:
 * CONFIG_TEE=y and CONFIG_ARM_FFA_TRANSPORT=y (built in: no module to remove), CONFIG_OPTEE=m (module
 * "optee"), CONFIG_MODULE_UNLOAD=y and CONFIG_MODULE_FORCE_UNLOAD=y (so O_TRUNC forces; upstream's
 * default is n, where O_TRUNC changes nothing — BootOptions.moduleForceUnload = false).
 */
import { EBUSY, ENOENT, EWOULDBLOCK } from "../abi/uapi/errno.ts";
import { O_TRUNC } from "../abi/uapi/fcntl.ts";
import type { Machine } from "../hw/machine.ts";
import { Mutex } from "../sim/mutex.ts";
import type { Sleeps } from "../sim/scheduler.ts";
import type { Sim } from "../sim/sim.ts";
import { DmaBufList } from "./dma-buf/dma_buf.ts";
import { DmaHeaps, type DmaHeap } from "./dma-buf/dma_heap.ts";
import { systemHeapCreate } from "./dma-buf/heaps/system_heap.ts";
import { Vfs } from "./fs/vfs.ts";
import { Mm } from "./mm/mm.ts";
import type { ArmFfaDriver } from "./firmware/arm_ffa/driver.ts";
import type { Optee } from "./optee/optee.ts";
import type { TeeSubsys } from "./tee/tee_core.ts";
import { SideTable } from "../sim/side_table.ts";

/** MODULE_REF_BASE — kernel/module/main.c: the reference a live module holds on itself. */
export const MODULE_REF_BASE = 1;

/** enum module_state, as far as modelled. */
export type ModuleState = "live" | "going" | "unformed";

/** struct module: name, state, refcnt (MODULE_REF_BASE + users), source_list, exit. */
export class KModule {
  state: ModuleState = "live";
  refcnt = MODULE_REF_BASE;
  /** source_list: modules that use this one (none: the modelled modules use built-in code only). */
  readonly sourceList: KModule[] = [];

  constructor(
    readonly name: string,
    /** mod->exit (module_exit()); null for a module without one. */
    readonly exit: ((k: Kernel) => Sleeps) | null,
    /** mod->init: whether the module has a module_init(). */
    readonly hasInit = true,
  ) {}
}

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
  /** The modules list (find_module()), and module_mutex. */
  readonly modules: Map<string, KModule>;
  readonly moduleMutex: Mutex;
  /** CONFIG_MODULE_FORCE_UNLOAD */
  readonly moduleForceUnload: boolean;
  /** True while the initcalls run (memory taken then belongs to the boot state quiesce-clean compares with). */
  booting: boolean;
  /** Kernel taint flags set so far (add_taint()), by letter: "R" = TAINT_FORCED_RMMOD. */
  readonly taints: Set<string>;
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
  /** CONFIG_MODULE_FORCE_UNLOAD; default true (see the header). */
  readonly moduleForceUnload?: boolean;
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
  const kernel: Kernel = {
    sim,
    machine,
    mm,
    vfs,
    dmaBufs,
    dmaHeaps,
    systemHeap,
    modules: new Map(),
    moduleMutex: new Mutex(sim, "module_mutex"),
    moduleForceUnload: opts.moduleForceUnload ?? true,
    booting: true,
    taints: new Set(),
  };
  for (const call of opts.initcalls ?? []) {
    const rc = call(kernel);
    if (typeof rc === "number" && rc < 0 && sim.trace.listening)
      sim.trace.emit("kernel", "initcall_failed", { initcall: call.name, rc });
  }
  kernel.booting = false;
  return kernel;
}

// ---- Modules (kernel/module/main.c) ----

/** A module's load: do_init_module() leaves it MODULE_STATE_LIVE in the modules list. */
export function moduleLoaded(kernel: Kernel, name: string, exit: ((k: Kernel) => Sleeps) | null): KModule {
  const mod = new KModule(name, exit);
  kernel.modules.set(name, mod);
  return mod;
}

/** try_module_get(): false for a module that is not live (or NULL: built in, always true). */
export function tryModuleGet(mod: KModule | null): boolean {
  if (!mod) return true;
  if (mod.state !== "live" || mod.refcnt === 0) return false;
  mod.refcnt++;
  return true;
}

/** module_put(): atomic_dec_if_positive(); WARN_ON() when it would go below 0. */
export function modulePut(sim: Sim, mod: KModule | null): void {
  if (!mod) return;
  if (mod.refcnt - 1 < 0) {
    sim.kernelWarn("WARN", `module_put(${mod.name}): refcnt already 0 (WARN_ON(ret < 0))`);
    return;
  }
  mod.refcnt--;
}

/** module_refcount(): −1 while unloading, else the references beyond MODULE_REF_BASE. */
export function moduleRefcount(mod: KModule): number {
  return mod.refcnt - MODULE_REF_BASE;
}

/** try_force_unload(flags): O_TRUNC with CONFIG_MODULE_FORCE_UNLOAD; taints the kernel (TAINT_FORCED_RMMOD). */
function tryForceUnload(kernel: Kernel, flags: number): boolean {
  if (!kernel.moduleForceUnload || !(flags & O_TRUNC)) return false;
  kernel.taints.add("R");
  return true;
}

/** try_release_module_ref(): drops MODULE_REF_BASE; if users remain, puts it back (unless it hit 0). */
function tryReleaseModuleRef(mod: KModule): number {
  mod.refcnt -= MODULE_REF_BASE;
  if (mod.refcnt === 0) return 0;
  mod.refcnt += MODULE_REF_BASE; // atomic_add_unless(&mod->refcnt, MODULE_REF_BASE, 0)
  return 1;
}

/** Why delete_module() refused, for the caller's rejection. */
export interface DeleteModuleResult {
  readonly rc: number;
  readonly rule?: string;
  readonly why?: string;
}

/**
 * SYSCALL_DEFINE2(delete_module, name, flags) — kernel/module/main.c, in its order: module_mutex
 * (interruptible), find_module() (−ENOENT), other modules depending on it (−EWOULDBLOCK), not live
 * (−EBUSY: "already dying"), an init without an exit (−EBUSY unless forced), try_stop_module(): users
 * beyond MODULE_REF_BASE are −EWOULDBLOCK unless forced — O_NONBLOCK is not looked at (the wait for
 * users went with Linux 3.13) — then MODULE_STATE_GOING, module_mutex dropped, mod->exit() (which may
 * sleep, e.g. in tee_device_unregister() waiting for the device's users), free_module(). The
 * capability check (CAP_SYS_MODULE) passes: the model's processes are root.
 */
export function* deleteModule(kernel: Kernel, name: string, flags: number): Sleeps<DeleteModuleResult> {
  yield* kernel.moduleMutex.lock();
  const mod = kernel.modules.get(name);
  let res: DeleteModuleResult | null = null;
  if (!mod || mod.state === "unformed")
    res = { rc: -ENOENT, rule: "module-not-found", why: `no module "${name}" is loaded` };
  else if (mod.sourceList.length)
    res = {
      rc: -EWOULDBLOCK,
      rule: "module-has-users",
      why: `"${name}" is used by ${mod.sourceList.map((m) => m.name).join(", ")}: get rid of them first`,
    };
  else if (mod.state !== "live") res = { rc: -EBUSY, rule: "module-dying", why: `${name} already dying` };
  else if (mod.hasInit && !mod.exit && !tryForceUnload(kernel, flags))
    res = { rc: -EBUSY, rule: "module-no-exit", why: `"${name}" has no exit function` };
  else if (tryReleaseModuleRef(mod) !== 0 && !tryForceUnload(kernel, flags))
    res = {
      rc: -EWOULDBLOCK,
      rule: "module-in-use",
      why: `"${name}" has ${moduleRefcount(mod)} reference(s) (module_refcount)`,
    };
  if (res) {
    yield* kernel.moduleMutex.unlockPreempt();
    return res;
  }
  const m = mod!;
  m.state = "going";
  yield* kernel.moduleMutex.unlockPreempt();
  if (kernel.sim.trace.listening) kernel.sim.trace.emit("kernel", "module_going", { name, flags });
  // "Final destruction now no one is using it."
  if (m.exit) yield* m.exit(kernel);
  // free_module(): MODULE_STATE_UNFORMED, off the list.
  yield* kernel.moduleMutex.lock();
  m.state = "unformed";
  kernel.modules.delete(name);
  yield* kernel.moduleMutex.unlockPreempt();
  if (kernel.sim.trace.listening) kernel.sim.trace.emit("kernel", "module_freed", { name });
  return { rc: 0 };
}

// ---- Boot memory given back ----

const bootReleased = new SideTable<Mm, Map<number, number>>();

/**
 * Pages the kernel held when boot ended (the state quiesce-clean compares with) and freed since — a
 * removed module's memory: e.g. the OP-TEE driver's argument page, allocated at probe and freed by
 * optee_shm_arg_cache_uninit() — counted by the page state they had at boot.
 */
export function bootPagesReleased(mm: Mm): ReadonlyMap<number, number> {
  return bootReleased.get(mm) ?? new Map();
}

/** Records `count` pages of boot-time state `state` freed (see bootPagesReleased()). */
export function noteBootPagesFreed(mm: Mm, state: number, count: number): void {
  let m = bootReleased.get(mm);
  if (!m) bootReleased.set(mm, (m = new Map()));
  m.set(state, (m.get(state) ?? 0) + count);
}
