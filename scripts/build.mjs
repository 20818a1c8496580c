// `npm run build` (and `prepare`, which `npm ci` runs): compiles src/ to dist/, bundles the command, and
// stamps the build, so bin/rstmem.js runs compiled JavaScript and knows when a source file changed after it.
import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

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
// The command as bin/rstmem.js loads it: dist/cli/main.js and what it imports, in a few files. Node
// loads each ES module on its own (resolve, read, link): dist/ file by file cost `rstmem explore`
// ~150 ms before its first line, where these files take ~40. Split at the commands' dynamic imports, so
// `rstmem --version` still loads no simulator. dist/bundle/ sits one level under dist/ as dist/cli/
// does, so the paths the command finds from its module's URL (../../scenarios, ../../package.json, the
// worker threads' modules under dist/) are the same from either. The worker threads load dist/ itself
// (src/explore/threads.ts). piscina stays a package: it starts its threads from its own files.
await build({
  entryPoints: [fileURLToPath(new URL("../dist/cli/main.js", import.meta.url))],
  outdir: fileURLToPath(new URL("../dist/bundle", import.meta.url)),
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["piscina"],
  // The CommonJS packages bundled (commander, cli-progress) require Node's built-in modules.
  banner: {
    js: 'import { createRequire as __rstmemRequire } from "node:module"; const require = __rstmemRequire(import.meta.url);',
  },
  logLevel: "warning",
});
// The time the compile started: a source saved after it is newer than dist/.
writeFileSync(new URL("../dist/BUILT", import.meta.url), `${started}\n`);
