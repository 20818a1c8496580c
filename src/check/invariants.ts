/**
 * The invariants every run checks (ARCHITECTURE.md §8). The ids are public: reports name them and
 * scenarios assert on them (`expect: {findings: {ID: N}}`). Where each is checked is noted.
 */
export const INVARIANTS = {
  conservation: "every page frame is in exactly one state; the counts add up to DRAM",
  "protected-when-lent": "every lent page is in fact out of the normal world's reach",
  "ns-no-access": "no normal-world CPU or non-allowed device access to restricted memory succeeds",
  "kernel-no-touch": "the kernel never touches memory it has lent",
  "no-speculation-hazard":
    "no page is protected by a bus-side firewall while a cacheable normal-world mapping of it exists",
  "no-dirty-lend": "no page becomes protected while normal-world caches may hold dirty lines for it",
  "no-stale-tlb":
    "no page becomes protected by a bus-side firewall while the TLB may still hold a linear-map translation the tables no longer have (changed without a TLB flush)",
  "break-before-make":
    "no live linear-map entry has its memory type changed, or is split without BBML2/BBML3, without first being invalidated and the TLB flushed",
  "scrub-before-return": "no page returns to the normal world holding secret data",
  "pool-consistency": "pool refcounts equal live buffers; no buffer outlives its chunk",
  "ffa-consistency": "SPMC share states agree with page ownership; handles are unique and released",
  "quiesce-clean": "when every process has exited, every page is back where it was at boot",
  "kernel-warn": "the model never reaches a WARN or BUG the real kernel would print",
  "hung-task":
    "no task sleeps uninterruptibly for hung_task_timeout_secs (120 s) without running, as khungtaskd reports",
} as const;

export type InvariantId = keyof typeof INVARIANTS;

export const INVARIANT_IDS = Object.keys(INVARIANTS) as InvariantId[];
