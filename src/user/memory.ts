/**
 * A process touching its mapped memory: loads and stores through its page tables, as the CPU does.
 * A page with no PTE, or a store to a mapping without PROT_WRITE, is a fault (SIGSEGV); a bus abort
 * from the firewall is one too (SIGBUS). Either comes back as −EFAULT, and the rest of the range is
 * not touched. Stores leave normal-world data (taint) and possibly dirty lines in the pages.
 */
import { EFAULT, ESRCH } from "../abi/uapi/errno.ts";
import { PROT_READ, PROT_WRITE } from "../abi/uapi/mman.ts";
import { TAINT_NS_DATA } from "../hw/frames.ts";
import { ACCESS_OK } from "../hw/machine.ts";
import { PAGE_SIZE } from "../hw/platform.ts";
import { sleep, type Sleeps, elapse } from "../sim/scheduler.ts";
import type { Process } from "./process.ts";

export function* userAccess(p: Process, addr: number, length: number, op: "read" | "write"): Sleeps<number> {
  if (p.exited) return -ESRCH;
  const mm = p.task.mm;
  const machine = mm.machine;
  const cpu = machine.masterIndex("cpu-ns");
  const need = op === "write" ? PROT_WRITE : PROT_READ;
  let a = addr;
  const end = addr + length;
  while (a < end) {
    const vma = mm.findVma(a);
    if (!vma || (vma.prot & need) === 0) return -EFAULT;
    const page = Math.floor((a - vma.start) / PAGE_SIZE);
    const frame = vma.ptes[page];
    if (frame < 0) return -EFAULT;
    const off = (a - vma.start) % PAGE_SIZE;
    const n = Math.min(PAGE_SIZE - off, end - a);
    const pa = machine.frames.paOf(frame) + off;
    const rc = machine.access(cpu, pa, n, op, op === "write" ? { taint: TAINT_NS_DATA } : undefined);
    if (rc !== ACCESS_OK) return -EFAULT;
    a += n;
  }
  const costNs = Math.ceil(length / machine.costs.memcpyBytesPerNs);
  if (!elapse(costNs)) yield sleep(costNs);
  return 0;
}
