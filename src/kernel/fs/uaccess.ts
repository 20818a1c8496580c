/**
 * copy_from_user() / copy_to_user() / get_user() — include/linux/uaccess.h.
 *
 * The model has no user page tables for ioctl arguments: a user pointer is the buffer the calling
 * process passed (its bytes are the user memory at `arg`), or NULL. Reading or writing past its end
 * faults, as touching an unmapped user address would, and the copy routines report it the kernel's
 * way: the number of bytes they could not copy.
 */

export interface UserPtr {
  /** The user memory the pointer addresses, or null for a NULL pointer. */
  readonly buf: Uint8Array | null;
}

export const NULL_USER_PTR: UserPtr = { buf: null };

export function userPtr(buf: Uint8Array | null): UserPtr {
  return { buf };
}

/** Bytes of user memory reachable from the pointer. */
function reachable(p: UserPtr): number {
  return p.buf?.length ?? 0;
}

/**
 * copy_from_user(to, from, n): returns the number of bytes NOT copied (0 on success). On a fault the
 * uncopied tail of `to` is zeroed, as _copy_from_user() does.
 */
export function copyFromUser(to: Uint8Array, from: UserPtr, n: number): number {
  const ok = Math.min(n, reachable(from));
  // A whole buffer is copied as it is (no subarray view made: every ioctl argument passes here).
  if (ok > 0) to.set(ok === from.buf!.length ? from.buf! : from.buf!.subarray(0, ok), 0);
  if (ok < n) to.fill(0, ok, n);
  return n - ok;
}

/** copy_to_user(to, from, n): returns the number of bytes NOT copied (0 on success). */
export function copyToUser(to: UserPtr, from: Uint8Array, n: number = from.length): number {
  const ok = Math.min(n, reachable(to));
  if (ok > 0) to.buf!.set(ok === from.length ? from : from.subarray(0, ok), 0);
  return n - ok;
}

/** get_user(x, (u32 __user *)p): the value, or null on a fault (the caller returns −EFAULT). */
export function getUserU32(from: UserPtr): number | null {
  if (reachable(from) < 4) return null;
  const b = from.buf!;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(0, true);
}
