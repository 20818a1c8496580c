/**
 * Frame sizes from resolution and pixel format (ARCHITECTURE.md §6): NV12 is 8-bit 4:2:0, one byte
 * per sample, 1.5 bytes a pixel (a 4K frame is 3840 × 2160 × 1.5 = 12,441,600 bytes); P010 is 10-bit
 * 4:2:0 stored in 16-bit samples, 3 bytes a pixel (24,883,200 at 4K).
 */
export const PIXEL_FORMATS = ["NV12", "P010"] as const;
export type PixelFormat = (typeof PIXEL_FORMATS)[number];

/** Bytes of one frame (luma plane + interleaved chroma plane, no stride padding). */
export function frameBytes(width: number, height: number, format: PixelFormat): number {
  const samples = width * height * 1.5;
  return format === "NV12" ? Math.ceil(samples) : Math.ceil(samples) * 2;
}
