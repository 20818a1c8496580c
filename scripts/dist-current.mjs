// Whether dist/ holds a build newer than every file under src/ (one stat per file: a few ms). One
// answer for bin/rstmem.js (compiled JavaScript or the sources through tsx) and for the benches (which
// rebuild first when it is stale).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";

const root = new URL("../", import.meta.url);

export function distIsCurrent() {
  const stamp = new URL("dist/BUILT", root);
  if (!existsSync(stamp)) return false;
  const built = Number(readFileSync(stamp, "utf8"));
  const src = new URL("src/", root);
  return readdirSync(src, { recursive: true }).every(
    (f) => statSync(new URL(String(f), src)).mtimeMs <= built,
  );
}
