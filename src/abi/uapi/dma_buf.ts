/**
 * The dma-buf uAPI — include/uapi/linux/dma-buf.h.
 *
 * ```c
 * struct dma_buf_sync { __u64 flags; };
 * #define DMA_BUF_BASE        'b'
 * #define DMA_BUF_IOCTL_SYNC  _IOW(DMA_BUF_BASE, 0, struct dma_buf_sync)
 * #define DMA_BUF_SET_NAME    _IOW(DMA_BUF_BASE, 1, const char *)
 * #define DMA_BUF_SET_NAME_A  _IOW(DMA_BUF_BASE, 1, __u32)
 * #define DMA_BUF_SET_NAME_B  _IOW(DMA_BUF_BASE, 1, __u64)
 * #define DMA_BUF_IOCTL_EXPORT_SYNC_FILE _IOWR(DMA_BUF_BASE, 2, struct dma_buf_export_sync_file)
 * #define DMA_BUF_IOCTL_IMPORT_SYNC_FILE _IOW(DMA_BUF_BASE, 3, struct dma_buf_import_sync_file)
 * ```
 * On arm64 `const char *` is 8 bytes, so DMA_BUF_SET_NAME equals DMA_BUF_SET_NAME_B.
 */
import { _IOW, _IOWR } from "./ioctl.ts";

export const DMA_BUF_BASE = "b";

export const DMA_BUF_SYNC_READ = 1n << 0n;
export const DMA_BUF_SYNC_WRITE = 2n << 0n;
export const DMA_BUF_SYNC_RW = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
export const DMA_BUF_SYNC_START = 0n << 2n;
export const DMA_BUF_SYNC_END = 1n << 2n;
export const DMA_BUF_SYNC_VALID_FLAGS_MASK = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;

export const DMA_BUF_NAME_LEN = 32;

/** sizeof(struct dma_buf_sync) */
export const DMA_BUF_SYNC_SIZE = 8;
/** sizeof(struct dma_buf_export_sync_file) = sizeof(struct dma_buf_import_sync_file) = {__u32 flags; __s32 fd;} */
export const DMA_BUF_SYNC_FILE_SIZE = 8;

/** _IOW('b', 0, struct dma_buf_sync) = 0x40086200 */
export const DMA_BUF_IOCTL_SYNC = _IOW(DMA_BUF_BASE, 0, DMA_BUF_SYNC_SIZE);
export const DMA_BUF_SET_NAME_A = _IOW(DMA_BUF_BASE, 1, 4);
export const DMA_BUF_SET_NAME_B = _IOW(DMA_BUF_BASE, 1, 8);
export const DMA_BUF_SET_NAME = DMA_BUF_SET_NAME_B;
export const DMA_BUF_IOCTL_EXPORT_SYNC_FILE = _IOWR(DMA_BUF_BASE, 2, DMA_BUF_SYNC_FILE_SIZE);
export const DMA_BUF_IOCTL_IMPORT_SYNC_FILE = _IOW(DMA_BUF_BASE, 3, DMA_BUF_SYNC_FILE_SIZE);

export interface DmaBufSync {
  /** __u64 flags: DMA_BUF_SYNC_{START,END} | DMA_BUF_SYNC_{READ,WRITE,RW}. */
  flags: bigint;
}

export function encodeDmaBufSync(d: DmaBufSync): Uint8Array {
  const out = new Uint8Array(DMA_BUF_SYNC_SIZE);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, d.flags), true);
  return out;
}

export function decodeDmaBufSync(bytes: Uint8Array): DmaBufSync {
  if (bytes.length < DMA_BUF_SYNC_SIZE)
    throw new RangeError(`dma_buf_sync needs 8 bytes, got ${bytes.length}`);
  return { flags: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true) };
}
