/**
 * Snapshots of an SPMC's state, cheap enough to take and compare around every fuzzed call: the
 * share-state table (Hafnium) or the FF-A objects and pending fragmented sends (OP-TEE at S-EL1), the
 * SPMC's page-ownership arrays, every endpoint's mailbox state (version, RX/TX mapping, RX ownership),
 * and the machine's view the SPMC changes — frame owner, use case and taint, and the granule
 * protection table under RME. Typed arrays are copied and compared with memcmp (Buffer.equals); the
 * tables are cloned object by object.
 *
 * `differs()` answers "did this call change anything?" for the fuzzer's rejection rule: a call
 * answered with FFA_ERROR must leave all of this as it was (reference/ffa.md §5: Hafnium checks
 * everything before it commits; OP-TEE's handle_mem_op() deletes what it built on failure).
 */
import { HafniumSpmc } from "../../firmware/hafnium/hafnium.ts";
import type { MobjFfa } from "../../firmware/optee_sel1/mobj_ffa.ts";
import type { MemFragState } from "../../firmware/optee_sel1/mem_op.ts";
import { OpteeSel1Spmc } from "../../firmware/optee_sel1/optee_sel1.ts";
import { cloneShareState, type ShareReceiver, type ShareState } from "../../firmware/spmc/share_state.ts";
import { Sel1Mobjs } from "../../secure/optee/sel1_mobj.ts";
import { Sel2Mobjs, type Sel2Mobj } from "../../secure/optee/sel2_mobj.ts";
import { hiddenState } from "../../sim/snapshot.ts";
import type { FuzzRig } from "./rig.ts";

interface EndpointState {
  readonly id: number;
  readonly version: number | null;
  readonly versionLocked: boolean;
  readonly tx: number | null;
  readonly rx: number | null;
  readonly pageCount: number;
  readonly rxFull: boolean;
}

interface FragSnapshot {
  readonly cookie: bigint;
  readonly mobj: MobjFfa;
  readonly regionsLeft: number;
  readonly fragOffset: number;
}

export interface SpmcSnapshot {
  readonly endpoints: readonly EndpointState[];
  readonly frameOwner: Uint8Array;
  readonly frameUseCase: Uint8Array;
  readonly frameTaint: Uint8Array;
  /** The machine's index over frameOwner/frameUseCase (PageFrames.restrictedRuns), restored with them. */
  readonly restrictedRuns: number[];
  readonly gpi: Uint8Array | null;
  readonly hung: string | null;
  readonly shares: readonly (ShareState | null)[] | null;
  readonly pageOwner: Uint16Array | null;
  readonly pageMode: Uint8Array | null;
  readonly pageHolder: Uint16Array | null;
  readonly pageNwdView: Uint8Array | null;
  readonly cookieBits: readonly boolean[] | null;
  readonly mobjs: readonly MobjFfa[] | null;
  readonly frags: readonly FragSnapshot[] | null;
  /** Hafnium: the clones this snapshot's last restore installed (state.ts restore()). */
  readonly installed?: readonly (ShareState | null)[];
  /** OP-TEE: per saved object, the clone this snapshot's last restore installed. */
  readonly installedMobjs?: ReadonlyMap<MobjFfa, MobjFfa>;
  /** Buffer views of the arrays above, in liveViews() order. */
  readonly views: readonly Buffer[];
  /** The SPMC's notification state (bitmaps created, bindings, pending). */
  readonly notif: NotifState;
  /** OP-TEE's own memory objects (secure/optee: what its direct requests change). */
  readonly optee: OpteeState;
}

/**
 * OP-TEE's own view of FF-A memory beyond the SPMC's table: at S-EL1 the cookies whose protected
 * object is assigned (mobj_ffa_assign_protmem(), Sel1Mobjs); under Hafnium the objects it retrieved
 * and keeps until OPTEE_FFA_UNREGISTER_SHM / RELEASE_PROTMEM relinquishes them (Sel2Mobjs), cloned.
 * Empty in every base; a case fills it only through OP-TEE's own messages.
 */
type OpteeState = { readonly assigned: readonly bigint[] } | { readonly objects: readonly Sel2Mobj[] } | null;

function sel1Assigned(rig: FuzzRig): Set<MobjFfa> | null {
  const m = rig.optee.mobjs;
  return m instanceof Sel1Mobjs ? (m[hiddenState]().assigned as Set<MobjFfa>) : null;
}

function sel2Objects(rig: FuzzRig): Map<bigint, Sel2Mobj> | null {
  const m = rig.optee.mobjs;
  return m instanceof Sel2Mobjs ? (m[hiddenState]().objects as Map<bigint, Sel2Mobj>) : null;
}

const NO_COOKIES: readonly bigint[] = [];
const NO_OBJECTS: readonly Sel2Mobj[] = [];

function cloneSel2(m: Sel2Mobj): Sel2Mobj {
  return { ...m, ranges: m.ranges.map((r) => ({ ...r })) };
}

function captureOptee(rig: FuzzRig): OpteeState {
  const a = sel1Assigned(rig);
  if (a) return { assigned: a.size === 0 ? NO_COOKIES : [...a].map((m) => m.cookie) };
  const o = sel2Objects(rig);
  if (o) return { objects: o.size === 0 ? NO_OBJECTS : [...o.values()].map(cloneSel2) };
  return null;
}

/** How OP-TEE's own objects differ from `s`, or null. */
function opteeDiff(rig: FuzzRig, s: OpteeState): string | null {
  if (s === null) return null;
  const a = sel1Assigned(rig);
  if (a && "assigned" in s) {
    if (a.size !== s.assigned.length)
      return `OP-TEE: ${s.assigned.length} assigned protected objects → ${a.size}`;
    for (const m of a)
      if (!s.assigned.includes(m.cookie)) return `OP-TEE: cookie ${hex(m.cookie)} became assigned`;
    return null;
  }
  const o = sel2Objects(rig);
  if (o && "objects" in s) {
    if (o.size !== s.objects.length) return `OP-TEE: ${s.objects.length} retrieved objects → ${o.size}`;
    for (const old of s.objects) {
      const m = o.get(old.cookie);
      if (!m) return `OP-TEE: retrieved object ${hex(old.cookie)} disappeared`;
      if (m.refcount !== old.refcount || m.inactiveRefs !== old.inactiveRefs)
        return `OP-TEE: object ${hex(old.cookie)}: reference counts changed`;
      if (m.assigned !== old.assigned) return `OP-TEE: object ${hex(old.cookie)}: assignment changed`;
    }
  }
  return null;
}

/** Puts OP-TEE's objects back (after the SPMC's: an assigned cookie names the object restored for it). */
function restoreOptee(rig: FuzzRig, s: OpteeState): void {
  if (s === null) return;
  const a = sel1Assigned(rig);
  if (a && "assigned" in s) {
    if (a.size === 0 && s.assigned.length === 0) return;
    a.clear();
    const op = rig.spmc as OpteeSel1Spmc;
    for (const c of s.assigned) {
      const m = op.mobjs.get(c);
      if (m) a.add(m);
    }
    return;
  }
  const o = sel2Objects(rig);
  if (o && "objects" in s) {
    if (o.size === 0 && s.objects.length === 0) return;
    o.clear();
    for (const m of s.objects) o.set(m.cookie, cloneSel2(m));
  }
}

/**
 * Notification state: Hafnium's normal-world bitmaps (the other world's `enabled`, VM ID → vCPU count
 * per created bitmap — notifications.ts), OP-TEE's default bitmap (notif.ts).
 */
type NotifState =
  | { readonly enabled: boolean; readonly vms: readonly number[] }
  | {
      readonly initialized: boolean;
      readonly doBottomHalfValue: number;
      readonly pending: bigint;
      readonly bound: bigint;
    }
  | null;

function captureNotif(rig: FuzzRig): NotifState {
  const spmc = rig.spmc;
  if (spmc instanceof HafniumSpmc) {
    const n = spmc.nwdNotifications;
    const vms: number[] = [];
    for (const [id, vcpus] of n.vms) vms.push(id, vcpus);
    return { enabled: n.otherWorldEnabled, vms };
  }
  if (spmc instanceof OpteeSel1Spmc) {
    const b = spmc.notif.defaultBitmap;
    return {
      initialized: b.initialized,
      doBottomHalfValue: b.doBottomHalfValue,
      pending: b.pending,
      bound: b.bound,
    };
  }
  return null;
}

/** How the rig's notification state differs from `s`, or null. */
function notifDiff(rig: FuzzRig, s: NotifState): string | null {
  const spmc = rig.spmc;
  if (s === null) return null;
  if ("vms" in s && spmc instanceof HafniumSpmc) {
    const n = spmc.nwdNotifications;
    if (n.otherWorldEnabled !== s.enabled) return "SPMC: the other world's notification bitmap changed";
    if (n.vms.size * 2 !== s.vms.length) return "SPMC: a VM's notification bitmap appeared or went";
    for (let i = 0; i < s.vms.length; i += 2)
      if (n.vms.get(s.vms[i]) !== s.vms[i + 1])
        return `SPMC: VM 0x${s.vms[i].toString(16)}'s notification bitmap changed`;
    return null;
  }
  if ("bound" in s && spmc instanceof OpteeSel1Spmc) {
    const b = spmc.notif.defaultBitmap;
    if (b.initialized !== s.initialized) return "SPMC: the notification bitmap was created or destroyed";
    if (b.bound !== s.bound) return "SPMC: notification bindings changed";
    if (b.pending !== s.pending || b.doBottomHalfValue !== s.doBottomHalfValue)
      return "SPMC: pending notifications changed";
  }
  return null;
}

function restoreNotif(rig: FuzzRig, s: NotifState): void {
  const spmc = rig.spmc;
  if (s === null || notifDiff(rig, s) === null) return;
  if ("vms" in s && spmc instanceof HafniumSpmc) {
    const n = spmc.nwdNotifications;
    n.otherWorldEnabled = s.enabled;
    n.vms.clear();
    for (let i = 0; i < s.vms.length; i += 2) n.vms.set(s.vms[i], s.vms[i + 1]);
  } else if ("bound" in s && spmc instanceof OpteeSel1Spmc) {
    const b = spmc.notif.defaultBitmap;
    b.initialized = s.initialized;
    b.doBottomHalfValue = s.doBottomHalfValue;
    b.pending = s.pending;
    b.bound = s.bound;
  }
}

/** What differs() says for each array of liveViews(), in its order. */
const ARRAY_CHANGED = [
  "machine: a frame's owner (world) changed",
  "machine: a frame's use case changed",
  "machine: a frame's contents were zeroed",
  "machine: a granule changed physical address space",
  "SPMC: a page's owner changed",
  "SPMC: a page's mode changed",
  "SPMC: a page's share state changed",
  "SPMC: the normal world's view of a page it does not own changed",
];

/** The compared arrays of a rig or a snapshot, in one order (absent ones as empty). */
function arraysOf(
  a: readonly [
    Uint8Array,
    Uint8Array,
    Uint8Array,
    Uint8Array | null,
    Uint16Array | null,
    Uint8Array | null,
    Uint16Array | null,
    Uint8Array | null,
  ],
): Buffer[] {
  return a.map((x) => (x ? asBuf(x) : EMPTY));
}

const EMPTY = Buffer.alloc(0);
const liveViewsOf = new WeakMap<FuzzRig, Buffer[]>();

function liveViews(rig: FuzzRig): Buffer[] {
  let v = liveViewsOf.get(rig);
  if (!v) {
    const f = rig.machine.frames;
    const hf = rig.spmc instanceof HafniumSpmc ? rig.spmc : null;
    v = arraysOf([
      f.owner,
      f.useCase,
      f.taint,
      rig.machine.gpt?.gpi ?? null,
      hf?.pages.owner ?? null,
      hf?.pages.mode ?? null,
      hf?.pages.holder ?? null,
      hf?.pages.nwdView ?? null,
    ]);
    liveViewsOf.set(rig, v);
  }
  return v;
}

function cloneMobj(m: MobjFfa): MobjFfa {
  return { ...m, ranges: m.ranges.map((r) => ({ ...r })) };
}

/** Every field of an FF-A object but its ranges (a field added to MobjFfa and not here fails to compile). */
const MOBJ_SCALARS = {
  cookie: true,
  kind: true,
  useCase: true,
  pageCount: true,
  lent: true,
  pa: true,
  pagesAdded: true,
  refcount: true,
  inactiveRefs: true,
  registeredByCookie: true,
  list: true,
} as const satisfies Record<Exclude<keyof MobjFfa, "ranges">, true>;
const MOBJ_SCALAR_KEYS = Object.keys(MOBJ_SCALARS) as (keyof typeof MOBJ_SCALARS)[];

/** Whether two FF-A objects hold the same values, ranges included (a clone still as saved). */
function mobjEqual(a: MobjFfa, b: MobjFfa): boolean {
  for (const k of MOBJ_SCALAR_KEYS) if (a[k] !== b[k]) return false;
  if (a.ranges.length !== b.ranges.length) return false;
  for (let i = 0; i < a.ranges.length; i++)
    if (a.ranges[i].address !== b.ranges[i].address || a.ranges[i].pages !== b.ranges[i].pages) return false;
  return true;
}

/** Granules compared at once when restoring the GPT. */
const GPT_CHUNK = 256;

/** A Buffer view of a typed array (for memcmp), made once per array: the arrays are never replaced. */
const views = new WeakMap<Uint8Array | Uint16Array, Buffer>();
function asBuf(a: Uint8Array | Uint16Array): Buffer {
  let b = views.get(a);
  if (!b) views.set(a, (b = Buffer.from(a.buffer, a.byteOffset, a.byteLength)));
  return b;
}

function copyRuns(to: number[], from: readonly number[]): void {
  to.length = from.length;
  for (let i = 0; i < from.length; i++) to[i] = from[i];
}

/**
 * Takes a snapshot; with `into` (an earlier snapshot of the same rig that is no longer needed), its
 * arrays are overwritten instead of allocated — the runner's snapshot between two calls of a case.
 */
export function capture(rig: FuzzRig, into?: SpmcSnapshot): SpmcSnapshot {
  const { spmc, machine } = rig;
  const f = machine.frames;
  const endpoints: EndpointState[] = [];
  for (const e of spmc.endpoints.values()) {
    endpoints.push({
      id: e.id,
      version: e.version,
      versionLocked: e.versionLocked,
      tx: e.tx,
      rx: e.rx,
      pageCount: e.pageCount,
      rxFull: e.rxFull,
    });
  }
  const hf = spmc instanceof HafniumSpmc ? spmc : null;
  const op = spmc instanceof OpteeSel1Spmc ? spmc : null;
  let mobjs: MobjFfa[] | null = null;
  let frags: FragSnapshot[] | null = null;
  let cookieBits: readonly boolean[] | null = null;
  if (op) {
    // One clone per object: a pending send's object is shared by its frag state and (once pushed) the table.
    const memo = new Map<MobjFfa, MobjFfa>();
    const c = (m: MobjFfa) => {
      let x = memo.get(m);
      if (!x) memo.set(m, (x = cloneMobj(m)));
      return x;
    };
    const t = op.mobjs.snapshot();
    cookieBits = t.cookieBits;
    mobjs = t.objects.map(c);
    frags = [...op.fragStates].map(([cookie, s]) => ({
      cookie,
      mobj: c(s.mobj),
      regionsLeft: s.regionsLeft,
      fragOffset: s.fragOffset,
    }));
  }
  const copy = <T extends Uint8Array | Uint16Array>(live: T, old: T | null | undefined): T =>
    old ? ((old.set(live), old) as T) : (live.slice() as T);
  const frameOwner = copy(f.owner, into?.frameOwner);
  const frameUseCase = copy(f.useCase, into?.frameUseCase);
  const frameTaint = copy(f.taint, into?.frameTaint);
  const restrictedRuns = into?.restrictedRuns ?? [];
  copyRuns(restrictedRuns, f.restrictedRuns);
  const gpi = machine.gpt ? copy(machine.gpt.gpi, into?.gpi) : null;
  const pageOwner = hf ? copy(hf.pages.owner, into?.pageOwner) : null;
  const pageMode = hf ? copy(hf.pages.mode, into?.pageMode) : null;
  const pageHolder = hf ? copy(hf.pages.holder, into?.pageHolder) : null;
  const pageNwdView = hf ? copy(hf.pages.nwdView, into?.pageNwdView) : null;
  return {
    endpoints,
    frameOwner,
    frameUseCase,
    frameTaint,
    restrictedRuns,
    gpi,
    hung: machine.hung,
    shares: hf
      ? hf.shares.snapshot(
          into?.shares ? (into.shares as (ShareState | null)[]) : undefined,
          (live, saved) => shareDiff(live, saved) === null,
        )
      : null,
    pageOwner,
    pageMode,
    pageHolder,
    pageNwdView,
    cookieBits,
    mobjs,
    frags,
    views:
      into?.views ??
      arraysOf([frameOwner, frameUseCase, frameTaint, gpi, pageOwner, pageMode, pageHolder, pageNwdView]),
    notif: captureNotif(rig),
    optee: captureOptee(rig),
  };
}

/** Puts the rig back in the snapshot's state (the snapshot stays usable). */
export function restore(rig: FuzzRig, s: SpmcSnapshot): void {
  const { spmc, machine } = rig;
  const f = machine.frames;
  for (const e of s.endpoints) {
    const ep = spmc.endpoint(e.id)!;
    ep.version = e.version;
    ep.versionLocked = e.versionLocked;
    ep.tx = e.tx;
    ep.rx = e.rx;
    ep.pageCount = e.pageCount;
    ep.rxFull = e.rxFull;
  }
  f.owner.set(s.frameOwner);
  f.useCase.set(s.frameUseCase);
  f.taint.set(s.frameTaint);
  // A bulk copy into tracked arrays: the machine's dirty log (sim/dirty.ts) must say they may have changed.
  f.dirty.touchAll();
  // The owner arrays are written directly, so their index goes back with them (setOwner() keeps it
  // otherwise): an access or a device DMA after the restore must see the restored owners.
  copyRuns(f.restrictedRuns, s.restrictedRuns);
  const gpt = machine.gpt;
  if (gpt && s.gpi) {
    // Through the table's own setter, so its count of non-NS granules stays right.
    const live = gpt.gpi;
    const want = s.gpi;
    const liveView = liveViews(rig)[3];
    const wantView = s.views[3];
    if (!liveView.equals(wantView)) {
      // Chunk by chunk with memcmp, granule by granule only where a chunk differs.
      for (let c = 0; c < live.length; c += GPT_CHUNK) {
        const end = Math.min(live.length, c + GPT_CHUNK);
        if (liveView.compare(wantView, c, end, c, end) === 0) continue;
        for (let i = c; i < end; i++) if (live[i] !== want[i]) gpt.initRange(i, 1, want[i]);
      }
    }
  }
  machine.hung = s.hung;
  restoreNotif(rig, s.notif);
  if (spmc instanceof HafniumSpmc) {
    // The clones installed when this snapshot was last restored are reused where the calls since left
    // them equal to the saved states: switching between setup states then clones only what changed.
    const saved = s.shares!;
    const installed =
      (s.installed as (ShareState | null)[] | undefined) ??
      new Array<ShareState | null>(saved.length).fill(null);
    for (let i = 0; i < saved.length; i++) {
      const want = saved[i];
      const have = installed[i];
      if (want === null) installed[i] = null;
      else if (!have || shareDiff(have, want) !== null || have.all !== want.all)
        installed[i] = cloneShareState(want);
    }
    (s as { installed?: (ShareState | null)[] }).installed = installed;
    spmc.shares.install(installed);
    spmc.pages.owner.set(s.pageOwner!);
    spmc.pages.mode.set(s.pageMode!);
    spmc.pages.holder.set(s.pageHolder!);
    spmc.pages.nwdView.set(s.pageNwdView!);
  } else if (spmc instanceof OpteeSel1Spmc) {
    // One clone per saved object (a pending send's object is both in the table and its frag state);
    // the clone this snapshot installed last time is reused when the calls since left it as saved.
    const before = s.installedMobjs;
    const memo = new Map<MobjFfa, MobjFfa>();
    const c = (m: MobjFfa) => {
      let x = memo.get(m);
      if (!x) {
        const have = before?.get(m);
        memo.set(m, (x = have && mobjEqual(have, m) ? have : cloneMobj(m)));
      }
      return x;
    };
    (s as { installedMobjs?: ReadonlyMap<MobjFfa, MobjFfa> }).installedMobjs = memo;
    spmc.mobjs.restore({ cookieBits: s.cookieBits!, objects: s.mobjs! }, c);
    spmc.fragStates.clear();
    for (const fs of s.frags!) {
      const st: MemFragState = { mobj: c(fs.mobj), regionsLeft: fs.regionsLeft, fragOffset: fs.fragOffset };
      spmc.fragStates.set(fs.cookie, st);
    }
  }
  restoreOptee(rig, s.optee);
}

/**
 * What differs between the rig and the snapshot (the first difference found, described), or null.
 * `allowGone`: a handle whose pending (not yet complete) transaction may have disappeared — a rejected
 * FFA_MEM_FRAG_TX aborts its send (Hafnium ffa_memory_send_continue() frees the share state; OP-TEE
 * add_mem_op_frag() deletes the object), and nothing else may change.
 */
export function differs(rig: FuzzRig, s: SpmcSnapshot, allowGone: bigint | null = null): string | null {
  const { spmc, machine } = rig;
  for (const e of s.endpoints) {
    const ep = spmc.endpoint(e.id)!;
    // versionLocked is not compared: Hafnium latches ffa_version_negotiated on the first call other than
    // FFA_VERSION, answered or refused alike (a property of the caller, not of a transaction).
    if (ep.version !== e.version)
      return `endpoint 0x${e.id.toString(16)}: version ${e.version} → ${ep.version}`;
    if (ep.tx !== e.tx || ep.rx !== e.rx || ep.pageCount !== e.pageCount)
      return `endpoint 0x${e.id.toString(16)}: RX/TX mapping changed`;
    if (ep.rxFull !== e.rxFull)
      return `endpoint 0x${e.id.toString(16)}: RX buffer ${e.rxFull ? "full" : "free"} → ${ep.rxFull ? "full" : "free"}`;
  }
  const live = liveViews(rig);
  for (let i = 0; i < live.length; i++) if (!live[i].equals(s.views[i])) return ARRAY_CHANGED[i];
  if (machine.hung !== s.hung) return `machine: hung (${machine.hung})`;
  const nd = notifDiff(rig, s.notif);
  if (nd) return nd;
  const od = opteeDiff(rig, s.optee);
  if (od) return od;
  if (spmc instanceof HafniumSpmc) {
    const before = s.shares!;
    for (let i = 0; i < before.length; i++) {
      const live = spmc.shares.at(i);
      const old = before[i];
      if (live === null) {
        if (old === null || (allowGone === old.handle && !old.sendingComplete)) continue;
        return `SPMC: share state ${hex(old.handle)} disappeared`;
      }
      if (!old) return `SPMC: share state ${hex(live.handle)} appeared`;
      const d = shareDiff(live, old);
      if (d) return `SPMC: share state ${hex(live.handle)}: ${d}`;
    }
  } else if (spmc instanceof OpteeSel1Spmc) {
    // Same count, and every saved cookie finds an equal object: the same set of objects.
    const live = spmc.mobjs.size;
    if (live !== s.mobjs!.length) return `SPMC: ${s.mobjs!.length} FF-A objects → ${live}`;
    for (const old of s.mobjs!) {
      const m = spmc.mobjs.get(old.cookie);
      if (!m) return `SPMC: object ${hex(old.cookie)} disappeared`;
      const d = mobjDiff(m, old);
      if (d) return `SPMC: object ${hex(old.cookie)}: ${d}`;
    }
    let frags = 0;
    for (const old of s.frags!) {
      const st = spmc.fragStates.get(old.cookie);
      if (!st) {
        if (allowGone === old.cookie) continue;
        return `SPMC: pending send ${hex(old.cookie)} disappeared`;
      }
      frags++;
      if (st.regionsLeft !== old.regionsLeft || st.fragOffset !== old.fragOffset)
        return `SPMC: pending send ${hex(old.cookie)} advanced`;
      const d = mobjDiff(st.mobj, old.mobj);
      if (d) return `SPMC: pending send ${hex(old.cookie)}: ${d}`;
    }
    if (spmc.fragStates.size !== frags) return "SPMC: a pending send appeared";
    const saved = s.cookieBits!;
    for (let i = 0; i < saved.length; i++) {
      const bit = spmc.mobjs.cookieAllocated(i);
      if (bit !== saved[i]) {
        const gone = allowGone !== null && BigInt(i) === (allowGone & 0xffffn) && !bit;
        if (!gone) return `SPMC: cookie ${i} ${bit ? "allocated" : "freed"}`;
      }
    }
  }
  return null;
}

function receiverDiff(a: ShareReceiver, b: ShareReceiver): string | null {
  if (a.id !== b.id) return "receiver list changed";
  if (a.permissions !== b.permissions) return `receiver 0x${a.id.toString(16)} permissions changed`;
  if (a.retrievedFragments !== b.retrievedFragments)
    return `receiver 0x${a.id.toString(16)} retrieved fragments ${b.retrievedFragments} → ${a.retrievedFragments}`;
  if (a.mode !== b.mode) return `receiver 0x${a.id.toString(16)} mode ${b.mode} → ${a.mode}`;
  if (a.response !== b.response) return `receiver 0x${a.id.toString(16)} retrieve response changed`;
  return null;
}

function shareDiff(a: ShareState, b: ShareState): string | null {
  if (a.handle !== b.handle || a.func !== b.func || a.sender !== b.sender) return "identity changed";
  if (a.sendingComplete !== b.sendingComplete) return "sending became complete";
  if (a.fragments.length !== b.fragments.length)
    return `${b.fragments.length} → ${a.fragments.length} fragments`;
  for (let i = 0; i < a.fragments.length; i++)
    if (a.fragments[i] !== b.fragments[i]) return `fragment ${i} replaced`;
  if (a.bytesReceived !== b.bytesReceived) return "bytes received changed";
  if (a.senderOrigMode !== b.senderOrigMode) return "sender's original mode changed";
  if (a.memoryProtected !== b.memoryProtected) return "memory_protected changed";
  if (
    a.hypervisorFragmentCount !== b.hypervisorFragmentCount ||
    a.hypervisorResponse !== b.hypervisorResponse
  )
    return "hypervisor retrieve state changed";
  if (a.receivers.length !== b.receivers.length) return "receiver count changed";
  for (let i = 0; i < a.receivers.length; i++) {
    const d = receiverDiff(a.receivers[i], b.receivers[i]);
    if (d) return d;
  }
  return null;
}

function mobjDiff(a: MobjFfa, b: MobjFfa): string | null {
  if (a.list !== b.list) return `list ${b.list} → ${a.list}`;
  if (a.refcount !== b.refcount || a.inactiveRefs !== b.inactiveRefs) return "reference counts changed";
  if (a.registeredByCookie !== b.registeredByCookie) return "registration changed";
  if (a.pagesAdded !== b.pagesAdded || a.pa !== b.pa) return "pages changed";
  if (a.ranges.length !== b.ranges.length) return "ranges changed";
  return null;
}

function hex(v: bigint): string {
  return "0x" + v.toString(16);
}
