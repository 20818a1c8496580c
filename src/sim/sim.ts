/**
 * The engine context one run shares: virtual clock and scheduler, random streams, trace bus, findings.
 * Every layer receives it; nothing else is global.
 */
import { Findings } from "./findings.ts";
import { Prng } from "./prng.ts";
import { Scheduler, type Chooser } from "./scheduler.ts";
import { TraceBus } from "./trace.ts";

export class Sim {
  readonly sched: Scheduler;
  readonly prng: Prng;
  readonly trace: TraceBus;
  readonly findings: Findings;

  constructor(seed: number, chooser?: Chooser) {
    this.sched = new Scheduler(chooser);
    this.prng = new Prng(seed);
    const now = () => this.sched.now;
    const task = () => this.sched.current?.name ?? "-";
    this.trace = new TraceBus(now, task);
    this.findings = new Findings(now, task);
    this.findings.onFinding((f) => {
      if (this.trace.listening)
        this.trace.emit("check", "finding", { id: f.id, message: f.message, ...f.data });
    });
  }

  get now(): number {
    return this.sched.now;
  }

  /** Reports a WARN or BUG the real kernel would print (invariant `kernel-warn`). */
  kernelWarn(kind: "WARN" | "BUG", message: string, data?: Record<string, unknown>): void {
    this.findings.report("kernel-warn", `${kind}: ${message}`, data);
  }
}
