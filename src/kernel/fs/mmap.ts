/**
 * A process's address space, as far as file mappings go — struct mm_struct and struct
 * vm_area_struct (include/linux/mm_types.h), ksys_mmap_pgoff() / do_mmap() / mmap_region()
 * (mm/mmap.c, mm/vma.c), do_munmap() and exit_mmap(), and remap_pfn_range() (mm/memory.c).
 *
 * It lives beside the VFS because a mapping is made through a file's ->mmap; src/kernel/mm models
 * the physical side (buddy, CMA, direct map). Each VMA keeps its own page table as a typed array of
 * frame indices (−1: no PTE). A present PTE is a cacheable normal-world mapping of that frame, counted
 * in machine.caches.extraMaps, which the no-speculation-hazard check reads. Anonymous memory is not
 * modelled (MAP_ANONYMOUS is refused).
 */
import { EACCES, EBADF, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP, EOVERFLOW } from "../../abi/uapi/errno.ts";
import {
  LEGACY_MAP_MASK,
  MAP_ANONYMOUS,
  MAP_PRIVATE,
  MAP_SHARED,
  MAP_SHARED_VALIDATE,
  MAP_TYPE,
  PROT_WRITE,
} from "../../abi/uapi/mman.ts";
import type { Machine } from "../../hw/machine.ts";
import { MAX_DVM_OPS } from "../../hw/mmu.ts";
import { PAGE_SIZE } from "../../hw/platform.ts";
import { fail } from "../../sim/assert.ts";
import { sleep, type Sleeps, elapse } from "../../sim/scheduler.ts";
import { FMODE_READ, FMODE_WRITE, fput, getFile, type File } from "./file.ts";
import { reject, type TaskStruct } from "./task.ts";

/** DEFAULT_MAX_MAP_COUNT — include/linux/mm.h (USHRT_MAX − MAPCOUNT_ELF_CORE_MARGIN): vm.max_map_count. */
export const DEFAULT_MAX_MAP_COUNT = 65530;
/** TASK_SIZE with 48-bit user virtual addresses (arm64 VA_BITS = 48). */
export const TASK_SIZE = 2 ** 48;
/** mmap_base without ASLR: TASK_SIZE less the minimum stack gap of 128 MiB (mm/util.c mmap_base()). */
export const MMAP_BASE = TASK_SIZE - 128 * 1024 * 1024;

/** struct vm_operations_struct: what a driver wants to hear when its VMA is split or goes. */
export interface VmOperations {
  open?(vma: Vma): void;
  close?(vma: Vma): void;
}

export class Vma {
  /** The model's page table of this VMA: frame index per page, −1 where no PTE is present. */
  ptes: Int32Array;
  vmOps: VmOperations | null = null;
  vmPrivateData: unknown = null;

  constructor(
    readonly mm: MmStruct,
    public start: number,
    public end: number,
    /** vm_pgoff: the file offset of `start`, in pages. */
    public pgoff: number,
    readonly prot: number,
    readonly flags: number,
    /** vm_file: the VMA holds a reference on it. */
    readonly file: File,
  ) {
    this.ptes = new Int32Array((end - start) / PAGE_SIZE).fill(-1);
  }

  get pages(): number {
    return (this.end - this.start) / PAGE_SIZE;
  }
}

export class MmStruct {
  /** VMAs sorted by start address, not overlapping. */
  readonly vmas: Vma[] = [];
  /** vm.max_map_count (a test may lower it to reach the limit). */
  maxMapCount = DEFAULT_MAX_MAP_COUNT;
  /** Present PTEs over all VMAs. */
  mappedPages = 0;

  constructor(readonly machine: Machine) {}

  /** mm->map_count */
  get mapCount(): number {
    return this.vmas.length;
  }

  /** find_vma_intersection(addr, addr + 1): the VMA containing addr, or null. */
  findVma(addr: number): Vma | null {
    for (const v of this.vmas) if (addr >= v.start && addr < v.end) return v;
    return null;
  }

  /** arch_get_unmapped_area_topdown(): the highest gap below mmap_base that fits, or −ENOMEM. */
  getUnmappedArea(len: number): number {
    if (len > TASK_SIZE) return -ENOMEM;
    let top = MMAP_BASE;
    for (let i = this.vmas.length - 1; i >= 0; i--) {
      const v = this.vmas[i];
      if (v.end <= top && top - v.end >= len) return top - len;
      top = Math.min(top, v.start);
    }
    return top >= len ? top - len : -ENOMEM;
  }

  insert(vma: Vma): void {
    let i = 0;
    while (i < this.vmas.length && this.vmas[i].start < vma.start) i++;
    this.vmas.splice(i, 0, vma);
  }
}

/**
 * remap_pfn_range(vma, addr, pfn, size, prot) with a frame index instead of a pfn: installs PTEs for
 * [addr, addr + size) mapping consecutive frames. Every present PTE is a cacheable user mapping of
 * its frame (caches.extraMaps). 0 or −EINVAL.
 */
export function remapPfnRange(vma: Vma, addr: number, frame: number, size: number): number {
  if (addr % PAGE_SIZE !== 0 || size % PAGE_SIZE !== 0 || addr < vma.start || addr + size > vma.end)
    return -EINVAL;
  const machine = vma.mm.machine;
  const first = (addr - vma.start) / PAGE_SIZE;
  const n = size / PAGE_SIZE;
  if (!(frame >= 0 && frame + n <= machine.frames.count)) fail(`remap_pfn_range of frames ${frame}+${n}`);
  for (let k = 0; k < n; k++) {
    if (!(vma.ptes[first + k] < 0)) fail(`remap_pfn_range over a present PTE at ${addr + k * PAGE_SIZE}`);
    vma.ptes[first + k] = frame + k;
  }
  machine.caches.addExtraMaps(frame, n, 1);
  vma.mm.mappedPages += n;
  return 0;
}

/** zap_page_range_single(): removes the PTEs of pages [first, first + n) of a VMA. */
function zapPtes(vma: Vma, first: number, n: number): void {
  const caches = vma.mm.machine.caches;
  // Runs of consecutive frames lose their mapping in one step.
  let runStart = -1;
  let runLen = 0;
  for (let k = first; k < first + n; k++) {
    const f = vma.ptes[k];
    if (f < 0) continue;
    if (runLen > 0 && f === runStart + runLen) runLen++;
    else {
      if (runLen > 0) caches.addExtraMaps(runStart, runLen, -1);
      runStart = f;
      runLen = 1;
    }
    vma.ptes[k] = -1;
    vma.mm.mappedPages--;
  }
  if (runLen > 0) caches.addExtraMaps(runStart, runLen, -1);
}

/** The cost of flushing a user range from the TLB: per-page TLBIs, or the whole ASID past MAX_TLBI_OPS. */
function tlbFlushNs(machine: Machine, pages: number): number {
  const c = machine.costs;
  return pages > MAX_DVM_OPS ? c.tlbFlushAllNs : pages * c.tlbiPageNs;
}

/** do_mmap() + mmap_region() for a file: the mapped address, or −errno. */
export function* doMmap(
  current: TaskStruct,
  file: File,
  len: number,
  prot: number,
  flags: number,
  pgoff: number,
): Sleeps<number> {
  const mm = current.mm;
  if (len === 0) return reject(current, EINVAL, "mmap-len-zero", "length is 0");
  const pages = Math.ceil(len / PAGE_SIZE);
  if (pages * PAGE_SIZE > TASK_SIZE) return reject(current, ENOMEM, "mmap-len", `length ${len} > TASK_SIZE`);
  if (pgoff + pages > 2 ** 52)
    return reject(current, EOVERFLOW, "mmap-pgoff-overflow", `pgoff ${pgoff} + ${pages} pages wraps`);
  if (mm.mapCount > mm.maxMapCount)
    return reject(current, ENOMEM, "max-map-count", `${mm.mapCount} mappings > vm.max_map_count`);
  const addr = mm.getUnmappedArea(pages * PAGE_SIZE);
  if (addr < 0) return reject(current, ENOMEM, "mmap-no-space", `no gap of ${pages} pages`);
  // switch (flags & MAP_TYPE): MAP_SHARED and MAP_SHARED_VALIDATE check write access, then fall
  // through to MAP_PRIVATE's checks; anything else is −EINVAL.
  const type = flags & MAP_TYPE;
  if (type !== MAP_SHARED && type !== MAP_SHARED_VALIDATE && type !== MAP_PRIVATE)
    return reject(current, EINVAL, "mmap-type", `flags 0x${flags.toString(16)}: no MAP_SHARED/MAP_PRIVATE`);
  if (type === MAP_SHARED_VALIDATE && (flags & ~LEGACY_MAP_MASK & ~MAP_TYPE) !== 0)
    return reject(current, EOPNOTSUPP, "mmap-validate", `flags 0x${flags.toString(16)} not supported`);
  if (type !== MAP_PRIVATE && (prot & PROT_WRITE) !== 0 && (file.fMode & FMODE_WRITE) === 0)
    return reject(current, EACCES, "mmap-shared-write", "PROT_WRITE on a file not open for writing");
  if ((file.fMode & FMODE_READ) === 0)
    return reject(current, EACCES, "mmap-read", "the file is not open for reading");
  if (!file.fOp.mmap) return reject(current, ENODEV, "mmap-no-op", `${file.inode.name} has no mmap`);
  const vma = new Vma(mm, addr, addr + pages * PAGE_SIZE, pgoff, prot, flags, getFile(file));
  const rc = yield* file.fOp.mmap(file, vma, current);
  if (rc < 0) {
    zapPtes(vma, 0, vma.pages);
    yield* fput(vma.file);
    return rc;
  }
  mm.insert(vma);
  if (current.sim.trace.listening)
    current.sim.trace.emit("kernel", "mmap", { pid: current.pid, file: file.inode.name, addr, pages });
  return addr;
}

/** ksys_mmap_pgoff() with arm64's sys_mmap() offset check: the address, or −errno. */
export function* ksysMmap(
  current: TaskStruct,
  len: number,
  prot: number,
  flags: number,
  fd: number,
  offset: number,
): Sleeps<number> {
  if (offset % PAGE_SIZE !== 0)
    return reject(current, EINVAL, "mmap-offset", `offset ${offset} not page aligned`);
  if ((flags & MAP_ANONYMOUS) !== 0)
    return reject(current, EOPNOTSUPP, "mmap-anonymous", "anonymous mappings are not modelled");
  const file = current.files.fget(fd);
  if (!file) return reject(current, EBADF, "bad-fd", `fd ${fd} is not open (mmap)`);
  const rc = yield* doMmap(current, file, len, prot, flags, offset / PAGE_SIZE);
  yield* fput(file);
  return rc;
}

/** Removes a whole VMA: its PTEs, vm_ops->close, and its file reference. */
function* removeVma(mm: MmStruct, vma: Vma): Sleeps {
  zapPtes(vma, 0, vma.pages);
  vma.vmOps?.close?.(vma);
  mm.vmas.splice(mm.vmas.indexOf(vma), 1);
  yield* fput(vma.file);
}

/** __split_vma(): the part of vma from `at` on becomes a new VMA (with its own file reference). */
function splitVma(mm: MmStruct, vma: Vma, at: number): Vma {
  const k = (at - vma.start) / PAGE_SIZE;
  const tail = new Vma(mm, at, vma.end, vma.pgoff + k, vma.prot, vma.flags, getFile(vma.file));
  tail.ptes = vma.ptes.slice(k);
  tail.vmOps = vma.vmOps;
  tail.vmPrivateData = vma.vmPrivateData;
  vma.ptes = vma.ptes.slice(0, k);
  vma.end = at;
  mm.insert(tail);
  tail.vmOps?.open?.(tail);
  return tail;
}

/** do_munmap(mm, start, len): 0 or −errno. Unmapping where nothing is mapped succeeds. */
export function* doMunmap(current: TaskStruct, start: number, len: number): Sleeps<number> {
  const mm = current.mm;
  if (start % PAGE_SIZE !== 0 || start > TASK_SIZE || len > TASK_SIZE - start)
    return reject(current, EINVAL, "munmap-range", `start 0x${start.toString(16)} length ${len}`);
  const end = start + Math.ceil(len / PAGE_SIZE) * PAGE_SIZE;
  if (end === start) return reject(current, EINVAL, "munmap-len-zero", "length is 0");
  const hit = mm.vmas.filter((v) => v.start < end && v.end > start);
  // A hole punched in the middle needs one more VMA.
  if (hit.some((v) => v.start < start && v.end > end) && mm.mapCount >= mm.maxMapCount)
    return reject(current, ENOMEM, "max-map-count", "splitting would pass vm.max_map_count");
  let pages = 0;
  for (const v of hit) {
    let mid = v;
    if (mid.start < start) mid = splitVma(mm, mid, start);
    if (mid.end > end) splitVma(mm, mid, end);
    pages += mid.pages;
    yield* removeVma(mm, mid);
  }
  if (pages > 0) {
    const costNs = tlbFlushNs(mm.machine, pages);
    if (!elapse(costNs)) yield sleep(costNs);
  }
  return 0;
}

/** exit_mmap(): every VMA goes, then one flush of the address space. */
export function* exitMmap(mm: MmStruct): Sleeps {
  const had = mm.vmas.length;
  while (mm.vmas.length > 0) yield* removeVma(mm, mm.vmas[mm.vmas.length - 1]);
  if (had > 0 && !elapse(mm.machine.costs.tlbFlushAllNs)) yield sleep(mm.machine.costs.tlbFlushAllNs);
}
