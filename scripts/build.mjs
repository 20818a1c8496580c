// `npm run build` (and `prepare`, which `npm ci` runs): compiles src/ to dist/ and stamps the build, so
// bin/rstmem.js runs compiled JavaScript and knows when a source file changed after it.
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const started = Date.now();
rmSync(new URL("../dist", import.meta.url), { recursive: true, force: true });
execFileSync(
  process.execPath,
  [fileURLToPath(import.meta.resolve("typescript/bin/tsc")), "-p", "tsconfig.build.json"],
  {
    cwd: root,
    stdio: "inherit",
  },
);
// The time the compile started: a source saved after it is newer than dist/.
writeFileSync(new URL("../dist/BUILT", import.meta.url), `${started}\n`);
