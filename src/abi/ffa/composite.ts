/**
 * Composite memory region descriptor and its constituents (the pages being sent).
 *
 * `struct ffa_composite_mem_region` and `struct ffa_mem_region_addr_range` — include/linux/arm_ffa.h;
 * `struct ffa_composite_memory_region` / `struct ffa_memory_region_constituent` — Hafnium
 * inc/vmapi/hf/ffa.h; `struct ffa_comp_mrd` / `struct ffa_cons_mrd` — TF-A. reference/ffa.md §3.4, §3.5:
 *
 *   composite:   0 u32 total_page_count   4 u32 address_range_count   8 u64 reserved   16 constituents…
 *   constituent: 0 u64 address            8 u32 page_count            12 u32 reserved
 */

import {
  COMPOSITE_ADDRESS_RANGE_COUNT,
  COMPOSITE_RESERVED,
  COMPOSITE_SIZE,
  COMPOSITE_TOTAL_PAGE_COUNT,
  CONSTITUENT_ADDRESS,
  CONSTITUENT_PAGE_COUNT,
  CONSTITUENT_RESERVED,
  CONSTITUENT_SIZE,
} from "./layout.ts";
import { decodeError, type Decoded } from "./problem.ts";

/** One constituent: `address` (4 KiB-aligned IPA/PA), `pg_cnt` 4 KiB pages, `reserved`. */
export interface Constituent {
  readonly address: bigint;
  readonly page_count: number;
  readonly reserved: number;
}

/** A decoded composite descriptor, with the byte offset it was found at. */
export interface Composite {
  /** Byte offset of the composite in the transaction descriptor (EMAD[0].composite_offset). */
  readonly offset: number;
  /** `total_pg_cnt` — must equal the sum of the constituents' page counts. */
  readonly total_page_count: number;
  /** `addr_range_cnt` / `constituent_count`. */
  readonly address_range_count: number;
  /** `reserved` (u64), MBZ. */
  readonly reserved: bigint;
  readonly constituents: readonly Constituent[];
}

/**
 * Reads the composite at `off` and its `address_range_count` constituents. Fails (never throws) when
 * the composite header or the constituent array runs past `length`.
 */
export function readComposite(
  dv: DataView,
  off: number,
  length: number,
  emadField: string,
  emadFieldOffset: number,
): Decoded<Composite> {
  if (off + COMPOSITE_SIZE > length) {
    return decodeError(
      emadField,
      emadFieldOffset,
      "composite-in-bounds",
      `composite descriptor at offset ${off} needs ${COMPOSITE_SIZE} bytes; the buffer has ${length}`,
    );
  }
  const total = dv.getUint32(off + COMPOSITE_TOTAL_PAGE_COUNT, true);
  const count = dv.getUint32(off + COMPOSITE_ADDRESS_RANGE_COUNT, true);
  const reserved = dv.getBigUint64(off + COMPOSITE_RESERVED, true);
  const first = off + COMPOSITE_SIZE;
  if (count > (length - first) / CONSTITUENT_SIZE) {
    return decodeError(
      "composite.address_range_count",
      off + COMPOSITE_ADDRESS_RANGE_COUNT,
      "constituents-in-bounds",
      `${count} constituents at offset ${first} end at ${first + count * CONSTITUENT_SIZE}, past the ${length}-byte buffer`,
    );
  }
  const constituents: Constituent[] = [];
  for (let i = 0, c = first; i < count; i++, c += CONSTITUENT_SIZE) {
    constituents.push({
      address: dv.getBigUint64(c + CONSTITUENT_ADDRESS, true),
      page_count: dv.getUint32(c + CONSTITUENT_PAGE_COUNT, true),
      reserved: dv.getUint32(c + CONSTITUENT_RESERVED, true),
    });
  }
  return {
    ok: true,
    value: { offset: off, total_page_count: total, address_range_count: count, reserved, constituents },
  };
}

/** Writes a composite header at `off`; constituents go through {@link writeConstituent}. */
export function writeCompositeHeader(
  dv: DataView,
  off: number,
  total: number,
  count: number,
  reserved: bigint,
): void {
  dv.setUint32(off + COMPOSITE_TOTAL_PAGE_COUNT, total, true);
  dv.setUint32(off + COMPOSITE_ADDRESS_RANGE_COUNT, count, true);
  dv.setBigUint64(off + COMPOSITE_RESERVED, reserved, true);
}

/** Writes one constituent at `off`. */
export function writeConstituent(dv: DataView, off: number, c: Constituent): void {
  dv.setBigUint64(off + CONSTITUENT_ADDRESS, c.address, true);
  dv.setUint32(off + CONSTITUENT_PAGE_COUNT, c.page_count, true);
  dv.setUint32(off + CONSTITUENT_RESERVED, c.reserved, true);
}
