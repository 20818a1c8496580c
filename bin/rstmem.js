#!/usr/bin/env node
// The rstmem command. It runs the compiled JavaScript (built by `npm ci` through the `prepare` script,
// or `npm run build`: dist/, bundled in dist/bundle/) — unless a source under src/ changed after that
// build, or RSTMEM_SOURCES=1: then it runs the TypeScript sources through tsx, so an edited checkout
// never runs stale code.
import { distIsCurrent } from "../scripts/dist-current.mjs";

// A reader that stops early (`rstmem schema | head`) closes the pipe: that ends the output, not in a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (e) => {
    if (e.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw e;
  });
}

let main;
if (process.env.RSTMEM_SOURCES !== "1" && distIsCurrent()) {
  // The bundle scripts/build.mjs makes of dist/cli/main.js: the same code, loaded in a few files.
  ({ main } = await import("../dist/bundle/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
process.exitCode = await main(process.argv);
