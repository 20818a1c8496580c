/**
 * The ioctl requests a client knows by name, with the layout of their argument structs: what a
 * program gets from the uAPI headers. A scenario names a request and gives the struct by field
 * names; this table turns that into the bytes a real client would pass (little-endian, arm64).
 *
 * The TEE request numbers come from abi/uapi/tee.ts (include/uapi/linux/tee.h; REGISTER_FD from the
 * v12 series, linux-kernel.md §1.6).
 */
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "../abi/uapi/dma_buf.ts";
import { DMA_HEAP_IOCTL_ALLOC } from "../abi/uapi/dma_heap.ts";
import { O_CLOEXEC, O_FLAG_NAMES, O_RDWR } from "../abi/uapi/fcntl.ts";
import { _IOC_NR, _IOC_TYPE, FIOASYNC, FIOCLEX, FIONBIO, FIONCLEX } from "../abi/uapi/ioctl.ts";
import {
  TEE_IOC_SHM_ALLOC,
  TEE_IOC_SHM_REGISTER,
  TEE_IOC_SHM_REGISTER_FD,
  TEE_IOC_VERSION,
} from "../abi/uapi/tee.ts";

/** How a scenario may write a field: a size ("4MiB"), an integer, or flag names. */
export type FieldKind = "size" | "int" | "flags";

export interface StructField {
  readonly name: string;
  readonly offset: number;
  readonly size: 4 | 8;
  readonly signed: boolean;
  readonly kind: FieldKind;
  /** Names the field accepts for `flags` fields. */
  readonly flagNames?: Readonly<Record<string, number | bigint>>;
  /** Value when the scenario leaves the field out (default 0). */
  readonly dflt?: bigint;
  /** The scenario must give it. */
  readonly required?: boolean;
  /** Filled in by the kernel (shown after the call). */
  readonly out?: boolean;
}

export interface StructDef {
  readonly name: string;
  readonly size: number;
  readonly fields: readonly StructField[];
}

export interface IoctlRequestDef {
  readonly name: string;
  readonly request: number;
  readonly struct: StructDef | null;
  /** The out field `save:` keeps; without one, `save:` keeps the call's return value. */
  readonly saveField?: string;
}

const u32 = (name: string, offset: number, more: Partial<StructField> = {}): StructField => ({
  name,
  offset,
  size: 4,
  signed: false,
  kind: "int",
  ...more,
});
const u64 = (name: string, offset: number, more: Partial<StructField> = {}): StructField => ({
  name,
  offset,
  size: 8,
  signed: false,
  kind: "int",
  ...more,
});

const SYNC_FLAG_NAMES = {
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_WRITE,
  DMA_BUF_SYNC_RW,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_END,
};

/** struct dma_heap_allocation_data — include/uapi/linux/dma-heap.h. */
export const DMA_HEAP_ALLOCATION_DATA: StructDef = {
  name: "dma_heap_allocation_data",
  size: 24,
  fields: [
    u64("len", 0, { kind: "size", required: true }),
    u32("fd", 8, { out: true }),
    u32("fd_flags", 12, { kind: "flags", flagNames: O_FLAG_NAMES, dflt: BigInt(O_RDWR | O_CLOEXEC) }),
    u64("heap_flags", 16),
  ],
};

const DEFS: readonly IoctlRequestDef[] = [
  {
    name: "DMA_HEAP_IOCTL_ALLOC",
    request: DMA_HEAP_IOCTL_ALLOC,
    struct: DMA_HEAP_ALLOCATION_DATA,
    saveField: "fd",
  },
  {
    name: "DMA_BUF_IOCTL_SYNC",
    request: DMA_BUF_IOCTL_SYNC,
    struct: {
      name: "dma_buf_sync",
      size: 8,
      fields: [u64("flags", 0, { kind: "flags", flagNames: SYNC_FLAG_NAMES, required: true })],
    },
  },
  ...(
    [
      ["DMA_BUF_IOCTL_EXPORT_SYNC_FILE", DMA_BUF_IOCTL_EXPORT_SYNC_FILE],
      ["DMA_BUF_IOCTL_IMPORT_SYNC_FILE", DMA_BUF_IOCTL_IMPORT_SYNC_FILE],
    ] as const
  ).map(([name, request]): IoctlRequestDef => ({
    name,
    request,
    struct: {
      name:
        name === "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" ? "dma_buf_export_sync_file" : "dma_buf_import_sync_file",
      size: 8,
      fields: [
        u32("flags", 0, { kind: "flags", flagNames: SYNC_FLAG_NAMES }),
        u32("fd", 4, { signed: true, out: name === "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" }),
      ],
    },
    ...(name === "DMA_BUF_IOCTL_EXPORT_SYNC_FILE" ? { saveField: "fd" } : {}),
  })),
  {
    name: "TEE_IOC_VERSION",
    request: TEE_IOC_VERSION,
    struct: {
      name: "tee_ioctl_version_data",
      size: 12,
      fields: [
        u32("impl_id", 0, { out: true }),
        u32("impl_caps", 4, { out: true }),
        u32("gen_caps", 8, { out: true }),
      ],
    },
  },
  {
    name: "TEE_IOC_SHM_ALLOC",
    request: TEE_IOC_SHM_ALLOC,
    struct: {
      name: "tee_ioctl_shm_alloc_data",
      size: 16,
      fields: [u64("size", 0, { kind: "size" }), u32("flags", 8), u32("id", 12, { signed: true, out: true })],
    },
  },
  {
    name: "TEE_IOC_SHM_REGISTER_FD",
    request: TEE_IOC_SHM_REGISTER_FD,
    struct: {
      name: "tee_ioctl_shm_register_fd_data",
      size: 24,
      fields: [
        u64("fd", 0, { signed: true, required: true }),
        u64("size", 8, { out: true }),
        u32("flags", 16, { out: true }),
        u32("id", 20, { signed: true, out: true }),
      ],
    },
  },
  {
    name: "TEE_IOC_SHM_REGISTER",
    request: TEE_IOC_SHM_REGISTER,
    struct: {
      name: "tee_ioctl_shm_register_data",
      size: 24,
      fields: [
        u64("addr", 0),
        u64("length", 8, { kind: "size" }),
        u32("flags", 16),
        u32("id", 20, { signed: true, out: true }),
      ],
    },
  },
  { name: "FIOCLEX", request: FIOCLEX, struct: null },
  { name: "FIONCLEX", request: FIONCLEX, struct: null },
  {
    name: "FIONBIO",
    request: FIONBIO,
    struct: { name: "int", size: 4, fields: [u32("value", 0, { signed: true })] },
  },
  {
    name: "FIOASYNC",
    request: FIOASYNC,
    struct: { name: "int", size: 4, fields: [u32("value", 0, { signed: true })] },
  },
];

/** Known requests by name. */
export const IOCTL_REQUESTS: Readonly<Record<string, IoctlRequestDef>> = Object.fromEntries(
  DEFS.map((d) => [d.name, d]),
);
export const IOCTL_REQUEST_NAMES: readonly string[] = DEFS.map((d) => d.name);

/**
 * The definition whose struct layout a raw request number uses: the exact request, else the known
 * request with the same type and number (an older or newer size of the same struct), else null.
 */
export function requestDefFor(request: number): IoctlRequestDef | null {
  const r = request >>> 0;
  const exact = DEFS.find((d) => d.request === r);
  if (exact) return exact;
  return (
    DEFS.find(
      (d) => d.struct && _IOC_TYPE(d.request) === _IOC_TYPE(r) && _IOC_NR(d.request) === _IOC_NR(r),
    ) ?? null
  );
}

/** Writes field values into a `size`-byte buffer laid out as `def`; fields past `size` are cut off. */
export function encodeStruct(
  def: StructDef,
  values: ReadonlyMap<string, bigint>,
  size: number = def.size,
): Uint8Array {
  const full = new Uint8Array(Math.max(size, def.size));
  const v = new DataView(full.buffer);
  for (const f of def.fields) {
    const x = BigInt.asUintN(f.size * 8, values.get(f.name) ?? f.dflt ?? 0n);
    if (f.size === 8) v.setBigUint64(f.offset, x, true);
    else v.setUint32(f.offset, Number(x), true);
  }
  return full.slice(0, size);
}

/** Reads every field that lies wholly inside `bytes`. */
export function decodeStruct(def: StructDef, bytes: Uint8Array): Map<string, bigint> {
  const out = new Map<string, bigint>();
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const f of def.fields) {
    if (f.offset + f.size > bytes.length) continue;
    const raw = f.size === 8 ? v.getBigUint64(f.offset, true) : BigInt(v.getUint32(f.offset, true));
    out.set(f.name, f.signed ? BigInt.asIntN(f.size * 8, raw) : raw);
  }
  return out;
}
