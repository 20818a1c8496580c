/**
 * The dma-heap uAPI — include/uapi/linux/dma-heap.h.
 *
 * ```c
 * struct dma_heap_allocation_data { __u64 len; __u32 fd; __u32 fd_flags; __u64 heap_flags; };  // 24 bytes
 * #define DMA_HEAP_IOC_MAGIC    'H'
 * #define DMA_HEAP_IOCTL_ALLOC  _IOWR(DMA_HEAP_IOC_MAGIC, 0x0, struct dma_heap_allocation_data)
 * ```
 * Little-endian, as on arm64.
 */
import { O_ACCMODE, O_CLOEXEC } from "./fcntl.ts";
import { _IOWR } from "./ioctl.ts";
import { getUnalignedLe32, getUnalignedLe64 } from "../unaligned.ts";

export const DMA_HEAP_IOC_MAGIC = "H";

/** sizeof(struct dma_heap_allocation_data) */
export const DMA_HEAP_ALLOCATION_DATA_SIZE = 24;

/** _IOWR('H', 0x0, struct dma_heap_allocation_data) = 0xc0184800 */
export const DMA_HEAP_IOCTL_ALLOC = _IOWR(DMA_HEAP_IOC_MAGIC, 0x0, DMA_HEAP_ALLOCATION_DATA_SIZE);

/** fd_flags a caller may pass: O_CLOEXEC | O_ACCMODE. */
export const DMA_HEAP_VALID_FD_FLAGS = O_CLOEXEC | O_ACCMODE;
/** heap_flags a caller may pass: none ("Currently no heap flags"). */
export const DMA_HEAP_VALID_HEAP_FLAGS = 0n;

export interface DmaHeapAllocationData {
  /** __u64 len: bytes to allocate. */
  len: bigint;
  /** __u32 fd: out, the new dma-buf fd; must be 0 on input. */
  fd: number;
  /** __u32 fd_flags: open flags of the new fd. */
  fd_flags: number;
  /** __u64 heap_flags */
  heap_flags: bigint;
}

/** Field offsets, for drivers and for encoders of shorter or longer variants of the struct. */
export const DMA_HEAP_ALLOCATION_DATA_OFFSETS = { len: 0, fd: 8, fd_flags: 12, heap_flags: 16 } as const;

/** Encodes the struct into `out` (default: a fresh 24-byte buffer); fields are truncated to their width. */
export function encodeDmaHeapAllocationData(
  d: DmaHeapAllocationData,
  out: Uint8Array = new Uint8Array(DMA_HEAP_ALLOCATION_DATA_SIZE),
): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  v.setBigUint64(0, BigInt.asUintN(64, d.len), true);
  v.setUint32(8, d.fd >>> 0, true);
  v.setUint32(12, d.fd_flags >>> 0, true);
  v.setBigUint64(16, BigInt.asUintN(64, d.heap_flags), true);
  return out;
}

/** Decodes the first 24 bytes of `bytes` (which must hold at least that many). */
export function decodeDmaHeapAllocationData(bytes: Uint8Array): DmaHeapAllocationData {
  if (bytes.length < DMA_HEAP_ALLOCATION_DATA_SIZE)
    throw new RangeError(`dma_heap_allocation_data needs 24 bytes, got ${bytes.length}`);
  return {
    len: getUnalignedLe64(bytes, 0),
    fd: getUnalignedLe32(bytes, 8),
    fd_flags: getUnalignedLe32(bytes, 12),
    heap_flags: getUnalignedLe64(bytes, 16),
  };
}
