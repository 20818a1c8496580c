/**
 * ioctl request numbers — include/uapi/asm-generic/ioctl.h (arm64 uses the generic layout).
 *
 * A request packs direction (2 bits), size of the argument struct (14 bits), type ("magic", 8 bits)
 * and number (8 bits): `dir << 30 | size << 16 | type << 8 | nr`. Values are unsigned 32-bit.
 */

export const _IOC_NRBITS = 8;
export const _IOC_TYPEBITS = 8;
export const _IOC_SIZEBITS = 14;
export const _IOC_DIRBITS = 2;

export const _IOC_NRMASK = (1 << _IOC_NRBITS) - 1;
export const _IOC_TYPEMASK = (1 << _IOC_TYPEBITS) - 1;
export const _IOC_SIZEMASK = (1 << _IOC_SIZEBITS) - 1;
export const _IOC_DIRMASK = (1 << _IOC_DIRBITS) - 1;

export const _IOC_NRSHIFT = 0;
export const _IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS;
export const _IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS;
export const _IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS;

/** Direction bits, from user space's point of view: WRITE = user → kernel, READ = kernel → user. */
export const _IOC_NONE = 0;
export const _IOC_WRITE = 1;
export const _IOC_READ = 2;

/** A type byte given as a character ('H', 'b') or a number (0xa4). */
export type IocType = string | number;

function typeByte(type: IocType): number {
  const t = typeof type === "string" ? type.charCodeAt(0) : type;
  if (!Number.isInteger(t) || t < 0 || t > _IOC_TYPEMASK) throw new RangeError(`ioctl type ${String(type)}`);
  return t;
}

/** _IOC(dir, type, nr, size), as an unsigned 32-bit number. */
export function _IOC(dir: number, type: IocType, nr: number, size: number): number {
  if (dir < 0 || dir > _IOC_DIRMASK) throw new RangeError(`ioctl dir ${dir}`);
  if (nr < 0 || nr > _IOC_NRMASK) throw new RangeError(`ioctl nr ${nr}`);
  if (size < 0 || size > _IOC_SIZEMASK) throw new RangeError(`ioctl size ${size}`);
  return (
    ((dir << _IOC_DIRSHIFT) |
      (typeByte(type) << _IOC_TYPESHIFT) |
      (nr << _IOC_NRSHIFT) |
      (size << _IOC_SIZESHIFT)) >>>
    0
  );
}

export const _IO = (type: IocType, nr: number): number => _IOC(_IOC_NONE, type, nr, 0);
/** _IOR(type, nr, sizeof(struct)): the kernel writes the struct back to the user. */
export const _IOR = (type: IocType, nr: number, size: number): number => _IOC(_IOC_READ, type, nr, size);
/** _IOW(type, nr, sizeof(struct)): the kernel reads the struct from the user. */
export const _IOW = (type: IocType, nr: number, size: number): number => _IOC(_IOC_WRITE, type, nr, size);
export const _IOWR = (type: IocType, nr: number, size: number): number =>
  _IOC(_IOC_READ | _IOC_WRITE, type, nr, size);

export const _IOC_DIR = (nr: number): number => (nr >>> _IOC_DIRSHIFT) & _IOC_DIRMASK;
export const _IOC_TYPE = (nr: number): number => (nr >>> _IOC_TYPESHIFT) & _IOC_TYPEMASK;
export const _IOC_NR = (nr: number): number => (nr >>> _IOC_NRSHIFT) & _IOC_NRMASK;
export const _IOC_SIZE = (nr: number): number => (nr >>> _IOC_SIZESHIFT) & _IOC_SIZEMASK;

/** IOC_IN / IOC_OUT: the direction bits in place, as drivers test them (`ucmd & kcmd & IOC_IN`). */
export const IOC_IN = (_IOC_WRITE << _IOC_DIRSHIFT) >>> 0;
export const IOC_OUT = (_IOC_READ << _IOC_DIRSHIFT) >>> 0;
export const IOC_INOUT = ((_IOC_WRITE | _IOC_READ) << _IOC_DIRSHIFT) >>> 0;

/** Generic ioctls do_vfs_ioctl() handles for every file — include/uapi/asm-generic/ioctls.h. */
export const FIONBIO = 0x5421;
export const FIONCLEX = 0x5450;
export const FIOCLEX = 0x5451;
export const FIOASYNC = 0x5452;

/** "0xc0184800" */
export function ioctlHex(request: number): string {
  return `0x${(request >>> 0).toString(16).padStart(8, "0")}`;
}
