/**
 * A 32-bit code per string (FNV-1a over its UTF-16 units), remembered per string: what a digest or a
 * state hash takes for a name it meets again and again (an invariant's id in Findings.digest, a wait
 * list's name at every choice the explorer hashes), instead of walking its characters each time.
 */
const codes = new Map<string, number>();

export function stringCode(s: string): number {
  let c = codes.get(s);
  if (c === undefined) {
    c = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) c = Math.imul(c ^ s.charCodeAt(i), 0x01000193);
    // Names made per object (a wait list per mutex) come and go: the memo never grows past a few thousand.
    if (codes.size >= 1 << 12) codes.clear();
    codes.set(s, c);
  }
  return c;
}
