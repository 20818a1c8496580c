/**
 * FF-A version numbers.
 *
 * Encoding (DEN0077A §13.2.1 FFA_VERSION; Hafnium inc/vmapi/hf/ffa.h `MAKE_FFA_VERSION`; Linux
 * include/linux/arm_ffa.h `FFA_PACK_VERSION_INFO`): bit 31 MBZ, major in bits[30:16], minor in bits[15:0].
 */

/** The descriptor layouts this codec knows. v1.3 keeps the v1.2 memory-management layout. */
export type FfaVersion = "1.0" | "1.1" | "1.2";

/** Every {@link FfaVersion}, oldest first. */
export const FFA_VERSIONS: readonly FfaVersion[] = ["1.0", "1.1", "1.2"];

/** FFA_MAJOR_VERSION_MASK — include/linux/arm_ffa.h (GENMASK(30, 16)). */
export const FFA_VERSION_MAJOR_MASK = 0x7fff;
export const FFA_VERSION_MAJOR_OFFSET = 16;
/** FFA_MINOR_VERSION_MASK — include/linux/arm_ffa.h (GENMASK(15, 0)). */
export const FFA_VERSION_MINOR_MASK = 0xffff;

/** FFA_VERSION_1_0 — include/linux/arm_ffa.h. */
export const FFA_VERSION_1_0 = 0x1_0000;
/** FFA_VERSION_1_1 — include/linux/arm_ffa.h. */
export const FFA_VERSION_1_1 = 0x1_0001;
/** FFA_VERSION_1_2 — include/linux/arm_ffa.h. */
export const FFA_VERSION_1_2 = 0x1_0002;
/** FF-A v1.3 (reference/ffa.md §1). */
export const FFA_VERSION_1_3 = 0x1_0003;

/** MAKE_FFA_VERSION(major, minor) — Hafnium inc/vmapi/hf/ffa.h. */
export function ffaPackVersion(major: number, minor: number): number {
  return (
    (((major & FFA_VERSION_MAJOR_MASK) << FFA_VERSION_MAJOR_OFFSET) | (minor & FFA_VERSION_MINOR_MASK)) >>> 0
  );
}

/** FFA_MAJOR_VERSION(x) — include/linux/arm_ffa.h. */
export function ffaVersionMajor(version: number): number {
  return (version >>> FFA_VERSION_MAJOR_OFFSET) & FFA_VERSION_MAJOR_MASK;
}

/** FFA_MINOR_VERSION(x) — include/linux/arm_ffa.h. */
export function ffaVersionMinor(version: number): number {
  return version & FFA_VERSION_MINOR_MASK;
}

/**
 * Version compatibility as Hafnium inc/vmapi/hf/ffa.h defines it (reference/ffa.md §1): same major,
 * and the caller's minor is not above the callee's.
 */
export function ffaVersionsAreCompatible(caller: number, callee: number): boolean {
  return (
    ffaVersionMajor(caller) === ffaVersionMajor(callee) && ffaVersionMinor(caller) <= ffaVersionMinor(callee)
  );
}

/** The packed number of a {@link FfaVersion}: "1.2" → 0x10002. */
export function ffaVersionNumber(version: FfaVersion): number {
  return version === "1.0" ? FFA_VERSION_1_0 : version === "1.1" ? FFA_VERSION_1_1 : FFA_VERSION_1_2;
}

/**
 * The descriptor layout a packed version uses: 1.0, 1.1, or 1.2 for every later 1.x minor. Returns
 * undefined for bit 31 set or a major other than 1.
 */
export function ffaVersionLayout(version: number): FfaVersion | undefined {
  if (version >>> 31 !== 0 || ffaVersionMajor(version) !== 1) return undefined;
  const minor = ffaVersionMinor(version);
  return minor === 0 ? "1.0" : minor === 1 ? "1.1" : "1.2";
}

/** Type guard for CLI input such as `--version 1.1`. */
export function isFfaVersion(text: string): text is FfaVersion {
  return text === "1.0" || text === "1.1" || text === "1.2";
}
